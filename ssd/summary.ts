// The model summary: every layer with its output shape, parameter count and multiply-adds, in
// the order the data flows (SSD300's topology, the list forward and backward run), computed from
// the layer geometry alone (nothing is run).

import { Shape, shapeToString } from '../tensor/tensor';
import { Conv2d } from '../layers/conv2d';
import { Layer } from '../layers/layer';
import { MaxPool2d } from '../layers/maxpool2d';
import { BatchNorm2d } from '../layers/batchnorm2d';
import { L2Norm } from '../layers/l2norm';
import { ReLU } from '../layers/relu';
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

/**
 * One row per conv, pool and L2 norm, walking the model's topology (the chains forward runs, in
 * the same order). A batch norm or ReLU joins the row of the conv it follows in its chain
 * ('Conv2d+BN+ReLU'), as does a ReLU fused into the conv ('Conv2d+ReLU'). Rows are named as the state_dict names the layer's weights.
 */
export function summarize(model: SSD300, batch = 1): ModelSummary {
  const weightNames = new Map(model.namedParameters().map(([name, p]) => [p, name]));
  const rowName = (layer: Layer): string => {
    const first = layer.parameters()[0];
    if (first === undefined) return `base.${layer.name}`; // a pool: only the base has them
    return weightNames.get(first)!.replace(/\.weight$/, ''); // 'base.conv1_1.weight' -> 'base.conv1_1'
  };
  const rows: SummaryRow[] = [];
  const shapes = new Map<string, number[]>([['image', [batch, 3, SSD_INPUT_SIZE, SSD_INPUT_SIZE]]]);
  for (const chain of model.topology) {
    let shape = shapes.get(chain.from)!;
    let conv: SummaryRow | null = null; // the row a following batch norm or ReLU joins
    for (const layer of chain.layers) {
      if (layer instanceof Conv2d) {
        shape = layer.outputShape(shape);
        // a conv may hold its ReLU (Conv2d's relu option)
        conv = { name: rowName(layer), type: layer.relu ? 'Conv2d+ReLU' : 'Conv2d', outputShape: shape, params: paramCount(layer), macs: convMacs(layer, shape) };
        rows.push(conv);
      } else if (layer instanceof MaxPool2d) {
        shape = layer.outputShape(shape);
        rows.push({ name: rowName(layer), type: 'MaxPool2d', outputShape: shape, params: 0, macs: 0 });
        conv = null;
      } else if (layer instanceof L2Norm) {
        rows.push({ name: rowName(layer), type: 'L2Norm', outputShape: shape, params: paramCount(layer), macs: 0 });
        conv = null;
      } else if (conv !== null && (layer instanceof BatchNorm2d || layer instanceof ReLU)) {
        conv.type += layer instanceof ReLU ? '+ReLU' : layer.relu ? '+BN+ReLU' : '+BN'; // a batch norm may hold its ReLU
        conv.params += paramCount(layer);
      } else {
        throw new Error(`summarize: no row for layer ${layer.name} (${layer.constructor.name})`);
      }
    }
    shapes.set(chain.to, shape);
  }
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
