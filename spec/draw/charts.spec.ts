// draw/charts.ts: where a chart's points land, and its legend.

import { expect } from 'chai';
import { Chart, chartPoint, plotFrame, renderCharts } from '../../draw/charts';
import { pixelAt } from '../../draw/canvas';
import type { Rgb } from '../../data/image';
import { findText } from './find_text';

describe('draw/charts', () => {
  const red: Rgb = [200, 0, 0];
  const chart: Chart = { title: 't', series: [{ points: [[0, 0], [10, 4]], color: red, label: 'up' }], maxX: 10, maxY: 4, xLabel: 'x' };

  it('chartPoint maps (0, 0) to the frame\'s bottom-left and (maxX, maxY) to its top-right; the line joins them', () => {
    const frame = plotFrame(0);
    expect(chartPoint(frame, chart, 0, 0)).to.deep.equal([frame.left, frame.bottom]);
    expect(chartPoint(frame, chart, 10, 4)).to.deep.equal([frame.right, frame.top]);
    expect(chartPoint(frame, chart, 10, 8)).to.deep.equal([frame.right, frame.top]); // above maxY: at maxY
    const img = renderCharts('h', [chart]);
    const [x, y] = chartPoint(frame, chart, 5, 2);
    expect(pixelAt(img, x, y)).to.deep.equal([...red]);
    expect(plotFrame(1).top).to.be.greaterThan(frame.bottom);
  });

  it('the legend shows the last y, or legendValue; at the top by default, above the x axis with legend: bottom', () => {
    const frame = plotFrame(0);
    const top = renderCharts('h', [chart]);
    expect(findText(top, 'up 4.000', red)).to.deep.equal([[frame.left + 12 + 18, frame.top + 4]]);
    const bottom = renderCharts('h', [{ ...chart, series: [{ ...chart.series[0], legendValue: 'v' }], legend: 'bottom' }]);
    expect(findText(bottom, 'up v', red)).to.deep.equal([[frame.left + 12 + 18, frame.bottom - 14]]);
  });
});
