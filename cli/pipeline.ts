// What the CLI and the demo share: turning labelled images into batches, the training loop,
// evaluation (VOC mAP) and detection on image files, and building a model from a weights file.
// Everything below it (model, loss, detection, data) is library code; this file only wires it.

import * as fs from 'fs';
import * as path from 'path';
import { Tensor } from '../tensor/tensor';
import { Rng } from '../tensor/random';
import { readSafetensors } from '../tensor/safetensors';
import { Kernels } from '../kernels/kernels';
import { SSD300 } from '../ssd/ssd300';
import { ImageTargets } from '../ssd/loss';
import { ssdOptimizer, trainStep } from '../ssd/train_step';
import { Detection, detectObjects } from '../ssd/detect';
import { EvaluationResult, GroundTruth, evaluateDetections, ApMethod } from '../ssd/evaluate';
import { LabeledImage, Sample, loadSampleImage } from '../data/annotations';
import { augmentForTraining } from '../data/augment';
import { RgbImage, drawBoxes, imageToTensor, resizeBilinear, SSD_INPUT_SIZE } from '../data/image';
import { VOC_CLASSES } from '../data/voc';

/** A data set as the loops see it: a length and a way to get image i with its objects. */
export interface DataSource {
  length: number;
  get(i: number): LabeledImage;
}

export function inMemorySource(items: readonly LabeledImage[]): DataSource {
  return { length: items.length, get: (i) => items[i] };
}

/** Samples on disk (VOC layout): the image is decoded when asked for. */
export function diskSource(samples: readonly Sample[]): DataSource {
  return { length: samples.length, get: (i) => ({ image: loadSampleImage(samples[i]), objects: samples[i].objects }) };
}

/** Images (N, 3, 300, 300), normalized, and their targets: boxes (n_objects, 4) xy fractions. */
export function makeBatch(items: readonly LabeledImage[]): { images: Tensor; targets: ImageTargets[] } {
  const images = imageToTensor(items.map((item) => resizeBilinear(item.image, SSD_INPUT_SIZE, SSD_INPUT_SIZE)));
  const targets = items.map((item) => {
    const boxes = new Tensor([item.objects.length, 4]);
    item.objects.forEach((o, k) => boxes.data.set(o.boxXy, 4 * k));
    return { boxes, labels: item.objects.map((o) => o.label) };
  });
  return { images, targets };
}

export interface TrainConfig {
  epochs: number;
  batchSize: number;
  lr: number;
  /** Linear warm-up of the learning rate over this many steps (avoids early divergence). */
  warmupSteps: number;
  maxGradNorm: number;
  augment: boolean;
  seed: number;
  /** Stop after this many steps in all (optional). */
  maxSteps?: number;
  /** Stop starting new steps after this many seconds (optional). */
  maxSeconds?: number;
  /** Save the weights here after every epoch and at the end (atomic). */
  checkpoint?: string;
  classes: readonly string[];
  log: (line: string) => void;
}

/** The training loop: shuffled epochs of augmented batches, SGD with warm-up, checkpoints. */
export async function train(model: SSD300, data: DataSource, config: TrainConfig): Promise<{ steps: number; lastLoss: number }> {
  if (data.length === 0) throw new Error('train: the data set is empty');
  const rng = new Rng(config.seed);
  const optimizer = ssdOptimizer(model, config.lr);
  const start = Date.now();
  let steps = 0;
  let lastLoss = NaN;
  let averaged = NaN;
  const stepsPerEpoch = Math.ceil(data.length / config.batchSize);
  for (let epoch = 0; epoch < config.epochs; epoch++) {
    const order = shuffled(data.length, rng);
    for (let b = 0; b < stepsPerEpoch; b++) {
      if (config.maxSteps !== undefined && steps >= config.maxSteps) break;
      if (config.maxSeconds !== undefined && (Date.now() - start) / 1000 >= config.maxSeconds) break;
      const items = order.slice(b * config.batchSize, (b + 1) * config.batchSize).map((i) => {
        const item = data.get(i);
        return config.augment ? augmentForTraining(item, rng) : item;
      });
      const { images, targets } = makeBatch(items);
      optimizer.lr = config.lr * Math.min(1, (steps + 1) / Math.max(1, config.warmupSteps));
      const stepStart = Date.now();
      const r = await trainStep(model, optimizer, images, targets, { maxGradNorm: config.maxGradNorm });
      steps++;
      lastLoss = r.loss;
      averaged = Number.isNaN(averaged) ? r.loss : 0.9 * averaged + 0.1 * r.loss;
      if (steps === 1 || steps % 10 === 0) {
        config.log(
          `epoch ${epoch + 1} step ${steps}: loss ${r.loss.toFixed(3)} (avg ${averaged.toFixed(3)}; loc ${r.locLoss.toFixed(3)}, conf ${r.confLoss.toFixed(3)}), ` +
            `${r.nPositives} positives, grad norm ${r.gradNorm.toFixed(2)}, lr ${optimizer.lr.toExponential(2)}, ${((Date.now() - stepStart) / 1000).toFixed(2)} s/step`,
        );
      }
    }
    if (config.checkpoint !== undefined) saveModel(model, config.checkpoint, config.classes);
    const outOfTime = config.maxSeconds !== undefined && (Date.now() - start) / 1000 >= config.maxSeconds;
    if ((config.maxSteps !== undefined && steps >= config.maxSteps) || outOfTime) break;
  }
  return { steps, lastLoss };
}

function shuffled(n: number, rng: Rng): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Detections for a list of images (resized to 300x300; boxes are fractions, so they apply to the original). */
export async function detect(model: SSD300, images: readonly RgbImage[], options: { minScore?: number; maxOverlap?: number; topK?: number; batchSize?: number } = {}): Promise<Detection[][]> {
  const batchSize = options.batchSize ?? 4;
  const out: Detection[][] = [];
  for (let i = 0; i < images.length; i += batchSize) {
    const batch = images.slice(i, i + batchSize).map((img) => resizeBilinear(img, SSD_INPUT_SIZE, SSD_INPUT_SIZE));
    const { locs, scores } = await model.forward(imageToTensor(batch));
    model.clearCache();
    out.push(...detectObjects(locs, scores, model.priorsCxcy, options));
  }
  return out;
}

/** A copy of the image with the detected boxes drawn, clipped to the image (detections are not clamped). */
export function drawDetections(image: RgbImage, detections: readonly Detection[]): RgbImage {
  const clip = (c: number): number => Math.min(Math.max(c, 0), 1);
  return drawBoxes(image, detections.map((d) => d.box.map(clip)), detections.map((d) => d.label));
}

/** VOC evaluation of the model on a data set, with the SPEC's settings (minScore 0.01, NMS 0.45, top 200). */
export async function evaluate(model: SSD300, data: DataSource, method: ApMethod = '11point', log?: (line: string) => void): Promise<EvaluationResult> {
  const detections: Detection[][] = [];
  const truth: GroundTruth[] = [];
  const batchSize = 4;
  for (let i = 0; i < data.length; i += batchSize) {
    const items: LabeledImage[] = [];
    for (let k = i; k < Math.min(i + batchSize, data.length); k++) items.push(data.get(k));
    detections.push(...(await detect(model, items.map((it) => it.image), { minScore: 0.01, maxOverlap: 0.45, topK: 200, batchSize })));
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

/** Save weights with the class names in the metadata, so detect can name what it finds. */
export function saveModel(model: SSD300, file: string, classes: readonly string[]): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  model.saveWeights(file, { classes: JSON.stringify(classes) });
}

/**
 * A model shaped to fit a weights file. The number of classes and the width divisor are read off
 * the tensors themselves (cl_conv11_2 has 4 * n_classes outputs, conv1_1 has 64 / divisor), so
 * weights exported from PyTorch without metadata load too. Class names come from the metadata,
 * else VOC's for 21 classes, else 'class 1', 'class 2', ...
 */
export function loadModel(file: string, kernels: Kernels): { model: SSD300; classes: string[] } {
  const { tensors, metadata } = readSafetensors(file);
  const clBias = tensors.get('pred_convs.cl_conv11_2.bias');
  const conv1 = tensors.get('base.conv1_1.weight');
  if (clBias === undefined || conv1 === undefined) {
    throw new Error(`${file}: not SSD300 weights (no 'pred_convs.cl_conv11_2.bias' or 'base.conv1_1.weight')`);
  }
  const nClasses = clBias.size / 4;
  const widthDivisor = 64 / conv1.shape[0];
  if (!Number.isInteger(nClasses) || !Number.isInteger(widthDivisor)) {
    throw new Error(`${file}: cannot read the model's shape (cl_conv11_2 bias ${clBias.size}, conv1_1 ${conv1.shape[0]} channels)`);
  }
  const model = new SSD300({ nClasses, widthDivisor, kernels });
  model.loadWeights(file);
  let classes: string[];
  if (metadata.classes !== undefined) {
    classes = JSON.parse(metadata.classes) as string[];
  } else if (nClasses === VOC_CLASSES.length) {
    classes = [...VOC_CLASSES];
  } else {
    classes = ['background', ...Array.from({ length: nClasses - 1 }, (_, i) => `class ${i + 1}`)];
  }
  if (classes.length !== nClasses) throw new Error(`${file}: metadata names ${classes.length} classes but the weights have ${nClasses}`);
  return { model, classes };
}
