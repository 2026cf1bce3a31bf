// The MultiBox loss (SSD paper, section 2.2 "Training objective"), with its gradient.
//
// The paper's equation (1), for one image with N matched priors ("positives"):
//
//   L(x, c, l, g) = 1/N * (L_conf(x, c) + alpha * L_loc(x, l, g))        (and L = 0 when N = 0)
//
// where x_ij^p = 1 when prior i is matched to object j of class p (ssd/matching.ts), c are the
// class scores, l the predicted offsets and g the ground-truth boxes. Equation (2), localization:
//
//   L_loc = sum over positives i, over m in {cx, cy, w, h}, of smoothL1(l_i^m - g^_j^m)
//
// with g^ the matched box encoded against prior i (gcxgcy, ssd/boxes.ts). Equation (3), confidence:
//
//   L_conf = - sum over positives of log c^_i^p  - sum over negatives of log c^_i^0,   c^ = softmax(c)
//
// Hard negative mining (section 2.2, "Hard negative mining"): almost all of the 8732 priors are
// background, so summing every negative would drown the few positives. Only the negatives with
// the highest cross-entropy are kept, at most 3 per positive (per image here, as in Caffe and the
// tutorial). `ssd explain mining` draws them.
//
// What this file computes, following the reference tutorial (docs/numerics.md):
// - L_loc: smooth L1 between the predicted offsets and the matched targets, on positive priors
//   only, divided by 4 * n_pos: `locLoss = locSum / (4 * nPositives)`. DIFFERENCE FROM THE PAPER:
//   equation (1) divides the sum by N, not 4N. The tutorial takes the mean over the n_pos * 4
//   coordinates (F.smooth_l1_loss's default reduction), and the golden PyTorch fixture and the
//   reference weights follow it; in the paper's terms our alpha = 1 is its alpha = 1/4. The
//   localization term is therefore 4x weaker relative to the confidence term than in the paper.
//   (The tutorial calls nn.L1Loss here by mistake; we use the smooth L1 of the paper.)
// - L_conf: cross-entropy of every positive and of the 3 * n_pos(image) hardest negatives of each
//   image, summed and divided by the batch's n_pos (the paper's 1/N, with N over the batch).
// - total = L_conf + alpha * L_loc; a batch without positives has loss 0, as the paper says.
//
// The gradient is written out by hand, beside the forward computation it differentiates:
//   dL/dscores = (softmax - onehot) / n_pos       on positives and mined negatives, 0 elsewhere
//   dL/dlocs   = alpha * smoothL1'(diff) / (4 n_pos)   on positives, 0 elsewhere
// The mined set is treated as a constant: it changes only where two cross-entropies cross, where
// the loss has a kink, exactly as in PyTorch, whose autograd does not see through the sort.
//
// Everything is computed in float64; the gradients come back in the dtypes of the predictions.

import { Tensor, assertShape, shapeToString } from '../tensor/tensor';
import { matchPriors } from './matching';
import { Kernels } from '../kernels/kernels';
import { priorCrossEntropyGradientRange, priorCrossEntropyRange } from '../kernels/cross_entropy';

/** The ground truth of one image. */
export interface ImageTargets {
  /** (n_objects, 4) xy: boundary coordinates (x_min, y_min, x_max, y_max), fractions of the image. */
  boxes: Tensor;
  /** (n_objects) classes 1..n_classes-1 (0 is background). */
  labels: ArrayLike<number>;
  /**
   * The priors' targets, matched beforehand by matchPriors with the same priors (the training's
   * input pipeline does it in its worker threads, off the step's path: train/loader.ts). Matched
   * here when absent, or when matched at another threshold than the loss's.
   */
  matched?: MatchedTargets;
}

/** What the loss needs of matchPriors' result, and the threshold it was matched at. */
export interface MatchedTargets {
  locTargets: Tensor; // (n_priors, 4) gcxgcy
  classTargets: Int32Array; // (n_priors)
  nPositives: number;
  threshold: number;
}

export interface MultiboxOptions {
  /** Overlap below which a prior is background (default 0.5). */
  threshold?: number;
  /** Mined negatives per positive, per image (default 3); a whole number. */
  negPosRatio?: number;
  /** Weight of the localization loss (default 1). */
  alpha?: number;
}

export interface MultiboxResult {
  /** confLoss + alpha * locLoss */
  loss: number;
  locLoss: number;
  confLoss: number;
  /** Positive priors in the whole batch: the divisor of both losses. */
  nPositives: number;
  /** (N, n_priors, 4) dL/dpredLocs, in predLocs' dtype. */
  dLocs: Tensor;
  /** (N, n_priors, n_classes) dL/dpredScores, in predScores' dtype. */
  dScores: Tensor;
}

// ---------------------------------------------------------------------------------------------
// The pieces
// ---------------------------------------------------------------------------------------------

/** Smooth L1 with beta 1: 0.5 x^2 where |x| < 1, |x| - 0.5 beyond. Quadratic near 0, linear far away. */
export function smoothL1(x: number): number {
  const a = Math.abs(x);
  return a < 1 ? 0.5 * x * x : a - 0.5;
}

/** d smoothL1 / dx: x where |x| < 1, sign(x) beyond (so a far-off box pulls with force 1, not |x|). */
export function smoothL1Grad(x: number): number {
  return Math.abs(x) < 1 ? x : Math.sign(x);
}

/**
 * Cross-entropy of each prior: -log p(target class).
 * logProbs (n_priors, n_classes) = logSoftmax(scores), classTargets (n_priors) -> (n_priors).
 */
export function crossEntropyPerPrior(logProbs: Tensor, classTargets: ArrayLike<number>): Float64Array {
  const [nPriors, nClasses] = logProbs.shape;
  assertShape(logProbs, [classTargets.length, -1], 'crossEntropyPerPrior: logProbs');
  const ce = new Float64Array(nPriors); // (n_priors)
  for (let p = 0; p < nPriors; p++) ce[p] = -logProbs.data[p * nClasses + classTargets[p]];
  return ce;
}

/**
 * Hard negative mining for one image: a mask (n_priors) of the `nNeg` negatives with the largest
 * cross-entropy, i.e. the background priors the network most wrongly thinks hold an object.
 * Positives (positives[p] != 0, e.g. classTargets) are left out of the ranking. If the image has
 * fewer than nNeg negatives, all are taken.
 *
 * Ties are broken by prior index, lower first (a stable ranking), so the result is reproducible.
 * PyTorch's sort is not stable and may pick either of two equal cross-entropies; the loss is the
 * same either way, only which prior gets the gradient can differ.
 */
export function hardNegativeMask(ce: ArrayLike<number>, positives: ArrayLike<number>, nNeg: number): Uint8Array {
  if (ce.length !== positives.length) {
    throw new Error(`hardNegativeMask: ${ce.length} cross-entropies but ${positives.length} positive flags`);
  }
  const negatives: number[] = [];
  for (let p = 0; p < ce.length; p++) if (!positives[p]) negatives.push(p);
  const harder = (a: number, b: number): number => ce[b] - ce[a] || a - b; // < 0: a is harder; equal CE: lower index
  const taken = Math.min(Math.max(nNeg, 0), negatives.length);
  selectFirst(negatives, taken, harder); // the `taken` hardest in front (only which, not their order, matters)
  const mask = new Uint8Array(ce.length); // (n_priors)
  for (let k = 0; k < taken; k++) mask[negatives[k]] = 1;
  return mask;
}

/**
 * Reorders `items` so that its first k are the k first under `order` (a strict total order), in
 * no particular order among themselves: quickselect. On the 8,732 priors of SSD300 it took 1 ms
 * for 8 images here, where sorting them all took 16.
 */
function selectFirst(items: number[], k: number, order: (a: number, b: number) => number): void {
  let lo = 0;
  let hi = items.length - 1;
  while (k > 0 && lo < hi) {
    // partition [lo, hi] around the middle element: before it all that come first
    const pivot = items[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (order(items[i], pivot) < 0) i++;
      while (order(items[j], pivot) > 0) j--;
      if (i <= j) {
        const t = items[i];
        items[i] = items[j];
        items[j] = t;
        i++;
        j--;
      }
    }
    // now [lo, j] come before [i, hi] (anything between equals the pivot): keep the side holding position k - 1
    if (k - 1 <= j) hi = j;
    else if (k - 1 >= i) lo = i;
    else return;
  }
}

// ---------------------------------------------------------------------------------------------
// The loss
// ---------------------------------------------------------------------------------------------

/**
 * The MultiBox loss of a batch and its gradient with respect to the predictions.
 *
 * @param predLocs   (N, n_priors, 4) predicted offsets, gcxgcy
 * @param predScores (N, n_priors, n_classes) predicted class scores (logits, before softmax)
 * @param targets    N images' ground truth
 * @param priorsCxcy (n_priors, 4) the priors, centre-size (createPriors())
 *
 * A batch without a single positive (no objects in any image) has loss 0 and zero gradients.
 * Non-finite predictions, or a loss that overflows, are errors that say where.
 *
 * This is the plain-TypeScript loss, here and now; multiboxLossOn runs its confidence term on a
 * backend's kernels (all cores), with the same result to the last bit.
 */
export function multiboxLoss(
  predLocs: Tensor,
  predScores: Tensor,
  targets: readonly ImageTargets[],
  priorsCxcy: Tensor,
  options: MultiboxOptions = {},
): MultiboxResult {
  const batch = localizationAndTargets(predLocs, predScores, targets, priorsCxcy, options);
  if (batch.nPositives === 0) return noPositives(batch, predScores);
  const priors = batch.classTargets.length; // N * n_priors
  const logSum = new Float64Array(priors);
  const ce = new Float64Array(priors);
  priorCrossEntropyRange(predScores.data, batch.classTargets, batch.nClasses, 0, priors, logSum, ce);
  const counted = countedPriors(batch, ce);
  const dScores = new Tensor(predScores.shape, undefined, predScores.dtype);
  priorCrossEntropyGradientRange(predScores.data, batch.classTargets, batch.nClasses, logSum, counted, batch.nPositives, 0, priors, dScores.data);
  return totalLoss(batch, ce, counted, dScores);
}

/**
 * multiboxLoss with its confidence term (the cross-entropy of every prior, and its gradient) on
 * `kernels` (Kernels.priorCrossEntropy: the wasm backend runs it on every thread): the same
 * steps, the same bits.
 */
export async function multiboxLossOn(
  kernels: Kernels,
  predLocs: Tensor,
  predScores: Tensor,
  targets: readonly ImageTargets[],
  priorsCxcy: Tensor,
  options: MultiboxOptions = {},
): Promise<MultiboxResult> {
  const batch = localizationAndTargets(predLocs, predScores, targets, priorsCxcy, options);
  if (batch.nPositives === 0) return noPositives(batch, predScores);
  const { logSum, ce } = await kernels.priorCrossEntropy(predScores, batch.classTargets);
  const counted = countedPriors(batch, ce);
  const dScores = await kernels.priorCrossEntropyGradient(predScores, batch.classTargets, logSum, counted, batch.nPositives);
  return totalLoss(batch, ce, counted, dScores);
}

/** What the loss knows once the priors are matched and the localization term is summed. */
interface MatchedBatch {
  nImages: number;
  nPriors: number;
  nClasses: number;
  /** Positive priors in the whole batch: the divisor of both losses. */
  nPositives: number;
  /** Each image's own positives (its mining takes negPosRatio times as many negatives). */
  imagePositives: number[];
  /** (N * n_priors) every prior's class, 0 for background. */
  classTargets: Int32Array;
  negPosRatio: number;
  alpha: number;
  /** Sum of smooth L1 over the 4 coordinates of every positive prior. */
  locSum: number;
  /** (N, n_priors, 4) dL/dpredLocs. */
  dLocs: Tensor;
}

/** Checks, matching (unless the pipeline did it), the localization term, equation (2), and its gradient. */
function localizationAndTargets(
  predLocs: Tensor, predScores: Tensor, targets: readonly ImageTargets[], priorsCxcy: Tensor, options: MultiboxOptions,
): MatchedBatch {
  const threshold = options.threshold ?? 0.5;
  const negPosRatio = options.negPosRatio ?? 3;
  const alpha = options.alpha ?? 1;
  checkInputs(predLocs, predScores, targets, priorsCxcy, negPosRatio, alpha);
  const [nImages, nPriors, nClasses] = predScores.shape;

  // Targets of every prior of every image, and the batch's positive count: the one divisor.
  const matches = targets.map((t, i) => {
    if (t.matched === undefined || t.matched.threshold !== threshold) return matchPriors(t.boxes, t.labels, priorsCxcy, threshold, i);
    assertShape(t.matched.locTargets, [nPriors, 4], `multiboxLoss: image ${i}'s matched locTargets`);
    if (t.matched.classTargets.length !== nPriors) throw new Error(`multiboxLoss: image ${i}'s matched classTargets has ${t.matched.classTargets.length} priors, expected ${nPriors}`);
    return t.matched;
  });
  let nPositives = 0;
  for (const m of matches) nPositives += m.nPositives;
  const classTargets = new Int32Array(nImages * nPriors); // (N * n_priors)
  matches.forEach((m, i) => classTargets.set(m.classTargets, i * nPriors));

  const dLocs = new Tensor(predLocs.shape, undefined, predLocs.dtype); // (N, n_priors, 4)
  // Localization, equation (2): smooth L1 on the positives.
  let locSum = 0;
  if (nPositives > 0) {
    for (let i = 0; i < nImages; i++) {
      const { locTargets } = matches[i];
      for (let p = 0; p < nPriors; p++) {
        if (classTargets[i * nPriors + p] === 0) continue;
        for (let k = 0; k < 4; k++) {
          const at = (i * nPriors + p) * 4 + k;
          const diff = predLocs.data[at] - locTargets.data[4 * p + k];
          locSum += smoothL1(diff);
          dLocs.data[at] = (alpha * smoothL1Grad(diff)) / (4 * nPositives);
        }
      }
    }
  }
  return {
    nImages, nPriors, nClasses, nPositives, imagePositives: matches.map((m) => m.nPositives), classTargets, negPosRatio, alpha, locSum, dLocs,
  };
}

/** A batch without positives: nothing to localize and, at 3 negatives per positive, nothing to mine: 0, not 0 / 0. */
function noPositives(batch: MatchedBatch, predScores: Tensor): MultiboxResult {
  return { loss: 0, locLoss: 0, confLoss: 0, nPositives: 0, dLocs: batch.dLocs, dScores: new Tensor(predScores.shape, undefined, predScores.dtype) };
}

/**
 * Confidence, equation (3), needs every prior's cross-entropy (kernels/cross_entropy.ts: through
 * a float64 log-softmax). Hard negative mining, within each image: 3 negatives for each of its own
 * positives. The priors that count (N * n_priors): positives and mined negatives.
 */
function countedPriors(batch: MatchedBatch, ce: Float64Array): Uint8Array {
  const { nImages, nPriors, classTargets } = batch;
  const counted = new Uint8Array(nImages * nPriors);
  for (let i = 0; i < nImages; i++) {
    const [from, to] = [i * nPriors, (i + 1) * nPriors]; // this image's priors
    const hardNegatives = hardNegativeMask(ce.subarray(from, to), classTargets.subarray(from, to), batch.negPosRatio * batch.imagePositives[i]); // (n_priors)
    for (let p = 0; p < nPriors; p++) counted[i * nPriors + p] = classTargets[i * nPriors + p] !== 0 || hardNegatives[p] ? 1 : 0;
  }
  return counted;
}

/** The two terms summed (positives and mined negatives count; their gradient is softmax minus the one-hot target) and equation (1). */
function totalLoss(batch: MatchedBatch, ce: Float64Array, counted: Uint8Array, dScores: Tensor): MultiboxResult {
  let confSum = 0; // sum of cross-entropy over positives and mined negatives
  for (let p = 0; p < ce.length; p++) if (counted[p]) confSum += ce[p];
  // Equation (1)'s 1/N; for L_loc 1/(4N), the tutorial's mean over 4 coordinates (see the top of the file).
  const { nPositives, alpha } = batch;
  const locLoss = batch.locSum / (4 * nPositives);
  const confLoss = confSum / nPositives;
  const loss = confLoss + alpha * locLoss;
  if (!Number.isFinite(loss)) {
    throw new Error(`multiboxLoss: the loss is not finite (${loss}; confidence ${confLoss}, localization ${locLoss}): predictions too large to sum?`);
  }
  return { loss, locLoss, confLoss, nPositives, dLocs: batch.dLocs, dScores };
}

function checkInputs(
  predLocs: Tensor,
  predScores: Tensor,
  targets: readonly ImageTargets[],
  priorsCxcy: Tensor,
  negPosRatio: number,
  alpha: number,
): void {
  const nPriors = priorsCxcy.shape[0];
  assertShape(priorsCxcy, [-1, 4], 'multiboxLoss: priors');
  assertShape(predLocs, [-1, nPriors, 4], `multiboxLoss: predLocs (N, n_priors=${nPriors}, 4)`);
  const nImages = predLocs.shape[0];
  assertShape(predScores, [nImages, nPriors, -1], `multiboxLoss: predScores (N=${nImages}, n_priors=${nPriors}, n_classes)`);
  const nClasses = predScores.shape[2];
  if (nClasses < 2) {
    throw new Error(
      `multiboxLoss: predScores ${shapeToString(predScores.shape)} has ${nClasses} classes; background plus at least one object class are needed`,
    );
  }
  if (targets.length !== nImages) {
    throw new Error(`multiboxLoss: ${nImages} images of predictions but ${targets.length} of targets`);
  }
  if (!(Number.isInteger(negPosRatio) && negPosRatio >= 0)) {
    throw new Error(`multiboxLoss: negPosRatio must be a whole number >= 0, got ${negPosRatio}`);
  }
  if (!Number.isFinite(alpha)) throw new Error(`multiboxLoss: alpha must be finite, got ${alpha}`);
  targets.forEach((t, i) => {
    for (let o = 0; o < t.labels.length; o++) {
      if (t.labels[o] >= nClasses) {
        throw new Error(
          `multiboxLoss: image ${i}, box ${o} has label ${t.labels[o]}, but predScores has only ${nClasses} classes (0 is background)`,
        );
      }
    }
  });
  // A NaN or an infinity in the predictions would make the loss non-finite (and a NaN would
  // scramble the ranking of negatives); say where it is rather than return a NaN loss.
  const checkFinite = (t: Tensor, name: string, perPrior: number): void => {
    for (let k = 0; k < t.size; k++) {
      if (!Number.isFinite(t.data[k])) {
        const prior = Math.floor(k / perPrior);
        throw new Error(`multiboxLoss: the loss would not be finite: ${name} image ${Math.floor(prior / nPriors)}, prior ${prior % nPriors} holds ${t.data[k]}`);
      }
    }
  };
  checkFinite(predLocs, 'predLocs', 4);
  checkFinite(predScores, 'predScores', nClasses);
}
