// The precision-recall curve of each class, with its AP: what ssd/evaluate.ts computes, with the
// curve and each detection's verdict kept so that a picture can show them (evaluateDetections
// returns only the AP).
//
// Per class, the detections over all images are ranked by score and walked down. Each is a true
// positive when its best-overlapping ground-truth box of the class (IoU > 0.5) is not difficult
// and not claimed yet, a false positive otherwise, and ignored when that box is difficult. After
// each verdict, precision = TP / (TP + FP) and recall = TP / (the class's non-difficult objects).
// The steps, ties and AP are evaluateDetections' own (its AP is averagePrecision of this curve;
// the spec checks they agree).

import type { RgbImage } from '../data/image';
import { jaccardOverlap } from '../ssd/boxes';
import { Detection } from '../ssd/detect';
import { ApMethod, Box, GroundTruth, averagePrecision } from '../ssd/evaluate';
import { Tensor } from '../tensor/tensor';
import { PrecisionRecallCurve, renderPrecisionRecall } from '../draw/precision_recall';
import { classColor } from './detection';

/** One ranked detection of a class and the verdict on it. */
export interface RankedVerdict {
  image: number;
  score: number;
  /** Its greatest IoU with a ground-truth box of its class in its image (0 when there is none). */
  iou: number;
  verdict: 'TP' | 'FP' | 'duplicate' | 'difficult';
}

export interface ClassCurve {
  label: number;
  /** The non-difficult ground-truth objects of the class: the denominator of recall. */
  nPositives: number;
  /** After each judged detection (difficult ones add no point). */
  recall: number[];
  precision: number[];
  ap: number;
  ranked: RankedVerdict[];
}

function boxesTensor(boxes: readonly Box[]): Tensor {
  const t = new Tensor([boxes.length, 4], undefined, 'float64');
  boxes.forEach((b, k) => t.data.set(b, 4 * k));
  return t;
}

/**
 * The curve of every class 1..nClasses-1 with at least one non-difficult object in the ground
 * truth (the classes evaluateDetections gives an AP); a class without detections gets an empty
 * curve and AP 0. Inputs as evaluateDetections takes them (not checked again here).
 */
export function precisionRecallCurves(
  detections: readonly Detection[][],
  groundTruth: readonly GroundTruth[],
  nClasses: number,
  options: { iouThreshold?: number; method?: ApMethod } = {},
): ClassCurve[] {
  const { iouThreshold = 0.5, method = '11point' } = options;
  if (detections.length !== groundTruth.length) throw new Error(`precisionRecallCurves: detections for ${detections.length} images but ground truth for ${groundTruth.length}`);
  const curves: ClassCurve[] = [];
  for (let c = 1; c < nClasses; c++) {
    const gtIndex = groundTruth.map((gt) => gt.labels.flatMap((label, j) => (label === c ? [j] : [])));
    const claimed = gtIndex.map((js) => js.map(() => false));
    const nPositives = groundTruth.reduce((s, gt, i) => s + gtIndex[i].filter((j) => !gt.difficult?.[j]).length, 0);
    if (nPositives === 0) continue;

    const ranked: { score: number; image: number; overlaps: ArrayLike<number> }[] = [];
    for (let i = 0; i < groundTruth.length; i++) {
      const dets = detections[i].filter((d) => d.label === c);
      if (dets.length === 0) continue;
      const gtBoxes = boxesTensor(gtIndex[i].map((j) => groundTruth[i].boxes[j])); // (g, 4)
      const g = gtBoxes.shape[0];
      const overlaps = jaccardOverlap(boxesTensor(dets.map((d) => d.box)), gtBoxes); // (d, g)
      dets.forEach((d, k) => ranked.push({ score: d.score, image: i, overlaps: overlaps.data.subarray(k * g, (k + 1) * g) }));
    }
    ranked.sort((a, b) => b.score - a.score); // stable: ties keep input order, as in evaluateDetections

    let tp = 0;
    let fp = 0;
    const curve: ClassCurve = { label: c, nPositives, recall: [], precision: [], ap: 0, ranked: [] };
    for (const det of ranked) {
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
        verdict = 'FP';
        fp++;
      } else if (groundTruth[det.image].difficult?.[gtIndex[det.image][best]]) {
        curve.ranked.push({ image: det.image, score: det.score, iou, verdict: 'difficult' });
        continue;
      } else if (claimed[det.image][best]) {
        verdict = 'duplicate';
        fp++;
      } else {
        verdict = 'TP';
        tp++;
        claimed[det.image][best] = true;
      }
      curve.ranked.push({ image: det.image, score: det.score, iou, verdict });
      curve.recall.push(tp / nPositives);
      curve.precision.push(tp / (tp + fp));
    }
    curve.ap = averagePrecision(curve.recall, curve.precision, method);
    curves.push(curve);
  }
  return curves;
}

/** The curves drawn by draw/precision_recall.ts, each in its class's colour (the detection picture's) and named. */
export function renderClassCurves(curves: readonly ClassCurve[], classes: readonly string[], heading: string): RgbImage {
  const drawn: PrecisionRecallCurve[] = curves.map((c) => ({ name: classes[c.label] ?? `class ${c.label}`, recall: c.recall, precision: c.precision, ap: c.ap, color: classColor(c.label) }));
  return renderPrecisionRecall(drawn, heading);
}
