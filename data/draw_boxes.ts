// Box outlines on a picture: the detect command's output and the training previews.

import { Tensor } from '../tensor/tensor';
import { Rgb, RgbImage, checkImage, cloneImage } from './image';

/** Distinct colours for class labels 0, 1, 2, ... (repeating after the last). */
export const LABEL_COLORS: readonly Rgb[] = [
  [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
  [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 190],
  [0, 128, 128], [230, 190, 255], [170, 110, 40], [255, 250, 200], [128, 0, 0],
  [170, 255, 195], [128, 128, 0], [255, 215, 180], [0, 0, 128], [128, 128, 128], [255, 255, 255],
];

/**
 * A copy of `img` with a 2-pixel rectangle outline for each box.
 *
 * boxesXy: boundary coordinates (x1, y1, x2, y2) in fractions of the image, one per box, as an
 * array of 4-number rows or a (K, 4) tensor. labels[k] picks box k's colour: colors[label] if
 * given, else LABEL_COLORS. The outline lies inside the box (on its border pixels), clipped to
 * the image. No text is drawn: print the labels and scores beside the picture.
 */
export function drawBoxes(
  img: RgbImage,
  boxesXy: Tensor | ReadonlyArray<ArrayLike<number>>,
  labels: readonly number[],
  colors: readonly Rgb[] = LABEL_COLORS,
): RgbImage {
  checkImage(img, 'drawBoxes');
  const rows = boxRows(boxesXy);
  if (labels.length !== rows.length) {
    throw new Error(`drawBoxes: ${rows.length} boxes but ${labels.length} labels`);
  }
  if (colors.length === 0) throw new Error('drawBoxes: colors is empty');
  const out = cloneImage(img);
  const { width: W, height: H } = img;
  const thickness = 2;
  rows.forEach((box, k) => {
    if (!box.every(Number.isFinite)) throw new Error(`drawBoxes: box ${k} has a non-finite coordinate [${box.join(', ')}]`);
    if (!Number.isInteger(labels[k]) || labels[k] < 0) throw new Error(`drawBoxes: label ${labels[k]} of box ${k} must be a non-negative integer`);
    const color = colors[labels[k] % colors.length];
    // Pixel columns left..right and rows top..bottom (inclusive) that the box covers.
    const left = clamp(Math.round(box[0] * W), 0, W - 1);
    const right = clamp(Math.round(box[2] * W) - 1, left, W - 1);
    const top = clamp(Math.round(box[1] * H), 0, H - 1);
    const bottom = clamp(Math.round(box[3] * H) - 1, top, H - 1);
    for (let y = top; y <= bottom; y++) {
      for (let x = left; x <= right; x++) {
        const onBorder = x < left + thickness || x > right - thickness || y < top + thickness || y > bottom - thickness;
        if (onBorder) out.data.set(color, (y * W + x) * 3);
      }
    }
  });
  return out;
}

function boxRows(boxesXy: Tensor | ReadonlyArray<ArrayLike<number>>): number[][] {
  if (boxesXy instanceof Tensor) {
    if (boxesXy.rank !== 2 || boxesXy.shape[1] !== 4) {
      throw new Error(`drawBoxes: boxes must have shape (K, 4), got (${boxesXy.shape.join(', ')})`);
    }
    const rows: number[][] = [];
    for (let k = 0; k < boxesXy.shape[0]; k++) rows.push(Array.from(boxesXy.data.subarray(k * 4, k * 4 + 4)));
    return rows;
  }
  return boxesXy.map((b, k) => {
    if (b.length !== 4) throw new Error(`drawBoxes: box ${k} has ${b.length} numbers, expected 4 (x1, y1, x2, y2)`);
    return Array.from(b);
  });
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}
