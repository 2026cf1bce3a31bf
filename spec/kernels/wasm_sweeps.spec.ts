// The memory-bound kernels of the 'wasm' backend (kernels/wasm/sweep.wat, relu.wat): max pooling,
// the L2 norm, the bias gradient and ReLU, forward and backward, against the reference on every
// SSD300 geometry at its real spatial size and on odd sizes (1 and 3 channels, planes that are
// not multiples of the four-wide loops, batch 3), with 1 thread and 2 (every call cut into tasks)
// and both micro-kernel variants, and memory over 1000 calls.
//
// Tolerances, derived:
// - Pooling forward and ReLU copy values: exactly equal, argmax included (ties and NaN too).
// - Pooling backward with windows that do not overlap (pool1-4) adds one term per input: exact.
//   Overlapping windows (pool5, 3x3 stride 1) add up to k = 9 terms in float32 where the reference
//   sums in float64 and rounds once: each of the k - 1 additions rounds by at most 2^-24 of a
//   partial sum <= k max|dy|, so |error| <= (k (k - 1) + 1) 2^-24 max|dy|.
// - The L2 norm and the bias gradient sum in float64 as the reference does and round once. The L2
//   norm's sums run in the reference's order: exactly equal. dscale and the bias gradient add the
//   same terms in another order: the float64 results differ by far less than a float32 unit in
//   the last place, so the float32 results differ by at most one rounding: 2^-23 |expected|,
//   checked against 2^-23 max|expected| (+ the float64 error, a 10^-12 fraction, for cancellation).

import { expect } from 'chai';
import { expectSameBits } from '../helpers/same_bits';
import { Shape, shapeToString } from '../../tensor/tensor';
import { Rng, randNormal } from '../../tensor/random';
import { Pool2dOptions } from '../../kernels/geometry';
import * as reference from '../../kernels/cpu/reference';
import { WasmKernels } from '../../kernels/wasm';
import { MicroKernel } from '../../kernels/wasm/runtime';

const VARIANTS: { label: string; create: () => WasmKernels }[] = [];
for (const microKernel of ['simd', 'relaxed'] as MicroKernel[]) {
  VARIANTS.push({ label: `${microKernel}, 1 thread`, create: () => new WasmKernels({ threads: 1, microKernel }) });
  VARIANTS.push({
    label: `${microKernel}, 2 threads`,
    create: () => new WasmKernels({ threads: 2, microKernel, minParallelFlops: 0, minParallelElements: 0 }),
  });
}

function maxAbs(data: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < data.length; i++) m = Math.max(m, Math.abs(data[i]));
  return m;
}

function expectWithin(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  expect(actual.length, `${what}: length`).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    if (!(error <= tolerance)) throw new Error(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}: error ${error} > ${tolerance}`);
  }
}

/** One float32 rounding of the largest entry, plus room for the float64 sums' own order. */
function oneRounding(expected: ArrayLike<number>): number {
  return 2 ** -23 * maxAbs(expected) * (1 + 1e-12);
}

const POOLS: { name: string; x: Shape; options: Pool2dOptions }[] = [
  { name: 'pool1 (2x2 stride 2, 300 -> 150)', x: [3, 3, 300, 300], options: { kernelSize: 2, stride: 2 } },
  { name: 'pool2 (150 -> 75)', x: [3, 1, 150, 150], options: { kernelSize: 2, stride: 2 } },
  { name: 'pool3 (ceil mode, 75 -> 38)', x: [3, 3, 75, 75], options: { kernelSize: 2, stride: 2, ceilMode: true } },
  { name: 'pool4 (38 -> 19)', x: [3, 3, 38, 38], options: { kernelSize: 2, stride: 2 } },
  { name: 'pool5 (3x3 stride 1 padding 1, 19 -> 19)', x: [3, 5, 19, 19], options: { kernelSize: 3, stride: 1, padding: 1 } },
  { name: 'odd: 3x3 stride 2 padding 1, ceil mode, 7 x 5', x: [3, 1, 7, 5], options: { kernelSize: 3, stride: 2, padding: 1, ceilMode: true } },
  { name: 'odd: 1 x 1 plane', x: [1, 3, 1, 1], options: { kernelSize: 1, stride: 1 } },
];

/** Planes of the L2 norm and the bias gradient: conv4_3's, and sizes the four-wide loops do not divide. */
const PLANES: Shape[] = [
  [3, 7, 38, 38], // conv4_3 with few channels (38 x 38 = 1444 positions)
  [1, 512, 38, 38], // conv4_3 of the full model
  [3, 3, 5, 7], // 35 positions: 8 groups of 4 and 3 alone
  [3, 1, 1, 3], // 1 channel, 3 positions: no group of 4
  [2, 3, 300, 300], // conv1's plane
];

describe('kernels/wasm: max pooling, L2 norm, bias gradient and ReLU against the reference', function () {
  this.timeout(300000);
  const kernels: WasmKernels[] = [];
  before(() => {
    for (const v of VARIANTS) kernels.push(v.create());
  });
  after(async () => {
    for (const k of kernels) await k.dispose();
  });
  const each = async (fn: (k: WasmKernels, label: string) => Promise<void>): Promise<void> => {
    for (let v = 0; v < kernels.length; v++) await fn(kernels[v], VARIANTS[v].label);
  };

  POOLS.forEach((c, index) => {
    it(`max pooling ${c.name}: x ${shapeToString(c.x)} ${JSON.stringify(c.options)}: y and argmax exact, dx`, async () => {
      const rng = new Rng(700 + index);
      const x = randNormal(c.x, rng);
      // ties (a repeated value), a NaN (it wins and propagates) and -Infinity (it never wins but may be alone)
      for (let i = 0; i + 1 < x.size; i += 97) x.data[i + 1] = x.data[i];
      if (x.size > 10) x.data[10] = NaN;
      if (x.size > 50) x.data[50] = -Infinity;
      const want = reference.maxPool2dForward(x, c.options);
      const dy = randNormal(want.y.shape, rng);
      const dx = reference.maxPool2dBackward(dy, want.argmax, x.shape, c.options);
      const [kh, kw] = typeof c.options.kernelSize === 'number' ? [c.options.kernelSize, c.options.kernelSize] : c.options.kernelSize;
      const stride = c.options.stride ?? kh;
      const [sh, sw] = typeof stride === 'number' ? [stride, stride] : stride;
      const overlap = Math.ceil(kh / sh) * Math.ceil(kw / sw); // most windows that can share an input
      await each(async (k, label) => {
        const got = await k.maxPool2dForward(x, c.options);
        expectSameBits(got.y.data, want.y.data, `${label}: y`);
        expectSameBits(got.argmax, want.argmax, `${label}: argmax`);
        const gotDx = (await k.maxPool2dBackward(dy, got.argmax, x.shape, c.options)).data;
        if (overlap === 1) expectSameBits(gotDx, dx.data, `${label}: dx`);
        else expectWithin(gotDx, dx.data, (overlap * (overlap - 1) + 1) * 2 ** -24 * maxAbs(dy.data), `${label}: dx`);
      });
    });
  });

  PLANES.forEach((shape, index) => {
    it(`L2 norm, bias gradient and ReLU on ${shapeToString(shape)}: forward and backward`, async () => {
      const rng = new Rng(800 + index);
      const x = randNormal(shape, rng);
      const scale = randNormal([1, shape[1], 1, 1], rng, 20, 1);
      const dy = randNormal(shape, rng);
      const want = reference.l2NormForward(x, scale, 1e-10);
      const wantGrads = reference.l2NormBackward(dy, x, scale, want.norm);
      const db = reference.conv2dBackwardBias(dy);
      const relu = reference.reluForward(x);
      const reluDx = reference.reluBackward(dy, relu);
      await each(async (k, label) => {
        const got = await k.l2NormForward(x, scale, 1e-10);
        expectSameBits(got.y.data, want.y.data, `${label}: l2norm y`);
        expectSameBits(got.norm.data, want.norm.data, `${label}: l2norm norm`);
        expect(got.norm.shape).to.deep.equal(want.norm.shape);
        const grads = await k.l2NormBackward(dy, x, scale, got.norm);
        expectSameBits(grads.dx.data, wantGrads.dx.data, `${label}: l2norm dx`);
        expectWithin(grads.dscale.data, wantGrads.dscale.data, oneRounding(wantGrads.dscale.data), `${label}: l2norm dscale`);
        expect(grads.dscale.shape).to.deep.equal(scale.shape);
        expectWithin((await k.conv2dBackwardBias(dy)).data, db.data, oneRounding(db.data), `${label}: bias gradient`);
        const y = await k.reluForward(x);
        expectSameBits(y.data, relu.data, `${label}: relu y`);
        expectSameBits((await k.reluBackward(dy, y)).data, reluDx.data, `${label}: relu dx`);
      });
    });
  });
});

describe('kernels/wasm: memory over repeated sweeps', () => {
  it('1000 calls of pooling, L2 norm, bias gradient, batch norm and ReLU (on the workers), their outputs released, keep the WebAssembly memory, its blocks, the heap and the workers flat', async function () {
    this.timeout(300000);
    const k = new WasmKernels({ threads: 2, minParallelElements: 0 });
    try {
      const rng = new Rng(900);
      const x = randNormal([2, 8, 38, 38], rng);
      const scale = randNormal([1, 8, 1, 1], rng, 20, 1);
      const dy = randNormal(x.shape, rng);
      const pool = { kernelSize: 2, stride: 2, ceilMode: true };
      const channels = x.shape[1];
      const ones = new Float64Array(channels).fill(1);
      const round = async (): Promise<void> => {
        const { y, argmax } = await k.maxPool2dForward(x, pool);
        k.release(await k.maxPool2dBackward(y, argmax, x.shape, pool));
        k.release(y);
        k.release(argmax);
        const { y: normalized, norm } = await k.l2NormForward(x, scale, 1e-10);
        const { dx } = await k.l2NormBackward(dy, x, scale, norm);
        for (const t of [normalized, norm, dx]) k.release(t);
        k.release(await k.conv2dBackwardBias(dy));
        const r = await k.reluForward(x);
        k.release(await k.reluBackward(dy, r));
        k.release(r);
        const { mean } = await k.batchNormStatistics(x);
        k.release(await k.batchNormForward(x, { mean, scale: ones, shift: ones }));
        await k.batchNormBackwardSums(dy, x, mean);
        k.release(await k.batchNormBackwardInput(dy, x, { mean, dyScale: ones, xScale: ones, shift: ones }));
      };
      for (let i = 0; i < 10; i++) await round();
      const memory = k.memoryBytes;
      const inUse = k.heapBytesInUse; // the calls' scratch block alone
      const workers = k.workerThreadIds;
      expect(workers.length, 'a worker ran').to.equal(1);
      const heap = process.memoryUsage().heapUsed;
      for (let i = 0; i < 91; i++) await round(); // 11 calls a round: 1001 calls
      expect(k.memoryBytes, 'WebAssembly memory').to.equal(memory);
      expect(k.heapBytesInUse, 'bytes in blocks').to.equal(inUse);
      expect(k.workerThreadIds, 'the same workers').to.deep.equal(workers);
      expect((process.memoryUsage().heapUsed - heap) / 2 ** 20, 'heap growth (MB)').to.be.lessThan(32);
    } finally {
      await k.dispose();
    }
  });
});
