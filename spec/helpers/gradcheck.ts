// Finite-difference gradient checks, shared by every layer test.
//
// The scalar checked is L = sum(y * r) for a fixed random r, so dL/dy = r is what backward gets.
// Each analytic derivative is compared with the central difference (L(v + h) - L(v - h)) / 2h.
// Run in float64: in float32 the rounding noise of L (~1e-7 relative) divided by h would swamp
// the errors we look for.

import { expect } from 'chai';
import { Tensor } from '../../tensor/tensor';
import { Rng, randNormal } from '../../tensor/random';
import { dot } from '../../tensor/ops';
import { Layer } from '../../layers/layer';

export interface GradcheckOptions {
  h?: number; // finite-difference step, default 1e-5
  tolerance?: number; // |numeric - analytic| <= tolerance * max(1, |numeric|), default 1e-7
  maxChecks?: number; // at most this many entries per tensor (spread evenly), default all
  seed?: number;
  /** Entries not to check by finite differences (their analytic value must still be finite). */
  skip?: (tensorName: string, index: number) => boolean;
}

/** Checks dL/dx and the gradient of every parameter of `layer` at input `x` (float64). */
export async function gradcheckLayer(layer: Layer, x: Tensor, options: GradcheckOptions = {}): Promise<void> {
  const h = options.h ?? 1e-5;
  const tolerance = options.tolerance ?? 1e-7;
  expect(x.dtype, 'gradcheck wants float64 inputs').to.equal('float64');

  const y0 = await layer.forward(x);
  const r = randNormal(y0.shape, new Rng(options.seed ?? 1234), 0, 1, 'float64');
  const loss = async (): Promise<number> => dot(await layer.forward(x), r);

  layer.zeroGrad();
  await layer.forward(x);
  const dx = await layer.backward(r);
  expect(dx.shape).to.deep.equal(x.shape);

  const check = async (name: string, values: Tensor, analytic: Tensor): Promise<void> => {
    const indices = pickIndices(values.size, options.maxChecks);
    for (const i of indices) {
      if (options.skip?.(name, i)) {
        if (!Number.isFinite(analytic.data[i])) throw new Error(`${layer.name}: d/d${name}[${i}] is ${analytic.data[i]}`);
        continue;
      }
      const numeric = await centralDifference(loss, values, i, h);
      const error = Math.abs(numeric - analytic.data[i]);
      const bound = tolerance * Math.max(1, Math.abs(numeric));
      if (!(error <= bound)) {
        throw new Error(`${layer.name}: d/d${name}[${i}] analytic ${analytic.data[i]} vs numeric ${numeric} (error ${error} > ${bound})`);
      }
    }
  };

  await check('input', x, dx);
  for (const [name, p] of layer.namedParameters()) {
    // Copy: the loss evaluations above run forward only, but keep the gradient apart anyway.
    await check(name, p.value, p.grad.clone());
  }
}

/** (L(v + h) - L(v - h)) / 2h for entry i of `values`, which is restored afterwards. */
export async function centralDifference(loss: () => Promise<number>, values: Tensor, i: number, h: number): Promise<number> {
  const saved = values.data[i];
  values.data[i] = saved + h;
  const plus = await loss();
  values.data[i] = saved - h;
  const minus = await loss();
  values.data[i] = saved;
  return (plus - minus) / (2 * h);
}

function pickIndices(size: number, maxChecks?: number): number[] {
  if (maxChecks === undefined || size <= maxChecks) return Array.from({ length: size }, (_, i) => i);
  const step = size / maxChecks;
  return Array.from({ length: maxChecks }, (_, k) => Math.floor(k * step + step / 2));
}

/** Expect two tensors of equal shape to agree within |a - b| <= atol + rtol * |b|. */
export function expectClose(actual: Tensor, expected: Tensor, atol: number, rtol = 0, what = 'tensor'): void {
  expect(actual.shape, `${what} shape`).to.deep.equal(expected.shape);
  for (let i = 0; i < expected.size; i++) {
    const a = actual.data[i];
    const b = expected.data[i];
    if (!(Math.abs(a - b) <= atol + rtol * Math.abs(b))) {
      throw new Error(`${what}[${i}]: got ${a}, expected ${b} (atol ${atol}, rtol ${rtol})`);
    }
  }
}
