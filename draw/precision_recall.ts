// The precision-recall plot of an evaluation: one curve per class, recall along x and precision
// along y (both 0 to 1), each class's name and average precision (AP) in the legend. Drawn with
// draw/charts.ts, so the picture's frame and coordinates are its (plotFrame(0), chartPoint).
// train/precision_recall.ts writes it as a PNG; this file imports nothing Node-only.

import type { Rgb, RgbImage } from '../data/image';
import { OBJECT_COLORS } from './colors';
import { Chart, renderCharts } from './charts';

/** One class's curve: recall[k] and precision[k] after the first k+1 ranked detections (ssd/evaluate.ts), and its AP. */
export interface PrecisionRecallCurve {
  name: string;
  recall: readonly number[];
  precision: readonly number[];
  ap: number;
  /** The curve's colour (default: OBJECT_COLORS in turn, by the curve's position). */
  color?: Rgb;
}

/** The colour of curve k of renderPrecisionRecall when it names none. */
export function precisionRecallColor(k: number): Rgb {
  return OBJECT_COLORS[k % OBJECT_COLORS.length];
}

/** What the legend says for a curve: its name and its AP to 3 decimals. */
export function precisionRecallLegend(curve: Pick<PrecisionRecallCurve, 'name' | 'ap'>): string {
  return `${curve.name} ${apText(curve.ap)}`;
}

function apText(ap: number): string {
  return `(AP ${ap.toFixed(3)})`;
}

/** The chart renderPrecisionRecall draws (checked): recall 0..1 along x, precision 0..1 along y. */
export function precisionRecallChart(curves: readonly PrecisionRecallCurve[]): Chart {
  curves.forEach(checkCurve);
  return {
    title: 'precision (y) against recall (x), one curve per class',
    series: curves.map((c, k) => ({
      points: c.recall.map((r, i): [number, number] => [r, c.precision[i]]),
      color: c.color ?? precisionRecallColor(k),
      label: c.name,
      legendValue: apText(c.ap),
    })),
    maxX: 1,
    maxY: 1,
    xLabel: 'recall',
    legend: 'bottom',
  };
}

/**
 * The precision-recall curves of the classes under a heading: each curve's points joined in order
 * by 2-pixel lines (a single point is a dot), in its colour; the legend (name and AP) above the
 * x axis at the left. Throws, naming the class, if a curve's recall and precision differ in
 * length, or a recall, precision or AP is not a number in [0, 1] (leave out a class whose AP is
 * NaN: it had no ground truth to recall).
 */
export function renderPrecisionRecall(curves: readonly PrecisionRecallCurve[], heading: string): RgbImage {
  return renderCharts(heading, [precisionRecallChart(curves)]);
}

function checkCurve(c: PrecisionRecallCurve): void {
  const where = `renderPrecisionRecall: class '${c.name}'`;
  if (c.recall.length !== c.precision.length) {
    throw new Error(`${where} has ${c.recall.length} recall values but ${c.precision.length} precision values`);
  }
  const inUnit = (v: number): boolean => typeof v === 'number' && v >= 0 && v <= 1; // false for NaN
  for (const [what, values] of [['recall', c.recall], ['precision', c.precision]] as const) {
    const k = values.findIndex((v) => !inUnit(v));
    if (k >= 0) throw new Error(`${where}: ${what}[${k}] is ${values[k]}, not in [0, 1]`);
  }
  if (!inUnit(c.ap)) throw new Error(`${where}: AP ${c.ap} is not in [0, 1] (a class without ground truth has AP NaN: leave it out)`);
}
