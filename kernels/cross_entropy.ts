// The MultiBox loss's confidence term, prior by prior (ssd/loss.ts puts the loss together): the
// two loops every backend runs, over any range of priors, so that the reference runs them over
// all of them and the wasm backend's threads over ranges of them (kernels/wasm/sweep.ts). Each
// prior is computed alone, in the same order of operations, so the results are the same bits on
// any backend and any number of threads.
//
// Cross-entropy of prior p against its target class t, through a float64 log-softmax:
//   logSum[p] = max + log(sum over c of exp(score(c) - max))   (the max keeps exp from overflowing)
//   ce[p]     = logSum[p] - score(t)                            (= -log softmax(t))
// and its gradient, on the priors the loss counts (positives and mined negatives):
//   dScores[p, c] = (exp(score(c) - logSum[p]) - [c = t]) / divisor
// exactExp and exactLog (tensor/exact_math.ts) give the same bits in every engine, so the page
// and Node report the same loss to the last bit.

import { FloatArray } from '../tensor/tensor';
import { exactExp, exactLog } from '../tensor/exact_math';

/**
 * logSum and ce of priors [p0, p1): scores (priors x nClasses, row-major) and classTargets
 * (priors) indexed by the prior's position over the whole batch (image * n_priors + prior).
 */
export function priorCrossEntropyRange(
  scores: FloatArray, classTargets: Int32Array, nClasses: number, p0: number, p1: number, logSum: Float64Array, ce: Float64Array,
): void {
  for (let p = p0; p < p1; p++) {
    const at = p * nClasses;
    let max = -Infinity;
    for (let c = 0; c < nClasses; c++) max = Math.max(max, scores[at + c]);
    let sumExp = 0;
    for (let c = 0; c < nClasses; c++) sumExp += exactExp(scores[at + c] - max);
    logSum[p] = max + exactLog(sumExp);
    ce[p] = -(scores[at + classTargets[p]] - logSum[p]);
  }
}

/** dScores of priors [p0, p1): (softmax - onehot) / divisor where counted[p] is 1, 0 elsewhere. */
export function priorCrossEntropyGradientRange(
  scores: FloatArray, classTargets: Int32Array, nClasses: number, logSum: Float64Array, counted: Uint8Array, divisor: number,
  p0: number, p1: number, dScores: FloatArray,
): void {
  for (let p = p0; p < p1; p++) {
    const at = p * nClasses;
    if (counted[p] === 0) {
      for (let c = 0; c < nClasses; c++) dScores[at + c] = 0;
      continue;
    }
    for (let c = 0; c < nClasses; c++) {
      const softmax = exactExp(scores[at + c] - logSum[p]);
      const onehot = c === classTargets[p] ? 1 : 0;
      dScores[at + c] = (softmax - onehot) / divisor;
    }
  }
}
