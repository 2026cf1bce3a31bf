// Detection on a data source and its VOC evaluation, as training and the CLI run them. The model
// is always switched to evaluation mode here (batch norm then uses its running statistics) and
// put back in the mode it was in.

import { SSD300 } from '../ssd/ssd300';
import { Detection, DetectOptions, detectObjects } from '../ssd/detect';
import { ApMethod, EvaluationResult, GroundTruth, evaluateDetections } from '../ssd/evaluate';
import { RgbImage } from '../data/image';
import { resizeBilinear } from '../data/resize';
import { SSD_INPUT_SIZE, imageToTensor } from '../data/image_tensor';
import { DataSource } from '../data/source';
import { ObjectAnnotation, objectArea } from '../data/annotations';
import { CocoGroundTruth } from '../ssd/coco_evaluate';
import { BatchLoader, BatchRequest } from './loader';

/** Run `f` with the model in evaluation mode, then restore the mode it had. */
export async function inEvalMode<T>(model: SSD300, f: () => Promise<T>): Promise<T> {
  const wasTraining = model.training;
  model.eval();
  try {
    return await f();
  } finally {
    if (wasTraining) model.train();
  }
}

export interface DetectImagesOptions extends DetectOptions {
  /** Images per forward pass. Default 4. */
  batchSize?: number;
  /** A name for each image (its file), for error messages. Default: its index. */
  names?: readonly string[];
}

/**
 * Detections for a list of images (resized to 300x300; boxes are fractions, so they apply to the
 * original). Outputs that are not finite are an error naming the image and the feature map.
 */
export async function detectImages(model: SSD300, images: readonly RgbImage[], options: DetectImagesOptions = {}): Promise<Detection[][]> {
  const batchSize = options.batchSize ?? 4;
  return inEvalMode(model, async () => {
    const out: Detection[][] = [];
    for (let i = 0; i < images.length; i += batchSize) {
      const batch = images.slice(i, i + batchSize).map((img) => resizeBilinear(img, SSD_INPUT_SIZE, SSD_INPUT_SIZE));
      const { locs, scores } = await model.forward(imageToTensor(batch)); // (B, 8732, 4), (B, 8732, n_classes)
      model.clearCache();
      const names = batch.map((_, k) => options.names?.[i + k] ?? `image ${i + k}`);
      out.push(...detectObjects(locs, scores, model.priorsCxcy, options, names)); // names: for a non-finite output's error
    }
    return out;
  });
}

/**
 * The model's detections on every image of a data set, with the paper's settings (minScore 0.01,
 * NMS 0.45, top 200): what every metric is computed from. The images are decoded and resized by
 * an input pipeline (train/loader.ts) in worker threads, a batch of 16 ahead of the forward pass
 * that needs it; pass `loader` (made with augment false) to reuse one, with its cache, across
 * evaluations: the trainer does. detections[i] belongs to image i of `data`.
 */
export async function detectDataset(model: SSD300, data: DataSource, log?: (line: string) => void, loader?: BatchLoader): Promise<Detection[][]> {
  const ownLoader = loader === undefined;
  const pipeline = loader ?? new BatchLoader(data, { workers: DEFAULT_EVAL_WORKERS, augment: false, cacheBytes: 0 });
  const batchSize = 16;
  const requests: BatchRequest[] = [];
  for (let i = 0; i < data.length; i += batchSize) {
    const indices = Array.from({ length: Math.min(batchSize, data.length - i) }, (_, k) => i + k);
    requests.push({ indices, seeds: indices.map(() => 0) }); // no augmentation: the seeds are not used
  }
  const detections: Detection[][] = [];
  try {
    const ahead = requests.slice(0, 2).map((r) => pipeline.load(r));
    for (let b = 0; b < requests.length; b++) {
      const batch = await ahead[b];
      if (b + 2 < requests.length) ahead.push(pipeline.load(requests[b + 2])); // the next while this one runs
      const names = batch.indices.map((index) => data.samples?.[index].imagePath ?? `image ${index}`);
      await inEvalMode(model, async () => {
        const { locs, scores } = await model.forward(batch.images); // (B, 8732, 4), (B, 8732, n_classes)
        model.clearCache();
        detections.push(...detectObjects(locs, scores, model.priorsCxcy, { minScore: 0.01, maxOverlap: 0.45, topK: 200 }, names));
      });
      if (log !== undefined && b % 10 === 9) log(`evaluated ${detections.length} / ${data.length} images`);
    }
  } finally {
    if (ownLoader) await pipeline.close();
  }
  return detections;
}

/** Image i's annotated objects as they are (with their difficult and crowd flags), not through the pipeline. */
export function objectsOf(data: DataSource, i: number): ObjectAnnotation[] {
  return data.samples?.[i].objects ?? data.get(i).objects;
}

/**
 * VOC's ground truth of a data set: a crowd region (COCO's iscrowd) is neither a hit nor a miss,
 * which is what VOC's 'difficult' means, so it is counted as one.
 */
export function vocGroundTruth(data: DataSource): GroundTruth[] {
  const truth: GroundTruth[] = [];
  for (let i = 0; i < data.length; i++) {
    const objects = objectsOf(data, i);
    truth.push({ boxes: objects.map((o) => [...o.boxXy]), labels: objects.map((o) => o.label), difficult: objects.map((o) => o.difficult || o.crowd === true) });
  }
  return truth;
}

/**
 * COCO's ground truth of a data set: the boxes with each image's size in pixels (COCO's small,
 * medium and large are areas in pixels), crowd flags, and areas (COCO's own, else the box's).
 */
export function cocoGroundTruth(data: DataSource): CocoGroundTruth[] {
  const truth: CocoGroundTruth[] = [];
  for (let i = 0; i < data.length; i++) {
    const objects = objectsOf(data, i);
    const { width, height } = data.samples?.[i] ?? data.get(i).image;
    truth.push({
      width, height, boxes: objects.map((o) => [...o.boxXy]), labels: objects.map((o) => o.label),
      crowd: objects.map((o) => o.crowd === true), area: objects.map((o) => objectArea(o, width, height)),
    });
  }
  return truth;
}

/** VOC evaluation of the model on a data set (detectDataset, then evaluateDetections). */
export async function evaluateModel(
  model: SSD300, data: DataSource, method: ApMethod = '11point', log?: (line: string) => void, loader?: BatchLoader,
): Promise<EvaluationResult> {
  const detections = await detectDataset(model, data, log, loader);
  return evaluateDetections(detections, vocGroundTruth(data), model.nClasses, { method });
}

/** Input pipeline workers of an evaluation (see evaluateModel). */
export const DEFAULT_EVAL_WORKERS = 2;

export function formatEvaluation(result: EvaluationResult, classes: readonly string[], method: ApMethod): string {
  const lines = result.ap.map((ap, c) => (c === 0 || Number.isNaN(ap) ? null : `  ${(classes[c] ?? `class ${c}`).padEnd(14)} AP ${ap.toFixed(4)}`)).filter((l): l is string => l !== null);
  return [...lines, `mAP (${method === '11point' ? 'VOC2007 11-point' : 'all-point area'}): ${result.mAP.toFixed(4)}`].join('\n');
}
