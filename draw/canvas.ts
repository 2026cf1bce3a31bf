// Drawing on an image: a blank canvas, single pixels, filled rectangles, lines, text in the
// project's bitmap font (draw/font.ts), text on a filled label, and copying or fading whole images.
//
// Everything draws in place on the project's RgbImage (data/image.ts), in canvas pixels: (0, 0) is
// the top-left pixel, x to the right, y down; a rectangle [x0, x1) x [y0, y1) includes its top-left
// pixel and excludes its bottom-right edge. Whatever falls outside the canvas (or outside a
// rectangle's clip square) is not drawn. Colours: draw/colors.ts.
//
// No Node-only module is imported here (nor anywhere in draw/): the web page draws with the same code.

import type { Rgb, RgbImage } from '../data/image';
import { INK, PAPER, contrastingInk } from './colors';
import { ADVANCE, GLYPH_HEIGHT, glyph, textSize } from './font';

export type { Rgb, RgbImage };

/** A square area of a canvas in canvas pixels: top-left corner (x, y), side `size` (explain/panels.ts's Panel is one). */
export interface Square {
  x: number;
  y: number;
  size: number;
}

/** A canvas of the given size filled with one colour. */
export function blankCanvas(width: number, height: number, fill: Rgb = PAPER): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(fill, 3 * i);
  return { width, height, data };
}

/** Colour of pixel (x, y). */
export function pixelAt(img: RgbImage, x: number, y: number): Rgb {
  const k = 3 * (y * img.width + x);
  return [img.data[k], img.data[k + 1], img.data[k + 2]];
}

/** Mix `color` into pixel (x, y) with opacity `alpha` (1 = paint over); outside the canvas does nothing. */
export function blend(img: RgbImage, x: number, y: number, color: Rgb, alpha = 1): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  const k = 3 * (y * img.width + x);
  for (let c = 0; c < 3; c++) img.data[k + c] = Math.round(img.data[k + c] * (1 - alpha) + color[c] * alpha);
}

/** Fill the pixel rectangle [x0, x1) x [y0, y1), clipped to `clip` (default: the canvas). */
export function fillRect(img: RgbImage, x0: number, y0: number, x1: number, y1: number, color: Rgb, alpha = 1, clip?: Square): void {
  const cx0 = clip ? clip.x : 0;
  const cy0 = clip ? clip.y : 0;
  const cx1 = clip ? clip.x + clip.size : img.width;
  const cy1 = clip ? clip.y + clip.size : img.height;
  for (let y = Math.max(y0, cy0); y < Math.min(y1, cy1); y++) {
    for (let x = Math.max(x0, cx0); x < Math.min(x1, cx1); x++) blend(img, x, y, color, alpha);
  }
}

/**
 * A line from pixel (x0, y0) to pixel (x1, y1) (both drawn): a `width` x `width` square at each
 * step of the longer axis (Bresenham, thickened to the right and down).
 */
export function drawLine(img: RgbImage, x0: number, y0: number, x1: number, y1: number, color: Rgb, width = 2): void {
  const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
  for (let i = 0; i <= steps; i++) {
    const x = Math.round(x0 + ((x1 - x0) * i) / steps);
    const y = Math.round(y0 + ((y1 - y0) * i) / steps);
    fillRect(img, x, y, x + width, y + width, color);
  }
}

/** Text with its top-left corner at (x, y), each font pixel drawn as a scale x scale square. */
export function drawText(img: RgbImage, x: number, y: number, text: string, color: Rgb = INK, scale = 1): void {
  [...text].forEach((ch, i) => {
    const rows = glyph(ch);
    for (let r = 0; r < GLYPH_HEIGHT; r++) {
      for (let c = 0; c < rows[r].length; c++) {
        if (rows[r][c]) fillRect(img, x + (i * ADVANCE + c) * scale, y + r * scale, x + (i * ADVANCE + c + 1) * scale, y + (r + 1) * scale, color);
      }
    }
  });
}

/**
 * Text on a filled label background (so it stays readable over a photo), the label's top-left
 * corner at (x, y): textSize(text) plus 2 pixels of background on every side.
 */
export function drawLabel(img: RgbImage, x: number, y: number, text: string, background: Rgb, color: Rgb = contrastingInk(background)): void {
  const { width, height } = textSize(text);
  fillRect(img, x, y, x + width + 4, y + height + 4, background);
  drawText(img, x + 2, y + 2, text, color);
}

/** Copy `src` onto `dst` with its top-left corner at (x, y). */
export function paste(dst: RgbImage, src: RgbImage, x: number, y: number): void {
  for (let row = 0; row < src.height; row++) {
    const ty = y + row;
    if (ty < 0 || ty >= dst.height) continue;
    for (let col = 0; col < src.width; col++) {
      const tx = x + col;
      if (tx < 0 || tx >= dst.width) continue;
      const s = 3 * (row * src.width + col);
      dst.data.set(src.data.subarray(s, s + 3), 3 * (ty * dst.width + tx));
    }
  }
}

/** Lighten an image towards white (1 = white), so that drawn boxes stand out on a photo. */
export function fade(img: RgbImage, amount: number): void {
  for (let k = 0; k < img.data.length; k++) img.data[k] = Math.round(img.data[k] + (255 - img.data[k]) * amount);
}
