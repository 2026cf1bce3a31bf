// The training curves, drawn by the project as a PNG next to the checkpoint: the loss and its two
// parts (localization, confidence) against the step, and the mAP of each evaluation. Redrawn at
// every checkpoint, so a long run can be watched by opening the file.

import { RgbImage, Rgb } from '../data/image';
import { writePng } from '../data/image_files';
import { blankCanvas, drawText, fillRect, INK, GREY } from '../explain/draw';
import { textSize } from '../explain/font';
import { TrainingState } from './checkpoint';

const WIDTH = 900;
const PLOT_HEIGHT = 260;
const LEFT = 70;
const RIGHT = 20;
const TOP = 40;

const LOSS_COLORS: Record<'loss' | 'locLoss' | 'confLoss', Rgb> = {
  loss: [30, 30, 30],
  locLoss: [0, 114, 178],
  confLoss: [213, 94, 0],
};
const MAP_COLOR: Rgb = [0, 158, 115];

/** A line of a chart: (x, y) points, its colour and its legend. */
export interface Series {
  points: [number, number][];
  color: Rgb;
  label: string;
}

/** One chart: its series on axes from 0 to maxX and 0 to maxY (dots: a mark at every point). */
export interface Chart {
  title: string;
  series: Series[];
  maxX: number;
  maxY: number;
  xLabel: string;
  dots?: boolean;
}

/** Charts one above the other under a heading (the training curves; bench/step_for_step.ts's comparison). */
export function renderCharts(heading: string, charts: readonly Chart[]): RgbImage {
  const height = TOP + charts.length * (PLOT_HEIGHT + 60) + 10;
  const canvas = blankCanvas(WIDTH, height);
  drawText(canvas, LEFT, 10, heading, INK, 2);
  charts.forEach((chart, k) => plot(canvas, TOP + 20 + k * (PLOT_HEIGHT + 60), chart));
  return canvas;
}

export function drawTrainingCurves(file: string, state: TrainingState, nClasses: number): void {
  writePng(file, renderTrainingCurves(state, nClasses));
}

export function renderTrainingCurves(state: TrainingState, nClasses: number): RgbImage {
  const maxStep = Math.max(1, state.step);
  const losses: Series[] = (['loss', 'locLoss', 'confLoss'] as const).map((key) => ({
    points: state.lossHistory.map((p): [number, number] => [p.step, p[key]]),
    color: LOSS_COLORS[key],
    label: { loss: 'total loss', locLoss: 'localization (smooth L1)', confLoss: 'confidence (cross-entropy)' }[key],
  }));
  const maxLoss = Math.max(1e-6, ...losses.flatMap((s) => s.points.map((p) => p[1])));
  const mAP: Series = { points: state.evalHistory.map((e): [number, number] => [e.step, e.mAP]), color: MAP_COLOR, label: 'mAP (VOC07 11-point) on the evaluation split' };
  return renderCharts(`training curves: step ${state.step}, epoch ${state.epoch + 1}, ${nClasses - 1} classes`, [
    { title: 'loss (mean of 10 steps)', series: losses, maxX: maxStep, maxY: maxLoss, xLabel: 'step' },
    { title: 'mAP', series: [mAP], maxX: maxStep, maxY: 1, xLabel: 'step', dots: true },
  ]);
}

/** One plot: axes with ticks, the series as lines (dots where there is one point), a legend. */
function plot(canvas: RgbImage, top: number, chart: Chart): void {
  const { title, series, maxX, maxY, xLabel } = chart;
  const dots = chart.dots ?? false;
  const left = LEFT;
  const right = WIDTH - RIGHT;
  const bottom = top + PLOT_HEIGHT;
  drawText(canvas, left, top - 14, title, INK);
  const px = (x: number): number => Math.round(left + ((right - left) * x) / maxX);
  const py = (y: number): number => Math.round(bottom - ((bottom - top) * Math.min(y, maxY)) / maxY);
  // axes and grid
  for (let k = 0; k <= 4; k++) {
    const y = top + Math.round(((bottom - top) * k) / 4);
    fillRect(canvas, left, y, right, y + 1, [225, 225, 225]);
    const value = (maxY * (4 - k)) / 4;
    const text = value >= 10 ? value.toFixed(0) : value.toFixed(2);
    drawText(canvas, left - 6 - textSize(text).width, y - 3, text, GREY);
  }
  fillRect(canvas, left, top, left + 1, bottom + 1, INK);
  fillRect(canvas, left, bottom, right, bottom + 1, INK);
  for (let k = 0; k <= 5; k++) {
    const tick = (maxX * k) / 5;
    const x = px(tick);
    fillRect(canvas, x, bottom, x + 1, bottom + 4, INK);
    const text = Number.isInteger(tick) ? String(tick) : tick.toFixed(1);
    drawText(canvas, x - Math.floor(textSize(text).width / 2), bottom + 7, text, GREY);
  }
  drawText(canvas, right - textSize(xLabel).width, bottom + 18, xLabel, GREY);
  // series, and a legend in columns 260 pixels apart (wider for a long label), wrapped onto
  // another row where it would run past the plot
  let lx = left + 12;
  let ly = top + 4;
  for (const s of series) {
    for (let i = 0; i < s.points.length; i++) {
      const [x1, y1] = [px(s.points[i][0]), py(s.points[i][1])];
      if (dots || s.points.length === 1) fillRect(canvas, x1 - 2, y1 - 2, x1 + 3, y1 + 3, s.color);
      if (i > 0) line(canvas, px(s.points[i - 1][0]), py(s.points[i - 1][1]), x1, y1, s.color);
    }
    const last = s.points.length > 0 ? ` ${s.points[s.points.length - 1][1].toFixed(3)}` : ' (none yet)';
    const text = `${s.label}${last}`;
    const width = 18 + textSize(text).width;
    if (lx > left + 12 && lx + width > right) {
      lx = left + 12;
      ly += 12;
    }
    fillRect(canvas, lx, ly + 2, lx + 14, ly + 5, s.color);
    drawText(canvas, lx + 18, ly, text, s.color);
    lx += Math.max(260, Math.ceil((width + 20) / 260) * 260);
  }
}

/** A 2-pixel line (Bresenham, thickened). */
function line(canvas: RgbImage, x0: number, y0: number, x1: number, y1: number, color: Rgb): void {
  const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
  for (let i = 0; i <= steps; i++) {
    const x = Math.round(x0 + ((x1 - x0) * i) / steps);
    const y = Math.round(y0 + ((y1 - y0) * i) / steps);
    fillRect(canvas, x, y, x + 2, y + 2, color);
  }
}
