// Drawing for the explanatory pictures: rectangles, dots and text on an RGB image, and the layout
// of several titled panels side by side.
//
// Everything draws on the project's RgbImage (data/image.ts) in place. Boxes come in the model's
// own coordinates, xy fractions of the picture (x_min, y_min, x_max, y_max), and are mapped onto a
// Panel: a square area of the canvas that shows the 300 x 300 image SSD sees. Parts of a box
// outside the panel are clipped (a prior may reach past the image: the numerics contract (README, Numerics)).
//
// No Node-only module is imported here: the web page draws with the same code.

import type { Rgb, RgbImage } from '../data/image';
import { ADVANCE, GLYPH_HEIGHT, LINE_HEIGHT, glyph, textSize } from './font';

export type { Rgb, RgbImage };

/** A square area of a canvas that shows the image: box fractions map onto it. */
export interface Panel {
  /** Top-left corner in canvas pixels. */
  x: number;
  y: number;
  /** Side in canvas pixels. */
  size: number;
}

export const WHITE: Rgb = [255, 255, 255];
export const BLACK: Rgb = [0, 0, 0];
export const PAPER: Rgb = [250, 250, 247];
export const INK: Rgb = [30, 30, 30];
export const GREY: Rgb = [150, 150, 150];
export const PLAIN_BACKGROUND: Rgb = [226, 226, 222];

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
export function fillRect(img: RgbImage, x0: number, y0: number, x1: number, y1: number, color: Rgb, alpha = 1, clip?: Panel): void {
  const cx0 = clip ? clip.x : 0;
  const cy0 = clip ? clip.y : 0;
  const cx1 = clip ? clip.x + clip.size : img.width;
  const cy1 = clip ? clip.y + clip.size : img.height;
  for (let y = Math.max(y0, cy0); y < Math.min(y1, cy1); y++) {
    for (let x = Math.max(x0, cx0); x < Math.min(x1, cx1); x++) blend(img, x, y, color, alpha);
  }
}

/** The pixel rectangle [left, right) x [top, bottom) that box xy covers on the panel (not clipped). */
export function boxToPixels(panel: Panel, boxXy: ArrayLike<number>): { left: number; top: number; right: number; bottom: number } {
  return {
    left: panel.x + Math.round(boxXy[0] * panel.size),
    top: panel.y + Math.round(boxXy[1] * panel.size),
    right: panel.x + Math.round(boxXy[2] * panel.size),
    bottom: panel.y + Math.round(boxXy[3] * panel.size),
  };
}

/** A point (fractions of the image) in canvas pixels. */
export function pointToPixel(panel: Panel, fx: number, fy: number): [number, number] {
  return [panel.x + Math.floor(fx * panel.size), panel.y + Math.floor(fy * panel.size)];
}

export interface StrokeOptions {
  thickness?: number;
  alpha?: number;
  /** Dash length in pixels (0: a solid line). */
  dash?: number;
}

/**
 * The outline of box xy on the panel, drawn inside the box's pixel rectangle and clipped to the
 * panel. A box reaching past the image loses the sides that lie outside it.
 */
export function strokeBox(img: RgbImage, panel: Panel, boxXy: ArrayLike<number>, color: Rgb, options: StrokeOptions = {}): void {
  const { thickness = 1, alpha = 1, dash = 0 } = options;
  const { left, top, right, bottom } = boxToPixels(panel, boxXy);
  const on = (t: number): boolean => dash === 0 || Math.floor(t / dash) % 2 === 0;
  const px = (x: number, y: number): void => {
    if (x < panel.x || y < panel.y || x >= panel.x + panel.size || y >= panel.y + panel.size) return;
    blend(img, x, y, color, alpha);
  };
  for (let t = 0; t < thickness; t++) {
    for (let x = left; x < right; x++) {
      if (!on(x - left)) continue;
      px(x, top + t);
      px(x, bottom - 1 - t);
    }
    for (let y = top + thickness; y < bottom - thickness; y++) {
      if (!on(y - top)) continue;
      px(left + t, y);
      px(right - 1 - t, y);
    }
  }
}

/** A filled square dot of side `side` centred on the point (fractions of the image). */
export function dot(img: RgbImage, panel: Panel, fx: number, fy: number, color: Rgb, side = 3): void {
  const [x, y] = pointToPixel(panel, fx, fy);
  const h = Math.floor(side / 2);
  fillRect(img, x - h, y - h, x - h + side, y - h + side, color, 1, panel);
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

/** Text on a filled label background (so it stays readable over a photo). */
export function drawLabel(img: RgbImage, x: number, y: number, text: string, background: Rgb, color: Rgb = contrastingInk(background)): void {
  const { width, height } = textSize(text);
  fillRect(img, x, y, x + width + 4, y + height + 4, background);
  drawText(img, x + 2, y + 2, text, color);
}

/** Black or white, whichever reads better on `background`. */
export function contrastingInk(background: Rgb): Rgb {
  const luminance = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2];
  return luminance > 140 ? BLACK : WHITE;
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

// ---------------------------------------------------------------------------------------------
// Layout: titled panels in a row, with lines of text under them
// ---------------------------------------------------------------------------------------------

export interface PanelSpec {
  title: string;
  /** Lines of text under the panel. */
  caption?: readonly string[];
}

export interface Layout {
  canvas: RgbImage;
  panels: Panel[];
}

const MARGIN = 12;
const TITLE_SPACE = 2 * LINE_HEIGHT + 6;

/**
 * A canvas holding `specs.length` square panels of side `size` in a row (or in rows of `columns`),
 * each with its title above and its caption below, and an optional heading over everything.
 * The panels are left blank for the caller to paint.
 */
export function layoutPanels(specs: readonly PanelSpec[], size: number, heading?: string, columns = specs.length): Layout {
  const rows = Math.ceil(specs.length / columns);
  const captionLines = Math.max(0, ...specs.map((s) => s.caption?.length ?? 0));
  const captionSpace = captionLines === 0 ? 0 : captionLines * LINE_HEIGHT + 8;
  const headingSpace = heading === undefined ? 0 : 2 * LINE_HEIGHT + 8;
  const cellWidth = Math.max(size, ...specs.map((s) => textSize(s.title, 1).width), ...specs.flatMap((s) => (s.caption ?? []).map((l) => textSize(l).width)));
  const cellHeight = TITLE_SPACE + size + captionSpace;
  const headingWidth = heading === undefined ? 0 : textSize(heading, 2).width + 2 * MARGIN;
  const width = Math.max(MARGIN + columns * (cellWidth + MARGIN), headingWidth);
  const height = MARGIN + headingSpace + rows * (cellHeight + MARGIN);
  const canvas = blankCanvas(width, height);
  if (heading !== undefined) drawText(canvas, MARGIN, MARGIN, heading, INK, 2);
  const panels = specs.map((spec, k) => {
    const cx = MARGIN + (k % columns) * (cellWidth + MARGIN);
    const cy = MARGIN + headingSpace + Math.floor(k / columns) * (cellHeight + MARGIN);
    drawText(canvas, cx, cy + 4, spec.title, INK, 1);
    const panel: Panel = { x: cx, y: cy + TITLE_SPACE, size };
    (spec.caption ?? []).forEach((line, i) => drawText(canvas, cx, panel.y + size + 8 + i * LINE_HEIGHT, line, INK));
    return panel;
  });
  return { canvas, panels };
}

/** Paint the picture SSD sees (already 300 x 300, or a plain background when there is no image) into a panel. */
export function paintBackdrop(canvas: RgbImage, panel: Panel, image: RgbImage | null, fadeAmount = 0.35): void {
  if (image === null) {
    fillRect(canvas, panel.x, panel.y, panel.x + panel.size, panel.y + panel.size, PLAIN_BACKGROUND);
    return;
  }
  if (image.width !== panel.size || image.height !== panel.size) {
    throw new Error(`paintBackdrop: the image is ${image.width}x${image.height}, the panel ${panel.size}x${panel.size}`);
  }
  const faded: RgbImage = { width: image.width, height: image.height, data: image.data.slice() };
  fade(faded, fadeAmount);
  paste(canvas, faded, panel.x, panel.y);
}

/**
 * Distinct colours for objects and aspect ratios (a qualitative palette, readable on a light
 * background). Object k of an image is OBJECT_COLORS[k % length].
 */
export const OBJECT_COLORS: readonly Rgb[] = [
  [0, 114, 178], [0, 158, 115], [120, 60, 160], [86, 180, 233], [230, 159, 0], [110, 110, 20], [204, 121, 167], [60, 60, 60],
];

/** A heat colour for t in [0, 1]: pale pink (low) to dark red (high); no object colour is red. */
export function heat(t: number): Rgb {
  const u = Math.min(Math.max(t, 0), 1);
  return [Math.round(255 - 85 * u), Math.round(160 * (1 - u)), Math.round(160 * (1 - u))];
}
