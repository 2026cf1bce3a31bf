// Picture: from 8732 predictions to a few detections (paper sections 2.1 and 3; ssd/detect.ts).
//
// Three panels, the three steps of detectObjects: every prior whose class score passes the
// threshold, decoded to a box (before NMS); what greedy non-maximum suppression keeps of them,
// class by class (after NMS); and the final top-k over all classes, which is detectObjects' own
// answer. Boxes are drawn in their class's colour.

import type { Rgb, RgbImage } from '../data/image';
import { Detection, detectObjects, nms } from '../ssd/detect';
import { cxcyToXy, gcxgcyToCxcy } from '../ssd/boxes';
import { createPriors } from '../ssd/priors';
import { softmax } from '../tensor/ops';
import { Tensor, assertShape } from '../tensor/tensor';
import { OBJECT_COLORS } from '../draw/colors';
import { drawLabel } from '../draw/canvas';
import { Panel, boxToPixels, layoutPanels, paintBackdrop, strokeBox } from './panels';

export interface DetectionPictureOptions {
  minScore?: number;
  maxOverlap?: number;
  topK?: number;
  classes?: readonly string[];
  size?: number;
  priorsCxcy?: Tensor;
  /** Where the predictions came from, for the heading. */
  source?: string;
}

/** A candidate box: the prior it was decoded from, its class, score and xy box. */
export interface Candidate {
  prior: number;
  label: number;
  score: number;
  boxXy: [number, number, number, number];
}

export interface DetectionPicture {
  image: RgbImage;
  panels: Panel[];
  beforeNms: Candidate[];
  afterNms: Candidate[];
  final: Detection[];
}

/** A colour per class, dark enough to read on a photo or the plain background. */
/** How many of the final detections get a text label. */
const LABELLED = 8;

export function classColor(label: number): Rgb {
  return OBJECT_COLORS[label % OBJECT_COLORS.length];
}

/**
 * @param locs   (n_priors, 4) one image's predicted offsets, gcxgcy
 * @param scores (n_priors, n_classes) its class scores (logits)
 */
export function renderDetection(image: RgbImage | null, locs: Tensor, scores: Tensor, options: DetectionPictureOptions = {}): DetectionPicture {
  const { minScore = 0.3, maxOverlap = 0.45, topK = 200 } = options;
  const size = options.size ?? 300;
  const priorsCxcy = options.priorsCxcy ?? createPriors();
  const nPriors = priorsCxcy.shape[0];
  assertShape(locs, [nPriors, 4], 'renderDetection: locs (n_priors, 4)');
  assertShape(scores, [nPriors, -1], 'renderDetection: scores (n_priors, n_classes)');
  const nClasses = scores.shape[1];
  const name = (label: number): string => options.classes?.[label] ?? `class ${label}`;

  // Steps 1 and 2 of detectObjects: probabilities, and every prior's box.
  const probs = softmax(scores, 1); // (n_priors, n_classes)
  const boxesXy = cxcyToXy(gcxgcyToCxcy(locs, priorsCxcy)); // (n_priors, 4)
  const beforeNms: Candidate[] = [];
  const afterNms: Candidate[] = [];
  for (let c = 1; c < nClasses; c++) {
    const candidates: Candidate[] = [];
    for (let p = 0; p < nPriors; p++) {
      const score = probs.data[p * nClasses + c];
      if (score > minScore) {
        const b = boxesXy.data;
        candidates.push({ prior: p, label: c, score, boxXy: [b[4 * p], b[4 * p + 1], b[4 * p + 2], b[4 * p + 3]] });
      }
    }
    beforeNms.push(...candidates);
    if (candidates.length === 0) continue;
    // Step 3: NMS within the class, with detect.ts's own nms, stopping at topK kept as detectObjects does
    // (an untrained model at a low min score has thousands of candidates per class).
    const classBoxes = new Tensor([candidates.length, 4], Float64Array.from(candidates.flatMap((k) => k.boxXy))); // (m, 4)
    for (const k of nms(classBoxes, candidates.map((k) => k.score), maxOverlap, topK)) afterNms.push(candidates[k]);
  }
  // The final answer is detectObjects' itself.
  const final = detectObjects(locs.reshape([1, nPriors, 4]), scores.reshape([1, nPriors, nClasses]), priorsCxcy, { minScore, maxOverlap, topK })[0];

  const { canvas, panels } = layoutPanels(
    [
      { title: `1. ${beforeNms.length} boxes scoring above ${minScore}`, caption: ['every prior, decoded, whose class', 'probability passes the threshold'] },
      { title: `2. ${afterNms.length} kept by NMS (IoU > ${maxOverlap})`, caption: ['per class: the best box suppresses', `those overlapping it by more than ${maxOverlap}`] },
      { title: `3. top ${topK}: ${final.length} detections`, caption: final.slice(0, 6).map((d) => `${name(d.label)} ${d.score.toFixed(2)}`) },
    ],
    size,
    `Detection: threshold, NMS, top-k${options.source ? ` (${options.source})` : ''}`,
  );
  const draw = (panel: Panel, boxes: readonly { label: number; score: number; boxXy: ArrayLike<number> }[], labelled: boolean): void => {
    paintBackdrop(canvas, panel, image);
    // Lowest score first, so the best boxes are drawn on top.
    const order = [...boxes].sort((a, b) => a.score - b.score);
    for (const b of order) strokeBox(canvas, panel, b.boxXy, classColor(b.label), { thickness: labelled ? 2 : 1, alpha: labelled ? 1 : 0.5 + 0.5 * b.score });
    if (!labelled) return;
    // Labels on the best few only: more would hide the picture.
    for (const b of order.slice(-LABELLED)) {
      const { left, top } = boxToPixels(panel, b.boxXy);
      const x = Math.min(Math.max(left, panel.x), panel.x + size - 60);
      const y = Math.min(Math.max(top, panel.y), panel.y + size - 11);
      drawLabel(canvas, x, y, `${name(b.label)} ${b.score.toFixed(2)}`, classColor(b.label));
    }
  };
  draw(panels[0], beforeNms, false);
  draw(panels[1], afterNms, false);
  draw(panels[2], final.map((d) => ({ label: d.label, score: d.score, boxXy: d.box })), true);
  return { image: canvas, panels, beforeNms, afterNms, final };
}
