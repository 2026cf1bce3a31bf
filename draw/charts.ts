// Line charts: one or more plots one above the other under a heading, each with its axes (a grid
// of 4 rows, 5 ticks along x), its series drawn as 2-pixel lines (or dots), and a legend. The
// training curves (train/curves.ts), bench/step_for_step.ts's comparison and the precision-recall
// plot (draw/precision_recall.ts) are drawn with it.
//
// A series is given in the chart's own units, from 0 to maxX along x and 0 to maxY along y (a
// value above maxY is drawn at maxY); chartPoint maps it to canvas pixels (y up on the chart,
// down on the canvas). The canvas is CHART_WIDTH pixels wide; plotFrame(k) is where plot k lies.
// No Node-only module is imported here: writing the picture to a file is the caller's business.

import type { Rgb, RgbImage } from '../data/image';
import { GREY, INK } from './colors';
import { blankCanvas, drawLine, drawText, fillRect } from './canvas';
import { textSize } from './font';

/** Width of the canvas, in pixels. */
export const CHART_WIDTH = 900;
const PLOT_HEIGHT = 260;
const LEFT = 70;
const RIGHT = 20;
const TOP = 40;

/** A line of a chart: (x, y) points, its colour and its legend. */
export interface Series {
  points: [number, number][];
  color: Rgb;
  label: string;
  /** Shown in the legend after the label (default: the last point's y to 3 decimals, or "(none yet)"). */
  legendValue?: string;
}

/** One chart: its series on axes from 0 to maxX and 0 to maxY (dots: a mark at every point). */
export interface Chart {
  title: string;
  series: Series[];
  maxX: number;
  maxY: number;
  xLabel: string;
  dots?: boolean;
  /**
   * Where the legend lies inside the plot: 'top' (default: rows from the top-left corner down, each
   * entry drawn just after its series) or 'bottom' (rows above the x axis at the left, drawn over all
   * the series: for curves that stay high at the left, such as precision against recall).
   */
  legend?: 'top' | 'bottom';
}

/** The plot area of chart k of renderCharts, in canvas pixels: the axes lie on its left and bottom edges. */
export interface PlotFrame {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** Where chart k (0 = the first, at the top) of renderCharts draws its plot. */
export function plotFrame(k: number): PlotFrame {
  const top = TOP + 20 + k * (PLOT_HEIGHT + 60);
  return { left: LEFT, top, right: CHART_WIDTH - RIGHT, bottom: top + PLOT_HEIGHT };
}

/** The canvas pixel of point (x, y) of a chart drawn in `frame`. */
export function chartPoint(frame: PlotFrame, chart: Pick<Chart, 'maxX' | 'maxY'>, x: number, y: number): [number, number] {
  const { left, top, right, bottom } = frame;
  return [Math.round(left + ((right - left) * x) / chart.maxX), Math.round(bottom - ((bottom - top) * Math.min(y, chart.maxY)) / chart.maxY)];
}

/** Charts one above the other under a heading (the training curves; bench/step_for_step.ts's comparison). */
export function renderCharts(heading: string, charts: readonly Chart[]): RgbImage {
  const height = TOP + charts.length * (PLOT_HEIGHT + 60) + 10;
  const canvas = blankCanvas(CHART_WIDTH, height);
  drawText(canvas, LEFT, 10, heading, INK, 2);
  charts.forEach((chart, k) => plot(canvas, plotFrame(k), chart));
  return canvas;
}

/** One plot: axes with ticks, the series as lines (dots where there is one point), a legend. */
function plot(canvas: RgbImage, frame: PlotFrame, chart: Chart): void {
  const { title, series, maxX, maxY, xLabel } = chart;
  const dots = chart.dots ?? false;
  const { left, top, right, bottom } = frame;
  drawText(canvas, left, top - 14, title, INK);
  const at = (x: number, y: number): [number, number] => chartPoint(frame, chart, x, y);
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
    const [x] = at(tick, 0);
    fillRect(canvas, x, bottom, x + 1, bottom + 4, INK);
    const text = Number.isInteger(tick) ? String(tick) : tick.toFixed(1);
    drawText(canvas, x - Math.floor(textSize(text).width / 2), bottom + 7, text, GREY);
  }
  drawText(canvas, right - textSize(xLabel).width, bottom + 18, xLabel, GREY);
  // the legend: columns 260 pixels apart (wider for a long label), wrapped onto another row where
  // it would run past the plot
  const entries = legendLayout(series, frame, chart.legend ?? 'top');
  const drawEntry = (s: Series, { x, y, text }: LegendEntry): void => {
    fillRect(canvas, x, y + 2, x + 14, y + 5, s.color);
    drawText(canvas, x + 18, y, text, s.color);
  };
  series.forEach((s, k) => {
    for (let i = 0; i < s.points.length; i++) {
      const [x1, y1] = at(s.points[i][0], s.points[i][1]);
      if (dots || s.points.length === 1) fillRect(canvas, x1 - 2, y1 - 2, x1 + 3, y1 + 3, s.color);
      if (i > 0) {
        const [x0, y0] = at(s.points[i - 1][0], s.points[i - 1][1]);
        drawLine(canvas, x0, y0, x1, y1, s.color);
      }
    }
    if (chart.legend !== 'bottom') drawEntry(s, entries[k]);
  });
  if (chart.legend === 'bottom') series.forEach((s, k) => drawEntry(s, entries[k]));
}

interface LegendEntry {
  x: number;
  y: number;
  text: string;
}

/** Where each series' legend entry goes (its swatch's top-left corner) and what it says. */
function legendLayout(series: readonly Series[], frame: PlotFrame, where: 'top' | 'bottom'): LegendEntry[] {
  const { left, top, right, bottom } = frame;
  let lx = left + 12;
  let ly = top + 4;
  const entries = series.map((s): LegendEntry => {
    const value = s.legendValue !== undefined ? ` ${s.legendValue}` : s.points.length > 0 ? ` ${s.points[s.points.length - 1][1].toFixed(3)}` : ' (none yet)';
    const text = `${s.label}${value}`;
    const width = 18 + textSize(text).width;
    if (lx > left + 12 && lx + width > right) {
      lx = left + 12;
      ly += 12;
    }
    const entry = { x: lx, y: ly, text };
    lx += Math.max(260, Math.ceil((width + 20) / 260) * 260);
    return entry;
  });
  if (where === 'bottom' && entries.length > 0) {
    const shift = bottom - 14 - entries[entries.length - 1].y;
    for (const e of entries) e.y += shift;
  }
  return entries;
}
