// The model summary: every layer with its output shape, parameter count and multiply-adds, in
// the order the data flows, computed from the layer geometry alone (nothing is run).

import { Shape, shapeToString } from '../tensor/tensor';
import { Conv2d } from '../layers/conv2d';
import { Layer } from '../layers/layer';
import { MaxPool2d } from '../layers/maxpool2d';
import { BatchNorm2d } from '../layers/batchnorm2d';
import { SSD300, SSD_INPUT_SIZE } from './ssd300';

export interface SummaryRow {
  name: string; // as in the state_dict, e.g. 'base.conv1_1'
  type: string;
  outputShape: number[];
  params: number;
  macs: number; // multiply-accumulates for the whole batch
}

export interface ModelSummary {
  rows: SummaryRow[];
  totalParams: number;
  totalMacs: number;
  batch: number;
}

function convMacs(conv: Conv2d, out: Shape): number {
  const [, inChannels, kh, kw] = conv.weight.value.shape;
  const [n, c, h, w] = out;
  return n * c * h * w * inChannels * kh * kw;
}

function paramCount(layer: Layer): number {
  return layer.parameters().reduce((s, p) => s + p.value.size, 0);
}

export function summarize(model: SSD300, batch = 1): ModelSummary {
  const rows: SummaryRow[] = [];
  // One row per conv or pool (batch norms and ReLUs are folded into the conv before them); returns the output shape.
  const visit = (prefix: string, layer: Layer, input: Shape): number[] => {
    if (layer instanceof Conv2d) {
      const out = layer.outputShape(input);
      rows.push({ name: prefix + layer.name, type: 'Conv2d+ReLU', outputShape: out, params: paramCount(layer), macs: convMacs(layer, out) });
      return out;
    }
    if (layer instanceof MaxPool2d) {
      const out = layer.outputShape(input);
      rows.push({ name: prefix + layer.name, type: 'MaxPool2d', outputShape: out, params: 0, macs: 0 });
      return out;
    }
    if (layer instanceof BatchNorm2d) {
      const conv = rows[rows.length - 1];
      conv.type = 'Conv2d+BN+ReLU';
      conv.params += paramCount(layer);
    }
    return [...input]; // BatchNorm2d, ReLU
  };

  let shape: number[] = [batch, 3, SSD_INPUT_SIZE, SSD_INPUT_SIZE];
  for (const layer of model.base.toConv4_3) shape = visit('base.', layer, shape);
  const conv4_3 = shape;
  for (const layer of model.base.toConv7) shape = visit('base.', layer, shape);
  const conv7 = shape;
  rows.push({ name: 'rescale_factors', type: 'L2Norm', outputShape: conv4_3, params: model.l2norm.scale.value.size, macs: 0 });
  const maps = [conv4_3, conv7];
  for (const stage of model.auxConvs.stages) {
    for (const layer of stage) shape = visit('aux_convs.', layer, shape);
    maps.push(shape);
  }
  model.predConvs.locConvs.forEach((conv, k) => visit('pred_convs.', conv, maps[k]));
  model.predConvs.classConvs.forEach((conv, k) => visit('pred_convs.', conv, maps[k]));
  for (const row of rows) if (row.name.startsWith('pred_convs.')) row.type = 'Conv2d';

  const totalParams = rows.reduce((s, r) => s + r.params, 0);
  const totalMacs = rows.reduce((s, r) => s + r.macs, 0);
  return { rows, totalParams, totalMacs, batch };
}

/** The summary as a fixed-width table, with totals. */
export function formatSummary(summary: ModelSummary): string {
  const header = ['layer', 'type', 'output shape', 'params', 'MMACs'];
  const body = summary.rows.map((r) => [r.name, r.type, shapeToString(r.outputShape), r.params.toLocaleString('en-US'), (r.macs / 1e6).toFixed(1)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i >= 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  const rule = '-'.repeat(widths.reduce((s, w) => s + w + 2, -2));
  return [
    line(header),
    rule,
    ...body.map(line),
    rule,
    `total parameters: ${summary.totalParams.toLocaleString('en-US')}`,
    `total multiply-adds: ${(summary.totalMacs / 1e9).toFixed(2)} GMAC for a batch of ${summary.batch} (ReLU, pooling and L2Norm not counted)`,
  ].join('\n');
}
