// COCO evaluation of boxes: the 12 numbers that pycocotools' COCOeval (iouType 'bbox') prints.
//
// VOC (evaluate.ts) asks one question: at IoU 0.5, how good is the ranking of each class's
// detections? COCO asks it many times over and averages the answers:
//   - at 10 IoU thresholds, 0.50, 0.55, ..., 0.95, so that loose boxes score less than tight ones;
//   - for objects of three sizes (area in pixels^2: small < 32^2 <= medium < 96^2 <= large);
//   - with at most 1, 10 or 100 detections per image and class (for the average recall, AR).
// The headline number, "AP" or "mAP@[.5:.95]", is the mean over classes and IoU thresholds.
//
// The computation, for one class c (category) at a time, has three steps (as COCOeval's evaluate,
// accumulate and summarize):
//
// 1. Per image (evaluateImage): the image's objects of class c and its detections of class c,
//    ranked by score (equal scores keep their input order) and cut to the best 100. Each object
//    is 'ignored' when it is a crowd region or its area is outside the area range being measured;
//    ignored objects are tried last. At each IoU threshold t, each detection in rank order claims
//    the still-free object with the greatest IoU >= t (not > t as in VOC), preferring any regular
//    object to an ignored one. Unlike VOC, a detection whose best object is taken falls back to
//    the next best free one. Its outcome:
//      - claimed a regular object: a true positive (TP);
//      - claimed an ignored object: ignored, neither TP nor FP. A crowd region ("a group of
//        people") can absorb any number of detections, and its IoU with a detection is the
//        intersection over the DETECTION's area (how much of the detection lies in the crowd);
//      - claimed nothing: a false positive (FP), unless its own area is outside the area range
//        (it would have been ignored as an object there), then ignored.
//
// 2. Over all images (accumulate): the detections of class c of all images, ranked by score
//    (stable again: image order, then rank within the image), walked down keeping counts of TP and
//    FP: precision = TP / (TP + FP), recall = TP / (number of regular objects). The precision is
//    made non-increasing from the right (at recall r, the best precision at any recall >= r), then
//    read at 101 recall levels 0, 0.01, ..., 1: at each level, the precision of the first ranked
//    detection whose recall reaches it, or 0 when no detection does. AP of the class at that
//    threshold is the mean of those 101 values; its recall (for AR) is the recall after the last
//    detection. A class without regular objects has no recall: its values are -1 ("absent") and
//    are left out of every mean.
//
// 3. Summary (summarize): each of the 12 numbers is the mean, over classes, IoU thresholds (and
//    recall levels for AP) of the entries that are not -1; -1 when all are.
//
// Coordinates: the project's boxes are fractions of the image; COCO's areas are in pixels (the
// size limits 32 and 96 are pixels), so every box is first converted with its image's width and
// height to COCO's [x, y, width, height] in pixels, and IoU is computed there as pycocotools does.
//
// "maxDets 100" is per image AND class, as in pycocotools (it evaluates each (image, class) pair
// separately). The means are summed in numpy's order (numpySum), so that a mean lying on a
// rounding boundary of the printed 3 decimals (say 0.0425) prints as pycocotools prints it.

import { Box } from './evaluate';
import { Detection } from './detect';

/** The annotated objects of one image, with the image's size in pixels. */
export interface CocoGroundTruth {
  /** Image width and height in pixels (boxes are fractions of these). */
  width: number;
  height: number;
  /** (x_min, y_min, x_max, y_max), fractions of the image size, one per object. */
  boxes: Box[];
  /** Class index of each object, 1..n_classes-1. */
  labels: number[];
  /** COCO's iscrowd: the box covers a crowd of objects (default: none is). */
  crowd?: boolean[];
  /**
   * Area of each object in pixels^2, which decides its size (small, medium, large). COCO's
   * annotations give the area of the segmentation mask, smaller than the box; default: box area.
   */
  area?: number[];
}

export interface CocoEvaluateOptions {
  /**
   * The three limits on detections per image and class, ascending. Default [1, 10, 100]. The
   * summary's AP lines and the last three AR lines use the largest (pycocotools' first line asks
   * for 100 literally, the same with the default).
   */
  maxDets?: readonly [number, number, number];
}

/** An object size range: areas in [min, max] pixels^2, both ends included. */
export interface AreaRange {
  label: 'all' | 'small' | 'medium' | 'large';
  min: number;
  max: number;
}

/** The 12 summary numbers by name (same values as `stats`). */
export interface CocoMetrics {
  /** AP @[IoU .50:.95], all areas, maxDets 100: COCO's headline "AP". */
  ap: number;
  ap50: number;
  ap75: number;
  apSmall: number;
  apMedium: number;
  apLarge: number;
  /** AR @[IoU .50:.95], all areas, with at most 1, 10, 100 detections per image and class. */
  ar1: number;
  ar10: number;
  ar100: number;
  arSmall: number;
  arMedium: number;
  arLarge: number;
}

export interface CocoEvaluationResult {
  /** The 12 numbers in pycocotools' order (COCOeval.stats); -1 where nothing could be measured. */
  stats: number[];
  metrics: CocoMetrics;
  /**
   * AP @[.5:.95] (all areas, the largest maxDets) per class index, length n_classes; -1 for the
   * background (0) and for classes without objects.
   */
  apPerClass: number[];
  /** AP at IoU 0.5, likewise. */
  ap50PerClass: number[];
  /**
   * Precision/recall curve of each class at IoU 0.5 (all areas, the largest maxDets), sampled as
   * COCO does: precision[c][r] is the (interpolated) precision at recall recall[r]. recall is the
   * 101 levels 0, 0.01, ..., 1; precision[c] has 101 values, all -1 for the background and for
   * classes without objects.
   */
  prCurve50: { recall: number[]; precision: number[][] };
  /** The IoU thresholds (T = 10), recall levels (R = 101), area ranges (A = 4), maxDets (M = 3). */
  iouThresholds: number[];
  recallThresholds: number[];
  areaRanges: AreaRange[];
  maxDets: number[];
  /** Number of categories K = n_classes - 1; category k is class index k + 1. */
  nCategories: number;
  /** COCOeval's eval['precision'], (T, R, K, A, M) row-major: see precisionIndex. -1 for absent. */
  precision: Float64Array;
  /** COCOeval's eval['recall'], (T, K, A, M) row-major: see recallIndex. -1 for absent. */
  recall: Float64Array;
}

/** numpy's linspace(start, stop, num): start + k * step, the last value exactly stop. */
function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  return Array.from({ length: num }, (_, k) => (k === num - 1 ? stop : k * step + start));
}

/** 0.50, 0.55, ..., 0.95, computed as pycocotools computes them (so 0.9 is 0.8999999999999999). */
export const COCO_IOU_THRESHOLDS: readonly number[] = linspace(0.5, 0.95, 10);
/** 0, 0.01, ..., 1. */
export const COCO_RECALL_THRESHOLDS: readonly number[] = linspace(0, 1, 101);
export const COCO_AREA_RANGES: readonly AreaRange[] = [
  { label: 'all', min: 0, max: 1e10 },
  { label: 'small', min: 0, max: 32 ** 2 },
  { label: 'medium', min: 32 ** 2, max: 96 ** 2 },
  { label: 'large', min: 96 ** 2, max: 1e10 },
];
export const COCO_MAX_DETS: readonly [number, number, number] = [1, 10, 100];

/** Index of precision[t][r][k][a][m] in CocoEvaluationResult.precision. */
export function precisionIndex(result: CocoEvaluationResult, t: number, r: number, k: number, a: number, m: number): number {
  const R = result.recallThresholds.length;
  const K = result.nCategories;
  const A = result.areaRanges.length;
  const M = result.maxDets.length;
  return (((t * R + r) * K + k) * A + a) * M + m;
}

/** Index of recall[t][k][a][m] in CocoEvaluationResult.recall. */
export function recallIndex(result: CocoEvaluationResult, t: number, k: number, a: number, m: number): number {
  const K = result.nCategories;
  const A = result.areaRanges.length;
  const M = result.maxDets.length;
  return ((t * K + k) * A + a) * M + m;
}

// ---------------------------------------------------------------------------------------------
// Input checks

function checkBox(box: readonly number[], what: string): void {
  if (!Array.isArray(box) || box.length !== 4 || !box.every(Number.isFinite)) {
    throw new Error(`${what}: expected a box of 4 finite numbers (x_min, y_min, x_max, y_max), got [${String(box)}]`);
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

function checkSize(width: number, height: number, what: string): void {
  if (!(Number.isFinite(width) && width > 0 && Number.isFinite(height) && height > 0)) {
    throw new Error(`${what}: image size must be positive finite numbers of pixels, got width ${width}, height ${height}`);
  }
}

function checkDetections(detections: Detection[][], nClasses: number, fn: string): void {
  detections.forEach((dets, i) => {
    if (!Array.isArray(dets)) throw new Error(`${fn}: detections of image ${i} is not an array`);
    dets.forEach((d, j) => {
      const where = `${fn}: image ${i}, detection ${j}`;
      checkBox(d.box, where);
      checkLabel(d.label, nClasses, where);
      if (!Number.isFinite(d.score)) throw new Error(`${where}: score ${d.score} is not finite`);
    });
  });
}

function checkInputs(detections: Detection[][], truth: CocoGroundTruth[], nClasses: number, maxDets: readonly number[]): void {
  const fn = 'evaluateCoco';
  if (!(Number.isInteger(nClasses) && nClasses >= 2)) {
    throw new Error(`${fn}: nClasses must be an integer >= 2 (background and one class), got ${nClasses}`);
  }
  if (maxDets.length !== 3 || !maxDets.every((m, i) => Number.isInteger(m) && m >= 1 && (i === 0 || m >= maxDets[i - 1]))) {
    throw new Error(`${fn}: maxDets must be 3 ascending integers >= 1, got [${maxDets.join(', ')}]`);
  }
  if (detections.length !== truth.length) {
    throw new Error(`${fn}: detections for ${detections.length} images but ground truth for ${truth.length}`);
  }
  truth.forEach((gt, i) => {
    const where = `${fn}: ground truth of image ${i}`;
    checkSize(gt.width, gt.height, where);
    const n = gt.boxes.length;
    if (gt.labels.length !== n) throw new Error(`${where}: ${n} boxes but ${gt.labels.length} labels`);
    if (gt.crowd !== undefined && gt.crowd.length !== n) throw new Error(`${where}: ${n} boxes but ${gt.crowd.length} crowd flags`);
    if (gt.area !== undefined && gt.area.length !== n) throw new Error(`${where}: ${n} boxes but ${gt.area.length} areas`);
    gt.boxes.forEach((box, j) => checkBox(box, `${where}, object ${j}`));
    gt.labels.forEach((label, j) => checkLabel(label, nClasses, `${where}, object ${j}`));
    gt.area?.forEach((a, j) => {
      if (!(Number.isFinite(a) && a >= 0)) throw new Error(`${where}, object ${j}: area ${a} is not a finite number >= 0`);
    });
  });
  checkDetections(detections, nClasses, fn);
}

// ---------------------------------------------------------------------------------------------
// Pixels and IoU

/** A box in COCO's form: [x, y, width, height] in pixels. */
type Xywh = [number, number, number, number];

/** Fractions (x_min, y_min, x_max, y_max) -> pixels [x, y, width, height]. */
function toPixels(box: Box, width: number, height: number): Xywh {
  const x1 = box[0] * width;
  const y1 = box[1] * height;
  return [x1, y1, box[2] * width - x1, box[3] * height - y1];
}

/**
 * IoU of detection d with object g, both [x, y, w, h] in pixels, as pycocotools' bbIou: no
 * overlap (or touching edges) gives 0. For a crowd object the denominator is the detection's own
 * area instead of the union: the fraction of the detection that lies inside the crowd.
 */
function boxIou(d: Xywh, g: Xywh, crowd: boolean): number {
  const w = Math.min(d[0] + d[2], g[0] + g[2]) - Math.max(d[0], g[0]);
  if (w <= 0) return 0;
  const h = Math.min(d[1] + d[3], g[1] + g[3]) - Math.max(d[1], g[1]);
  if (h <= 0) return 0;
  const intersection = w * h;
  const detArea = d[2] * d[3];
  const union = crowd ? detArea : detArea + g[2] * g[3] - intersection;
  return intersection / union;
}

/** Indices 0..n-1 ordered by key ascending; equal keys keep their order (numpy's mergesort). */
function stableArgsort(n: number, key: (i: number) => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  return order.sort((a, b) => key(a) - key(b)); // Array.prototype.sort is stable (ES2019)
}

// ---------------------------------------------------------------------------------------------
// Step 1: one image, one class, one area range

/** An object of one class in one image, in pixels. */
interface PixelObject {
  box: Xywh;
  area: number;
  crowd: boolean;
}

/** A detection of one class in one image, in pixels. */
interface PixelDetection {
  box: Xywh;
  area: number;
  score: number;
}

/** The outcome of evaluateImage: what the accumulation needs. */
interface ImageEvaluation {
  /** Scores of the image's detections, highest first (at most the largest maxDets). */
  scores: number[];
  /** matched[t][d]: detection d claimed an object at IoU threshold t. */
  matched: boolean[][];
  /** ignored[t][d]: detection d counts neither as TP nor FP at threshold t. */
  ignored: boolean[][];
  /** Objects that count (not crowd, area in range): the image's share of the recall denominator. */
  nRegular: number;
}

/**
 * Match the detections of one class in one image to its objects, at every IoU threshold, for one
 * area range. dets are ranked (highest score first) and already cut; ious[d][g] is the IoU of
 * detection d with object g (objects in input order).
 */
function evaluateImage(
  objects: readonly PixelObject[],
  dets: readonly PixelDetection[],
  ious: readonly (readonly number[])[],
  range: AreaRange,
  iouThresholds: readonly number[],
): ImageEvaluation {
  const outside = (area: number): boolean => area < range.min || area > range.max;

  // Which objects are ignored, and the order to try them in: regular ones first (stable).
  const objIgnored = objects.map((o) => o.crowd || outside(o.area));
  const order = stableArgsort(objects.length, (g) => (objIgnored[g] ? 1 : 0));

  const matched: boolean[][] = [];
  const ignored: boolean[][] = [];
  for (const threshold of iouThresholds) {
    const taken = objects.map(() => false);
    const detMatched = dets.map(() => false);
    const detIgnored = dets.map(() => false);
    for (let d = 0; d < dets.length; d++) {
      // The best IoU so far must be at least the threshold (never asking for more than IoU 1).
      let bestIou = Math.min(threshold, 1 - 1e-10);
      let best = -1; // index into objects, -1: nothing claimed yet
      for (const g of order) {
        // A taken object is not free any more, except a crowd region, which absorbs any number.
        if (taken[g] && !objects[g].crowd) continue;
        // Already holding a regular object: the ignored ones (all after it) cannot replace it.
        if (best > -1 && !objIgnored[best] && objIgnored[g]) break;
        // Not as good as the best so far. (An equal IoU does replace it: the later object wins.)
        if (ious[d][g] < bestIou) continue;
        bestIou = ious[d][g];
        best = g;
      }
      if (best === -1) continue; // claimed nothing: a false positive, unless ignored below
      taken[best] = true;
      detMatched[d] = true;
      detIgnored[d] = objIgnored[best]; // claimed a crowd or an object of another size: ignored
    }
    // A detection that claimed nothing and is itself outside the area range is ignored too: it
    // may well be a correct detection of an object that this range does not look at.
    for (let d = 0; d < dets.length; d++) {
      if (!detMatched[d] && outside(dets[d].area)) detIgnored[d] = true;
    }
    matched.push(detMatched);
    ignored.push(detIgnored);
  }
  return {
    scores: dets.map((d) => d.score),
    matched,
    ignored,
    nRegular: objIgnored.filter((ig) => !ig).length,
  };
}

// ---------------------------------------------------------------------------------------------
// Step 2: all images of one class, one area range, one maxDets

/** Machine epsilon (numpy's spacing(1)): pycocotools adds it to the precision's denominator. */
const EPSILON = 2 ** -52;

interface Accumulated {
  /** precision[t][r]: interpolated precision at recall level r, IoU threshold t. */
  precision: number[][];
  /** recall[t]: recall after the last detection (0 without detections). */
  recall: number[];
}

/**
 * The precision at each recall level and the final recall, at every IoU threshold, from the
 * per-image evaluations of one class (null: the image has neither objects nor detections of it).
 * Returns null when the class has no regular object: it is absent from this measurement.
 */
function accumulate(
  images: readonly (ImageEvaluation | null)[],
  maxDet: number,
  nThresholds: number,
  recallThresholds: readonly number[],
): Accumulated | null {
  // Each image's best maxDet detections, one after the other (image order): detection d of
  // images[image[j]] is entry j.
  const scores: number[] = [];
  const image: number[] = [];
  const det: number[] = [];
  let nRegular = 0;
  images.forEach((e, i) => {
    if (e === null) return;
    const n = Math.min(maxDet, e.scores.length);
    for (let d = 0; d < n; d++) {
      scores.push(e.scores[d]);
      image.push(i);
      det.push(d);
    }
    nRegular += e.nRegular;
  });
  if (nRegular === 0) return null;

  // Rank them all by score, highest first; equal scores keep the order above.
  const rank = stableArgsort(scores.length, (j) => -scores[j]);
  const nd = rank.length;

  const precision: number[][] = [];
  const recall: number[] = [];
  const rc = new Float64Array(nd); // recall after each ranked detection
  const pr = new Float64Array(nd); // precision after each ranked detection
  for (let t = 0; t < nThresholds; t++) {
    // Walk down the ranking. An ignored detection changes neither count but still takes a place
    // in the lists (as in pycocotools; the interpolation makes that harmless).
    let tp = 0;
    let fp = 0;
    rank.forEach((j, k) => {
      const e = images[image[j]] as ImageEvaluation;
      if (!e.ignored[t][det[j]]) {
        if (e.matched[t][det[j]]) tp++;
        else fp++;
      }
      rc[k] = tp / nRegular;
      // + EPSILON: 0/0 would be NaN while only ignored detections have been seen. It also makes
      // a precision of 1 after the first TP 0.9999999999999998, exactly as in pycocotools.
      pr[k] = tp / (tp + fp + EPSILON);
    });
    recall.push(nd > 0 ? rc[nd - 1] : 0);

    // Interpolate: the precision at a point is the best precision at this or any later point.
    for (let i = nd - 1; i > 0; i--) {
      if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
    }

    // Read the curve at each recall level: the first point whose recall reaches the level
    // (numpy's searchsorted, side 'left'); 0 for levels beyond the last recall reached. Both
    // the levels and rc increase, so one forward walk finds them all.
    const q: number[] = [];
    let i = 0;
    for (const level of recallThresholds) {
      while (i < nd && rc[i] < level) i++;
      q.push(i < nd ? pr[i] : 0);
    }
    precision.push(q);
  }
  return { precision, recall };
}

// ---------------------------------------------------------------------------------------------
// Step 3 and the whole

/**
 * Sum of a, added in the order numpy's np.sum adds a float64 array (numpy 2.x): pairwise, which
 * rounds less than a running sum. Any order gives the same sum up to the last bits; this one makes
 * the means agree with pycocotools' bit for bit.
 */
function numpySum(a: readonly number[]): number {
  // Blocks of up to 128 values are summed with 8 running sums (value i goes to sum i % 8), which
  // are then added as a tree; longer runs are split in two (at a multiple of 8) and recursed.
  const pairwise = (start: number, n: number): number => {
    if (n < 8) {
      let res = -0;
      for (let i = 0; i < n; i++) res += a[start + i];
      return res;
    }
    if (n <= 128) {
      const r = a.slice(start, start + 8);
      let i = 8;
      for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += a[start + i + j];
      let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
      for (; i < n; i++) res += a[start + i];
      return res;
    }
    let n2 = Math.floor(n / 2);
    n2 -= n2 % 8;
    return pairwise(start, n2) + pairwise(start + n2, n - n2);
  };
  return 0 + pairwise(0, a.length);
}

/** Mean of the values that are not -1 (absent), as np.mean(s[s > -1]); -1 when there are none. */
function meanPresent(values: Iterable<number>): number {
  const present = Array.from(values).filter((v) => v > -1);
  return present.length > 0 ? numpySum(present) / present.length : -1;
}

/**
 * COCO box AP and AR, as pycocotools' COCOeval with iouType 'bbox' computes them.
 *
 * detections[i]  the detections of image i (from detectObjects, xy fractions)
 * truth[i]       the annotated objects of image i (xy fractions) and its size in pixels
 * nClasses       including the background, e.g. 81 for COCO's 80 categories
 */
export function evaluateCoco(
  detections: Detection[][],
  truth: CocoGroundTruth[],
  nClasses: number,
  options: CocoEvaluateOptions = {},
): CocoEvaluationResult {
  const maxDets = [...(options.maxDets ?? COCO_MAX_DETS)];
  checkInputs(detections, truth, nClasses, maxDets);
  const iouThresholds = [...COCO_IOU_THRESHOLDS];
  const recallThresholds = [...COCO_RECALL_THRESHOLDS];
  const areaRanges = COCO_AREA_RANGES.map((a) => ({ ...a }));
  const T = iouThresholds.length;
  const R = recallThresholds.length;
  const K = nClasses - 1;
  const A = areaRanges.length;
  const M = maxDets.length;
  const maxDetLast = maxDets[M - 1];

  // Everything in pixels, once, and sorted by class: objectsOf[c][i] are the objects of class c
  // in image i (in input order), detectionsOf[c][i] its detections of class c.
  const objectsOf: PixelObject[][][] = Array.from({ length: nClasses }, () => truth.map(() => []));
  const detectionsOf: PixelDetection[][][] = Array.from({ length: nClasses }, () => truth.map(() => []));
  truth.forEach((gt, i) => {
    gt.boxes.forEach((b, j) => {
      const box = toPixels(b, gt.width, gt.height);
      const area = gt.area?.[j] ?? box[2] * box[3];
      objectsOf[gt.labels[j]][i].push({ box, area, crowd: gt.crowd?.[j] ?? false });
    });
    for (const d of detections[i]) {
      const box = toPixels(d.box, gt.width, gt.height);
      detectionsOf[d.label][i].push({ box, area: box[2] * box[3], score: d.score });
    }
  });

  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);

  for (let k = 0; k < K; k++) {
    const label = k + 1;
    // Step 1 for every image and area range: evaluations[a][i].
    const evaluations: (ImageEvaluation | null)[][] = areaRanges.map(() => []);
    for (let i = 0; i < truth.length; i++) {
      const objs = objectsOf[label][i];
      const mine = detectionsOf[label][i];
      const ranked = stableArgsort(mine.length, (j) => -mine[j].score)
        .slice(0, maxDetLast)
        .map((j) => mine[j]);
      if (objs.length === 0 && ranked.length === 0) {
        areaRanges.forEach((_, a) => evaluations[a].push(null));
        continue;
      }
      const ious = ranked.map((d) => objs.map((o) => boxIou(d.box, o.box, o.crowd)));
      areaRanges.forEach((areaRange, a) => evaluations[a].push(evaluateImage(objs, ranked, ious, areaRange, iouThresholds)));
    }
    // Step 2 for every area range and maxDets.
    for (let a = 0; a < A; a++) {
      for (let m = 0; m < M; m++) {
        const acc = accumulate(evaluations[a], maxDets[m], T, recallThresholds);
        if (acc === null) continue; // absent: stays -1
        for (let t = 0; t < T; t++) {
          for (let r = 0; r < R; r++) precision[(((t * R + r) * K + k) * A + a) * M + m] = acc.precision[t][r];
          recall[((t * K + k) * A + a) * M + m] = acc.recall[t];
        }
      }
    }
  }

  // Step 3. The precision entries for IoU thresholds ts, area range a, maxDets index m (all
  // recall levels and categories), and likewise the recall entries; both in the order numpy
  // flattens pycocotools' slices (threshold, then recall level, then category), for numpySum.
  const allK = range(K);
  const precisionAt = function* (ts: readonly number[], a: number, m: number, ks = allK): Generator<number> {
    for (const t of ts) {
      for (let r = 0; r < R; r++) for (const k of ks) yield precision[(((t * R + r) * K + k) * A + a) * M + m];
    }
  };
  const recallAt = function* (ts: readonly number[], a: number, m: number): Generator<number> {
    for (const t of ts) for (let k = 0; k < K; k++) yield recall[((t * K + k) * A + a) * M + m];
  };
  const allT = range(T);
  const t50 = iouThresholds.indexOf(0.5);
  const t75 = iouThresholds.indexOf(0.75);
  const [ALL, SMALL, MEDIUM, LARGE] = [0, 1, 2, 3];
  const last = M - 1;
  const stats = [
    meanPresent(precisionAt(allT, ALL, last)),
    meanPresent(precisionAt([t50], ALL, last)),
    meanPresent(precisionAt([t75], ALL, last)),
    meanPresent(precisionAt(allT, SMALL, last)),
    meanPresent(precisionAt(allT, MEDIUM, last)),
    meanPresent(precisionAt(allT, LARGE, last)),
    meanPresent(recallAt(allT, ALL, 0)),
    meanPresent(recallAt(allT, ALL, 1)),
    meanPresent(recallAt(allT, ALL, 2)),
    meanPresent(recallAt(allT, SMALL, last)),
    meanPresent(recallAt(allT, MEDIUM, last)),
    meanPresent(recallAt(allT, LARGE, last)),
  ];
  const [ap, ap50, ap75, apSmall, apMedium, apLarge, ar1, ar10, ar100, arSmall, arMedium, arLarge] = stats;

  // Per class: index c = k + 1; the background (0) is -1.
  const apPerClass = [-1];
  const ap50PerClass = [-1];
  const curves: number[][] = [new Array<number>(R).fill(-1)];
  for (let k = 0; k < K; k++) {
    apPerClass.push(meanPresent(precisionAt(allT, ALL, last, [k])));
    ap50PerClass.push(meanPresent(precisionAt([t50], ALL, last, [k])));
    curves.push(Array.from(precisionAt([t50], ALL, last, [k])));
  }

  return {
    stats,
    metrics: { ap, ap50, ap75, apSmall, apMedium, apLarge, ar1, ar10, ar100, arSmall, arMedium, arLarge },
    apPerClass,
    ap50PerClass,
    prCurve50: { recall: [...recallThresholds], precision: curves },
    iouThresholds,
    recallThresholds,
    areaRanges,
    maxDets,
    nCategories: K,
    precision,
    recall,
  };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

// ---------------------------------------------------------------------------------------------
// Printing

/**
 * x with 3 decimals as Python's '{:0.3f}' writes it. toFixed agrees except on exact ties, where
 * Python rounds half to even and toFixed rounds up. A double is exactly halfway between two
 * 3-decimal numbers only when it is an odd multiple of 1/16 (0.0625, 0.1875, ...).
 */
function fixed3(x: number): string {
  if (Number.isInteger(x * 16) && !Number.isInteger(x * 8)) {
    let n = Math.floor(x * 1000); // x * 1000 is exact here: n + 0.5
    if (n % 2 !== 0) n += 1; // to even
    return (n / 1000).toFixed(3);
  }
  return x.toFixed(3);
}

/**
 * The 12 lines that pycocotools' COCOeval.summarize() prints, for example
 * ` Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.123`.
 */
export function formatCocoSummary(result: Pick<CocoEvaluationResult, 'stats' | 'maxDets'>): string {
  if (result.stats.length !== 12) throw new Error(`formatCocoSummary: expected 12 stats, got ${result.stats.length}`);
  const [m1, m10, m100] = result.maxDets;
  const rows: [boolean, string, string, number][] = [
    // [AP?, IoU, area, maxDets]
    [true, '0.50:0.95', 'all', m100],
    [true, '0.50', 'all', m100],
    [true, '0.75', 'all', m100],
    [true, '0.50:0.95', 'small', m100],
    [true, '0.50:0.95', 'medium', m100],
    [true, '0.50:0.95', 'large', m100],
    [false, '0.50:0.95', 'all', m1],
    [false, '0.50:0.95', 'all', m10],
    [false, '0.50:0.95', 'all', m100],
    [false, '0.50:0.95', 'small', m100],
    [false, '0.50:0.95', 'medium', m100],
    [false, '0.50:0.95', 'large', m100],
  ];
  // Python: ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}'
  return rows
    .map(([isAp, iou, area, maxDets], i) => {
      const title = (isAp ? 'Average Precision' : 'Average Recall').padEnd(18);
      const type = isAp ? '(AP)' : '(AR)';
      const settings = `IoU=${iou.padEnd(9)} | area=${area.padStart(6)} | maxDets=${String(maxDets).padStart(3)}`;
      return ` ${title} ${type} @[ ${settings} ] = ${fixed3(result.stats[i])}`;
    })
    .join('\n');
}

// ---------------------------------------------------------------------------------------------
// COCO's results format

/** One detection in COCO's results format, as pycocotools' COCO.loadRes reads it. */
export interface CocoResult {
  image_id: number;
  category_id: number;
  /** [x, y, width, height] in pixels, rounded to 1/100 pixel. */
  bbox: [number, number, number, number];
  /** Rounded to 6 decimals. */
  score: number;
}

const round = (x: number, decimals: number): number => {
  const f = 10 ** decimals;
  return Math.round(x * f) / f;
};

/**
 * The detections in COCO's results format (a JSON list for pycocotools' loadRes), image by image.
 *
 * images[i]      the id and size in pixels of image i
 * categoryIds    COCO category id of each class index (categoryIds[label]; index 0, the
 *                background, is not used). COCO's ids have gaps (80 classes, ids 1..90); without
 *                it the category id is the label.
 */
export function cocoResults(
  detections: Detection[][],
  images: readonly { imageId: number; width: number; height: number }[],
  categoryIds?: readonly number[],
): CocoResult[] {
  const fn = 'cocoResults';
  if (detections.length !== images.length) {
    throw new Error(`${fn}: detections for ${detections.length} images but ${images.length} images described`);
  }
  images.forEach((im, i) => {
    checkSize(im.width, im.height, `${fn}: image ${i}`);
    if (!Number.isInteger(im.imageId)) throw new Error(`${fn}: image ${i}: imageId ${im.imageId} is not an integer`);
  });
  // Labels only need to be >= 1 here; with categoryIds, they must have an id.
  const nClasses = categoryIds ? categoryIds.length : Number.MAX_SAFE_INTEGER;
  checkDetections(detections, nClasses, fn);
  if (categoryIds) {
    categoryIds.forEach((id, c) => {
      if (c > 0 && !Number.isInteger(id)) throw new Error(`${fn}: categoryIds[${c}] = ${id} is not an integer`);
    });
  }

  const results: CocoResult[] = [];
  detections.forEach((dets, i) => {
    const { imageId, width, height } = images[i];
    for (const d of dets) {
      const [x, y, w, h] = toPixels(d.box, width, height);
      results.push({
        image_id: imageId,
        category_id: categoryIds ? categoryIds[d.label] : d.label,
        bbox: [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
        score: round(d.score, 6),
      });
    }
  });
  return results;
}
