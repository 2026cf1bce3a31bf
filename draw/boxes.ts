// Boxes on a picture: coloured outlines (drawBoxes), and outlines each tagged with a line of text
// on a label of the box's colour (drawTaggedBoxes). The detect command's output, the demo's, the
// training previews.
//
// Boxes come as boundary coordinates (x1, y1, x2, y2) in fractions of the image; they are drawn on
// a copy of it, in its pixels (box column x1 * width, row y1 * height), clipped to it. A box's
// colour is its class label's (draw/colors.ts, LABEL_COLORS) unless the caller gives a palette.
// No Node-only module is imported here: the web page may draw with the same code.

import { Tensor } from '../tensor/tensor';
import { Rgb, RgbImage, checkImage, cloneImage } from '../data/image';
import { LABEL_COLORS, labelColor } from './colors';
import { drawLabel } from './canvas';
import { textSize } from './font';

/**
 * A copy of `img` with a 2-pixel rectangle outline for each box.
 *
 * boxesXy: boundary coordinates (x1, y1, x2, y2) in fractions of the image, one per box, as an
 * array of 4-number rows or a (K, 4) tensor. labels[k] picks box k's colour: colors[label] if
 * given, else LABEL_COLORS. The outline lies inside the box (on its border pixels), clipped to
 * the image. No text is drawn (drawTaggedBoxes adds it).
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

/** A box to draw with its tag: xy fractions of the image, its class label (its colour), its text. */
export interface TaggedBox {
  boxXy: ArrayLike<number>;
  label: number;
  text: string;
}

/**
 * A copy of the image with each box clipped to the image (a decoded box may reach past it),
 * outlined in its label's colour, and tagged with its text on a label of that colour above its
 * top-left corner (inside the box when there is no room above).
 */
export function drawTaggedBoxes(image: RgbImage, boxes: readonly TaggedBox[]): RgbImage {
  const clip = (c: number): number => Math.min(Math.max(c, 0), 1);
  const out = boxes.length === 0 ? cloneImage(image) : drawBoxes(image, boxes.map((b) => Array.from(b.boxXy, clip)), boxes.map((b) => b.label));
  for (const b of boxes) {
    const { height } = textSize(b.text);
    const x = Math.round(clip(b.boxXy[0]) * (image.width - 1));
    const top = Math.round(clip(b.boxXy[1]) * (image.height - 1));
    const y = top - height - 4 >= 0 ? top - height - 4 : top + 2;
    drawLabel(out, x, y, b.text, labelColor(b.label));
  }
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
