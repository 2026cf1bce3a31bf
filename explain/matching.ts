// Picture: which priors each ground-truth object is matched to (paper section 2.2, "Matching
// strategy"; ssd/matching.ts).
//
// Every prior whose overlap with an object reaches 0.5 is a positive for it, drawn thin in the
// object's colour. Each object's best prior is forced onto it even when that overlap is below 0.5
// (a thin object may have no other), drawn dashed and thick with an 'F' tag. The table under the
// picture counts each object's positives per feature map: big objects are found by the small,
// coarse maps, small ones by conv4_3.

import type { Rgb, RgbImage } from '../data/image';
import { FEATURE_MAPS, createPriors } from '../ssd/priors';
import { MatchResult, matchPriors } from '../ssd/matching';
import { cxcyToXy } from '../ssd/boxes';
import { Tensor } from '../tensor/tensor';
import { OBJECT_COLORS } from '../draw/colors';
import { drawLabel, drawText } from '../draw/canvas';
import { LINE_HEIGHT, textSize } from '../draw/font';
import { Panel, boxToPixels, layoutPanels, paintBackdrop, strokeBox } from './panels';
import { cellOfPrior } from './priors';
import { SceneObject, objectTensors } from './scene';

export interface MatchingPictureOptions {
  /** Class names by label (default 'class k'). */
  classes?: readonly string[];
  threshold?: number;
  size?: number;
  /** Draw only this object's priors (the page does this when a box is clicked); default all. */
  only?: number;
  priorsCxcy?: Tensor;
}

export interface MatchingPicture {
  image: RgbImage;
  panel: Panel;
  match: MatchResult;
  /** Per object: its colour, its forced prior (or null when a later object took it) and its positives per feature map. */
  objects: { color: Rgb; forcedPrior: number | null; positivesPerMap: number[]; positives: number[] }[];
}

export function objectColor(o: number): Rgb {
  return OBJECT_COLORS[o % OBJECT_COLORS.length];
}

export function renderMatching(image: RgbImage | null, objects: readonly SceneObject[], options: MatchingPictureOptions = {}): MatchingPicture {
  const size = options.size ?? 300;
  const priorsCxcy = options.priorsCxcy ?? createPriors();
  const name = (label: number): string => options.classes?.[label] ?? `class ${label}`;
  const { boxesXy, labels } = objectTensors(objects);
  const match = matchPriors(boxesXy, labels, priorsCxcy, options.threshold ?? 0.5);
  const priorsXy = cxcyToXy(priorsCxcy); // (n_priors, 4)
  const priorXy = (p: number): Float32Array | Float64Array => priorsXy.data.subarray(4 * p, 4 * p + 4);

  // Each object's positives, and the maps they come from.
  const info = objects.map((_, o) => {
    const positives: number[] = [];
    const positivesPerMap = FEATURE_MAPS.map(() => 0);
    for (let p = 0; p < match.classTargets.length; p++) {
      if (match.classTargets[p] !== 0 && match.objectForPrior[p] === o) {
        positives.push(p);
        positivesPerMap[cellOfPrior(p).mapIndex]++;
      }
    }
    const best = match.priorForObject[o];
    // A later object with the same best prior takes it over (the reference's rule).
    const forcedPrior = match.objectForPrior[best] === o ? best : null;
    return { color: objectColor(o), forcedPrior, positivesPerMap, positives };
  });

  // The table: one row per object, one column per feature map.
  const mapNames = FEATURE_MAPS.map((m) => m.name.replace('conv', 'c'));
  const header = `${'object'.padEnd(13)}${mapNames.map((n) => n.padStart(7)).join('')}  total`;
  const rows = objects.map((obj, o) => {
    const counts = info[o].positivesPerMap.map((c) => String(c).padStart(7)).join('');
    return `${`${o} ${name(obj.label)}`.slice(0, 12).padEnd(13)}${counts}  ${String(info[o].positives.length).padStart(5)}`;
  });
  const notes = [
    'thin: positive prior (overlap >= 0.5)',
    'dashed F: forced best prior (overlap set to 1)',
    ...objects.flatMap((_, o) => (info[o].forcedPrior === null ? [`object ${o} lost its best prior to a later object`] : [])),
  ];
  const caption = ['positives per feature map:', header, ...rows, '', ...notes];
  const { canvas, panels } = layoutPanels(
    [{ title: `${match.nPositives} positive priors of 8732 for ${objects.length} objects`, caption }],
    size,
    'Matching: priors to ground truth',
  );
  const panel = panels[0];
  // Colour each object's row of the table.
  const tableTop = panel.y + size + 8 + 2 * LINE_HEIGHT;
  objects.forEach((_, o) => drawText(canvas, panel.x, tableTop + o * LINE_HEIGHT, rows[o], info[o].color));

  paintBackdrop(canvas, panel, image);
  const shown = objects.map((_, o) => o).filter((o) => options.only === undefined || o === options.only);
  // Positives first, thin; then the forced priors; the ground truth on top.
  for (const o of shown) {
    for (const p of info[o].positives) if (p !== info[o].forcedPrior) strokeBox(canvas, panel, priorXy(p), info[o].color, { thickness: 1, alpha: 0.75 });
  }
  for (const o of shown) {
    const p = info[o].forcedPrior;
    if (p === null) continue;
    strokeBox(canvas, panel, priorXy(p), info[o].color, { thickness: 2, dash: 4 });
    const { left, top } = boxToPixels(panel, priorXy(p));
    const x = Math.min(Math.max(left, panel.x), panel.x + size - 10);
    const y = Math.min(Math.max(top - 11, panel.y), panel.y + size - 11);
    drawLabel(canvas, x, y, 'F', info[o].color);
  }
  for (const o of shown) {
    strokeBox(canvas, panel, objects[o].boxXy, info[o].color, { thickness: 3 });
    const { left, bottom } = boxToPixels(panel, objects[o].boxXy);
    const text = `${o} ${name(objects[o].label)}`;
    const x = Math.min(left, panel.x + size - textSize(text).width - 4);
    drawLabel(canvas, x, Math.min(bottom, panel.y + size - 11), text, info[o].color);
  }
  return { image: canvas, panel, match, objects: info };
}
