// Picture: greedy non-maximum suppression step by step, for one class (ssd/detect.ts, nms).
//
// The candidates of a class (every prior whose probability for it passes the min score, decoded
// to a box) are visited by score, best first. The first is kept; each later one is compared with
// the boxes kept so far and suppressed by the first of them it overlaps by more than the NMS
// overlap (IoU > maxOverlap), else kept. nmsSteps records every visit: kept or suppressed, by
// which kept box, with what IoU; its kept boxes are nms's own (same order, same arithmetic).
// renderNmsSteps draws the state after the first k visits. The page shows it with a step slider.

import type { Rgb, RgbImage } from '../data/image';
import { cxcyToXy, gcxgcyToCxcy } from '../ssd/boxes';
import { softmax } from '../tensor/ops';
import { Tensor, assertShape } from '../tensor/tensor';
import { GREY, INK } from '../draw/colors';
import { drawLabel } from '../draw/canvas';
import { Panel, boxToPixels, layoutPanels, paintBackdrop, strokeBox } from './panels';

/** One visit of greedy NMS. */
export interface NmsStep {
  /** The box visited: an index into the boxes given to nmsSteps. */
  index: number;
  /** Its place in the visiting order (0: the best score). */
  rank: number;
  score: number;
  kept: boolean;
  /** For a suppressed box: the kept box (an index into the boxes) that suppressed it, the first kept one it overlaps by more than maxOverlap. Null for a kept box. */
  by: number | null;
  /**
   * For a suppressed box: its IoU with `by` (> maxOverlap). For a kept box: its greatest IoU with
   * the boxes kept before it (<= maxOverlap; 0 for the first).
   */
  iou: number;
}

/**
 * Greedy NMS as ssd/detect.ts's nms does it, recording every step. boxesXy (n, 4) xy, scores (n).
 * The boxes kept, in the order kept, are exactly nms(boxesXy, scores, maxOverlap, maxKeep): visited
 * by score descending, ties by lower index; suppressed when IoU > maxOverlap (not >=) with a kept
 * box; IoU rounded to the boxes' dtype as nms rounds it; no box visited once maxKeep are kept
 * (detectObjects stops a class at topK, 200).
 */
export function nmsSteps(boxesXy: Tensor, scores: ArrayLike<number>, maxOverlap: number, maxKeep = Infinity): NmsStep[] {
  assertShape(boxesXy, [-1, 4], 'nmsSteps: boxesXy');
  const n = boxesXy.shape[0];
  if (scores.length !== n) throw new Error(`nmsSteps: ${n} boxes but ${scores.length} scores`);
  for (let i = 0; i < n; i++) if (!Number.isFinite(scores[i])) throw new Error(`nmsSteps: score ${i} is ${scores[i]}; scores must be finite`);
  if (!(maxOverlap >= 0 && maxOverlap <= 1)) throw new Error(`nmsSteps: maxOverlap must be in [0, 1], got ${maxOverlap}`);

  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  const b = boxesXy.data;
  const round = boxesXy.dtype === 'float32' ? Math.fround : (v: number): number => v;
  const iou = (i: number, j: number): number => {
    const areaI = (b[4 * i + 2] - b[4 * i]) * (b[4 * i + 3] - b[4 * i + 1]);
    const w = Math.min(b[4 * i + 2], b[4 * j + 2]) - Math.max(b[4 * i], b[4 * j]);
    const h = Math.min(b[4 * i + 3], b[4 * j + 3]) - Math.max(b[4 * i + 1], b[4 * j + 1]);
    const inter = round(Math.max(w, 0) * Math.max(h, 0));
    const union = areaI + (b[4 * j + 2] - b[4 * j]) * (b[4 * j + 3] - b[4 * j + 1]) - inter;
    return union > 0 ? round(inter / union) : 0;
  };

  const kept: number[] = [];
  const steps: NmsStep[] = [];
  for (const i of order) {
    if (kept.length >= maxKeep) break;
    const rank = steps.length;
    let most = 0;
    let by = -1;
    for (const j of kept) {
      const o = iou(i, j);
      if (o > maxOverlap) {
        by = j;
        most = o;
        break;
      }
      most = Math.max(most, o);
    }
    if (by === -1) kept.push(i);
    steps.push({ index: i, rank, score: scores[i], kept: by === -1, by: by === -1 ? null : by, iou: most });
  }
  return steps;
}

/** The candidates of one class: the priors whose probability for it passes the min score, decoded. */
export interface ClassCandidates {
  label: number;
  /** Prior indices (m). */
  priors: number[];
  /** (m, 4) their decoded boxes, xy, in the dtype of the locs (as detectObjects has them). */
  boxesXy: Tensor;
  /** (m) their probabilities for the class. */
  scores: number[];
}

/**
 * The candidates of every class but the background that has any, as detectObjects finds them.
 * locs (n_priors, 4) gcxgcy, scores (n_priors, n_classes) logits, priorsCxcy (n_priors, 4).
 */
export function classCandidates(locs: Tensor, scores: Tensor, priorsCxcy: Tensor, minScore: number): ClassCandidates[] {
  const nPriors = priorsCxcy.shape[0];
  assertShape(locs, [nPriors, 4], 'classCandidates: locs (n_priors, 4)');
  assertShape(scores, [nPriors, -1], 'classCandidates: scores (n_priors, n_classes)');
  const nClasses = scores.shape[1];
  const probs = softmax(scores, 1); // (n_priors, n_classes)
  const boxesXy = cxcyToXy(gcxgcyToCxcy(locs, priorsCxcy)); // (n_priors, 4)
  const out: ClassCandidates[] = [];
  for (let c = 1; c < nClasses; c++) {
    const priors: number[] = [];
    for (let p = 0; p < nPriors; p++) if (probs.data[p * nClasses + c] > minScore) priors.push(p);
    if (priors.length === 0) continue;
    const boxes = new Tensor([priors.length, 4], undefined, boxesXy.dtype); // (m, 4)
    priors.forEach((p, k) => boxes.data.set(boxesXy.data.subarray(4 * p, 4 * p + 4), 4 * k));
    out.push({ label: c, priors, boxesXy: boxes, scores: priors.map((p) => probs.data[p * nClasses + c]) });
  }
  return out;
}

export interface NmsPictureOptions {
  /** How many steps have been taken (0: none yet; default all). */
  upTo?: number;
  maxOverlap?: number;
  /** The class's name and colour, for the heading and the boxes. */
  name?: string;
  color?: Rgb;
  size?: number;
}

export interface NmsPicture {
  image: RgbImage;
  panel: Panel;
  /** The step drawn as the current one (the last taken), or null before the first. */
  current: NmsStep | null;
  keptSoFar: number;
  suppressedSoFar: number;
}

/** The rank a step names a box by, as the page's list does: #1 is the best score. */
export function rankName(step: Pick<NmsStep, 'rank'>): string {
  return `#${step.rank + 1}`;
}

/**
 * The state of NMS after the first `upTo` steps over `boxesXy` (the steps of nmsSteps on them):
 * the boxes kept so far (solid, thick, in the class colour), those suppressed so far (dashed, thin),
 * those not visited yet (faint grey); the current box is labelled with its rank and, when
 * suppressed, with the IoU by which its suppressor (also labelled) put it out.
 */
export function renderNmsSteps(image: RgbImage | null, boxesXy: Tensor, steps: readonly NmsStep[], options: NmsPictureOptions = {}): NmsPicture {
  const size = options.size ?? 300;
  const upTo = Math.min(Math.max(options.upTo ?? steps.length, 0), steps.length);
  const maxOverlap = options.maxOverlap ?? 0.45;
  const color: Rgb = options.color ?? [0, 90, 200];
  const name = options.name ?? 'one class';
  const box = (i: number): Float32Array | Float64Array => boxesXy.data.subarray(4 * i, 4 * i + 4);
  const rankOf = new Map(steps.map((s) => [s.index, s]));
  const taken = steps.slice(0, upTo);
  const keptSoFar = taken.filter((s) => s.kept).length;
  const current = upTo > 0 ? steps[upTo - 1] : null;

  let verdict: string;
  if (current === null) verdict = 'no step yet: every candidate waits, best score first';
  else if (current.kept) verdict = `${rankName(current)} (${current.score.toFixed(3)}) kept: IoU ${current.iou.toFixed(3)} <= ${maxOverlap} with every kept box`;
  else verdict = `${rankName(current)} (${current.score.toFixed(3)}) suppressed by ${rankName(rankOf.get(current.by as number) as NmsStep)}: IoU ${current.iou.toFixed(3)} > ${maxOverlap}`;
  const { canvas, panels } = layoutPanels(
    [{ title: `step ${upTo} of ${steps.length}: ${keptSoFar} kept, ${upTo - keptSoFar} suppressed`, caption: [verdict, 'solid: kept; dashed: suppressed; grey: not visited yet'] },],
    size,
    `NMS step by step: ${name}, overlap ${maxOverlap}`,
  );
  const panel = panels[0];
  paintBackdrop(canvas, panel, image);
  for (const s of steps.slice(upTo).reverse()) strokeBox(canvas, panel, box(s.index), GREY, { thickness: 1, alpha: 0.5 });
  for (const s of taken) if (!s.kept && s !== current) strokeBox(canvas, panel, box(s.index), color, { thickness: 1, dash: 3, alpha: 0.7 });
  for (const s of taken) if (s.kept && s !== current) strokeBox(canvas, panel, box(s.index), color, { thickness: 2 });
  // A label at a box's top-left corner, or under its bottom-left one (the suppressor's, so that the two do not cover each other).
  const label = (i: number, text: string, c: Rgb, under = false): void => {
    const { left, top, bottom } = boxToPixels(panel, box(i));
    drawLabel(canvas, Math.min(Math.max(left, panel.x), panel.x + size - 70), Math.min(Math.max(under ? bottom : top, panel.y), panel.y + size - 11), text, c);
  };
  if (current !== null) {
    if (current.kept) {
      strokeBox(canvas, panel, box(current.index), color, { thickness: 3 });
      label(current.index, `${rankName(current)} kept`, color);
    } else {
      const by = current.by as number;
      strokeBox(canvas, panel, box(by), color, { thickness: 3 });
      strokeBox(canvas, panel, box(current.index), INK, { thickness: 2, dash: 4 });
      label(by, `${rankName(rankOf.get(by) as NmsStep)} kept`, color, true);
      label(current.index, `${rankName(current)} IoU ${current.iou.toFixed(2)}`, INK);
    }
  }
  return { image: canvas, panel, current, keptSoFar, suppressedSoFar: upTo - keptSoFar };
}
