// The colours of the project's pictures, in one place: the named inks and papers, the two palettes
// (one for objects on the light explanatory pictures and charts, one for class labels on photos),
// and the colour scales derived from a value (heat) or a background (contrastingInk).
//
// A colour is an Rgb triple (data/image.ts), each channel 0..255. Nothing is drawn here.

import type { Rgb } from '../data/image';

export type { Rgb };

export const WHITE: Rgb = [255, 255, 255];
export const BLACK: Rgb = [0, 0, 0];
/** The background of a new canvas (blankCanvas) and of the charts. */
export const PAPER: Rgb = [250, 250, 247];
/** Text and axes. */
export const INK: Rgb = [30, 30, 30];
/** Secondary text: tick labels, axis names. */
export const GREY: Rgb = [150, 150, 150];

/**
 * Distinct colours for objects and aspect ratios (a qualitative palette, readable on a light
 * background; no red, which heat uses). Object k of an explanatory picture is OBJECT_COLORS[k % length];
 * the curves of the precision-recall plot take them in turn too.
 */
export const OBJECT_COLORS: readonly Rgb[] = [
  [0, 114, 178], [0, 158, 115], [120, 60, 160], [86, 180, 233], [230, 159, 0], [110, 110, 20], [204, 121, 167], [60, 60, 60],
];

/**
 * Distinct colours for class labels 0, 1, 2, ... (repeating after the last; see labelColor): the
 * boxes and tags drawn on photographs (detections, training previews). Brighter than OBJECT_COLORS,
 * and some (yellow, white) do not read on a light background: they are for pictures, not charts.
 */
export const LABEL_COLORS: readonly Rgb[] = [
  [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
  [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 190],
  [0, 128, 128], [230, 190, 255], [170, 110, 40], [255, 250, 200], [128, 0, 0],
  [170, 255, 195], [128, 128, 0], [255, 215, 180], [0, 0, 128], [128, 128, 128], [255, 255, 255],
];

/** The colour of class label `label` (a non-negative integer) in LABEL_COLORS. */
export function labelColor(label: number): Rgb {
  return LABEL_COLORS[label % LABEL_COLORS.length];
}

/** Black or white, whichever reads better on `background`. */
export function contrastingInk(background: Rgb): Rgb {
  const luminance = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2];
  return luminance > 140 ? BLACK : WHITE;
}

/** A heat colour for t in [0, 1]: pale pink (low) to dark red (high); no object colour is red. */
export function heat(t: number): Rgb {
  const u = Math.min(Math.max(t, 0), 1);
  return [Math.round(255 - 85 * u), Math.round(160 * (1 - u)), Math.round(160 * (1 - u))];
}
