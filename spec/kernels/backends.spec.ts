// Every backend against the reference kernels, on the same seeded random inputs.
//
// One suite, run unchanged for each backend in BACKENDS (or in the comma-separated list of names
// in the environment variable SSD_TEST_BACKENDS, e.g. SSD_TEST_BACKENDS=cpu,gpu.js:webasm). A name
// that is unknown, or whose backend cannot be created on this machine, FAILS: asking for a
// backend and silently testing nothing would hide exactly what the run was meant to check.
//
// Tolerances. A backend may add the same terms as the reference in another order, in float32
// (the reference sums in float64 and rounds once). Rounding errors of a sum of K terms in another
// order grow like sqrt(K) units of the last place of the largest partial sums, so each output is
// compared with
//   |actual - expected| <= 4 * 2^-24 * sqrt(K) * max|expected|          (float32 unit roundoff 2^-24)
// where K is the number of terms behind one output, stated at each check. Measuring against the
// largest output, not each element, allows for cancellation: an element near 0 that is the sum
// of large terms of both signs is only known to that absolute accuracy. Operations that only
// select or copy values (ReLU, max pooling, its argmax) must match exactly.

import { expect } from 'chai';
import { expectSameTensor } from '../helpers/same_bits';
import { Kernels, MaxPoolResult } from '../../kernels/kernels';
import { Conv2dOptions, Pool2dOptions } from '../../kernels/geometry';
import * as reference from '../../kernels/cpu/reference';
import { CpuKernels } from '../../kernels/cpu/fast';
import { WasmKernels } from '../../kernels/wasm';
import { checked } from '../../kernels/checked';
import { BACKEND_NAMES, createKernels, isBackendName } from '../../kernels/select';
import { Tensor, shapeToString } from '../../tensor/tensor';
import { Rng, randNormal, randUniform } from '../../tensor/random';

// ---------------------------------------------------------------------------------------------
// The backends. A name listed in BACKENDS runs the variants given there; any other name that
// kernels/select.ts knows ('reference', 'gpu.js:webasm', 'gpu.js:headlessgl', 'gpu.js:cpu') is
// created by createKernels. Its factory may throw (gpu.js missing, no GPU, a silent fallback to
// another mode): the suite then fails for it, it is not skipped. Variants that need their own
// options (as the cpu backend's thread counts) are appended to BACKENDS, behind the argument
// checks (kernels/checked.ts) as createKernels puts every backend.

interface Backend {
  label: string;
  create: () => Kernels | Promise<Kernels>;
}

const BACKENDS: Record<string, Backend[]> = {
  cpu: [
    // minParallelFlops 0: every convolution of this suite, however small, goes through the workers.
    { label: 'cpu (2 threads, all convolutions on the worker pool)', create: () => checked(new CpuKernels({ threads: 2, minParallelFlops: 0 }), reference.referenceKernels) },
    { label: 'cpu (1 thread)', create: () => checked(new CpuKernels({ threads: 1 }), reference.referenceKernels) },
  ],
  // Both GEMM micro-kernels, each with 1 thread and with 2 (every convolution on the workers).
  wasm: [
    { label: 'wasm (simd, 2 threads, all convolutions on the workers)', create: () => checked(new WasmKernels({ threads: 2, microKernel: 'simd', minParallelFlops: 0 }), reference.referenceKernels) },
    { label: 'wasm (simd, 1 thread)', create: () => checked(new WasmKernels({ threads: 1, microKernel: 'simd' }), reference.referenceKernels) },
    { label: 'wasm (relaxed, 2 threads, all convolutions on the workers)', create: () => checked(new WasmKernels({ threads: 2, microKernel: 'relaxed', minParallelFlops: 0 }), reference.referenceKernels) },
    { label: 'wasm (relaxed, 1 thread)', create: () => checked(new WasmKernels({ threads: 1, microKernel: 'relaxed' }), reference.referenceKernels) },
  ],
};

const DEFAULT_BACKENDS = 'wasm,cpu';

function requestedBackends(): string[] {
  return (process.env.SSD_TEST_BACKENDS ?? DEFAULT_BACKENDS)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

// ---------------------------------------------------------------------------------------------
// Comparison helpers

function maxAbs(t: Tensor | Int32Array): number {
  const data = t instanceof Tensor ? t.data : t;
  let m = 0;
  for (let i = 0; i < data.length; i++) m = Math.max(m, Math.abs(data[i]));
  return m;
}

/** The comparison described at the top: K terms per output, float32 sums in any order. */
function expectMatches(actual: Tensor, expected: Tensor, terms: number, what: string): void {
  expect(actual.shape, `${what}: shape`).to.deep.equal(expected.shape);
  expect(actual.dtype, `${what}: dtype`).to.equal(expected.dtype);
  const tolerance = 4 * 2 ** -24 * Math.sqrt(terms) * maxAbs(expected);
  let worst = 0;
  let worstIndex = -1;
  for (let i = 0; i < expected.size; i++) {
    const error = Math.abs(actual.data[i] - expected.data[i]);
    if (Number.isNaN(error)) throw new Error(`${what}: element ${i} is ${actual.data[i]}, reference ${expected.data[i]}`);
    if (error > worst) {
      worst = error;
      worstIndex = i;
    }
  }
  if (!(worst <= tolerance)) {
    throw new Error(
      `${what}: element ${worstIndex} is ${actual.data[worstIndex]}, reference ${expected.data[worstIndex]}: ` +
        `error ${worst} > tolerance ${tolerance} (${terms} terms per output, max |reference| ${maxAbs(expected)})`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// The cases

interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  options: Conv2dOptions;
  bias?: boolean; // default true
}

const CONV_CASES: ConvCase[] = [
  { name: '1x1 (conv7-, conv8_1-like), batch 2', x: [2, 7, 5, 6], w: [9, 7, 1, 1], options: {} },
  { name: '3x3 pad 1, odd sizes (conv1-5-like)', x: [1, 5, 9, 7], w: [6, 5, 3, 3], options: { padding: 1 } },
  { name: '3x3 stride 2 pad 1, odd input (conv8_2-like)', x: [1, 6, 11, 11], w: [7, 6, 3, 3], options: { stride: 2, padding: 1 } },
  { name: '3x3 stride 2 pad 1, even input, batch 2 (conv9_2-like)', x: [2, 4, 10, 8], w: [5, 4, 3, 3], options: { stride: 2, padding: 1 } },
  { name: '3x3 valid (conv10_2-, conv11_2-like), batch 2', x: [2, 4, 5, 5], w: [5, 4, 3, 3], options: {} },
  { name: '3x3 dilation 6 pad 6 (conv6-like)', x: [1, 8, 19, 19], w: [10, 8, 3, 3], options: { dilation: 6, padding: 6 } },
  { name: '1030 input channels (more than 1024), 3x3 pad 1', x: [1, 1030, 4, 5], w: [8, 1030, 3, 3], options: { padding: 1 } },
  { name: 'many tiles, none of M, N, K a multiple of the tile, batch 2, no bias', x: [2, 13, 23, 21], w: [41, 13, 3, 3], options: { padding: 1 }, bias: false },
  { name: '3x5 kernel, stride (2, 1), padding (1, 2), dilation (1, 2)', x: [1, 3, 12, 13], w: [4, 3, 3, 5], options: { stride: [2, 1], padding: [1, 2], dilation: [1, 2] } },
  { name: 'more output channels than one block (300 > 252 rows), 2 blocks of K in backward', x: [1, 4, 6, 5], w: [300, 4, 3, 3], options: { padding: 1 } },
  { name: '1x1 stride 2 (a 1x1 that still needs im2col)', x: [1, 5, 7, 9], w: [6, 5, 1, 1], options: { stride: 2 } },
  { name: 'a 3x3 input to a 3x3 valid kernel: one output (conv11_2-like)', x: [2, 9, 3, 3], w: [7, 9, 3, 3], options: {} },
  // The real sizes of the first layers, batch 2: each weight and bias gradient sums
  // N x H x W = 180,000 positions. (Small test tensors once hid a limit of 65,535 loop iterations
  // per shader in Mesa's llvmpipe, which cut these sums short on gpu.js:headlessgl.)
  { name: 'conv1_1 at its real size: 300x300, batch 2', x: [2, 3, 300, 300], w: [4, 3, 3, 3], options: { padding: 1 } },
  { name: 'conv1_2 at its real size (fewer channels): 300x300, batch 2', x: [2, 4, 300, 300], w: [4, 4, 3, 3], options: { padding: 1 } },
];

interface PoolCase {
  name: string;
  x: number[];
  options: Pool2dOptions;
}

const POOL_CASES: PoolCase[] = [
  { name: '2x2 stride 2 (pool1-4), batch 2', x: [2, 3, 8, 6], options: { kernelSize: 2, stride: 2 } },
  { name: '2x2 stride 2, odd input, floor mode', x: [1, 2, 7, 9], options: { kernelSize: 2, stride: 2 } },
  { name: '2x2 stride 2 ceil mode (pool3: 75 -> 38)', x: [1, 2, 75, 75], options: { kernelSize: 2, stride: 2, ceilMode: true } },
  { name: '2x2 stride 2 ceil mode, odd and even sides, batch 2', x: [2, 3, 9, 8], options: { kernelSize: 2, stride: 2, ceilMode: true } },
  { name: '3x3 stride 1 pad 1 (pool5: overlapping windows)', x: [2, 3, 7, 6], options: { kernelSize: 3, stride: 1, padding: 1 } },
];

function convInputs(c: ConvCase, seed: number): { x: Tensor; w: Tensor; b: Tensor | null; dy: Tensor; yShape: number[] } {
  const rng = new Rng(seed);
  const x = randNormal(c.x, rng);
  const w = randNormal(c.w, rng, 0, 1 / Math.sqrt(c.w[1] * c.w[2] * c.w[3]));
  const b = c.bias === false ? null : randNormal([c.w[0]], rng);
  const y = reference.conv2dForward(x, w, b, c.options);
  const dy = randNormal(y.shape, rng);
  return { x, w, b, dy, yShape: [...y.shape] };
}

/** A tensor of random normals with a few exact zeros (ReLU's and L2 norm's edge case). */
function withZeros(shape: number[], rng: Rng): Tensor {
  const t = randNormal(shape, rng);
  for (let i = 0; i < t.size; i += 7) t.data[i] = 0;
  return t;
}

// One input of more than 2^24 elements (float32 stops counting integers exactly at 2^24, so
// index arithmetic done in float32, as on some GPUs, goes wrong beyond it). Made once, shared by
// the backends; uniform values are cheaper to draw than normals.
const HUGE_SHAPE = [1, 4, 2100, 2100]; // 17 640 000 elements > 2^24 = 16 777 216
let huge: { x: Tensor; relu: Tensor; pool: MaxPoolResult } | null = null;
function hugeInput(): NonNullable<typeof huge> {
  if (huge === null) {
    const x = randUniform(HUGE_SHAPE, new Rng(24), -1, 1);
    huge = { x, relu: reference.reluForward(x), pool: reference.maxPool2dForward(x, { kernelSize: 2, stride: 2 }) };
  }
  return huge;
}

// ---------------------------------------------------------------------------------------------

function variantsOf(name: string): Backend[] | undefined {
  if (BACKENDS[name] !== undefined) return BACKENDS[name];
  if (isBackendName(name)) return [{ label: name, create: () => createKernels(name) }];
  return undefined;
}

for (const name of requestedBackends()) {
  const variants = variantsOf(name);
  if (variants === undefined) {
    describe(`kernels backend '${name}'`, () => {
      it('is available', () => {
        const known = [...new Set([...Object.keys(BACKENDS), ...BACKEND_NAMES])].join(', ');
        throw new Error(`SSD_TEST_BACKENDS names '${name}', which is not a known backend (known: ${known})`);
      });
    });
    continue;
  }
  for (const backend of variants) describeBackend(backend);
}

function describeBackend(backend: Backend): void {
  describe(`kernels backend: ${backend.label}, against the reference`, function () {
    let k: Kernels;
    before(async () => {
      k = await backend.create(); // a throw here fails every test below: an unavailable backend fails
    });
    after(async () => {
      await k?.dispose();
    });

    describe('conv2d', () => {
      CONV_CASES.forEach((c, i) => {
        it(`${c.name}: x ${shapeToString(c.x)}, w ${shapeToString(c.w)}: y, dx, dw, db`, async () => {
          const { x, w, b, dy } = convInputs(c, 100 + i);
          const [cout, cin, kh, kw] = c.w;
          const positions = dy.shape[0] * dy.shape[2] * dy.shape[3]; // outputs per channel, over the batch
          // forward: each y is a sum of C_in * kH * kW products (+ bias)
          expectMatches(await k.conv2dForward(x, w, b, c.options), reference.conv2dForward(x, w, b, c.options), cin * kh * kw + 1, 'y');
          // dx: each input pixel gathers at most C_out * kH * kW products
          expectMatches(await k.conv2dBackwardInput(dy, w, x.shape, c.options), reference.conv2dBackwardInput(dy, w, x.shape, c.options), cout * kh * kw, 'dx');
          // dw: each weight sums one product per output position of every image
          expectMatches(await k.conv2dBackwardWeight(dy, x, w.shape, c.options), reference.conv2dBackwardWeight(dy, x, w.shape, c.options), positions, 'dw');
          expectMatches(await k.conv2dBackwardBias(dy), reference.conv2dBackwardBias(dy), positions, 'db');
          // both at once: the same values
          const both = await k.conv2dBackwardWeightAndBias(dy, x, w.shape, c.options);
          expectMatches(both.dw, reference.conv2dBackwardWeight(dy, x, w.shape, c.options), positions, 'dw (with the bias)');
          expectMatches(both.db, reference.conv2dBackwardBias(dy), positions, 'db (with the weights)');
        });
      });

      it('conv2dForward with relu gives the bits of the reference\'s ReLU of its output without, on every case (a NaN input included)', async () => {
        for (const [i, c] of CONV_CASES.entries()) {
          const { x, w, b } = convInputs(c, 300 + i);
          x.data[0] = NaN; // the ReLU makes 0 of the NaN outputs, fused or not
          const plain = await k.conv2dForward(x, w, b, c.options);
          const fused = await k.conv2dForward(x, w, b, c.options, true);
          expectSameTensor(fused, reference.reluForward(plain), `${c.name}: y with the ReLU fused`);
          k.release(plain);
          k.release(fused);
        }
      });

      it('two convolutions started together (not awaited in turn) give the right results', async () => {
        const a = convInputs(CONV_CASES[7], 1);
        const b = convInputs(CONV_CASES[2], 2);
        const [ya, yb] = await Promise.all([
          k.conv2dForward(a.x, a.w, a.b, CONV_CASES[7].options),
          k.conv2dForward(b.x, b.w, b.b, CONV_CASES[2].options),
        ]);
        expectMatches(ya, reference.conv2dForward(a.x, a.w, a.b, CONV_CASES[7].options), 13 * 9 + 1, 'first y');
        expectMatches(yb, reference.conv2dForward(b.x, b.w, b.b, CONV_CASES[2].options), 6 * 9 + 1, 'second y');
      });

      it('float64 inputs (gradient checks) give float64 results equal to the reference', async () => {
        const c = CONV_CASES[3];
        const { x, w, b, dy } = convInputs(c, 7);
        const [x64, w64, b64, dy64] = [x, w, b!, dy].map((t) => t.clone('float64'));
        const y = await k.conv2dForward(x64, w64, b64, c.options);
        expect(y.dtype).to.equal('float64');
        expectMatches(y, reference.conv2dForward(x64, w64, b64, c.options), 1, 'y (float64)');
        expectMatches(await k.conv2dBackwardInput(dy64, w64, x.shape, c.options), reference.conv2dBackwardInput(dy64, w64, x.shape, c.options), 1, 'dx (float64)');
        expectMatches(await k.conv2dBackwardWeight(dy64, x64, w.shape, c.options), reference.conv2dBackwardWeight(dy64, x64, w.shape, c.options), 1, 'dw (float64)');
      });

      it('shape errors name both shapes, as the reference does', async () => {
        const { x, w, dy } = convInputs(CONV_CASES[1], 3);
        const wrongBias = randNormal([5], new Rng(0));
        await expectRejection(k.conv2dForward(x, w, wrongBias, { padding: 1 }), /bias: expected shape \(6\), got \(5\)/);
        await expectRejection(k.conv2dBackwardInput(dy, w, [1, 5, 9, 8], { padding: 1 }), /dy: expected shape \(1, 6, 9, 8\), got \(1, 6, 9, 7\)/);
        await expectRejection(k.conv2dForward(x, randNormal([6, 4, 3, 3], new Rng(0)), null, {}), /has 5 channels but weight \(6, 4, 3, 3\) expects 4/);
      });
    });

    describe('max pooling', () => {
      POOL_CASES.forEach((c, i) => {
        it(`${c.name}: x ${shapeToString(c.x)}: y and argmax exactly, dx routed through argmax`, async () => {
          const rng = new Rng(200 + i);
          const x = randNormal(c.x, rng);
          const expected = reference.maxPool2dForward(x, c.options);
          const got = await k.maxPool2dForward(x, c.options);
          expectSameTensor(got.y, expected.y, 'y');
          expect(Array.from(got.argmax)).to.deep.equal(Array.from(expected.argmax));
          const dy = randNormal(expected.y.shape, rng);
          // each input receives the gradients of the (overlapping) windows it wins: at most kH * kW
          const [kh, kw] = typeof c.options.kernelSize === 'number' ? [c.options.kernelSize, c.options.kernelSize] : c.options.kernelSize;
          expectMatches(
            await k.maxPool2dBackward(dy, got.argmax, x.shape, c.options),
            reference.maxPool2dBackward(dy, expected.argmax, x.shape, c.options),
            kh * kw,
            'dx',
          );
        });
      });

      it('a NaN wins its window (and propagates), ties go to the first maximum', async () => {
        const x = randNormal([1, 1, 4, 4], new Rng(5));
        x.data[0] = Number.NaN; // window (0, 0), first element
        x.data[7] = Number.NaN; // window (0, 1), last element
        x.data[8] = 3; // window (1, 0): a tie between two 3s
        x.data[9] = 3;
        const options = { kernelSize: 2, stride: 2 };
        const expected = reference.maxPool2dForward(x, options);
        const got = await k.maxPool2dForward(x, options);
        expectSameTensor(got.y, expected.y, 'y');
        expect(Array.from(got.argmax)).to.deep.equal(Array.from(expected.argmax));
      });

      it('2x2 windows four at a time (wide rows): NaNs and ties in every position of the window, ceil mode edges', async () => {
        // rows of 2 x 11 + 1 inputs: 8 windows in fours, 3 one at a time, and the ceil mode's cut one
        const x = randNormal([2, 3, 9, 23], new Rng(6));
        for (let i = 0; i < x.size; i += 5) x.data[i] = Number.NaN;
        for (let i = 2; i < x.size; i += 7) x.data[i] = 1; // ties between 1s
        for (let i = 3; i < x.size; i += 11) x.data[i] = 1;
        for (const ceilMode of [false, true]) {
          const options = { kernelSize: 2, stride: 2, ceilMode };
          const expected = reference.maxPool2dForward(x, options);
          const got = await k.maxPool2dForward(x, options);
          expectSameTensor(got.y, expected.y, 'y');
          expect(Array.from(got.argmax)).to.deep.equal(Array.from(expected.argmax));
        }
      });
    });

    describe('L2 normalization', () => {
      for (const shape of [[2, 6, 5, 7], [1, 1030, 3, 4]]) {
        it(`x ${shapeToString(shape)} with all-zero positions: y, norm, dx, dscale`, async () => {
          const rng = new Rng(300 + shape[1]);
          const x = withZeros(shape, rng);
          for (let c = 0; c < shape[1]; c++) x.data[c * shape[2] * shape[3]] = 0; // position (0, 0) of image 0: all zero
          const scale = randNormal([shape[1]], rng, 20, 1);
          const expected = reference.l2NormForward(x, scale, 1e-10);
          const got = await k.l2NormForward(x, scale, 1e-10);
          // norm sums C squares; y = scale * x / norm adds one division
          expectMatches(got.norm, expected.norm, shape[1], 'norm');
          expectMatches(got.y, expected.y, shape[1] + 2, 'y');
          const dy = randNormal(shape, rng);
          const want = reference.l2NormBackward(dy, x, scale, expected.norm);
          const grads = await k.l2NormBackward(dy, x, scale, expected.norm);
          // dx: a sum over C channels; dscale: a sum over every image and position
          expectMatches(grads.dx, want.dx, shape[1] + 4, 'dx');
          expectMatches(grads.dscale, want.dscale, shape[0] * shape[2] * shape[3], 'dscale');
          for (const v of grads.dx.data) expect(Number.isFinite(v), 'dx is finite at all-zero positions').to.equal(true);
        });
      }
    });

    describe('batch norm', () => {
      // Shapes of the models' maps (odd planes, whose last floats take the tail loops; a 1x1 map at
      // batch 2; a real 300x300 layer), and values whose mean is large next to their spread.
      const cases: { shape: number[]; offset: number; spread: number }[] = [
        { shape: [2, 3, 5, 7], offset: 0, spread: 1 },
        { shape: [2, 8, 38, 38], offset: 3, spread: 2 },
        { shape: [3, 16, 19, 19], offset: 0.5, spread: 0.3 },
        { shape: [2, 5, 1, 1], offset: -1, spread: 1 },
        { shape: [2, 4, 300, 300], offset: 0, spread: 1 },
        { shape: [4, 6, 10, 10], offset: 100, spread: 0.1 },
      ];
      for (const { shape, offset, spread } of cases) {
        it(`x ${shapeToString(shape)}, values ${offset} +- ${spread}: statistics, y, the backward sums, dx`, async () => {
          const rng = new Rng(500 + shape[1] + shape[2]);
          const x = randNormal(shape, rng, offset, spread);
          const channels = shape[1];
          const count = shape[0] * shape[2] * shape[3];
          // statistics: float64 sums of M terms, in another order (and one pass against two)
          const want = reference.batchNormStatistics(x);
          const got = await k.batchNormStatistics(x);
          for (let c = 0; c < channels; c++) {
            expect(Math.abs(got.mean[c] - want.mean[c]), `mean ${c}`).to.be.at.most(1e-12 * (Math.abs(offset) + spread));
            expect(Math.abs(got.variance[c] - want.variance[c]), `variance ${c}`).to.be.at.most(1e-9 * want.variance[c]);
          }
          const perChannel = (seed: number): Float64Array => Float64Array.from(randNormal([channels], new Rng(seed)).data);
          const invStd = want.variance.map((v) => 1 / Math.sqrt(v + 1e-5));
          const affine = { mean: want.mean, scale: invStd.map((v, c) => v * (1 + 0.1 * c)), shift: perChannel(1) };
          const y = await k.batchNormForward(x, affine);
          expectMatches(y, reference.batchNormForward(x, affine), 4, 'y');
          // backward: the two sums in float64, then an affine map of dy and x - mean
          const dy = randNormal(shape, rng);
          const wantSums = reference.batchNormBackwardSums(dy, x, want.mean);
          const sums = await k.batchNormBackwardSums(dy, x, want.mean);
          for (let c = 0; c < channels; c++) {
            expect(Math.abs(sums.sumDy[c] - wantSums.sumDy[c]), `sum(dy) ${c}`).to.be.at.most(1e-12 * count);
            expect(Math.abs(sums.sumDyCentered[c] - wantSums.sumDyCentered[c]), `sum(dy (x - mean)) ${c}`).to.be.at.most(1e-12 * count * spread);
          }
          const gradient = { mean: want.mean, dyScale: invStd, xScale: perChannel(2).map((v, c) => v * invStd[c] * invStd[c]), shift: perChannel(3) };
          expectMatches(await k.batchNormBackwardInput(dy, x, gradient), reference.batchNormBackwardInput(dy, x, gradient), 8, 'dx');
        });
      }
    });

    describe('ReLU', () => {
      it('forward and backward on (2, 3, 5, 7) with exact zeros: identical to the reference', async () => {
        const rng = new Rng(400);
        const x = withZeros([2, 3, 5, 7], rng);
        const y = await k.reluForward(x);
        expectSameTensor(y, reference.reluForward(x), 'y');
        const dy = randNormal(x.shape, rng);
        expectSameTensor(await k.reluBackward(dy, y), reference.reluBackward(dy, reference.reluForward(x)), 'dx');
      });
    });

    describe(`a tensor of more than 2^24 elements, ${shapeToString(HUGE_SHAPE)}`, () => {
      it('ReLU forward and backward', async () => {
        const { x, relu } = hugeInput();
        const y = await k.reluForward(x);
        expectSameTensor(y, relu, 'relu y');
        // y doubles as dy: dx = y where y > 0, else 0, which is y itself
        expectSameTensor(await k.reluBackward(y, y), relu, 'relu dx');
      });

      it('2x2 max pooling: y and argmax, then dx', async () => {
        const { x, pool } = hugeInput();
        const options = { kernelSize: 2, stride: 2 };
        const got = await k.maxPool2dForward(x, options);
        expectSameTensor(got.y, pool.y, 'pool y');
        expect(maxAbs(diffInt(got.argmax, pool.argmax)), 'argmax differs').to.equal(0);
        const dx = await k.maxPool2dBackward(pool.y, got.argmax, x.shape, options);
        // each maximum receives its own value back; everything else is 0. Check the last plane's
        // last window, whose input index lies beyond 2^24.
        const last = pool.y.size - 1;
        const plane = 2100 * 2100;
        const lastInput = (HUGE_SHAPE[1] - 1) * plane + pool.argmax[last];
        expect(lastInput).to.be.greaterThan(2 ** 24);
        expect(dx.data[lastInput]).to.equal(pool.y.data[last]);
        expect(dx.size).to.equal(x.size);
      });
    });
  });
}

function diffInt(a: Int32Array, b: Int32Array): Int32Array {
  expect(a.length).to.equal(b.length);
  const d = new Int32Array(a.length);
  for (let i = 0; i < a.length; i++) d[i] = a[i] - b[i];
  return d;
}

async function expectRejection(promise: Promise<unknown>, message: RegExp): Promise<void> {
  let error: unknown = null;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  expect(error, `expected an error matching ${message}`).to.be.instanceOf(Error);
  expect((error as Error).message).to.match(message);
}
