// The precision-recall plot (draw/precision_recall.ts) written as a PNG file: the Node-only half,
// kept out of draw/ so that the page can bundle the drawing.

import { writePng } from '../data/image_files';
import { PrecisionRecallCurve, renderPrecisionRecall } from '../draw/precision_recall';

/** Draw the classes' precision-recall curves under `heading` and write them to `file` as a PNG. */
export function writePrecisionRecallPng(file: string, curves: readonly PrecisionRecallCurve[], heading: string): void {
  writePng(file, renderPrecisionRecall(curves, heading));
}
