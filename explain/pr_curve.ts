// The precision-recall curve of each class, with its AP: what ssd/evaluate.ts computes, with the
// curve and each detection's verdict kept so that a picture can show them (evaluateDetections
// returns only the AP).
//
// Per class, the detections over all images are ranked by score and walked down. Each is a true
// positive when its best-overlapping ground-truth box of the class (IoU > 0.5) is not difficult
// and not claimed yet, a false positive otherwise, and ignored when that box is difficult. After
// each verdict, precision = TP / (TP + FP) and recall = TP / (the class's non-difficult objects).
// The walk is evaluateDetections' own (ssd/evaluate.ts walkClass), so the steps, ties and AP are
// the same by construction (the spec checks they agree).

import type { RgbImage } from '../data/image';
import { Detection } from '../ssd/detect';
import { ApMethod, ClassWalk, GroundTruth, RankedVerdict, averagePrecision, walkClass } from '../ssd/evaluate';
import { PrecisionRecallCurve, renderPrecisionRecall } from '../draw/precision_recall';
import { classColor } from './detection';

export type { RankedVerdict };

/** A class's walk (ssd/evaluate.ts walkClass) with its label and AP. */
export interface ClassCurve extends ClassWalk {
  label: number;
  ap: number;
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
    const walk = walkClass(detections, groundTruth, c, iouThreshold);
    if (walk !== null) curves.push({ label: c, ...walk, ap: averagePrecision(walk.recall, walk.precision, method) });
  }
  return curves;
}

/** The curves drawn by draw/precision_recall.ts, each in its class's colour (the detection picture's) and named. */
export function renderClassCurves(curves: readonly ClassCurve[], classes: readonly string[], heading: string): RgbImage {
  const drawn: PrecisionRecallCurve[] = curves.map((c) => ({ name: classes[c.label] ?? `class ${c.label}`, recall: c.recall, precision: c.precision, ap: c.ap, color: classColor(c.label) }));
  return renderPrecisionRecall(drawn, heading);
}
