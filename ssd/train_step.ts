// One step of training: forward, MultiBox loss, backward, gradient clipping, SGD update.
// The pieces are all public; this function only puts them in order and guards against NaN.

import { Tensor } from '../tensor/tensor';
import { SGD, clipGradNorm } from '../layers/sgd';
import { ImageTargets, MultiboxOptions, multiboxLossOn } from './loss';
import { SSD300 } from './ssd300';

export interface TrainStepResult {
  loss: number;
  locLoss: number;
  confLoss: number;
  nPositives: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Where the step's time went, in milliseconds (`ssd train --profile` prints them). */
  timings: StepTimings;
}

/** Milliseconds of each part of a step. */
export interface StepTimings {
  forward: number;
  loss: number;
  backward: number;
  /** Gradient clipping and the SGD update. */
  optimizer: number;
}

export interface TrainStepOptions extends MultiboxOptions {
  /** Clip the global gradient norm to this (none if undefined). */
  maxGradNorm?: number;
}

/**
 * images (N, 3, 300, 300), normalized; targets: one per image, boxes in fractional xy.
 * Throws, before touching the weights, if the loss or the gradient norm is not finite.
 */
export async function trainStep(
  model: SSD300,
  optimizer: SGD,
  images: Tensor,
  targets: ImageTargets[],
  options: TrainStepOptions = {},
): Promise<TrainStepResult> {
  const t0 = performance.now();
  const { locs, scores } = await model.forward(images); // (N, 8732, 4), (N, 8732, n_classes)
  const t1 = performance.now();
  const result = await multiboxLossOn(model.kernels, locs, scores, targets, model.priorsCxcy, options); // its confidence term on the model's kernels
  if (!Number.isFinite(result.loss)) {
    throw new Error(`trainStep: the loss is ${result.loss} (loc ${result.locLoss}, conf ${result.confLoss}); stopping before the weights are damaged`);
  }
  const t2 = performance.now();
  optimizer.zeroGrad();
  await model.backwardToParameters(result.dLocs, result.dScores); // the images need no gradient
  model.kernels.release(result.dScores); // in the backend's memory (wasm): its block serves the next step
  const t3 = performance.now();
  const gradNorm = await clipGradNorm(model.parameters(), options.maxGradNorm ?? Infinity, model.kernels);
  if (!Number.isFinite(gradNorm)) {
    throw new Error(`trainStep: the gradient norm is ${gradNorm}; stopping before the weights are damaged (try a lower learning rate)`);
  }
  await optimizer.step();
  model.clearCache();
  const timings = { forward: t1 - t0, loss: t2 - t1, backward: t3 - t2, optimizer: performance.now() - t3 };
  return { loss: result.loss, locLoss: result.locLoss, confLoss: result.confLoss, nPositives: result.nPositives, gradNorm, timings };
}

/** SGD as the SSD paper sets it up: momentum 0.9, weight decay 5e-4, biases at twice the learning rate. */
export function ssdOptimizer(model: SSD300, lr: number): SGD {
  for (const [name, p] of model.namedParameters()) if (name.endsWith('.bias')) p.lrMult = 2;
  return new SGD(model.parameters(), { lr, momentum: 0.9, weightDecay: 5e-4, kernels: model.kernels });
}
