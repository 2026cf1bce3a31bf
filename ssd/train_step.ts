// One step of training: forward, MultiBox loss, backward, gradient clipping, SGD update.
// The pieces are all public; this function only puts them in order and guards against NaN.

import { Tensor } from '../tensor/tensor';
import { SGD, clipGradNorm } from '../layers/sgd';
import { ImageTargets, MultiboxOptions, multiboxLoss } from './loss';
import { SSD300 } from './ssd300';

export interface TrainStepResult {
  loss: number;
  locLoss: number;
  confLoss: number;
  nPositives: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
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
  const { locs, scores } = await model.forward(images); // (N, 8732, 4), (N, 8732, n_classes)
  const result = multiboxLoss(locs, scores, targets, model.priorsCxcy, options);
  if (!Number.isFinite(result.loss)) {
    throw new Error(`trainStep: the loss is ${result.loss} (loc ${result.locLoss}, conf ${result.confLoss}); stopping before the weights are damaged`);
  }
  optimizer.zeroGrad();
  await model.backwardToParameters(result.dLocs, result.dScores); // the images need no gradient
  const gradNorm = options.maxGradNorm === undefined ? clipGradNorm(model.parameters(), Infinity) : clipGradNorm(model.parameters(), options.maxGradNorm);
  if (!Number.isFinite(gradNorm)) {
    throw new Error(`trainStep: the gradient norm is ${gradNorm}; stopping before the weights are damaged (try a lower learning rate)`);
  }
  optimizer.step();
  model.clearCache();
  return { loss: result.loss, locLoss: result.locLoss, confLoss: result.confLoss, nPositives: result.nPositives, gradNorm };
}

/** SGD as the SSD paper sets it up: momentum 0.9, weight decay 5e-4, biases at twice the learning rate. */
export function ssdOptimizer(model: SSD300, lr: number): SGD {
  for (const [name, p] of model.namedParameters()) if (name.endsWith('.bias')) p.lrMult = 2;
  return new SGD(model.parameters(), { lr, momentum: 0.9, weightDecay: 5e-4 });
}
