// `ssd explain priors|matching|mining|detection [IMAGE]`: draw one idea of SSD as a PNG.
//
// Each picture runs the library's own code (explain/) on an image, or on a plain background when
// no IMAGE is given. Ground truth comes from --annotation (a Pascal VOC XML file), else an example
// scene; predictions from --weights, else made-up ones (explain/scene.ts), so every picture works
// at once. This file only parses options and reads and writes files.

import { RgbImage } from '../data/image';
import { readImage, writePng } from '../data/image_files';
import { resizeBilinear } from '../data/resize';
import { prepareForSSD, SSD_INPUT_SIZE } from '../data/image_tensor';
import { MAX_ANNOTATION_BYTES, parseVocAnnotation } from '../data/voc';
import { PLAIN_BACKGROUND } from '../explain/panels';
import { Tensor } from '../tensor/tensor';
import { createPriors } from '../ssd/priors';
import { loadModel } from './model_files';
import { ParsedOptions, classList, pair } from './options';
import { checkOutputs, checkWritable } from './outputs';
import { kernelsOf } from './kernels_option';
import { lockOutput, readFileNamed } from '../io/files';
import * as fs from 'fs';
import * as path from 'path';
import { Sample } from '../data/annotations';
import { decodeOptions, readData } from './data_options';
import { renderPriors } from '../explain/priors';
import { renderMatching } from '../explain/matching';
import { renderMining } from '../explain/mining';
import { renderDetection } from '../explain/detection';
import { SceneObject, exampleObjects, syntheticPredictions } from '../explain/scene';

const KINDS = ['priors', 'matching', 'mining', 'detection'] as const;

/** `ssd explain WHAT [IMAGE]`, its options already checked against the table (cli/options.ts). */
export async function explainCommand(o: ParsedOptions, positionals: readonly string[]): Promise<void> {
  const [kind, imageGiven] = positionals;
  if (!(KINDS as readonly string[]).includes(kind)) throw new Error(`explain: say what to draw: ${KINDS.join(', ')}, got '${kind}' (see \`ssd explain --help\`)`);
  const out = o.required('out');
  const weights = o.text('weights');
  const annotation = o.text('annotation');
  const dataPath = o.text('data');
  if (annotation !== undefined && dataPath !== undefined) throw new Error('explain: --annotation and --data: give one of them (the objects of one file, or of the image in a data set)');
  // --data: the objects of IMAGE as a data set in any layout has them (else of its first image)
  const fromData = dataPath === undefined ? undefined : imageOfDataSet(o, dataPath, imageGiven);
  const imageFile = imageGiven ?? fromData?.sample.imagePath;
  // the picture must not replace what it is drawn from, whatever name it goes by
  const inputs = [
    ...(imageFile === undefined ? [] : [{ path: imageFile, what: 'the image' }]),
    ...(annotation === undefined ? [] : [{ path: annotation, what: 'the --annotation file' }]),
    ...(fromData?.sample.annotationPath === undefined ? [] : [{ path: fromData.sample.annotationPath, what: 'the annotation in --data' }]),
    ...(weights === undefined ? [] : [{ path: weights, what: 'the --weights file' }]),
  ];
  checkOutputs([{ path: out, what: 'the picture (--out)' }], inputs);
  checkWritable(out, 'the picture');
  lockOutput(out, 'the picture', (message) => console.error(message));

  // The picture SSD sees: the image squeezed to 300 x 300 (boxes are fractions, so they still fit).
  const image: RgbImage | null = imageFile === undefined ? null : resizeBilinear(readImage(imageFile, decodeOptions(o)), SSD_INPUT_SIZE, SSD_INPUT_SIZE);
  const priorsCxcy = createPriors();
  const nPriors = priorsCxcy.shape[0];
  const needsModel = weights !== undefined && kind !== 'priors'; // matching takes only the class names from it
  const kernels = needsModel ? await kernelsOf(o) : null;
  const loaded = kernels !== null && weights !== undefined ? loadModel(weights, kernels) : null;
  // Class names: the weights file's, else --classes, else the data set's, else VOC's.
  const classes: readonly string[] = loaded?.classes ?? fromData?.classes ?? classList(o.text('classes') ?? 'voc');
  if (fromData !== undefined && loaded !== null && fromData.classes.some((name, k) => loaded.classes[k] !== name)) {
    throw new Error(`--data ${dataPath}: its classes (${fromData.classes.slice(1).join(', ')}) are not the --weights file's (${loaded.classes.slice(1).join(', ')})`);
  }

  // Predictions of one image: the model's when --weights is given, else made up from the objects.
  const predictions = async (objects: readonly SceneObject[]): Promise<{ locs: Tensor; scores: Tensor; source: string }> => {
    if (loaded === null || kernels === null) {
      const { locs, scores } = syntheticPredictions(objects, priorsCxcy, classes.length);
      return { locs: locs.reshape([nPriors, 4]), scores: scores.reshape([nPriors, classes.length]), source: 'made-up predictions' };
    }
    // No image: the plain background the picture shows, as the model's input.
    const input = prepareForSSD(image ?? { width: 1, height: 1, data: new Uint8Array(PLAIN_BACKGROUND) });
    const { locs, scores } = await loaded.model.forward(input); // (1, 8732, 4), (1, 8732, n_classes)
    return { locs: locs.reshape([nPriors, 4]), scores: scores.reshape([nPriors, loaded.model.nClasses]), source: `model ${weights}` };
  };
  const groundTruth = (): SceneObject[] => {
    if (fromData !== undefined) return fromData.sample.objects.map((object) => ({ boxXy: [...object.boxXy], label: object.label }));
    if (annotation === undefined) return exampleObjects(classes.length);
    const xml = readFileNamed(annotation, 'VOC annotation', MAX_ANNOTATION_BYTES).toString('utf8');
    const parsed = parseVocAnnotation(xml, annotation, classes);
    return parsed.objects.map((object) => ({ boxXy: [...object.boxXy], label: object.label }));
  };

  const render = async (): Promise<RgbImage> => {
    switch (kind) {
      case 'priors': {
        const cell = o.text('cell');
        const point = o.text('point');
        return renderPriors(image, { map: o.text('map'), cell: cell === undefined ? undefined : pair(cell, 'cell'), point: point === undefined ? undefined : pair(point, 'point'), priorsCxcy }).image;
      }
      case 'matching': {
        return renderMatching(image, groundTruth(), { classes, priorsCxcy }).image;
      }
      case 'mining': {
        const objects = groundTruth();
        const { scores, source } = await predictions(objects);
        return renderMining(image, objects, scores, { priorsCxcy, source }).image;
      }
      default: {
        const { locs, scores, source } = await predictions(groundTruth());
        return renderDetection(image, locs, scores, {
          minScore: o.number('min-score') ?? 0.3,
          maxOverlap: o.number('max-overlap') ?? 0.45,
          topK: o.number('top-k') ?? 200,
          classes,
          priorsCxcy,
          source,
        }).image;
      }
    }
  };

  let picture: RgbImage;
  try {
    picture = await render();
  } finally {
    await kernels?.dispose();
  }
  writePng(out, picture);
  console.log(`wrote ${out} (${picture.width}x${picture.height})`);
}

/**
 * The sample of a data set (VOC, COCO or YOLO; --split, --format, --images) whose image is
 * `imageFile` (compared by real path), or its first sample when no image is given; with the data
 * set's classes (--classes when given).
 */
function imageOfDataSet(o: ParsedOptions, dataPath: string, imageFile: string | undefined): { sample: Sample; classes: string[] } {
  const given = o.text('classes');
  const dataset = readData(o, dataPath, o.required('split'), given === undefined ? undefined : classList(given), true);
  if (imageFile === undefined) return { sample: dataset.samples[0], classes: dataset.classes };
  const real = (file: string): string => {
    try {
      return fs.realpathSync(file);
    } catch {
      return path.resolve(file);
    }
  };
  const wanted = real(imageFile);
  const sample = dataset.samples.find((s) => real(s.imagePath) === wanted);
  if (sample === undefined) throw new Error(`${imageFile}: not an image of --data ${dataPath} (split ${dataset.split}, ${dataset.samples.length} images)`);
  return { sample, classes: dataset.classes };
}
