// One interface to the three data set layouts the commands read:
//
//   voc   Pascal VOC: a folder with Annotations/ (one XML file an image) and ImageSets/Main/<split>.txt
//   coco  COCO: one JSON file a split (annotations/instances_<split>.json) and a folder of images
//   yolo  Ultralytics YOLO: data.yaml, images/<split>/ and labels/<split>/ (one .txt file an image)
//
// Each gives the same thing: a list of samples (an image file, its size, its objects as boxes in
// fractions of the image with a label into the class list) and the class list, 'background'
// first. What a command does with a data set (train, evaluate, preview) does not depend on where
// it came from; the layout is recognised from what `--data` names (see detectDatasetFormat).

import * as fs from 'fs';
import * as path from 'path';
import { Sample } from './annotations';
import { cocoDataRoot, readCocoClassNames, readCocoDataset } from './coco';
import { DecodeOptions } from './image_files';
import { readVocClassNames, readVocDataset } from './voc';
import { readYoloConfig, readYoloDataset, resolveYoloSplit } from './yolo';

export { trainingObjects } from './annotations';

export type DatasetFormat = 'voc' | 'coco' | 'yolo';

export const DATASET_FORMATS: readonly DatasetFormat[] = ['voc', 'coco', 'yolo'];

export interface Dataset {
  format: DatasetFormat;
  /** What was given (--data): a folder, a COCO JSON file or a data.yaml. */
  source: string;
  /**
   * The split read, in the layout's own name: the split asked for, or what it maps to (YOLO's
   * 'train' for 'trainval'; COCO's 'val2017' for 'test' in a folder with instances_val2017.json).
   */
  split: string;
  /** 'background', then the classes: the list given, or the data set's own. */
  classes: string[];
  samples: Sample[];
  /** COCO only: the category id of each class (-1 for the background and for classes the file lacks). */
  categoryIds?: number[];
}

export interface DatasetReadOptions {
  /** The layout; default detectDatasetFormat(path). */
  format?: DatasetFormat;
  /** The split: VOC's list name, YOLO's data.yaml key, COCO's instances_<split>.json ('trainval' and 'test' map, see each reader). */
  split: string;
  /** The class list, background first (--classes, or a checkpoint's); default the data set's own. */
  classes?: readonly string[];
  /** COCO only: the folder of the images (--images). */
  images?: string;
  /**
   * Keep images without objects. Evaluation wants them. Without it VOC refuses them (an error:
   * its annotations are written one by one, so an empty one is more often a mistake), COCO and
   * YOLO leave them out with one warning (their sets routinely have some).
   */
  allowEmpty?: boolean;
  /** Skip bad images and annotations, listing them, instead of stopping at the first. */
  skipBad?: boolean;
  /** Where warnings go; default console.warn. */
  warn?: (message: string) => void;
  decode?: DecodeOptions;
}

function statOf(p: string): fs.Stats | undefined {
  return fs.statSync(p, { throwIfNoEntry: false });
}

/**
 * The layout of what `--data` names: a .json file is COCO; a .yaml or .yml file, or a folder with
 * data.yaml, is YOLO; a folder with Annotations/ and ImageSets/ is VOC; a folder with
 * annotations/instances_*.json is COCO. A folder that looks like two of them is an error (say
 * which with --format), as is one that looks like none.
 */
export function detectDatasetFormat(dataPath: string): DatasetFormat {
  const stat = statOf(dataPath);
  if (stat === undefined) throw new Error(`--data ${dataPath}: no such file or folder`);
  if (!stat.isDirectory()) {
    const ext = path.extname(dataPath).toLowerCase();
    if (ext === '.json') return 'coco';
    if (ext === '.yaml' || ext === '.yml') return 'yolo';
    throw new Error(`--data ${dataPath}: a file, but neither a COCO .json file nor a YOLO .yaml file`);
  }
  const found: DatasetFormat[] = [];
  if (statOf(path.join(dataPath, 'data.yaml'))?.isFile() === true) found.push('yolo');
  if (statOf(path.join(dataPath, 'Annotations'))?.isDirectory() === true && statOf(path.join(dataPath, 'ImageSets'))?.isDirectory() === true) found.push('voc');
  const annotations = path.join(dataPath, 'annotations');
  if (statOf(annotations)?.isDirectory() === true && fs.readdirSync(annotations).some((f) => /^instances_.+\.json$/.test(f))) found.push('coco');
  if (found.length === 1) return found[0];
  if (found.length > 1) throw new Error(`--data ${dataPath}: looks like ${found.join(' and like ')}; say which with --format`);
  throw new Error(
    `--data ${dataPath}: not a data set this reader knows: looked for data.yaml (YOLO), Annotations/ and ImageSets/ (VOC), ` +
      'annotations/instances_<split>.json (COCO); a COCO .json or YOLO .yaml file may also be given itself',
  );
}

/** Read a split of a data set in any of the three layouts: its samples and its class list. */
export function readDataset(dataPath: string, options: DatasetReadOptions): Dataset {
  const format = options.format ?? detectDatasetFormat(dataPath);
  if (options.images !== undefined && format !== 'coco') throw new Error(`--images: only a COCO data set takes it (${dataPath} is ${format.toUpperCase()})`);
  const { split, allowEmpty, skipBad, warn, decode } = options;
  switch (format) {
    case 'voc': {
      const classes = options.classes === undefined ? readVocClassNames(dataPath, split, { skipBad }) : [...options.classes];
      const samples = readVocDataset(dataPath, split, classes, { allowEmpty, skipBad, warn, decode });
      return { format, source: dataPath, split, classes, samples };
    }
    case 'coco': {
      const coco = readCocoDataset(cocoDataRoot(dataPath, split), { images: options.images, classes: options.classes, allowEmpty, skipBad, warn, decode });
      return { format, source: dataPath, split: coco.split, classes: coco.classes, samples: coco.samples, categoryIds: coco.categoryIds };
    }
    case 'yolo': {
      const yolo = readYoloDataset(dataPath, split, { classes: options.classes, allowEmpty, skipBad, warn, decode });
      return { format, source: dataPath, split: yolo.split, classes: yolo.classes, samples: yolo.samples };
    }
  }
}

/**
 * A data set's own class list, 'background' first: VOC's names found in the split's annotations
 * (sorted), COCO's categories (sorted by id), YOLO's names (in their order).
 */
export function readDatasetClassNames(dataPath: string, options: { format?: DatasetFormat; split: string; skipBad?: boolean }): string[] {
  const format = options.format ?? detectDatasetFormat(dataPath);
  switch (format) {
    case 'voc':
      return readVocClassNames(dataPath, options.split, { skipBad: options.skipBad });
    case 'coco':
      return readCocoClassNames(cocoDataRoot(dataPath, options.split), { skipBad: options.skipBad });
    case 'yolo': {
      const config = readYoloConfig(dataPath);
      resolveYoloSplit(config, options.split); // a split that is not there is an error here too
      return ['background', ...config.names];
    }
  }
}
