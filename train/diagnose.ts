// Why a network does not learn, made visible: for each layer, the statistics of what flows
// forward (its output) and backward (the gradient of the loss with respect to its output), and
// the size of each parameter's gradient. `ssd train --diagnose N` prints them for the first N steps.
//
// What to look for: activations whose std shrinks layer after layer (the signal dies before the
// detector sees it: the output does not depend on the image), ReLU outputs that are mostly zero
// ("dead" units), and gradients that shrink towards the image (the base hardly learns).
//
// It works by wrapping each leaf layer's forward and backward while it is on, so the model's own
// code is unchanged.

import { Tensor } from '../tensor/tensor';
import { Layer, Module } from '../layers/layer';

export interface TensorStats {
  mean: number;
  std: number;
  /** Share of exact zeros (after a ReLU: the units that are off). */
  zeros: number;
}

export function tensorStats(t: Tensor): TensorStats {
  let sum = 0;
  let squares = 0;
  let zeros = 0;
  for (let i = 0; i < t.size; i++) {
    const v = t.data[i];
    sum += v;
    squares += v * v;
    if (v === 0) zeros++;
  }
  const mean = sum / t.size;
  return { mean, std: Math.sqrt(Math.max(0, squares / t.size - mean * mean)), zeros: zeros / t.size };
}

interface LayerRecord {
  name: string;
  kind: string;
  output?: TensorStats;
  outputGrad?: TensorStats;
  paramGradNorm?: number;
}

export class Diagnosis {
  private readonly records = new Map<Layer, LayerRecord>();
  private readonly restore: (() => void)[] = [];

  constructor(model: Module) {
    for (const [name, layer] of leafLayers(model, '')) {
      const record: LayerRecord = { name, kind: layer.constructor.name };
      this.records.set(layer, record);
      const forward = layer.forward.bind(layer);
      const backward = layer.backward.bind(layer);
      layer.forward = async (x: Tensor): Promise<Tensor> => {
        const y = await forward(x);
        record.output = tensorStats(y);
        return y;
      };
      layer.backward = async (dy: Tensor): Promise<Tensor> => {
        record.outputGrad = tensorStats(dy);
        const dx = await backward(dy);
        let squares = 0;
        for (const p of layer.parameters()) for (let i = 0; i < p.grad.size; i++) squares += p.grad.data[i] * p.grad.data[i];
        record.paramGradNorm = layer.parameters().length > 0 ? Math.sqrt(squares) : undefined;
        return dx;
      };
      this.restore.push(() => {
        // remove the instance's wrappers: the class's own methods show through again
        delete (layer as Partial<Layer>).forward;
        delete (layer as Partial<Layer>).backward;
      });
    }
  }

  /** Forget the last step's figures. */
  start(): void {
    for (const record of this.records.values()) {
      record.output = undefined;
      record.outputGrad = undefined;
      record.paramGradNorm = undefined;
    }
  }

  /** The last step's figures as a table, one layer a line, in the order data flows. */
  report(step: number): string {
    const fmt = (v: number): string => (Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4) || v === 0 ? v.toFixed(4) : v.toExponential(2);
    const lines = [`diagnosis, step ${step}: per layer, output mean / std / zeros, gradient at the output std, parameter gradient norm`];
    for (const r of this.records.values()) {
      if (r.output === undefined) continue;
      const out = `${fmt(r.output.mean).padStart(10)} ${fmt(r.output.std).padStart(10)} ${(100 * r.output.zeros).toFixed(1).padStart(5)}%`;
      const grad = r.outputGrad === undefined ? '' : fmt(r.outputGrad.std).padStart(10);
      const param = r.paramGradNorm === undefined ? '' : fmt(r.paramGradNorm).padStart(10);
      lines.push(`  ${r.name.padEnd(28)} ${r.kind.padEnd(12)} ${out} ${grad} ${param}`);
    }
    return lines.join('\n');
  }

  stop(): void {
    for (const f of this.restore) f();
    this.restore.length = 0;
  }
}

/** The layers without children, with their dotted names, in the order of the model's children. */
function leafLayers(module: Module, prefix: string): [string, Layer][] {
  const children = module.children();
  if (children.length === 0) return module instanceof Layer ? [[prefix.replace(/\.$/, ''), module]] : [];
  const out: [string, Layer][] = [];
  for (const child of children) out.push(...leafLayers(child, `${prefix}${child.name}.`));
  return out;
}
