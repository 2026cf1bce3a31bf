// Detection on a data source and its VOC evaluation, as training and the CLI run them. The model
// is always switched to evaluation mode here (batch norm then uses its running statistics) and
// put back in the mode it was in.

import { SSD300 } from '../ssd/ssd300';
import { Detection, DetectOptions, detectObjects } from '../ssd/detect';
import { ApMethod, EvaluationResult, GroundTruth, evaluateDetections } from '../ssd/evaluate';
import { RgbImage } from '../data/image';
import { resizeBilinear } from '../data/resize';
import { SSD_INPUT_SIZE, imageToTensor } from '../data/image_tensor';
import { LabeledImage } from '../data/annotations';
import { DataSource } from '../data/source';

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

/** VOC evaluation of the model on a data set, with the paper's settings (minScore 0.01, NMS 0.45, top 200). */
export async function evaluateModel(model: SSD300, data: DataSource, method: ApMethod = '11point', log?: (line: string) => void): Promise<EvaluationResult> {
  const detections: Detection[][] = [];
  const truth: GroundTruth[] = [];
  const batchSize = 4;
  for (let i = 0; i < data.length; i += batchSize) {
    const items: LabeledImage[] = [];
    for (let k = i; k < Math.min(i + batchSize, data.length); k++) items.push(data.get(k));
    const names = items.map((it, k) => it.source ?? `image ${i + k}`);
    detections.push(...(await detectImages(model, items.map((it) => it.image), { minScore: 0.01, maxOverlap: 0.45, topK: 200, batchSize, names })));
    for (const it of items) {
      truth.push({ boxes: it.objects.map((o) => [...o.boxXy]), labels: it.objects.map((o) => o.label), difficult: it.objects.map((o) => o.difficult) });
    }
    if (log !== undefined && (i / batchSize) % 10 === 9) log(`evaluated ${Math.min(i + batchSize, data.length)} / ${data.length} images`);
  }
  return evaluateDetections(detections, truth, model.nClasses, { method });
}

export function formatEvaluation(result: EvaluationResult, classes: readonly string[], method: ApMethod): string {
  const lines = result.ap.map((ap, c) => (c === 0 || Number.isNaN(ap) ? null : `  ${(classes[c] ?? `class ${c}`).padEnd(14)} AP ${ap.toFixed(4)}`)).filter((l): l is string => l !== null);
  return [...lines, `mAP (${method === '11point' ? 'VOC2007 11-point' : 'all-point area'}): ${result.mAP.toFixed(4)}`].join('\n');
}
