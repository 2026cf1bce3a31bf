// The GPU.js kernels against the reference kernels, for each GPU.js mode, on seeded random inputs:
// every kernel forward and backward, for every geometry SSD300 uses (on small sizes), then one
// regression test per known trap of GPU.js 2.24, named after the trap.
//
// Modes: the comma-separated list in SSD_TEST_GPUJS_MODES (e.g. "webasm,cpu,headlessgl"); by
// default 'webasm,cpu', plus 'headlessgl' when DISPLAY is set (run under `xvfb-run -a`). A mode
// listed explicitly that cannot run here FAILS: a skipped backend would hide what the run was
// meant to check.
//
// Tolerances (float32): convolutions and L2 norm sums 1e-4 absolute + 1e-4 relative (GPU.js sums
// in float32, in another order than the reference's float64 sums); ReLU, max pooling values and
// argmax exact; the max pooling gradient exact where windows do not overlap. Set
// SSD_TEST_GPUJS_REPORT=1 to print the largest errors measured per kernel.

import { expect } from 'chai';
import * as fs from 'fs';
import { checked } from '../../kernels/checked';
import { GpuJsKernels } from '../../kernels/gpu';
import { GPUJS_MODES, GpuJsMode, checkRanOn } from '../../kernels/gpu/runtime';
import * as reference from '../../kernels/cpu/reference';
import { Conv2dOptions, Pool2dOptions } from '../../kernels/geometry';
import { Shape, Tensor, shapeToString } from '../../tensor/tensor';
import { Rng, randNormal } from '../../tensor/random';

function requestedModes(): string[] {
  const listed = process.env.SSD_TEST_GPUJS_MODES;
  if (listed === undefined || listed.trim() === '') return process.env.DISPLAY ? ['webasm', 'cpu', 'headlessgl'] : ['webasm', 'cpu'];
  return listed.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

// ---------------------------------------------------------------------------------------------
// Comparisons. Each records its largest errors, printed at the end with SSD_TEST_GPUJS_REPORT=1.

const CONV_ATOL = 1e-4;
const CONV_RTOL = 1e-4;

type ErrorLog = Map<string, { abs: number; rel: number }>;

function record(log: ErrorLog, what: string, abs: number, rel: number): void {
  const old = log.get(what) ?? { abs: 0, rel: 0 };
  log.set(what, { abs: Math.max(old.abs, abs), rel: Math.max(old.rel, rel) });
}

/** |actual - expected| <= atol + rtol * |expected| everywhere (atol = rtol = 0: exact). */
function expectClose(log: ErrorLog, actual: Tensor, expected: Tensor, atol: number, rtol: number, what: string): void {
  expect(actual.shape, `${what}: shape`).to.deep.equal(expected.shape);
  expect(actual.dtype, `${what}: dtype`).to.equal(expected.dtype);
  let worstAbs = 0;
  let worstRel = 0;
  for (let i = 0; i < expected.size; i++) {
    const a = actual.data[i];
    const b = expected.data[i];
    const error = Math.abs(a - b);
    if (!(error <= atol + rtol * Math.abs(b)) && !Object.is(a, b)) {
      throw new Error(`${what}: element ${i} of ${shapeToString(expected.shape)} is ${a}, reference ${b} (atol ${atol}, rtol ${rtol})`);
    }
    if (error > 0) {
      worstAbs = Math.max(worstAbs, error);
      worstRel = Math.max(worstRel, error / Math.max(Math.abs(b), 1e-30));
    }
  }
  record(log, what, worstAbs, worstRel);
}

function expectSameInts(actual: Int32Array, expected: Int32Array, what: string): void {
  expect(actual).to.be.instanceOf(Int32Array);
  expect(actual.length, `${what}: length`).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) throw new Error(`${what}: element ${i} is ${actual[i]}, reference ${expected[i]}`);
  }
}

/** Weights scaled by 1/sqrt(fan-in), as initialisation does: outputs stay of order 1. */
function randWeights(shape: Shape, rng: Rng): Tensor {
  return randNormal(shape, rng, 0, 1 / Math.sqrt(shape[1] * shape[2] * shape[3]));
}

// ---------------------------------------------------------------------------------------------
// The geometries of SSD300, on small sizes

const CONV_CASES: { name: string; x: Shape; w: Shape; options: Conv2dOptions }[] = [
  { name: '1x1 (conv7, conv8_1, conv9_1...)', x: [2, 6, 5, 7], w: [5, 6, 1, 1], options: {} },
  { name: '3x3 pad 1 (VGG convs, prediction convs)', x: [2, 5, 9, 11], w: [4, 5, 3, 3], options: { padding: 1 } },
  { name: '3x3 stride 2 pad 1 (conv8_2, conv9_2), even and odd sizes', x: [1, 4, 10, 9], w: [3, 4, 3, 3], options: { stride: 2, padding: 1 } },
  { name: '3x3 valid (conv10_2, conv11_2)', x: [1, 4, 5, 6], w: [3, 4, 3, 3], options: {} },
  { name: '3x3 dilation 6 pad 6 (conv6), 3 input channels', x: [1, 3, 13, 14], w: [4, 3, 3, 3], options: { dilation: 6, padding: 6 } },
];

const POOL_CASES: { name: string; x: Shape; options: Pool2dOptions; overlapping: boolean }[] = [
  { name: '2x2 stride 2 (pool1, pool2, pool4)', x: [2, 3, 8, 10], options: { kernelSize: 2, stride: 2 }, overlapping: false },
  { name: '2x2 stride 2 ceil (pool3, odd size)', x: [1, 3, 9, 11], options: { kernelSize: 2, stride: 2, ceilMode: true }, overlapping: false },
  { name: '3x3 stride 1 pad 1 (pool5)', x: [2, 3, 7, 6], options: { kernelSize: 3, stride: 1, padding: 1 }, overlapping: true },
];

/** forward, and the three backward kernels, of one convolution against the reference. */
async function checkConv(k: GpuJsKernels, log: ErrorLog, xShape: Shape, wShape: Shape, options: Conv2dOptions, seed: number, withBias = true): Promise<void> {
  const rng = new Rng(seed);
  const x = randNormal(xShape, rng);
  const w = randWeights(wShape, rng);
  const b = withBias ? randNormal([wShape[0]], rng) : null;
  const y = reference.conv2dForward(x, w, b, options);
  expectClose(log, await k.conv2dForward(x, w, b, options), y, CONV_ATOL, CONV_RTOL, 'conv2d forward');
  const dy = randNormal(y.shape, rng);
  expectClose(log, await k.conv2dBackwardInput(dy, w, x.shape, options), reference.conv2dBackwardInput(dy, w, x.shape, options), CONV_ATOL, CONV_RTOL, 'conv2d backward (input)');
  expectClose(log, await k.conv2dBackwardWeight(dy, x, w.shape, options), reference.conv2dBackwardWeight(dy, x, w.shape, options), CONV_ATOL, CONV_RTOL, 'conv2d backward (weight)');
  expectClose(log, await k.conv2dBackwardBias(dy), reference.conv2dBackwardBias(dy), CONV_ATOL, CONV_RTOL, 'conv2d backward (bias)');
}

/** forward (values, argmax) and backward of one max pooling against the reference. */
async function checkPool(k: GpuJsKernels, log: ErrorLog, x: Tensor, options: Pool2dOptions, overlapping: boolean, seed: number): Promise<void> {
  const expected = reference.maxPool2dForward(x, options);
  const actual = await k.maxPool2dForward(x, options);
  expectClose(log, actual.y, expected.y, 0, 0, 'maxpool2d forward');
  expectSameInts(actual.argmax, expected.argmax, 'maxpool2d argmax');
  const dy = randNormal(expected.y.shape, new Rng(seed));
  const dx = await k.maxPool2dBackward(dy, actual.argmax, x.shape, options);
  // Overlapping windows add several float32 gradients into one input: another rounding order.
  const tol = overlapping ? 1e-6 : 0;
  expectClose(log, dx, reference.maxPool2dBackward(dy, expected.argmax, x.shape, options), tol, tol, overlapping ? 'maxpool2d backward (overlapping windows)' : 'maxpool2d backward');
}

/** A tensor too big to fill through the Rng quickly: a cheap deterministic hash in [-4, 4). */
function hashFill(shape: Shape): Tensor {
  const t = new Tensor(shape);
  for (let i = 0; i < t.size; i++) t.data[i] = ((Math.imul(i, 2654435761) >>> 0) % 8192) / 1024 - 4;
  return t;
}

/** The sub-kernel that a GPU.js kernel map calls by name, in the fallback test below. */
declare function double(v: number): number;

// ---------------------------------------------------------------------------------------------

for (const modeName of requestedModes()) {
  describe(`kernels/gpu: GpuJsKernels, mode ${modeName}`, function () {
    let k: GpuJsKernels;
    const log: ErrorLog = new Map();

    before(function () {
      // An unknown or unavailable mode throws here, and every test below fails with it.
      if (!(GPUJS_MODES as readonly string[]).includes(modeName)) {
        throw new Error(`SSD_TEST_GPUJS_MODES lists '${modeName}', not a GPU.js mode (${GPUJS_MODES.join(', ')})`);
      }
      k = new GpuJsKernels({ mode: modeName as GpuJsMode });
    });

    after(async function () {
      if (k) await k.dispose();
      if (process.env.SSD_TEST_GPUJS_REPORT) {
        console.log(`      largest errors against the reference, gpu.js:${modeName}:`);
        for (const [what, e] of log) console.log(`        ${what.padEnd(42)} abs ${e.abs.toExponential(2)}  rel ${e.rel.toExponential(2)}`);
      }
    });

    it(`is named gpu.js:${modeName}`, function () {
      expect(k.name).to.equal(`gpu.js:${modeName}`);
    });

    describe('convolution: forward and the three backward kernels match the reference', function () {
      CONV_CASES.forEach((c, i) => {
        it(`${c.name}: x ${shapeToString(c.x)}, w ${shapeToString(c.w)}`, async function () {
          await checkConv(k, log, c.x, c.w, c.options, 100 + i);
        });
      });

      it('without a bias', async function () {
        await checkConv(k, log, [1, 3, 4, 5], [2, 3, 3, 3], { padding: 1 }, 120, false);
      });

      it('a hand-worked case: 3x3 ones over 1..9 with padding 1 gives the neighbourhood sums', async function () {
        const x = new Tensor([1, 1, 3, 3], Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]));
        const w = new Tensor([1, 1, 3, 3], new Float32Array(9).fill(1));
        const y = await k.conv2dForward(x, w, null, { padding: 1 });
        expect(Array.from(y.data)).to.deep.equal([12, 21, 16, 27, 45, 33, 24, 39, 28]);
      });
    });

    describe('max pooling: values and argmax exact, gradient routed to the argmax', function () {
      POOL_CASES.forEach((c, i) => {
        it(`${c.name}: x ${shapeToString(c.x)}`, async function () {
          await checkPool(k, log, randNormal(c.x, new Rng(200 + i)), c.options, c.overlapping, 210 + i);
        });
      });

      it('ties go to the first maximum in scan order, as in the reference', async function () {
        const rng = new Rng(230);
        const x = new Tensor([1, 2, 7, 7]);
        for (let i = 0; i < x.size; i++) x.data[i] = rng.int(3); // many equal values
        for (const c of POOL_CASES) await checkPool(k, log, x, c.options, c.overlapping, 231);
      });
    });

    describe('L2 normalization', function () {
      it('forward (y and norm) and backward (dx and dscale) match the reference', async function () {
        const rng = new Rng(300);
        const x = randNormal([2, 6, 5, 7], rng);
        for (let c = 0; c < 6; c++) x.set(0, 0, c, 1, 2); // an all-zero position: eps keeps it finite
        const scale = randNormal([6], rng, 20, 1);
        const expected = reference.l2NormForward(x, scale, 1e-10);
        const actual = await k.l2NormForward(x, scale, 1e-10);
        expectClose(log, actual.y, expected.y, CONV_ATOL, CONV_RTOL, 'l2norm forward (y)');
        expectClose(log, actual.norm, expected.norm, CONV_ATOL, CONV_RTOL, 'l2norm forward (norm)');
        const dy = randNormal(x.shape, rng);
        const grads = reference.l2NormBackward(dy, x, scale, expected.norm);
        const got = await k.l2NormBackward(dy, x, scale, actual.norm);
        // At the zero position dx = scale * dy / sqrt(eps), about 2e6: relative tolerance there.
        expectClose(log, got.dx, grads.dx, CONV_ATOL, CONV_RTOL, 'l2norm backward (dx)');
        expectClose(log, got.dscale, grads.dscale, CONV_ATOL, CONV_RTOL, 'l2norm backward (dscale)');
      });
    });

    describe('ReLU', function () {
      it('forward and backward are exact, zeros and negative zeros included', async function () {
        const rng = new Rng(400);
        const x = randNormal([2, 3, 5, 6], rng);
        x.data[0] = 0;
        x.data[1] = -0;
        const y = await k.reluForward(x);
        expectClose(log, y, reference.reluForward(x), 0, 0, 'relu forward');
        const dy = randNormal(x.shape, rng);
        expectClose(log, await k.reluBackward(dy, y), reference.reluBackward(dy, reference.reluForward(x)), 0, 0, 'relu backward');
      });

      it('works on tensors of rank 1 to 3 too', async function () {
        const rng = new Rng(401);
        for (const shape of [[7], [3, 5], [2, 3, 9]]) {
          const x = randNormal(shape, rng);
          expectClose(log, await k.reluForward(x), reference.reluForward(x), 0, 0, 'relu forward');
        }
      });
    });

    describe('behind the argument checks (kernels/checked.ts, as createKernels gives it): float64 inputs go to the reference kernels (GPU.js computes in float32 only)', function () {
      it('conv2d, pooling, L2 norm and ReLU give the reference float64 results bit for bit', async function () {
        const rng = new Rng(500);
        const x = randNormal([1, 3, 6, 5], rng, 0, 1, 'float64');
        const w = randNormal([2, 3, 3, 3], rng, 0, 1, 'float64');
        const y = await checked(k, reference.referenceKernels).conv2dForward(x, w, null, { padding: 1 });
        expect(y.dtype).to.equal('float64');
        expect(Array.from(y.data)).to.deep.equal(Array.from(reference.conv2dForward(x, w, null, { padding: 1 }).data));
        const p = await checked(k, reference.referenceKernels).maxPool2dForward(x, { kernelSize: 2, ceilMode: true });
        expect(p.y.dtype).to.equal('float64');
        const s = randNormal([3], rng, 0, 1, 'float64');
        expect((await checked(k, reference.referenceKernels).l2NormForward(x, s, 1e-10)).y.dtype).to.equal('float64');
        expect((await checked(k, reference.referenceKernels).reluForward(x)).dtype).to.equal('float64');
      });
    });

    describe('errors (behind the argument checks, as createKernels gives it)', function () {
      it('a bias or a dy of the wrong shape is an error naming both shapes', async function () {
        let error: Error | null = null;
        try {
          await checked(k, reference.referenceKernels).conv2dForward(new Tensor([1, 2, 4, 4]), new Tensor([3, 2, 3, 3]), new Tensor([2]), {});
        } catch (e) {
          error = e as Error;
        }
        expect(error?.message).to.equal('conv2d forward: bias: expected shape (3), got (2)');
        error = null;
        try {
          await checked(k, reference.referenceKernels).conv2dBackwardInput(new Tensor([1, 3, 4, 4]), new Tensor([3, 2, 3, 3]), [1, 2, 4, 4], {});
        } catch (e) {
          error = e as Error;
        }
        expect(error?.message).to.equal('conv2d backward (input): dy: expected shape (1, 3, 2, 2), got (1, 3, 4, 4)');
      });
    });

    // -----------------------------------------------------------------------------------------
    // The traps of GPU.js 2.24, one regression test each.

    describe('GPU.js traps', function () {
      it('loopMaxIterations (1000) caps loops: a conv with 1030 input channels (and one with 1030 output channels, and 1600 positions per plane) matches the reference', async function () {
        await checkConv(k, log, [1, 1030, 3, 4], [2, 1030, 1, 1], {}, 600);
        await checkConv(k, log, [1, 2, 3, 4], [1030, 2, 1, 1], {}, 601);
        await checkConv(k, log, [1, 2, 40, 40], [2, 2, 1, 1], {}, 602);
      });

      it('setConstants is ignored after the first call: two geometries in a row are both right', async function () {
        await checkConv(k, log, [1, 3, 6, 6], [2, 3, 3, 3], { padding: 1 }, 610);
        await checkConv(k, log, [1, 3, 9, 7], [2, 3, 3, 3], { stride: 2, padding: 1 }, 611);
        await checkConv(k, log, [1, 3, 6, 6], [2, 3, 3, 3], { padding: 1 }, 612); // the first again, from the cache
        // One kernel per geometry, each compiled once: the forward kernels of both are in the cache.
        const keys = k.kernelOutputs().map((o) => o.key).filter((key) => key.startsWith('conv2d.forward:1,3,'));
        expect(keys.sort()).to.deep.equal(['conv2d.forward:1,3,6,6,2,3,3,1,1,1,1,1,1,6,6', 'conv2d.forward:1,3,9,7,2,3,3,2,2,1,1,1,1,5,4']);
      });

      it('webasm reads wrong elements past 2^24 through float locals: relu and max pooling on (1, 4, 2100, 2100) match the reference', async function () {
        this.timeout(120000);
        const x = hashFill([1, 4, 2100, 2100]); // 17.6M elements > 2^24 = 16.8M
        expectClose(log, await k.reluForward(x), reference.reluForward(x), 0, 0, 'relu forward');
        const expected = reference.maxPool2dForward(x, { kernelSize: 2, stride: 2 });
        const actual = await k.maxPool2dForward(x, { kernelSize: 2, stride: 2 });
        expectClose(log, actual.y, expected.y, 0, 0, 'maxpool2d forward');
        expectSameInts(actual.argmax, expected.argmax, 'maxpool2d argmax');
      });

      it('Infinity becomes 3.4e38 on GL: all-negative and padded pool windows, down to -3.4e38, keep the right max and argmax', async function () {
        const x = new Tensor([1, 2, 3, 3]);
        for (let i = 0; i < 9; i++) {
          x.data[i] = -1 - i; // all negative: padding (never a 0) must not win
          x.data[9 + i] = -3.4028234663852886e38; // -FLT_MAX: a -Infinity sentinel turned into -3.4e38 never gets beaten
        }
        await checkPool(k, log, x, { kernelSize: 3, stride: 1, padding: 1 }, true, 620);
        await checkPool(k, log, x, { kernelSize: 2, stride: 2, ceilMode: true }, false, 621);
      });

      it('pipeline without immutable reuses the output buffer: two consecutive calls keep distinct results', async function () {
        const rng = new Rng(630);
        const w = randWeights([2, 3, 3, 3], rng);
        const x1 = randNormal([1, 3, 5, 5], rng);
        const x2 = randNormal([1, 3, 5, 5], rng);
        const y1 = await k.conv2dForward(x1, w, null, { padding: 1 });
        const copy = Float32Array.from(y1.data);
        const y2 = await k.conv2dForward(x2, w, null, { padding: 1 });
        expect(y1.data).to.not.equal(y2.data);
        expect(Array.from(y1.data)).to.deep.equal(Array.from(copy));
        expectClose(log, y2, reference.conv2dForward(x2, w, null, { padding: 1 }), CONV_ATOL, CONV_RTOL, 'conv2d forward');
        const r1 = await k.reluForward(x1);
        const r2 = await k.reluForward(x2);
        expectClose(log, r1, reference.reluForward(x1), 0, 0, 'relu forward');
        expectClose(log, r2, reference.reluForward(x2), 0, 0, 'relu forward');
      });

      it('kernels created in a loop without destroy() leak: 300 calls keep the kernel cache size constant and memory flat', async function () {
        const rng = new Rng(640);
        const x = randNormal([1, 4, 12, 12], rng);
        const w = randWeights([4, 4, 3, 3], rng);
        const step = async (): Promise<void> => {
          const y = await k.conv2dForward(x, w, null, { padding: 1 });
          await k.reluForward(y);
        };
        for (let i = 0; i < 20; i++) await step();
        const size = k.cacheSize;
        const before = process.memoryUsage();
        for (let i = 0; i < 300; i++) await step();
        const after = process.memoryUsage();
        expect(k.cacheSize).to.equal(size);
        // A leaked kernel keeps its compiled module / shader and buffers: 300 of them are far
        // more than this. Garbage not yet collected stays well below it.
        const grownMiB = (after.rss - before.rss) / 2 ** 20;
        expect(grownMiB, `resident memory grew by ${grownMiB.toFixed(1)} MiB`).to.be.below(64);
      });

      it('kernels created in a loop without destroy() leak: a cache bounded to 4 kernels evicts, stays right, and keeps threads and memory flat', async function () {
        const small = new GpuJsKernels({ mode: modeName as GpuJsMode, maxKernels: 4 });
        try {
          const rng = new Rng(645);
          // 3 geometries x 2 kernels > 4; outputs above 4096 cells, which 'webasm' runs on worker threads
          const inputs = [5, 6, 7].map((s) => randNormal([1, 2, s, 1024], rng));
          const dy = inputs.map((x) => randNormal(x.shape, rng));
          const threads = (): number => (fs.existsSync('/proc/self/task') ? fs.readdirSync('/proc/self/task').length : 0);
          let before = { threads: 0, rss: 0 };
          for (let round = 0; round < 20; round++) {
            if (round === 4) before = { threads: threads(), rss: process.memoryUsage().rss };
            for (let i = 0; i < inputs.length; i++) {
              const y = await small.reluForward(inputs[i]);
              const dx = await small.reluBackward(dy[i], y);
              if (round % 8 === 0) {
                expectClose(log, y, reference.reluForward(inputs[i]), 0, 0, 'relu forward');
                expectClose(log, dx, reference.reluBackward(dy[i], reference.reluForward(inputs[i])), 0, 0, 'relu backward');
              }
              expect(small.cacheSize).to.be.at.most(4);
            }
          }
          expect(small.evictions).to.be.above(50);
          // Evicted 'webasm' kernels take their worker threads with them.
          expect(threads() - before.threads, 'threads added').to.be.at.most(4);
          const grownMiB = (process.memoryUsage().rss - before.rss) / 2 ** 20;
          expect(grownMiB, `resident memory grew by ${grownMiB.toFixed(1)} MiB`).to.be.below(64);
        } finally {
          await small.dispose();
        }
      });

      it('webasm uses SIMD only for widths that are multiples of 4: output width 75 (computed as 76 on webasm) is still right', async function () {
        const rng = new Rng(650);
        const x = randNormal([1, 2, 75, 75], rng);
        await checkConv(k, log, x.shape, [3, 2, 3, 3], { padding: 1 }, 651);
        await checkPool(k, log, x, { kernelSize: 2, stride: 2, ceilMode: true }, false, 652); // 75 -> 38
        expectClose(log, await k.reluForward(x), reference.reluForward(x), 0, 0, 'relu forward');
        const widths = k.kernelOutputs().filter((o) => o.key.startsWith('conv2d.forward:1,2,75,75')).map((o) => o.output[0]);
        expect(widths).to.deep.equal([modeName === 'webasm' ? 76 : 75]);
      });

      it(`GPU.js falls back to another mode silently: asking for '${modeName}' gives '${modeName}', and a fallback is an error`, async function () {
        await k.reluForward(new Tensor([2, 3], Float32Array.from([1, -2, 3, -4, 5, -6])));
        expect(k.actualMode).to.equal(modeName);
        // A kernel GPU.js quietly ran on another backend is reported by the check every call makes.
        const ranOnCpu = { kernel: { constructor: { name: 'CPUKernel' }, fallbackReason: 'kernel maps are not supported on the webasm backend' } };
        const check = (): string => checkRanOn(modeName as GpuJsMode, ranOnCpu, 'test kernel');
        if (modeName === 'cpu') expect(check()).to.equal('cpu');
        else expect(check).to.throw(`gpu.js: asked for mode '${modeName}' but kernel test kernel ran on 'cpu' (kernel maps are not supported on the webasm backend)`);
      });

      if (modeName === 'webasm') {
        it('a real silent fallback: GPU.js runs a kernel map asked for on webasm on its cpu backend, and the check catches it', async function () {
          // eslint-disable-next-line @typescript-eslint/no-require-imports
          const { GPU } = require('gpu.js');
          const gpu = new GPU({ mode: 'webasm' });
          const warn = console.warn;
          console.warn = () => {}; // GPU.js's own notice ("Falling back to CPU: ...")
          try {
            const map = gpu.createKernelMap({ doubled: function double(v: number) { return 2 * v; } }, function (this: { thread: { x: number } }, a: number[]) {
              return double(a[this.thread.x]);
            }, { output: [4] });
            const result = map(Float32Array.from([1, 2, 3, 4]));
            expect(Array.from(result.result)).to.deep.equal([2, 4, 6, 8]); // right values, wrong backend
            expect(() => checkRanOn('webasm', map, 'kernel map')).to.throw(/asked for mode 'webasm' but kernel kernel map ran on 'cpu' \(kernel maps are not supported/);
          } finally {
            console.warn = warn;
            await gpu.destroy();
          }
        });
      }
    });

    describe('dispose', function () {
      it('releases every kernel; the object cannot be used afterwards', async function () {
        const other = new GpuJsKernels({ mode: modeName as GpuJsMode });
        await other.reluForward(new Tensor([4], Float32Array.from([1, -1, 2, -2])));
        expect(other.cacheSize).to.equal(1);
        await other.dispose();
        expect(other.cacheSize).to.equal(0);
        let error: Error | null = null;
        try {
          await other.reluForward(new Tensor([4], Float32Array.from([1, -1, 2, -2])));
        } catch (e) {
          error = e as Error;
        }
        expect(error?.message).to.match(/used after dispose/);
      });
    });
  });
}
