// The reference kernels against golden outputs written by PyTorch (as llm.c tests its kernels).
//
// spec/fixtures/kernels.json is made by scripts/make_fixtures.py (`npm run fixtures`, run by hand,
// output committed): seeded float32 CPU cases, one per geometry SSD uses, with PyTorch's forward
// outputs and its autograd gradients for a random upstream gradient dy. These tests never need
// PyTorch. The SGD and clip_grad_norm fixtures in the same file are tested elsewhere.
//
// Tolerances, |actual - expected| <= atol + rtol * |expected| element by element:
// - conv2d y, dx, dw, db: atol 1e-5, rtol 1e-5. PyTorch sums the products in float32 and in its
//   own order; we sum in double and round once, so the two differ by a few float32 ulps of the
//   partial sums (values here are O(1), sums of at most ~100 terms).
// - maxpool2d y and argmax: exact (a max is a selection; inputs have no ties). dx: exact where
//   windows do not overlap (each input gets at most one gradient); with overlapping windows
//   (3x3 stride 1) PyTorch adds up to 9 gradients in float32 where we add in double, so there
//   atol 1e-6, rtol 1e-6.
// - relu y and dx: exact (a selection, no arithmetic).
// - l2norm y, norm, dscale: atol 1e-5, rtol 1e-5 (a float32 sum of squares, a sqrt, a division:
//   a few ulps). dx = scale_k*dy_k/norm - x_k*(sum_c scale_c*dy_c*x_c)/norm^3 is a difference of
//   two terms that can cancel (a position with one non-zero channel gives exactly 0 in exact
//   arithmetic, a few float32 ulps of noise in PyTorch), and at all-zero positions it is huge
//   (scale*dy/sqrt(1e-10), ~1e6). So its tolerance is relative to the terms, not to the result:
//   |diff| <= 1e-5 * (|term1| + |term2|) + 1e-6 per element (observed: under 4e-7 of the terms).

import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';

import { Conv2dOptions, Pool2dOptions } from '../../kernels/geometry';
import {
  conv2dBackwardBias,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dForward,
  l2NormBackward,
  l2NormForward,
  maxPool2dBackward,
  maxPool2dForward,
  reluBackward,
  reluForward,
} from '../../kernels/cpu/reference';
import { fromFlat } from '../../tensor/create';
import { Tensor } from '../../tensor/tensor';

interface Stored {
  shape: number[];
  data: number[];
}

interface ConvCase {
  name: string;
  stride: number;
  padding: number;
  dilation: number;
  x: Stored;
  w: Stored;
  b: Stored;
  dy: Stored;
  y: Stored;
  dx: Stored;
  dw: Stored;
  db: Stored;
}

interface PoolCase {
  name: string;
  kernel_size: number;
  stride: number;
  padding: number;
  ceil_mode: boolean;
  x: Stored;
  dy: Stored;
  y: Stored;
  argmax: Stored;
  dx: Stored;
}

interface L2NormCase {
  name: string;
  eps: number;
  x: Stored;
  scale: Stored;
  dy: Stored;
  y: Stored;
  norm: Stored;
  dx: Stored;
  dscale: Stored;
}

interface ReluCase {
  name: string;
  x: Stored;
  dy: Stored;
  y: Stored;
  dx: Stored;
}

interface Fixtures {
  generator: string;
  conv2d: ConvCase[];
  maxpool2d: PoolCase[];
  l2norm: L2NormCase[];
  relu: ReluCase[];
}

// Tests run from dist/spec/kernels; the fixtures stay in the source tree.
const FIXTURES = path.join(__dirname, '../../../spec/fixtures/kernels.json');
const fixtures: Fixtures = JSON.parse(fs.readFileSync(FIXTURES, 'utf8'));

function tensor(s: Stored): Tensor {
  return fromFlat(s.data, s.shape, 'float32');
}

/** Every element within atol + rtol * |expected|; on failure, names the worst element. */
function expectClose(actual: Tensor, expected: Stored, atol: number, rtol: number, what: string): void {
  expectWithin(actual, expected, (i) => atol + rtol * Math.abs(expected.data[i]), what);
}

/** Every element i within tolerance(i) of PyTorch's; on failure, names the worst element. */
function expectWithin(actual: Tensor, expected: Stored, tolerance: (i: number) => number, what: string): void {
  expect(Array.from(actual.shape), `${what}: shape`).to.deep.equal(expected.shape);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const excess = Math.abs(actual.data[i] - expected.data[i]) - tolerance(i);
    if (!(excess <= 0) && (worst === -1 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst !== -1) {
    const a = actual.data[worst];
    const e = expected.data[worst];
    expect.fail(`${what}: element ${worst} is ${a}, PyTorch gives ${e} (|diff| ${Math.abs(a - e)} > tolerance ${tolerance(worst)})`);
  }
}

/** For l2norm dx: 1e-5 * (|scale_k*dy_k/norm| + |x_k*(sum_c scale_c*dy_c*x_c)/norm^3|) + 1e-6. */
function l2NormDxTolerance(c: L2NormCase): (i: number) => number {
  const [batch, channels, h, w] = c.x.shape;
  const plane = h * w;
  const bound = new Float64Array(c.x.data.length);
  for (let n = 0; n < batch; n++) {
    for (let p = 0; p < plane; p++) {
      const norm = c.norm.data[n * plane + p];
      let weighted = 0;
      for (let ch = 0; ch < channels; ch++) {
        const k = (n * channels + ch) * plane + p;
        weighted += c.scale.data[ch] * c.dy.data[k] * c.x.data[k];
      }
      for (let ch = 0; ch < channels; ch++) {
        const k = (n * channels + ch) * plane + p;
        const term1 = Math.abs((c.scale.data[ch] * c.dy.data[k]) / norm);
        const term2 = Math.abs((c.x.data[k] * weighted) / (norm * norm * norm));
        bound[k] = 1e-5 * (term1 + term2) + 1e-6;
      }
    }
  }
  return (i) => bound[i];
}

function expectExact(actual: ArrayLike<number>, expected: Stored, what: string): void {
  expect(actual.length, `${what}: length`).to.equal(expected.data.length);
  for (let i = 0; i < expected.data.length; i++) {
    if (actual[i] !== expected.data[i]) expect.fail(`${what}: element ${i} is ${actual[i]}, PyTorch gives ${expected.data[i]}`);
  }
}

describe('reference kernels against PyTorch golden fixtures', () => {
  it('loads the fixtures', () => {
    expect(fixtures.generator).to.match(/torch/);
    expect(fixtures.conv2d.length).to.be.greaterThan(0);
    expect(fixtures.maxpool2d.length).to.be.greaterThan(0);
    expect(fixtures.l2norm.length).to.be.greaterThan(0);
    expect(fixtures.relu.length).to.be.greaterThan(0);
  });

  describe('conv2d', () => {
    const atol = 1e-5;
    const rtol = 1e-5;
    for (const c of fixtures.conv2d) {
      it(c.name, () => {
        const options: Conv2dOptions = { stride: c.stride, padding: c.padding, dilation: c.dilation };
        const x = tensor(c.x);
        const w = tensor(c.w);
        const dy = tensor(c.dy);
        expectClose(conv2dForward(x, w, tensor(c.b), options), c.y, atol, rtol, 'y');
        expectClose(conv2dBackwardInput(dy, w, c.x.shape, options), c.dx, atol, rtol, 'dx');
        expectClose(conv2dBackwardWeight(dy, x, c.w.shape, options), c.dw, atol, rtol, 'dw');
        expectClose(conv2dBackwardBias(dy), c.db, atol, rtol, 'db');
      });
    }
  });

  describe('maxpool2d', () => {
    for (const c of fixtures.maxpool2d) {
      it(c.name, () => {
        const options: Pool2dOptions = { kernelSize: c.kernel_size, stride: c.stride, padding: c.padding, ceilMode: c.ceil_mode };
        const { y, argmax } = maxPool2dForward(tensor(c.x), options);
        expect(Array.from(y.shape), 'y: shape').to.deep.equal(c.y.shape);
        expectExact(y.data, c.y, 'y');
        expectExact(argmax, c.argmax, 'argmax');
        const dx = maxPool2dBackward(tensor(c.dy), argmax, c.x.shape, options);
        const overlapping = c.stride < c.kernel_size;
        if (overlapping) expectClose(dx, c.dx, 1e-6, 1e-6, 'dx');
        else expectExact(dx.data, c.dx, 'dx');
      });
    }
  });

  describe('l2norm', () => {
    const atol = 1e-5;
    const rtol = 1e-5;
    for (const c of fixtures.l2norm) {
      it(c.name, () => {
        const x = tensor(c.x);
        const scale = tensor(c.scale);
        const { y, norm } = l2NormForward(x, scale, c.eps);
        expectClose(y, c.y, atol, rtol, 'y');
        expectClose(norm, c.norm, atol, rtol, 'norm');
        for (const v of y.data) expect(Number.isFinite(v), 'y finite').to.equal(true);
        const { dx, dscale } = l2NormBackward(tensor(c.dy), x, scale, norm);
        for (const v of dx.data) expect(Number.isFinite(v), 'dx finite').to.equal(true);
        expectWithin(dx, c.dx, l2NormDxTolerance(c), 'dx');
        expectClose(dscale, c.dscale, atol, rtol, 'dscale');
      });
    }
  });

  describe('relu', () => {
    for (const c of fixtures.relu) {
      it(c.name, () => {
        const y = reluForward(tensor(c.x));
        expectExact(y.data, c.y, 'y');
        expectExact(reluBackward(tensor(c.dy), y).data, c.dx, 'dx');
      });
    }
  });
});
