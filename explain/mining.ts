// Picture: hard negative mining (paper section 2.2, "Hard negative mining"; ssd/loss.ts).
//
// Of the 8732 priors of an image only a few dozen are positives; the rest are background. The
// confidence loss keeps only the 3 x n_pos negatives with the largest cross-entropy, the
// background priors the model most wrongly takes for an object. The left panel draws the
// positives (object colours) and the kept negatives, coloured by their cross-entropy (pink low,
// dark red high); the right panel ranks every negative by cross-entropy and marks the cut.
// It runs the loss's own pieces: matchPriors, logSoftmax, crossEntropyPerPrior, hardNegativeMask.

import type { RgbImage } from '../data/image';
import { matchPriors } from '../ssd/matching';
import { crossEntropyPerPrior, hardNegativeMask } from '../ssd/loss';
import { cxcyToXy } from '../ssd/boxes';
import { createPriors } from '../ssd/priors';
import { logSoftmax } from '../tensor/ops';
import { Tensor, assertShape } from '../tensor/tensor';
import { GREY, INK, heat } from '../draw/colors';
import { blankCanvas, drawLabel, drawText, fillRect, paste } from '../draw/canvas';
import { Panel, boxToPixels, layoutPanels, paintBackdrop, strokeBox } from './panels';
import { objectColor } from './matching';
import { SceneObject, objectTensors } from './scene';

/** How many of the hardest negatives carry their cross-entropy as a label. */
const LABELLED = 5;

export interface MiningPictureOptions {
  negPosRatio?: number;
  threshold?: number;
  size?: number;
  priorsCxcy?: Tensor;
  /** Where the scores came from, for the heading (e.g. 'model ssd.safetensors' or 'synthetic predictions'). */
  source?: string;
}

export interface MiningPicture {
  image: RgbImage;
  panels: Panel[];
  nPositives: number;
  /** The mined negatives, hardest first: prior index and cross-entropy. */
  hardNegatives: { prior: number; ce: number }[];
  /** The positives' prior indices. */
  positives: number[];
}

/**
 * @param scores (n_priors, n_classes) one image's class scores (logits) from the model
 */
export function renderMining(image: RgbImage | null, objects: readonly SceneObject[], scores: Tensor, options: MiningPictureOptions = {}): MiningPicture {
  const size = options.size ?? 300;
  const negPosRatio = options.negPosRatio ?? 3;
  const priorsCxcy = options.priorsCxcy ?? createPriors();
  const nPriors = priorsCxcy.shape[0];
  assertShape(scores, [nPriors, -1], 'renderMining: scores (n_priors, n_classes)');
  const { boxesXy, labels } = objectTensors(objects);
  labels.forEach((label, o) => {
    if (label >= scores.shape[1]) throw new Error(`renderMining: object ${o} has label ${label}, but the scores have only ${scores.shape[1]} classes`);
  });

  // The loss's own steps for one image (ssd/loss.ts, multiboxLoss).
  const match = matchPriors(boxesXy, labels, priorsCxcy, options.threshold ?? 0.5);
  const scores64 = new Tensor(scores.shape, Float64Array.from(scores.data)); // (n_priors, n_classes)
  const ce = crossEntropyPerPrior(logSoftmax(scores64), match.classTargets); // (n_priors)
  const mask = hardNegativeMask(ce, match.classTargets, negPosRatio * match.nPositives); // (n_priors)

  const positives: number[] = [];
  const negatives: number[] = [];
  for (let p = 0; p < nPriors; p++) (match.classTargets[p] !== 0 ? positives : negatives).push(p);
  negatives.sort((a, b) => ce[b] - ce[a] || a - b); // the mining order: hardest first, ties by index
  const hard = negatives.filter((p) => mask[p]).map((p) => ({ prior: p, ce: ce[p] }));
  const ceMax = hard.length > 0 ? hard[0].ce : 1;
  const ceMin = hard.length > 0 ? hard[hard.length - 1].ce : 0;
  const t = (v: number): number => (ceMax > ceMin ? (v - ceMin) / (ceMax - ceMin) : 1);

  const keptLine = `${hard.length} = ${negPosRatio} x ${match.nPositives} negatives kept of ${negatives.length}`;
  const { canvas, panels } = layoutPanels(
    [
      { title: `${match.nPositives} positives and ${hard.length} hard negatives`, caption: ['positives: object colours', `hard negatives: red, darker = harder (${LABELLED} labelled)`, `kept CE ${ceMin.toFixed(2)} (pink) .. ${ceMax.toFixed(2)} (red)`] },
      { title: 'negatives ranked by cross-entropy', caption: [keptLine, 'red: kept in the loss; grey: ignored', `(first ${Math.min(negatives.length, Math.max(4 * hard.length, 20))} ranks shown)`] },
    ],
    size,
    `Hard negative mining, ${negPosRatio}:1${options.source ? ` (${options.source})` : ''}`,
  );

  // Left: the image, the hard negatives (easiest first, so the hardest are on top), the positives.
  const priorsXy = cxcyToXy(priorsCxcy); // (n_priors, 4)
  const left = panels[0];
  paintBackdrop(canvas, left, image);
  for (let k = hard.length - 1; k >= 0; k--) {
    const p = hard[k].prior;
    strokeBox(canvas, left, priorsXy.data.subarray(4 * p, 4 * p + 4), heat(t(hard[k].ce)), { thickness: 1 });
  }
  for (const p of positives) {
    strokeBox(canvas, left, priorsXy.data.subarray(4 * p, 4 * p + 4), objectColor(match.objectForPrior[p]), { thickness: 2 });
  }
  // The cross-entropy that put the hardest few there, at their top-left corners.
  for (const h of hard.slice(0, LABELLED)) {
    const { left: x, top: y } = boxToPixels(left, priorsXy.data.subarray(4 * h.prior, 4 * h.prior + 4));
    drawLabel(canvas, Math.min(Math.max(x, left.x), left.x + size - 30), Math.min(Math.max(y, left.y), left.y + size - 11), h.ce.toFixed(2), heat(t(h.ce)));
  }

  // Right: a bar per negative rank, height its cross-entropy.
  const right = panels[1];
  const chart = blankCanvas(size, size, [255, 255, 255]);
  const shown = negatives.slice(0, Math.min(negatives.length, Math.max(4 * hard.length, 20)));
  const top = shown.length > 0 ? ce[shown[0]] : 1;
  const barWidth = size / Math.max(shown.length, 1);
  shown.forEach((p, rank) => {
    const height = Math.max(1, Math.round(((size - 20) * ce[p]) / top));
    const x0 = Math.floor(rank * barWidth);
    const x1 = Math.max(x0 + 1, Math.floor((rank + 1) * barWidth));
    fillRect(chart, x0, size - height, x1, size, mask[p] ? heat(t(ce[p])) : GREY);
  });
  const cut = Math.round(hard.length * barWidth);
  fillRect(chart, cut, 0, cut + 1, size, INK);
  drawText(chart, Math.min(cut + 4, size - 80), 4, `cut: ${hard.length}`, INK);
  drawText(chart, Math.min(cut + 4, size - 80), 14, `CE ${top.toFixed(2)} max`, INK);
  paste(canvas, chart, right.x, right.y);

  return { image: canvas, panels, nPositives: match.nPositives, hardNegatives: hard, positives };
}
