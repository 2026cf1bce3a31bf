// How the commands that read images and data sets turn their options into reading options: one
// place for --max-pixels, --format, --images and --skip-bad (cli/commands.ts and cli/explain.ts).

import { DecodeOptions } from '../data/image_files';
import { Dataset, DatasetFormat, readDataset } from '../data/dataset';
import { ParsedOptions } from './options';

/** --max-pixels, for every command that reads images. */
export function decodeOptions(o: ParsedOptions): DecodeOptions {
  return { maxPixels: o.number('max-pixels') };
}

/**
 * A data set in any layout (--format, else recognised from the path), with --images, --skip-bad
 * and --max-pixels; `classes` undefined: the names in the annotations.
 */
export function readData(o: ParsedOptions, dataPath: string, split: string, classes: readonly string[] | undefined, allowEmpty: boolean): Dataset {
  return readDataset(dataPath, {
    format: o.text('format') as DatasetFormat | undefined, split, classes, images: o.text('images'), allowEmpty, skipBad: o.flag('skip-bad'), decode: decodeOptions(o),
  });
}
