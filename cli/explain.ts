// `ssd explain priors|matching|mining|detection [IMAGE]`: draw one idea of SSD as a PNG.
//
// Each picture runs the library's own code (explain/) on an image, or on a plain background when
// no IMAGE is given. Ground truth comes from --annotation (a Pascal VOC XML file), else an example
// scene; predictions from --weights, else made-up ones (explain/scene.ts), so every picture works
// at once. This file only parses options and reads and writes files.

import { parseArgs } from 'util';
import { createKernels, defaultBackendName } from '../kernels/select';
import { RgbImage } from '../data/image';
import { readImage, writePng } from '../data/image_files';
import { resizeBilinear } from '../data/resize';
import { prepareForSSD, SSD_INPUT_SIZE } from '../data/image_tensor';
import { MAX_ANNOTATION_BYTES, parseVocAnnotation } from '../data/voc';
import { PLAIN_BACKGROUND } from '../explain/draw';
import { Tensor } from '../tensor/tensor';
import { createPriors } from '../ssd/priors';
import { loadModel } from './model_files';
import { classList, threadCount } from './options';
import { checkOutputs } from './outputs';
import { checkCanWrite, lockOutput, makeDirectory, readFileNamed } from '../tensor/files';
import * as path from 'path';
import { commandHelp } from './help';
import { renderPriors } from '../explain/priors';
import { renderMatching } from '../explain/matching';
import { renderMining } from '../explain/mining';
import { renderDetection } from '../explain/detection';
import { SceneObject, exampleObjects, syntheticPredictions } from '../explain/scene';

const KINDS = ['priors', 'matching', 'mining', 'detection'] as const;

function pair(raw: string | undefined, what: string): [number, number] | undefined {
  if (raw === undefined) return undefined;
  const parts = raw.split(',').map(Number);
  if (parts.length !== 2 || !parts.every(Number.isFinite)) throw new Error(`--${what}: expected two numbers A,B, got '${raw}'`);
  return [parts[0], parts[1]];
}

function number(raw: string | undefined, what: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v)) throw new Error(`--${what}: expected a number, got '${raw}'`);
  return v;
}

export async function explainCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      out: { type: 'string' },
      map: { type: 'string' },
      cell: { type: 'string' },
      point: { type: 'string' },
      annotation: { type: 'string' },
      weights: { type: 'string' },
      backend: { type: 'string' },
      threads: { type: 'string' },
      'min-score': { type: 'string' },
      'max-overlap': { type: 'string' },
      'top-k': { type: 'string' },
      classes: { type: 'string' },
    },
  });
  const [kind, imageFile, ...rest] = positionals;
  if (!(KINDS as readonly string[]).includes(kind ?? '')) throw new Error(`explain: say what to draw: ${KINDS.join(', ')}\n\n${commandHelp('explain')}`);
  if (rest.length > 0) throw new Error(`explain: one image at most, got ${positionals.length - 1}`);
  const out = values.out;
  if (out === undefined || out === '') throw new Error('explain: --out FILE.png is required');
  // the picture must not replace what it is drawn from, whatever name it goes by
  const inputs = [
    ...(imageFile === undefined ? [] : [{ path: imageFile, what: 'the image' }]),
    ...(values.annotation === undefined ? [] : [{ path: values.annotation, what: 'the --annotation file' }]),
    ...(values.weights === undefined ? [] : [{ path: values.weights, what: 'the --weights file' }]),
  ];
  checkOutputs([{ path: out, what: 'the picture (--out)' }], inputs);
  const threads = threadCount(values);
  try {
    makeDirectory(path.dirname(path.resolve(out)));
    checkCanWrite(out, 'the picture');
  } catch (e) {
    throw new Error(`--out ${out}: cannot write there (${(e as Error).message})`);
  }
  lockOutput(out, 'the picture', (message) => console.error(message));

  // The picture SSD sees: the image squeezed to 300 x 300 (boxes are fractions, so they still fit).
  const image: RgbImage | null = imageFile === undefined ? null : resizeBilinear(readImage(imageFile), SSD_INPUT_SIZE, SSD_INPUT_SIZE);
  const priorsCxcy = createPriors();
  const nPriors = priorsCxcy.shape[0];
  const needsModel = values.weights !== undefined && kind !== 'priors'; // matching takes only the class names from it
  const kernels = needsModel ? await createKernels(values.backend ?? defaultBackendName(), { threads }) : null;
  const loaded = kernels !== null && values.weights !== undefined ? loadModel(values.weights, kernels) : null;
  // Class names: the weights file's, else --classes, else VOC's.
  const classes: readonly string[] = loaded?.classes ?? classList(values.classes ?? 'voc');

  // Predictions of one image: the model's when --weights is given, else made up from the objects.
  const predictions = async (objects: readonly SceneObject[]): Promise<{ locs: Tensor; scores: Tensor; source: string }> => {
    if (loaded === null || kernels === null) {
      const { locs, scores } = syntheticPredictions(objects, priorsCxcy, classes.length);
      return { locs: locs.reshape([nPriors, 4]), scores: scores.reshape([nPriors, classes.length]), source: 'made-up predictions' };
    }
    // No image: the plain background the picture shows, as the model's input.
    const input = prepareForSSD(image ?? { width: 1, height: 1, data: new Uint8Array(PLAIN_BACKGROUND) });
    const { locs, scores } = await loaded.model.forward(input); // (1, 8732, 4), (1, 8732, n_classes)
    return { locs: locs.reshape([nPriors, 4]), scores: scores.reshape([nPriors, loaded.model.nClasses]), source: `model ${values.weights}` };
  };
  const groundTruth = (): SceneObject[] => {
    if (values.annotation === undefined) return exampleObjects(classes.length);
    const xml = readFileNamed(values.annotation, 'VOC annotation', MAX_ANNOTATION_BYTES).toString('utf8');
    const annotation = parseVocAnnotation(xml, values.annotation, classes);
    return annotation.objects.map((o) => ({ boxXy: [...o.boxXy], label: o.label }));
  };

  const render = async (): Promise<RgbImage> => {
    switch (kind) {
      case 'priors': {
        return renderPriors(image, { map: values.map, cell: pair(values.cell, 'cell'), point: pair(values.point, 'point'), priorsCxcy }).image;
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
          minScore: number(values['min-score'], 'min-score', 0.3),
          maxOverlap: number(values['max-overlap'], 'max-overlap', 0.45),
          topK: number(values['top-k'], 'top-k', 200),
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
