// The training curves, drawn by the project as a PNG next to the checkpoint: the loss and its two
// parts (localization, confidence) against the step, and the mAP of each evaluation. Redrawn at
// every checkpoint, so a long run can be watched by opening the file. The charts themselves
// (axes, series, legend) are draw/charts.ts's.

import { RgbImage, Rgb } from '../data/image';
import { writePng } from '../data/image_files';
import { Series, renderCharts } from '../draw/charts';
import { TrainingState } from './checkpoint';

const LOSS_COLORS: Record<'loss' | 'locLoss' | 'confLoss', Rgb> = {
  loss: [30, 30, 30],
  locLoss: [0, 114, 178],
  confLoss: [213, 94, 0],
};
const MAP_COLOR: Rgb = [0, 158, 115];

export function drawTrainingCurves(file: string, state: TrainingState, nClasses: number): void {
  writePng(file, renderTrainingCurves(state, nClasses));
}

export function renderTrainingCurves(state: Pick<TrainingState, 'step' | 'epoch' | 'lossHistory' | 'evalHistory'>, nClasses: number): RgbImage {
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
