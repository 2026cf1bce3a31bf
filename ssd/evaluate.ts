// Pascal VOC evaluation: average precision (AP) per class and its mean over the classes (mAP).
//
// For one class, all its detections over the whole data set are ranked by score, highest first,
// and walked down in that order. Each one is judged against the ground truth of its own image:
//   - find the ground-truth box of the class with the greatest IoU (difficult ones included);
//   - IoU not above the threshold (0.5): a false positive (FP);
//   - that box is 'difficult': ignored, neither true nor false (the detector is not punished for
//     finding, or for missing, an object that annotators marked as hard to recognise);
//   - that box was already claimed by a higher-scoring detection: FP (a duplicate). VOC does not
//     fall back to the second-best box, and neither do we;
//   - otherwise a true positive (TP), and the box is now claimed.
// After the k-th detection, precision = TP / (TP + FP) and recall = TP / n_positives, where
// n_positives counts the non-difficult ground-truth objects of the class. AP summarises that
// precision/recall curve (see averagePrecision).
//
// Classes without any non-difficult ground-truth object have no recall: their AP is NaN and they
// are left out of the mAP (their detections are not evaluated at all), as the VOC devkit averages
// only over classes that occur. ap[0], the background, is NaN too.
//
// Differences from the VOC devkit: boxes are fractions of the image, so IoU has no "+1 pixel" in
// widths and heights; detections of equal score keep their input order (image by image, then
// within the image), where the devkit's order among ties is whatever its sort gives.

import { Tensor } from '../tensor/tensor';
import { jaccardOverlap } from './boxes';
import { Detection } from './detect';

export type Box = [number, number, number, number];

/** The annotated objects of one image. */
export interface GroundTruth {
  /** (x_min, y_min, x_max, y_max), fractions of the image size, one per object. */
  boxes: Box[];
  /** Class index of each object, 1..n_classes-1. */
  labels: number[];
  /** Whether each object is marked 'difficult' (default: none is). */
  difficult?: boolean[];
}

/**
 * '11point': VOC2007, the mean of the interpolated precision at recall 0, 0.1, ..., 1 (the default,
 * and what SSD papers report on VOC2007 test). 'area': VOC2010 and later, the area under the
 * interpolated precision/recall curve.
 */
export type ApMethod = '11point' | 'area';

export interface EvaluateOptions {
  /** A detection is a true positive only when its IoU with the ground truth exceeds this. Default 0.5. */
  iouThreshold?: number;
  method?: ApMethod;
}

export interface EvaluationResult {
  /** AP per class index, length n_classes; NaN for the background (0) and for classes without ground truth. */
  ap: number[];
  /** Mean of the AP of the classes with ground truth; NaN when no class has any. */
  mAP: number;
}

/**
 * Average precision of one precision/recall curve: recall[k] and precision[k] after the first k+1
 * ranked detections (recall never decreases). Both methods first interpolate: the precision at
 * recall r is the best precision at any recall >= r, which removes the curve's zigzag.
 */
export function averagePrecision(recall: readonly number[], precision: readonly number[], method: ApMethod = '11point'): number {
  if (recall.length !== precision.length) {
    throw new Error(`averagePrecision: ${recall.length} recall values but ${precision.length} precision values`);
  }
  if (method === '11point') {
    let sum = 0;
    for (let step = 0; step <= 10; step++) {
      const t = step / 10; // recall level 0, 0.1, ..., 1
      let best = 0; // no point reaches recall t: precision 0 there
      for (let k = 0; k < recall.length; k++) if (recall[k] >= t) best = Math.max(best, precision[k]);
      sum += best;
    }
    return sum / 11; // divided once at the end, so that a perfect curve gives exactly 1
  }
  if (method === 'area') {
    // Sentinels: the curve starts at recall 0 and ends at recall 1 with precision 0.
    const r = [0, ...recall, 1];
    const p = [0, ...precision, 0];
    for (let k = p.length - 2; k >= 0; k--) p[k] = Math.max(p[k], p[k + 1]); // interpolate, right to left
    let ap = 0;
    for (let k = 0; k + 1 < r.length; k++) ap += (r[k + 1] - r[k]) * p[k + 1]; // rectangles where recall grows
    return ap;
  }
  throw new Error(`averagePrecision: unknown method '${String(method)}', expected '11point' or 'area'`);
}

function checkBox(box: readonly number[], what: string): void {
  if (box.length !== 4 || !box.every(Number.isFinite)) {
    throw new Error(`${what}: expected 4 finite numbers (x_min, y_min, x_max, y_max), got [${box.join(', ')}]`);
  }
  if (box[2] < box[0] || box[3] < box[1]) {
    throw new Error(`${what}: inverted box [${box.join(', ')}], x_max must be >= x_min and y_max >= y_min`);
  }
}

function checkLabel(label: number, nClasses: number, what: string): void {
  if (!(Number.isInteger(label) && label >= 1 && label < nClasses)) {
    throw new Error(`${what}: label ${label} is not a class index in 1..${nClasses - 1} (0 is the background)`);
  }
}

function checkInputs(detections: Detection[][], groundTruth: GroundTruth[], nClasses: number, iouThreshold: number): void {
  if (!(Number.isInteger(nClasses) && nClasses >= 2)) {
    throw new Error(`evaluateDetections: nClasses must be an integer >= 2 (background and one class), got ${nClasses}`);
  }
  if (!(iouThreshold >= 0 && iouThreshold <= 1)) {
    throw new Error(`evaluateDetections: iouThreshold must be in [0, 1], got ${iouThreshold}`);
  }
  if (detections.length !== groundTruth.length) {
    throw new Error(`evaluateDetections: detections for ${detections.length} images but ground truth for ${groundTruth.length}`);
  }
  groundTruth.forEach((gt, i) => {
    const where = `evaluateDetections: ground truth of image ${i}`;
    if (gt.labels.length !== gt.boxes.length) throw new Error(`${where}: ${gt.boxes.length} boxes but ${gt.labels.length} labels`);
    if (gt.difficult !== undefined && gt.difficult.length !== gt.boxes.length) {
      throw new Error(`${where}: ${gt.boxes.length} boxes but ${gt.difficult.length} difficult flags`);
    }
    gt.boxes.forEach((box, j) => checkBox(box, `${where}, object ${j}`));
    gt.labels.forEach((label, j) => checkLabel(label, nClasses, `${where}, object ${j}`));
  });
  detections.forEach((dets, i) => {
    dets.forEach((d, j) => {
      const where = `evaluateDetections: image ${i}, detection ${j}`;
      checkBox(d.box, where);
      checkLabel(d.label, nClasses, where);
      if (!Number.isFinite(d.score)) throw new Error(`${where}: score ${d.score} is not finite`);
    });
  });
}

/** Boxes as a float64 (n, 4) tensor, so that IoU is computed without float32 rounding. */
function boxesTensor(boxes: readonly Box[]): Tensor {
  const t = new Tensor([boxes.length, 4], undefined, 'float64');
  boxes.forEach((b, k) => t.data.set(b, 4 * k));
  return t;
}

/** One detection of the class being evaluated, with what is needed to judge it. */
interface RankedDetection {
  score: number;
  image: number;
  /** IoU with each ground-truth object of the class in its image: (n_gt_of_class_in_image). */
  overlaps: ArrayLike<number>;
}

/** One ranked detection of a class and the verdict on it. */
export interface RankedVerdict {
  image: number;
  score: number;
  /** Its greatest IoU with a ground-truth object of its class in its image (0 when there is none). */
  iou: number;
  verdict: 'TP' | 'FP' | 'duplicate' | 'difficult';
}

/** The precision/recall curve of one class, and the verdict on each of its detections in rank order. */
export interface ClassWalk {
  /** The non-difficult ground-truth objects of the class: the denominator of recall. */
  nPositives: number;
  /** After each judged detection (a difficult one adds no point). */
  recall: number[];
  precision: number[];
  ranked: RankedVerdict[];
}

/**
 * Steps 1 to 3 of the header for class c: its detections ranked by score and judged one by one,
 * with the precision/recall point after each. null when the class has no non-difficult object
 * (no recall to measure). evaluateDetections takes the AP of the curve; the page's
 * precision-recall picture (explain/pr_curve.ts) shows the curve and the verdicts.
 */
export function walkClass(detections: readonly Detection[][], groundTruth: readonly GroundTruth[], c: number, iouThreshold = 0.5): ClassWalk | null {
  const nImages = groundTruth.length;
  // 1. The ground truth of class c, image by image, and which of it is claimed so far.
  const gtIndex: number[][] = []; // gtIndex[i]: indices into groundTruth[i] of its class-c objects
  const claimed: boolean[][] = [];
  let nPositives = 0; // non-difficult objects of class c: the denominator of recall
  for (let i = 0; i < nImages; i++) {
    const gt = groundTruth[i];
    gtIndex.push(gt.labels.flatMap((label, j) => (label === c ? [j] : [])));
    claimed.push(gtIndex[i].map(() => false));
    nPositives += gtIndex[i].filter((j) => !gt.difficult?.[j]).length;
  }
  if (nPositives === 0) return null;

  // 2. The detections of class c over all images, each with its IoU against its image's class-c
  //    objects (one jaccardOverlap per image), ranked by score. sort is stable: ties keep input order.
  const ranked: RankedDetection[] = [];
  for (let i = 0; i < nImages; i++) {
    const dets = detections[i].filter((d) => d.label === c);
    if (dets.length === 0) continue;
    const gtBoxes = boxesTensor(gtIndex[i].map((j) => groundTruth[i].boxes[j])); // (g, 4)
    const overlaps = jaccardOverlap(boxesTensor(dets.map((d) => d.box)), gtBoxes); // (d, g)
    const g = gtBoxes.shape[0];
    dets.forEach((d, k) => ranked.push({ score: d.score, image: i, overlaps: overlaps.data.subarray(k * g, (k + 1) * g) }));
  }
  ranked.sort((a, b) => b.score - a.score);

  // 3. Walk down the ranking: TP, FP or ignored; after each judged detection, a point of the
  //    precision/recall curve. An ignored (difficult) detection adds no point: in VOC it adds a
  //    point with the same recall and precision as the one before (or precision 0 at recall 0),
  //    which changes neither AP method.
  let tp = 0;
  let fp = 0;
  const walk: ClassWalk = { nPositives, recall: [], precision: [], ranked: [] };
  for (const det of ranked) {
    // The object of greatest overlap (the first one on ties), and that overlap.
    let best = -1;
    let bestOverlap = -Infinity;
    for (let k = 0; k < det.overlaps.length; k++) {
      if (det.overlaps[k] > bestOverlap) {
        bestOverlap = det.overlaps[k];
        best = k;
      }
    }
    const iou = best === -1 ? 0 : bestOverlap;
    let verdict: RankedVerdict['verdict'];
    if (best === -1 || !(bestOverlap > iouThreshold)) {
      verdict = 'FP'; // overlaps nothing of its class enough
      fp++;
    } else if (groundTruth[det.image].difficult?.[gtIndex[det.image][best]]) {
      walk.ranked.push({ image: det.image, score: det.score, iou, verdict: 'difficult' }); // found a difficult object: ignored
      continue;
    } else if (claimed[det.image][best]) {
      verdict = 'duplicate'; // of a detection already counted
      fp++;
    } else {
      verdict = 'TP';
      tp++;
      claimed[det.image][best] = true;
    }
    walk.ranked.push({ image: det.image, score: det.score, iou, verdict });
    walk.recall.push(tp / nPositives);
    walk.precision.push(tp / (tp + fp));
  }
  return walk;
}

/**
 * Pascal VOC AP per class and mAP.
 *
 * detections[i]  the detections of image i (from detectObjects, xy fractions)
 * groundTruth[i] the annotated objects of image i (xy fractions)
 * nClasses       including the background, e.g. 21 for VOC
 */
export function evaluateDetections(
  detections: Detection[][],
  groundTruth: GroundTruth[],
  nClasses: number,
  options: EvaluateOptions = {},
): EvaluationResult {
  const { iouThreshold = 0.5, method = '11point' } = options;
  checkInputs(detections, groundTruth, nClasses, iouThreshold);
  if (method !== '11point' && method !== 'area') {
    throw new Error(`evaluateDetections: unknown method '${String(method)}', expected '11point' or 'area'`);
  }
  const ap: number[] = new Array<number>(nClasses).fill(NaN);
  for (let c = 1; c < nClasses; c++) {
    const walk = walkClass(detections, groundTruth, c, iouThreshold);
    if (walk === null) continue; // no recall to measure: AP stays NaN, left out of the mAP
    ap[c] = averagePrecision(walk.recall, walk.precision, method);
  }

  const measured = ap.filter((x) => !Number.isNaN(x));
  const mAP = measured.length > 0 ? measured.reduce((s, x) => s + x, 0) / measured.length : NaN;
  return { ap, mAP };
}
