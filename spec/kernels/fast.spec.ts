// Unit tests of the fast CPU backend's parts: the GEMM against a naive triple loop, im2col and
// col2im against the reference convolution, the implicit-im2col packers against the explicit
// im2col, the task plans, and the worker pool over a long run.
// (The whole backend against the reference kernels is in backends.spec.ts.)

import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as v8 from 'v8';
import * as vm from 'vm';
import { FloatArray, Tensor } from '../../tensor/tensor';
import { Rng, randNormal } from '../../tensor/random';
import { Conv2dOptions, conv2dGeometry } from '../../kernels/geometry';
import * as reference from '../../kernels/cpu/reference';
import { CpuKernels } from '../../kernels/cpu/fast';
import { KC, MC, MR, NC, NR, MatrixView, gemm, packB, roundUp, rowMajor, scratchBytes, transposed } from '../../kernels/cpu/fast/gemm';
import { col2im, col2imAccumulate, im2col, packColumns, packColumnsTransposed } from '../../kernels/cpu/fast/im2col';
import { ConvPass, TASK_FIELDS, planConvTasks } from '../../kernels/cpu/fast/conv';

function randomArray(length: number, rng: Rng): Float32Array {
  const a = new Float32Array(length);
  for (let i = 0; i < length; i++) a[i] = rng.normal();
  return a;
}

/** C = A B by the textbook triple loop, summed in float64 (JavaScript numbers). */
function naiveGemm(M: number, N: number, K: number, a: MatrixView, b: MatrixView): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let sum = 0;
      for (let k = 0; k < K; k++) {
        sum += a.data[a.offset + i * a.rowStride + k * a.colStride] * b.data[b.offset + k * b.rowStride + j * b.colStride];
      }
      c[i * N + j] = sum;
    }
  }
  return c;
}

/**
 * Both sums are float64 and rounded once to float32: they may differ by one float32 rounding
 * (2^-24 relative, 2^-23 to be safe at ties), plus float64 noise (1e-15 of the sum of |terms|)
 * that only shows where terms cancel.
 */
function expectSameSums(actual: FloatArray, expected: ArrayLike<number>, termScale: number, what: string): void {
  for (let i = 0; i < expected.length; i++) {
    const tolerance = 2 ** -23 * Math.abs(expected[i]) + 1e-15 * termScale;
    if (!(Math.abs(actual[i] - expected[i]) <= tolerance)) {
      throw new Error(`${what}[${i}]: got ${actual[i]}, expected ${expected[i]} (tolerance ${tolerance})`);
    }
  }
}

// ---------------------------------------------------------------------------------------------

describe('kernels/cpu/fast: gemm', () => {
  it(`the tile and block sizes are consistent (MR ${MR}, NR ${NR}, KC ${KC}, MC ${MC}, NC ${NC})`, () => {
    expect(MC % MR).to.equal(0);
    expect(NC % NR).to.equal(0);
  });

  // Sizes that are not multiples of the 6 x 8 tile, below and above the 256 blocks.
  const sizes = [1, 3, 7, 65, 257];
  const depths = [1, 7, 300]; // 300 > KC: two K blocks, the second partial
  const rng = new Rng(11);
  for (const M of sizes) {
    for (const N of sizes) {
      it(`M=${M} N=${N}, K in ${depths.join(', ')}: equals the triple loop`, () => {
        for (const K of depths) {
          const a = rowMajor(randomArray(M * K, rng), K);
          const b = rowMajor(randomArray(K * N, rng), N);
          const c = new Float32Array(M * N).fill(Number.NaN); // gemm must overwrite all of it
          gemm(M, N, K, a, b, c);
          expectSameSums(c, naiveGemm(M, N, K, a, b), 5 * K, `C (K=${K})`);
        }
      });
    }
  }

  it('transposed and offset operands (views with other strides), float64 in and out', () => {
    const [M, N, K] = [67, 33, 261];
    const rng64 = new Rng(12);
    const at = new Float64Array(5 + K * M).map(() => rng64.normal()); // A^T stored (K x M), from offset 5
    const bt = new Float64Array(N * K).map(() => rng64.normal()); // B^T stored (N x K)
    const a = transposed(at, M, 5);
    const b = transposed(bt, K);
    const c = new Float64Array(M * N);
    gemm(M, N, K, a, b, c);
    const expected = naiveGemm(M, N, K, a, b);
    for (let i = 0; i < c.length; i++) expect(Math.abs(c[i] - expected[i])).to.be.lessThan(1e-12);
  });
});

// ---------------------------------------------------------------------------------------------

interface Geometry {
  name: string;
  x: number[];
  w: number[];
  options: Conv2dOptions;
}

const GEOMETRIES: Geometry[] = [
  { name: '3x3 pad 1', x: [1, 3, 7, 9], w: [4, 3, 3, 3], options: { padding: 1 } },
  { name: '3x3 stride 2 pad 1, batch 2', x: [2, 2, 9, 8], w: [3, 2, 3, 3], options: { stride: 2, padding: 1 } },
  { name: '3x3 valid', x: [1, 2, 5, 6], w: [3, 2, 3, 3], options: {} },
  { name: '3x3 dilation 6 pad 6', x: [1, 2, 19, 19], w: [3, 2, 3, 3], options: { dilation: 6, padding: 6 } },
  { name: '1x1', x: [1, 5, 4, 6], w: [3, 5, 1, 1], options: {} },
  { name: '2x5 kernel, stride (1, 3), pad (2, 1), dilation (3, 1)', x: [1, 2, 8, 17], w: [3, 2, 2, 5], options: { stride: [1, 3], padding: [2, 1], dilation: [3, 1] } },
  { name: 'rows of 3 outputs, shorter than a panel', x: [1, 3, 5, 5], w: [2, 3, 3, 3], options: {} },
];

describe('kernels/cpu/fast: im2col and col2im against the reference convolution', () => {
  GEOMETRIES.forEach((c, i) => {
    it(`${c.name}: y = W col(x), dx = col2im(W^T dy), dW = dy col(x)^T`, () => {
      const rng = new Rng(500 + i);
      const x = randNormal(c.x, rng);
      const w = randNormal(c.w, rng);
      const g = conv2dGeometry(x.shape, w.shape, c.options);
      const K = g.inChannels * g.kernelH * g.kernelW;
      const P = g.outH * g.outW;
      const Co = g.outChannels;
      const dy = randNormal([g.batch, Co, g.outH, g.outW], rng);
      const yRef = reference.conv2dForward(x, w, null, c.options);
      const dxRef = reference.conv2dBackwardInput(dy, w, x.shape, c.options);
      const dwRef = reference.conv2dBackwardWeight(dy, x, w.shape, c.options);
      const dw = new Float64Array(Co * K);
      for (let n = 0; n < g.batch; n++) {
        const col = rowMajor(im2col(x.data, n, g), P);
        const dyn = rowMajor(dy.data, P, n * Co * P);
        const y = naiveGemm(Co, P, K, rowMajor(w.data, K), col);
        expectSameSums(yRef.data.subarray(n * Co * P, (n + 1) * Co * P), y, 10 * K, `y[${n}]`);
        const dcol = naiveGemm(K, P, Co, transposed(w.data, K), dyn);
        const dx = col2im(dcol, g);
        const plane = g.inChannels * g.inH * g.inW;
        expectSameSums(dxRef.data.subarray(n * plane, (n + 1) * plane), dx, 10 * Co * K, `dx[${n}]`);
        const dwn = naiveGemm(Co, K, P, dyn, transposed(col.data, P));
        for (let e = 0; e < dw.length; e++) dw[e] += dwn[e];
      }
      expectSameSums(dwRef.data, dw, 10 * g.batch * P, 'dw');
    });
  });
});

describe('kernels/cpu/fast: the implicit im2col packers equal packing the explicit matrices', () => {
  GEOMETRIES.forEach((c, i) => {
    it(`${c.name}: packColumns, packColumnsTransposed and col2imAccumulate, on blocks at odd offsets`, () => {
      const rng = new Rng(600 + i);
      const x = randNormal(c.x, rng);
      const g = conv2dGeometry(x.shape, c.w, c.options);
      const K = g.inChannels * g.kernelH * g.kernelW;
      const P = g.outH * g.outW;
      const n = g.batch - 1;
      const col = im2col(x.data, n, g);
      // Blocks: the whole matrix, and ones starting and ending off the tile and row boundaries.
      const blocks: [number, number, number, number][] = [
        [0, K, 0, P],
        [1, Math.max(1, K - 2), Math.min(P - 1, 3), Math.max(1, P - 5)],
        [K - 1, 1, P - 1, 1],
      ];
      for (const [k0, kc, p0, nc] of blocks) {
        const size = kc * roundUp(nc, NR);
        const implicit = new Float64Array(size).fill(Number.NaN);
        const explicit = new Float64Array(size).fill(Number.NaN);
        packColumns(x.data, n, g, k0, kc, p0, nc, implicit);
        packB(rowMajor(col, P), k0, kc, p0, nc, explicit);
        expect(Array.from(implicit), `packColumns k0=${k0} kc=${kc} p0=${p0} nc=${nc}`).to.deep.equal(Array.from(explicit));
        // col^T (P x K): rows are positions [p0, p0 + nc), columns are taps [k0, k0 + kc)
        const sizeT = nc * roundUp(kc, NR);
        const implicitT = new Float64Array(sizeT).fill(Number.NaN);
        const explicitT = new Float64Array(sizeT).fill(Number.NaN);
        packColumnsTransposed(x.data, n, g, p0, nc, k0, kc, implicitT);
        packB(transposed(col, P), p0, nc, k0, kc, explicitT);
        expect(Array.from(implicitT), `packColumnsTransposed p0=${p0} kc=${nc} c0=${k0} nc=${kc}`).to.deep.equal(Array.from(explicitT));
      }
      // col2im, one block at a time (rows cut at channel boundaries, columns anywhere), adds up
      // to col2im of the whole matrix.
      const dcol = randomArray(K * P, rng);
      const whole = col2im(dcol, g);
      const taps = g.kernelH * g.kernelW;
      const pieces = new Float64Array(whole.length);
      const plane = g.inH * g.inW;
      for (let ci = 0; ci < g.inChannels; ci++) {
        const target = pieces.subarray(ci * plane, (ci + 1) * plane);
        for (let p0 = 0; p0 < P; p0 += 5) {
          col2imAccumulate(dcol, ci * taps * P + p0, P, g, ci * taps, taps, p0, Math.min(5, P - p0), target);
        }
      }
      for (let e = 0; e < whole.length; e++) expect(Math.abs(pieces[e] - whole[e])).to.be.lessThan(1e-12);
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('kernels/cpu/fast: task plans', () => {
  const passes: ConvPass[] = ['forward', 'backwardInput', 'backwardWeight'];
  const layers: [string, number[], number[], Conv2dOptions][] = [
    ['conv3_1', [1, 256, 75, 75], [256, 256, 3, 3], { padding: 1 }],
    ['conv6', [2, 512, 19, 19], [1024, 512, 3, 3], { padding: 6, dilation: 6 }],
    ['conv11_2', [3, 128, 3, 3], [256, 128, 3, 3], {}],
    ['tiny', [1, 1, 1, 1], [1, 1, 1, 1], {}],
  ];
  for (const [name, xs, ws, options] of layers) {
    it(`${name}: every output element belongs to exactly one task, for 1, 2 and 16 threads`, () => {
      const g = conv2dGeometry(xs, ws, options);
      const K = g.inChannels * g.kernelH * g.kernelW;
      const P = g.outH * g.outW;
      for (const threads of [1, 2, 16]) {
        for (const pass of passes) {
          const tasks = planConvTasks(pass, g, threads);
          expect(tasks.length % TASK_FIELDS).to.equal(0);
          const size = pass === 'forward' ? g.batch * g.outChannels * P : pass === 'backwardInput' ? g.batch * g.inChannels : g.outChannels * K;
          const owners = new Uint8Array(size);
          for (let t = 0; t < tasks.length; t += TASK_FIELDS) {
            const [n, r0, r1, c0, c1] = tasks.subarray(t, t + TASK_FIELDS);
            expect(r1, 'a task has rows').to.be.greaterThan(r0);
            if (pass === 'forward') {
              expect(r0 % MR, 'row blocks start on a tile (the shared packed W is cut in MR panels)').to.equal(0);
              for (let r = r0; r < r1; r++) for (let p = c0; p < c1; p++) owners[(n * g.outChannels + r) * P + p]++;
            } else if (pass === 'backwardInput') {
              for (let ci = r0; ci < r1; ci++) owners[n * g.inChannels + ci]++; // whole channels: col2im stays inside
            } else {
              expect(r0 % MR).to.equal(0);
              for (let r = r0; r < r1; r++) for (let k = c0; k < c1; k++) owners[r * K + k]++;
            }
          }
          expect(owners.every((o) => o === 1), `${pass}, ${threads} threads: each element exactly once`).to.equal(true);
          if (threads > 1 && (name === 'conv3_1' || name === 'conv6')) {
            expect(tasks.length / TASK_FIELDS, `${pass}: enough tasks to share`).to.be.at.least(2 * threads);
          }
        }
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------

/** A garbage collection on demand, even without node --expose-gc (for the memory test). */
function collectGarbageNow(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g !== undefined) return g();
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

/**
 * Collect garbage until the process's memory settles. Native memory left by earlier tests (zlib
 * streams of the PNG tests, for one) is released by finalizers that run after a collection, on
 * later turns of the event loop: one collection alone can leave it counted in `external`.
 */
async function collectGarbage(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    collectGarbageNow();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Threads of this process (Linux), or -1 where /proc is missing. */
function osThreads(): number {
  try {
    return fs.readdirSync('/proc/self/task').length;
  } catch {
    return -1;
  }
}

describe('kernels/cpu/fast: the worker pool', () => {
  it('300 rounds of small convolutions (forward and both backwards through the pool) keep memory and threads flat', async function () {
    this.timeout(60000);
    const k = new CpuKernels({ threads: 2, minParallelFlops: 0 });
    try {
      const rng = new Rng(700);
      const x = randNormal([1, 16, 12, 12], rng);
      const w = randNormal([16, 16, 3, 3], rng);
      const b = randNormal([16], rng);
      const round = async (): Promise<void> => {
        const y = await k.conv2dForward(x, w, b, { padding: 1 });
        await k.conv2dBackwardInput(y, w, x.shape, { padding: 1 });
        await k.conv2dBackwardWeight(y, x, w.shape, { padding: 1 });
      };
      expect(k.workerCount, 'no workers before the first parallel call').to.equal(0);
      for (let i = 0; i < 30; i++) await round(); // warm-up: workers started, buffers grown, code compiled
      await collectGarbage();
      const before = process.memoryUsage();
      const ids = k.workerThreadIds;
      const threadsBefore = osThreads();
      const sharedBefore = k.sharedMemoryBytes;
      const scratchBefore = scratchBytes(); // the main thread's packing buffers
      for (let i = 0; i < 300; i++) await round();
      await collectGarbage();
      const after = process.memoryUsage();
      const MB = 1024 * 1024;
      // Stated bounds: each round allocates ~30 KB of results; 900 calls leaking even 16 KB each
      // would be 14 MB. RSS also moves with the allocator and JIT code, hence its wider bound.
      expect((after.rss - before.rss) / MB, 'rss growth (MB)').to.be.lessThan(24);
      expect((after.arrayBuffers - before.arrayBuffers) / MB, 'arrayBuffers growth (MB)').to.be.lessThan(4);
      expect((after.external - before.external) / MB, 'external growth (MB)').to.be.lessThan(4);
      expect(k.sharedMemoryBytes, 'shared buffers are reused, not regrown').to.equal(sharedBefore);
      expect(scratchBytes(), 'scratch buffers are reused, not regrown').to.equal(scratchBefore);
      expect(k.workerCount).to.equal(1);
      expect(k.workerThreadIds, 'the same workers, none replaced or added').to.deep.equal(ids);
      if (threadsBefore !== -1) expect(osThreads(), 'OS threads of the process').to.equal(threadsBefore);
    } finally {
      await k.dispose();
    }
  });

  for (const threads of [1, 2]) {
    it(`${threads} thread(s), a batch of 3 run one image per job (tiny maxSharedBytes): y, dx, dw as the reference`, async () => {
      const k = new CpuKernels({ threads, minParallelFlops: 0, maxSharedBytes: 1 });
      try {
        const rng = new Rng(710);
        const x = randNormal([3, 5, 9, 8], rng);
        const w = randNormal([7, 5, 3, 3], rng);
        const b = randNormal([7], rng);
        const options = { stride: 2, padding: 1 };
        const dy = randNormal([3, 7, 5, 4], rng);
        const close = (a: Tensor, e: Tensor): void => expectSameSums(a.data, e.data, 1e3, 'result');
        close(await k.conv2dForward(x, w, b, options), reference.conv2dForward(x, w, b, options));
        close(await k.conv2dBackwardInput(dy, w, x.shape, options), reference.conv2dBackwardInput(dy, w, x.shape, options));
        // dW sums over the three jobs: accumulated in float64 across them, rounded once
        close(await k.conv2dBackwardWeight(dy, x, w.shape, options), reference.conv2dBackwardWeight(dy, x, w.shape, options));
      } finally {
        await k.dispose();
      }
    });
  }

  it('dispose() stops the workers; the kernels refuse convolutions afterwards', async () => {
    const k = new CpuKernels({ threads: 3, minParallelFlops: 0 });
    const x = randNormal([1, 4, 6, 6], new Rng(1));
    const w = randNormal([4, 4, 3, 3], new Rng(2));
    await k.conv2dForward(x, w, null, { padding: 1 });
    expect(k.workerCount).to.equal(2);
    await k.dispose();
    expect(k.workerCount).to.equal(0);
    let error: unknown = null;
    await k.conv2dForward(x, w, null, { padding: 1 }).catch((e) => (error = e));
    expect(String(error)).to.match(/after dispose/);
  });

  it('a script that never calls dispose() still exits (idle workers are unref()ed)', function () {
    this.timeout(30000);
    const root = path.join(__dirname, '..', '..'); // dist/
    const script = `
      const { CpuKernels } = require(${JSON.stringify(path.join(root, 'kernels', 'cpu', 'fast'))});
      const { Rng, randNormal } = require(${JSON.stringify(path.join(root, 'tensor', 'random'))});
      const k = new CpuKernels({ threads: 2, minParallelFlops: 0 });
      const x = randNormal([1, 8, 10, 10], new Rng(1)), w = randNormal([8, 8, 3, 3], new Rng(2));
      k.conv2dForward(x, w, null, { padding: 1 }).then((y) => console.log('done', y.shape.join('x'), k.workerCount));`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 });
    expect(run.error, 'the script must exit by itself').to.equal(undefined);
    expect(run.stderr).to.equal('');
    expect(run.stdout.trim()).to.equal('done 1x8x10x10 1');
    expect(run.status).to.equal(0);
  });
});
