// Detection: from the network's raw predictions to a short list of boxes per image.
//
// For each of its 8732 priors the network predicts 4 offsets (gcxgcy, see boxes.ts) and one score
// per class. Turning that into detections takes three steps (paper, section 2.1 and 3.1):
//   1. softmax over the classes, so that the scores are probabilities;
//   2. decode the offsets against the priors: gcxgcy -> cxcy -> xy;
//   3. for each class except background: keep the priors scoring above `minScore`, remove
//      near-duplicates with greedy non-maximum suppression (NMS), and finally keep the `topK`
//      best detections over all classes.
//
// Where this differs from the reference tutorial (sgrvinod, `SSD300.detect_objects`), on purpose:
//   - an image without detections gives [], not a dummy background box [0, 0, 1, 1] with score 0
//     (the tutorial needs the dummy to stack tensors; a list of detections does not, and the dummy
//     would be one more thing for every caller to filter out);
//   - the result is always sorted by score, highest first (the tutorial sorts only when it has
//     more than topK boxes to cut, and otherwise leaves them grouped by class);
//   - NMS of a class stops once it has kept topK boxes: they all outrank any later box of that
//     class, so no later box could survive the final topK cut. The output is the same, and an
//     untrained network (where every prior scores above 0.01 for every class) stays fast.
// As in the tutorial, decoded boxes are NOT clamped to the image: a box may reach past the edge,
// which is harmless for evaluation; clamp to [0, 1] when drawing if you need to.

import { Tensor, assertShape } from '../tensor/tensor';
import { sliceBatch, softmax } from '../tensor/ops';
import { cxcyToXy, gcxgcyToCxcy } from './boxes';
import { FEATURE_MAPS, priorCount, priorLocation } from './priors';

/** One detected object. */
export interface Detection {
  /** (x_min, y_min, x_max, y_max), fractions of the image size (not clamped to [0, 1]). */
  box: [number, number, number, number];
  /** Class index, 1..n_classes-1 (0, background, is never detected). */
  label: number;
  /** Softmax probability of `label` at the prior this box was decoded from, in (minScore, 1]. */
  score: number;
}

export interface DetectOptions {
  /** A prior is a candidate for a class only when its score for that class exceeds this. Default 0.01. */
  minScore?: number;
  /** NMS suppresses a box whose IoU with a kept box of the same class exceeds this. Default 0.45. */
  maxOverlap?: number;
  /** At most this many detections per image, the highest scoring over all classes. Default 200. */
  topK?: number;
}

/**
 * Greedy non-maximum suppression over one set of boxes (in SSD: one class of one image).
 *
 * boxesXy (n, 4) in xy coordinates, scores (n). Returns the indices (into boxesXy) of the kept
 * boxes, highest score first.
 *
 * - Boxes are visited by score, descending; equal scores are visited lower index first (an
 *   explicit tie-break, so the result does not depend on the sort algorithm).
 * - A box is suppressed when its IoU with an already kept box EXCEEDS `maxOverlap`; an IoU equal
 *   to `maxOverlap` does not suppress (as in the tutorial, `overlap > max_overlap`). So
 *   maxOverlap = 1 keeps every box.
 * - A suppressed box suppresses nothing. Comparing each box with the boxes kept so far is
 *   therefore the same as the tutorial's "each kept box suppresses every later box it overlaps",
 *   but needs no (n, n) IoU matrix: time O(n * kept), memory O(kept).
 * - `maxKeep` (default: no limit) stops after that many boxes are kept: the result is the first
 *   maxKeep of the unlimited result.
 */
export function nms(boxesXy: Tensor, scores: ArrayLike<number>, maxOverlap: number, maxKeep = Infinity): number[] {
  assertShape(boxesXy, [-1, 4], 'nms: boxesXy');
  const n = boxesXy.shape[0];
  if (scores.length !== n) throw new Error(`nms: ${n} boxes but ${scores.length} scores`);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(scores[i])) throw new Error(`nms: score ${i} is ${scores[i]}; scores must be finite`);
  }
  if (!(maxOverlap >= 0 && maxOverlap <= 1)) throw new Error(`nms: maxOverlap must be in [0, 1], got ${maxOverlap}`);
  if (!(maxKeep === Infinity || (Number.isInteger(maxKeep) && maxKeep >= 0))) {
    throw new Error(`nms: maxKeep must be a non-negative integer (or Infinity), got ${maxKeep}`);
  }

  // 1. The visiting order: score descending, then index ascending. Sorted once.
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => scores[b] - scores[a] || a - b);

  // 2. Keep a box unless it overlaps a kept box too much: compared with the kept boxes one by
  //    one, stopping at the first that suppresses it. The overlap is jaccardOverlap's (ssd/boxes.ts),
  //    written out with its roundings (its intersection and its ratio are stored in the boxes'
  //    dtype), so that no allocation is made per candidate: early in training thousands of priors
  //    pass the score threshold of every class, and NMS was most of an evaluation's time.
  const kept: number[] = [];
  const b = boxesXy.data;
  const round = boxesXy.dtype === 'float32' ? Math.fround : (v: number): number => v;
  for (const i of order) {
    if (kept.length >= maxKeep) break;
    const areaI = (b[4 * i + 2] - b[4 * i]) * (b[4 * i + 3] - b[4 * i + 1]);
    let suppressed = false;
    for (const j of kept) {
      const w = Math.min(b[4 * i + 2], b[4 * j + 2]) - Math.max(b[4 * i], b[4 * j]);
      const h = Math.min(b[4 * i + 3], b[4 * j + 3]) - Math.max(b[4 * i + 1], b[4 * j + 1]);
      const inter = round(Math.max(w, 0) * Math.max(h, 0));
      const union = areaI + (b[4 * j + 2] - b[4 * j]) * (b[4 * j + 3] - b[4 * j + 1]) - inter;
      const iou = union > 0 ? round(inter / union) : 0;
      if (iou > maxOverlap) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) kept.push(i);
  }
  return kept;
}

/** The rows `rows` of a (n, 4) box tensor, in that order: (rows.length, 4), same coordinates. */
function selectRows(t: Tensor, rows: readonly number[]): Tensor {
  const out = new Tensor([rows.length, 4], undefined, t.dtype);
  rows.forEach((r, k) => out.data.set(t.data.subarray(4 * r, 4 * r + 4), 4 * k));
  return out;
}

/**
 * Throw unless every predicted offset and score is finite. A NaN or infinity here (non-finite or
 * overflowing weights) would otherwise vanish: NaN scores never pass `minScore`, so the image
 * would just show fewer objects. The message names the image (imageNames[i], else its index in
 * the batch), the prior's feature map, cell and box, and what was not finite.
 * predLocs (N, n_priors, 4), predScores (N, n_priors, n_classes).
 */
export function checkPredictionsFinite(predLocs: Tensor, predScores: Tensor, imageNames?: readonly string[]): void {
  const [batchSize, nPriors] = predLocs.shape;
  const nClasses = predScores.shape[2];
  for (let i = 0; i < batchSize; i++) {
    for (const [what, t, width] of [['box offsets', predLocs, 4], ['class scores', predScores, nClasses]] as const) {
      const rows = t.data.subarray(i * nPriors * width, (i + 1) * nPriors * width); // (n_priors, width)
      for (let k = 0; k < rows.length; k++) {
        if (Number.isFinite(rows[k])) continue;
        let badCount = 0;
        for (let m = k; m < rows.length; m++) if (!Number.isFinite(rows[m])) badCount++;
        const image = imageNames?.[i] ?? `image ${i} of the batch`;
        const prior = Math.floor(k / width);
        let where = `prior ${prior}`;
        if (nPriors === priorCount(FEATURE_MAPS)) {
          const at = priorLocation(prior);
          where += ` (feature map ${at.map.name}, row ${at.row}, column ${at.column}, box ${at.box})`;
        }
        throw new Error(
          `${image}: the network's ${what} are not finite (${rows[k]} at ${where}; ${badCount} non-finite values in all); ` +
            `the weights or the input hold NaN or infinity, or overflow`,
        );
      }
    }
  }
}

/**
 * Turn the network's predictions into detections, one list per image.
 *
 * predLocs   (N, n_priors, 4)          predicted offsets, gcxgcy
 * predScores (N, n_priors, n_classes)  raw class scores (logits), before softmax; class 0 is background
 * priorsCxcy (n_priors, 4)             the priors, cxcy (8732 of them for SSD300)
 *
 * Returns, for each image, at most topK detections sorted by score, highest first (equal scores:
 * lower class first, then the NMS order within the class). An image with nothing above minScore
 * gets [].
 */
export function detectObjects(
  predLocs: Tensor,
  predScores: Tensor,
  priorsCxcy: Tensor,
  options: DetectOptions = {},
  /** A name for each image of the batch (its file), for the error when an output is not finite. */
  imageNames?: readonly string[],
): Detection[][] {
  const { minScore = 0.01, maxOverlap = 0.45, topK = 200 } = options;
  assertShape(priorsCxcy, [-1, 4], 'detectObjects: priorsCxcy');
  const nPriors = priorsCxcy.shape[0];
  assertShape(predLocs, [-1, nPriors, 4], 'detectObjects: predLocs');
  const batchSize = predLocs.shape[0];
  assertShape(predScores, [batchSize, nPriors, -1], 'detectObjects: predScores');
  const nClasses = predScores.shape[2];
  if (!(minScore >= 0 && minScore <= 1)) throw new Error(`detectObjects: minScore must be in [0, 1], got ${minScore}`);
  if (!(maxOverlap >= 0 && maxOverlap <= 1)) throw new Error(`detectObjects: maxOverlap must be in [0, 1], got ${maxOverlap}`);
  if (!(topK === Infinity || (Number.isInteger(topK) && topK >= 1))) {
    throw new Error(`detectObjects: topK must be a positive integer (or Infinity), got ${topK}`);
  }
  checkPredictionsFinite(predLocs, predScores, imageNames);

  const probs = softmax(predScores, 2); // (N, n_priors, n_classes), each row sums to 1
  const results: Detection[][] = [];
  for (let i = 0; i < batchSize; i++) {
    const locs = sliceBatch(predLocs, i, i + 1).reshape([nPriors, 4]); // (n_priors, 4) gcxgcy
    const boxesXy = cxcyToXy(gcxgcyToCxcy(locs, priorsCxcy)); // (n_priors, 4) xy
    const imageProbs = probs.data.subarray(i * nPriors * nClasses, (i + 1) * nPriors * nClasses); // (n_priors, n_classes)

    const detections: Detection[] = [];
    for (let c = 1; c < nClasses; c++) {
      // The candidates of class c: priors whose score for c exceeds minScore.
      const candidates: number[] = []; // (m) prior indices
      for (let p = 0; p < nPriors; p++) if (imageProbs[p * nClasses + c] > minScore) candidates.push(p);
      if (candidates.length === 0) continue;
      const classBoxesXy = selectRows(boxesXy, candidates); // (m, 4) xy
      const classScores = candidates.map((p) => imageProbs[p * nClasses + c]); // (m)

      // Non-maximum suppression within the class only: one box may be both a cat and a dog.
      for (const k of nms(classBoxesXy, classScores, maxOverlap, topK)) {
        const b = classBoxesXy.data;
        detections.push({ box: [b[4 * k], b[4 * k + 1], b[4 * k + 2], b[4 * k + 3]], label: c, score: classScores[k] });
      }
    }

    // The topK best over all classes. Array.prototype.sort is stable, so equal scores keep their
    // order: class by class, and NMS order within a class.
    detections.sort((a, b) => b.score - a.score);
    results.push(detections.slice(0, topK));
  }
  return results;
}
