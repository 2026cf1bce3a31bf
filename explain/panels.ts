// The layout of the explanatory pictures: titled square panels side by side, each showing the
// 300 x 300 image SSD sees, and what is drawn on a panel in the model's own coordinates (boxes,
// points). The general drawing (canvas, rectangles, text, labels, colours) is in draw/.
//
// Boxes come as xy fractions of the picture (x_min, y_min, x_max, y_max) and are mapped onto a
// Panel: a square area of the canvas, in canvas pixels. Parts of a box outside the panel are
// clipped (a prior may reach past the image: the numerics contract (docs/numerics.md)).
//
// No Node-only module is imported here: the web page draws with the same code.

import type { Rgb, RgbImage } from '../data/image';
import { INK } from '../draw/colors';
import { Square, blankCanvas, blend, drawText, fade, fillRect, paste } from '../draw/canvas';
import { LINE_HEIGHT, textSize } from '../draw/font';

/** A square area of a canvas that shows the image: box fractions map onto it (x, y: its top-left corner; size: its side; canvas pixels). */
export type Panel = Square;

/** The panel's backdrop when there is no image (paintBackdrop). */
export const PLAIN_BACKGROUND: Rgb = [226, 226, 222];

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
