// The Winograd convolutions of the 'wasm' backend (kernels/wasm/winograd.ts and winograd*.wat) on
// their own, on a bare shared memory: the tile table, the filter transform against G g G^T in
// float64, the plan's tasks, and whole convolutions against the float64 reference
// (kernels/cpu/reference.ts) for every tile size: every stride-1 3x3 geometry of SSD300 at its
// real spatial size with few channels, odd sizes (partial tiles at the right and bottom edges,
// 1x1, 2x2 and 3x3 maps, batch > 1, padding 0, 1 and 2), several K blocks and channel blocks,
// the input gradient through the flipped filter transform, and the weight gradient in the
// Winograd domain (its partial sums over ranges of tiles included). Each runs three ways: the tasks in
// order on one thread; shuffled on one thread in another thread's scratch (any thread may run any
// task, in any order); and on two threads taking tasks from one atomic counter (the main thread
// and a worker started here, as kernels/wasm/threads.ts starts its workers: its job union does
// not hold these jobs yet).
//
// Tolerance: winogradTolerance (winograd.ts states the bound and the measurements behind it):
//   |error| <= c_m * 2^-24 * sqrt(K) * max|expected|,  K the terms behind one output
// with c_m = WINOGRAD_ERROR[m]: K = C_in * 9 for y, C_out * 9 for dx, batch * outH * outW for dW. Every output is checked, so an output no task wrote (y starts as
// NaN) fails; U and the scratch start as NaN too, so a transform that reads what nobody wrote fails.

import { expect } from 'chai';
import { expectSameBits } from '../helpers/same_bits';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { Shape, Tensor, shapeToString } from '../../tensor/tensor';
import { Rng, randNormal } from '../../tensor/random';
import { conv2dGeometry } from '../../kernels/geometry';
import * as reference from '../../kernels/cpu/reference';
import { WasmExports, WasmModules, compileModules, instantiate, pickMicroKernel } from '../../kernels/wasm/runtime';
import {
  FORWARD_TASK_FIELDS, WEIGHT_TASK_FIELDS, WINOGRAD_TILES, WinogradBlocking, WinogradJob, WinogradTile, WinogradWeightBlocking, planWinograd,
  INPUT_TASK_FIELDS, oneRunPlan, planWinogradWeight, recommendedWinogradTile, runWinogradTasks, winogradApplies, winogradFilterJob, winogradForwardJob,
  positionStride, winogradInputJob, winogradTaskFields, winogradTolerance, winogradWeightJob,
} from '../../kernels/wasm/winograd';

/** G of F(m x m, 3 x 3), written out again (winograd-*.wat has it in its header). */
const G: Record<WinogradTile, number[][]> = {
  2: [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],
  4: [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
  6: [
    [1, 0, 0], [-2 / 9, -2 / 9, -2 / 9], [-2 / 9, 2 / 9, -2 / 9], [1 / 90, 1 / 45, 2 / 45], [1 / 90, -1 / 45, 2 / 45],
    [32 / 45, 16 / 45, 8 / 45], [32 / 45, -16 / 45, 8 / 45], [0, 0, 1],
  ],
};

function maxAbs(data: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < data.length; i++) m = Math.max(m, Math.abs(data[i]));
  return m;
}

/** |actual - expected| <= winogradTolerance(m, terms, max|expected|) everywhere (NaN fails). */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, m: WinogradTile, terms: number, what: string): void {
  expect(actual.length, `${what}: length`).to.equal(expected.length);
  const tolerance = winogradTolerance(m, terms, maxAbs(expected));
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    if (!(error <= tolerance)) {
      throw new Error(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}: error ${error} > ${tolerance} (F(${m}x${m}), ${terms} terms)`);
    }
  }
}

type Mode = 'in order, 1 thread' | 'shuffled, 1 thread' | '2 threads';
const MODES: Mode[] = ['in order, 1 thread', 'shuffled, 1 thread', '2 threads'];

/** A worker on the shared memory that runs a job's tasks as thread 1, with the main thread as thread 0. */
const WORKER_SOURCE = `
  const { parentPort, workerData } = require('worker_threads');
  const { instantiate } = require(workerData.runtime);
  const { runWinogradTasks } = require(workerData.winograd);
  const wasm = instantiate(workerData.modules, workerData.memory);
  parentPort.postMessage({ ok: true }); // ready
  parentPort.on('message', ({ job, counter }) => {
    try {
      runWinogradTasks(job, wasm, 1, new Int32Array(counter));
      parentPort.postMessage({ ok: true });
    } catch (error) {
      parentPort.postMessage({ ok: false, error: String(error && error.stack || error) });
    }
  });`;

/** One shared memory, this thread's instances, a bump allocator reset per convolution, and the worker. */
class Arena {
  readonly memory = new WebAssembly.Memory({ initial: 256, maximum: 65536, shared: true });
  readonly modules: WasmModules = compileModules(pickMicroKernel());
  readonly wasm: WasmExports = instantiate(this.modules, this.memory);
  private next = 1024;
  private worker: Worker | null = null;

  reset(): void {
    this.next = 1024;
  }

  /** `floats` floats at a 64-byte aligned address, the memory grown to hold them, filled with `fill`. */
  alloc(floats: number, fill = NaN): number {
    const address = this.next;
    this.next += Math.ceil((4 * floats) / 64) * 64 + 64;
    const pages = Math.ceil(this.next / 65536) - this.memory.buffer.byteLength / 65536;
    if (pages > 0) this.memory.grow(pages);
    this.floats(address, floats).fill(fill);
    return address;
  }

  floats(address: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, address, length);
  }

  place(data: Float32Array): number {
    const address = this.alloc(data.length);
    this.floats(address, data.length).set(data);
    return address;
  }

  async run(job: WinogradJob, mode: Mode, rng: Rng): Promise<void> {
    if (mode === 'in order, 1 thread') {
      runWinogradTasks(job, this.wasm, 0, null);
    } else if (mode === 'shuffled, 1 thread') {
      const fields = winogradTaskFields(job);
      const count = job.tasks.length / fields;
      const order = Array.from({ length: count }, (_, i) => i);
      for (let i = count - 1; i > 0; i--) {
        const j = Math.floor(rng.uniform() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      const tasks = new Int32Array(job.tasks.length);
      order.forEach((t, i) => tasks.set(job.tasks.subarray(t * fields, (t + 1) * fields), i * fields));
      runWinogradTasks({ ...job, tasks }, this.wasm, 1, null); // thread 1's scratch
    } else {
      const worker = await this.startWorker();
      const counter = new Int32Array(new SharedArrayBuffer(4));
      const reply = this.reply(worker);
      worker.postMessage({ job, counter: counter.buffer });
      // Let the worker take the first task before this thread joins in: otherwise this thread
      // could run them all before the worker's message even arrives, and test nothing more.
      const start = Date.now();
      while (Atomics.load(counter, 0) === 0) if (Date.now() - start > 10000) throw new Error('the worker took no task in 10 s');
      runWinogradTasks(job, this.wasm, 0, counter);
      await reply;
    }
  }

  /** The worker's next reply: resolved on { ok: true }, rejected on a failure or a crash. */
  private reply(worker: Worker): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const settle = (error: Error | null): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        if (error === null) resolve();
        else reject(error);
      };
      const onMessage = (r: { ok: boolean; error?: string }): void => settle(r.ok ? null : new Error(`worker: ${r.error}`));
      const onError = (error: Error): void => settle(error);
      worker.on('message', onMessage);
      worker.on('error', onError);
    });
  }

  async dispose(): Promise<void> {
    if (this.worker !== null) await this.worker.terminate();
    this.worker = null;
  }

  private async startWorker(): Promise<Worker> {
    if (this.worker === null) {
      const workerData = {
        modules: this.modules, memory: this.memory,
        runtime: path.join(__dirname, '../../kernels/wasm/runtime.js'), winograd: path.join(__dirname, '../../kernels/wasm/winograd.js'),
      };
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData });
      await this.reply(worker); // instantiated
      this.worker = worker;
    }
    return this.worker;
  }
}

interface Convolution {
  /** x, or for an input gradient dy. */
  x: Tensor;
  /** The weights (C_out x C_in x 3 x 3); for an input gradient those of the convolution whose gradient it is. */
  w: Tensor;
  bias: Tensor | null;
  /** The padding of the convolution run (for an input gradient: 2 - the forward convolution's). */
  padding: number;
  flipped: boolean;
}

/**
 * A whole Winograd convolution on the arena: pad x, the filter transform (uInTasks: made by the
 * forward tasks themselves instead, as the backend does where U is made at the call and the plan
 * has one run of tiles), the shared input transform where the plan has one (ownV: each task makes
 * its own instead), the tasks; y copied out.
 */
async function winogradConv(
  arena: Arena, c: Convolution, m: WinogradTile, mode: Mode, rng: Rng, blocking?: WinogradBlocking, ownV = false, uInTasks = false, oneRun = false,
): Promise<Float32Array> {
  const wShape: Shape = c.flipped ? [c.w.shape[1], c.w.shape[0], 3, 3] : c.w.shape;
  const g = conv2dGeometry(c.x.shape, wShape, { padding: c.padding });
  const plan = planWinograd(g, m, mode === '2 threads' ? 2 : 1, blocking, oneRun);
  arena.reset();
  const x = arena.place(c.x.data as Float32Array);
  const w = arena.place(c.w.data as Float32Array);
  const bias = c.bias === null ? 0 : arena.place(c.bias.data as Float32Array);
  const padded = arena.alloc(plan.paddedFloats);
  const u = arena.alloc(plan.uFloats);
  const ySize = g.batch * g.outChannels * g.outH * g.outW;
  const y = arena.alloc(ySize);
  const scratch = arena.alloc((2 * plan.scratchBytes) / 4);
  arena.wasm.pad_planes(x, padded, g.batch * g.inChannels, g.inH, g.inW, g.padH, g.padW, plan.paddedH, plan.paddedW);
  if (!uInTasks) await arena.run(winogradFilterJob(plan, w, c.flipped, u, scratch), mode, rng);
  // as the backend does: V made once where the plan shares it (unless told to make it per task)
  const v = plan.sharedV === null || ownV ? 0 : arena.alloc(plan.sharedV.floats);
  if (v !== 0) await arena.run(winogradInputJob(plan, padded, v, scratch), mode, rng);
  const makeU = uInTasks ? { w, flipped: c.flipped } : null;
  await arena.run(winogradForwardJob(plan, padded, u, bias, y, scratch, false, v, makeU), mode, rng);
  return Float32Array.from(arena.floats(y, ySize));
}

/**
 * A whole Winograd weight gradient on the arena: pad x and dy, the tasks, the partial sums added
 * up in float32 (as the caller does); dW copied out.
 */
async function winogradWeight(
  arena: Arena, x: Tensor, dy: Tensor, cout: number, padding: number, m: WinogradTile, mode: Mode, rng: Rng, blocking?: WinogradWeightBlocking,
): Promise<Float32Array> {
  const g = conv2dGeometry(x.shape, [cout, x.shape[1], 3, 3], { padding });
  const plan = planWinogradWeight(g, m, mode === '2 threads' ? 2 : 1, blocking);
  arena.reset();
  const xAt = arena.place(x.data as Float32Array);
  const dyAt = arena.place(dy.data as Float32Array);
  const xPadded = arena.alloc(plan.paddedFloats);
  const dyPadded = arena.alloc(plan.dyPaddedFloats);
  const size = cout * g.inChannels * 9;
  const dw = arena.alloc(plan.parts * size);
  const scratch = arena.alloc((2 * plan.scratchBytes) / 4);
  arena.wasm.pad_planes(xAt, xPadded, g.batch * g.inChannels, g.inH, g.inW, g.padH, g.padW, plan.paddedH, plan.paddedW);
  arena.wasm.pad_planes(dyAt, dyPadded, g.batch * g.outChannels, g.outH, g.outW, 0, 0, plan.dyPaddedH, plan.dyPaddedW);
  await arena.run(winogradWeightJob(plan, xPadded, dyPadded, dw, scratch), mode, rng);
  const sum = Float32Array.from(arena.floats(dw, size));
  for (let part = 1; part < plan.parts; part++) {
    const partial = arena.floats(dw + 4 * part * size, size);
    for (let i = 0; i < size; i++) sum[i] += partial[i];
  }
  return sum;
}

/**
 * A convolution cin -> cout on x of xShape, and the input gradient of one cout -> cin (dy of
 * xShape, the other convolution's weights flipped): the two uses of the forward tasks.
 */
function forwardAndGradient(rng: Rng, xShape: Shape, cout: number): Convolution[] {
  const cin = xShape[1];
  const x = randNormal(xShape, rng);
  const w = randNormal([cout, cin, 3, 3], rng, 0, 0.05);
  const b = randNormal([cout], rng);
  const wGradient = randNormal([cin, cout, 3, 3], rng, 0, 0.05);
  const dy = randNormal(xShape, rng);
  return [{ x, w, bias: b, padding: 1, flipped: false }, { x: dy, w: wGradient, bias: null, padding: 1, flipped: true }];
}

describe('kernels/wasm/winograd: the pieces', () => {
  const arena = new Arena();

  it('applies to 3x3 convolutions with stride 1 and dilation 1 only, any padding', () => {
    const geometry = (w: number, options: object) => conv2dGeometry([1, 2, 9, 9], [2, 2, w, w], options);
    expect(winogradApplies(geometry(3, { padding: 0 }))).to.equal(true);
    expect(winogradApplies(geometry(3, { padding: 2 }))).to.equal(true);
    expect(winogradApplies(geometry(3, { stride: 2, padding: 1 }))).to.equal(false);
    expect(winogradApplies(geometry(3, { dilation: 2, padding: 2 }))).to.equal(false);
    expect(winogradApplies(geometry(1, {}))).to.equal(false);
    expect(() => planWinograd(geometry(1, {}), 4, 1)).to.throw(/3x3/);
  });

  it('recommends tile sizes per pass from the measured table: F(6x6) on 300 x 300, F(4x4) to 38 x 38 (19 x 19 from 256 channels), F(2x2) to 10 x 10, the GEMM below', () => {
    const at = (batch: number, cin: number, size: number, padding = 1): ReturnType<typeof conv2dGeometry> =>
      conv2dGeometry([batch, cin, size, size], [16, cin, 3, 3], { padding });
    const forward = [300, 150, 75, 38, 19, 10, 5, 3].map((size) => recommendedWinogradTile(at(1, 64, size), 'forward'));
    expect(forward).to.deep.equal([6, 4, 4, 4, 2, 2, null, null]);
    const wide = [38, 19, 10, 5].map((size) => recommendedWinogradTile(at(1, 256, size), 'forward'));
    expect(wide, '256 input channels and more').to.deep.equal([4, 4, 2, null]);
    const weight = [300, 150, 75, 38, 19, 10, 5].map((size) => recommendedWinogradTile(at(1, 64, size), 'weight'));
    expect(weight).to.deep.equal([6, 6, 4, 4, 4, 2, null]);
    expect(recommendedWinogradTile(at(8, 64, 19), 'forward'), 'a batch of 8 at 19 x 19').to.equal(4);
    expect(recommendedWinogradTile(at(1, 3, 300), 'forward'), 'conv1_1: 3 input channels').to.equal(null);
    expect(recommendedWinogradTile(at(1, 64, 300), 'forward', 2), 'capped').to.equal(2);
    expect(recommendedWinogradTile(conv2dGeometry([1, 64, 19, 19], [16, 64, 3, 3], { padding: 6, dilation: 6 }), 'forward')).to.equal(null);
  });

  for (const m of WINOGRAD_TILES) {
    it(`F(${m}x${m}): the tile table of a run of tiles crossing rows and images, padded to whole panels`, () => {
      // batch 2, 11 x 7 outputs (padding 1 on 11 x 7): tiles ceil(11 / m) x ceil(7 / m)
      const g = conv2dGeometry([2, 3, 11, 7], [5, 3, 3, 3], { padding: 1 });
      const plan = planWinograd(g, m, 1);
      const perImage = plan.tilesH * plan.tilesW;
      const t0 = plan.tilesW - 1; // the last tile of the first row, then on into image 1
      const count = perImage + 2;
      const padded = Math.ceil(count / 8) * 8;
      arena.reset();
      const table = arena.alloc(4 * padded);
      const inImage = 4 * g.inChannels * plan.paddedH * plan.paddedW;
      const outImage = 4 * g.outChannels * g.outH * g.outW;
      arena.wasm.winograd_tiles(table, t0, count, padded, m, plan.tilesW, perImage, inImage, 4 * plan.paddedW, outImage, 4 * g.outW, g.outH, g.outW);
      const ints = new Int32Array(arena.memory.buffer, table, 4 * padded);
      for (let j = 0; j < padded; j++) {
        const t = t0 + Math.min(j, count - 1);
        const n = Math.floor(t / perImage);
        const oy = Math.floor((t % perImage) / plan.tilesW) * m;
        const ox = ((t % perImage) % plan.tilesW) * m;
        const entry = Array.from(ints.subarray(4 * j, 4 * j + 4));
        const input = n * inImage + 4 * (oy * plan.paddedW + ox);
        if (j < count) {
          const inside = [Math.min(m, g.outH - oy), Math.min(m, g.outW - ox)];
          expect(entry, `tile ${j}`).to.deep.equal([input, n * outImage + 4 * (oy * g.outW + ox), ...inside]);
        } else {
          expect(entry, `padding entry ${j}: the last tile's input, nothing stored`).to.deep.equal([input, 0, 0, 0]);
        }
      }
    });

    it(`F(${m}x${m}): the filter transform is G g G^T (float64) in the GEMM's packed A layout, as is and flipped`, async () => {
      // 7 output channels (a partial last panel, zero-padded), 10 input channels in K blocks of 4
      const rng = new Rng(40 + m);
      const [cout, cin] = [7, 10];
      const w = randNormal([cout, cin, 3, 3], rng);
      const blocking: WinogradBlocking = { tiles: 8, outChannels: 8, depth: 4 };
      for (const flipped of [false, true]) {
        // flipped: w is the other convolution's, whose output channels are this one's inputs
        const [rows, depth] = flipped ? [cin, cout] : [cout, cin];
        const g = conv2dGeometry([1, depth, 5, 5], [rows, depth, 3, 3], { padding: 1 });
        const plan = planWinograd(g, m, 2, blocking);
        arena.reset();
        const wAt = arena.place(w.data as Float32Array);
        const u = arena.alloc(plan.uFloats);
        const scratch = arena.alloc((2 * plan.scratchBytes) / 4);
        await arena.run(winogradFilterJob(plan, wAt, flipped, u, scratch), 'shuffled, 1 thread', rng);
        const U = arena.floats(u, plan.uFloats);
        const rowsPadded = Math.ceil(rows / 4) * 4;
        const alpha = m + 2;
        for (let co = 0; co < rowsPadded; co++) {
          for (let k = 0; k < depth; k++) {
            // g of (co, k), and G g G^T in float64
            const tap = (t: number): number => (co >= rows ? 0 : flipped ? w.data[(k * cin + co) * 9 + 8 - t] : w.data[(co * cin + k) * 9 + t]);
            const k0 = Math.floor(k / blocking.depth) * blocking.depth;
            const kc = Math.min(blocking.depth, depth - k0);
            const at = rowsPadded * k0 + Math.floor(co / 4) * 4 * kc + (k - k0) * 4 + (co % 4);
            for (let xi = 0; xi < alpha; xi++) {
              for (let nu = 0; nu < alpha; nu++) {
                let expected = 0;
                for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) expected += G[m][xi][a] * tap(3 * a + b) * G[m][nu][b];
                const actual = U[(xi * alpha + nu) * (plan.uFloats / (alpha * alpha)) + at];
                const tolerance = 8 * 2 ** -24 * (maxAbs(Array.from({ length: 9 }, (_, t) => tap(t))) + Math.abs(expected));
                if (!(Math.abs(actual - expected) <= tolerance)) {
                  throw new Error(`U (flipped ${flipped}) at co ${co}, k ${k}, (${xi}, ${nu}): ${actual}, expected ${expected}`);
                }
              }
            }
          }
        }
      }
    });
  }

  it('the forward tasks cover every (tile, output channel) once, in whole panels but for the ends', () => {
    for (const [shape, cout, threads, m] of [[[3, 5, 19, 19], 40, 2, 4], [[1, 8, 75, 75], 256, 2, 2], [[2, 8, 5, 5], 9, 1, 6]] as const) {
      const g = conv2dGeometry([...shape], [cout, shape[1], 3, 3], { padding: 1 });
      const plan = planWinograd(g, m, threads);
      const seen = new Uint8Array(plan.tiles * cout);
      const tasks = plan.forwardTasks;
      for (let i = 0; i < tasks.length; i += FORWARD_TASK_FIELDS) {
        const [t0, t1, co0, co1, vAt] = tasks.subarray(i, i + FORWARD_TASK_FIELDS);
        expect(vAt, 'no shared V here').to.equal(-1);
        expect(t1 - t0).to.be.at.most(plan.blocking.tiles);
        expect(co1 - co0).to.be.at.most(plan.blocking.outChannels);
        expect(t0 % 8, 'runs start on a panel').to.equal(0);
        expect(co0 % 4, 'channel blocks start on a panel').to.equal(0);
        for (let t = t0; t < t1; t++) for (let co = co0; co < co1; co++) seen[t * cout + co]++;
      }
      expect(seen.every((s) => s === 1), `${shapeToString([...shape])} -> ${cout}`).to.equal(true);
      if (threads > 1) expect(tasks.length / FORWARD_TASK_FIELDS).to.be.at.least(2);
    }
  });

  it('V made once (plan.sharedV) where the output channels are cut 4 ways or more: every (run, K block) once, where the forward tasks read it', () => {
    // 512 -> 512 at 19 x 19, F(4x4), 2 threads: one run of 25 tiles, the channels cut 16 ways
    const conv5 = planWinograd(conv2dGeometry([1, 512, 19, 19], [512, 512, 3, 3], { padding: 1 }), 4, 2);
    expect(conv5.sharedV).to.not.equal(null);
    // 256 -> 256 at 75 x 75: two channel blocks, V made per task; 256 -> 256 at 19 x 19 on one
    // thread: two blocks of 128 (at 512 channels, four: shared)
    expect(planWinograd(conv2dGeometry([1, 256, 75, 75], [256, 256, 3, 3], { padding: 1 }), 4, 2).sharedV).to.equal(null);
    expect(planWinograd(conv2dGeometry([1, 256, 19, 19], [256, 256, 3, 3], { padding: 1 }), 4, 1).sharedV).to.equal(null);
    expect(planWinograd(conv2dGeometry([1, 512, 19, 19], [512, 512, 3, 3], { padding: 1 }), 4, 1).sharedV).to.not.equal(null);
    // several runs and a short last K block
    const blocks = planWinograd(conv2dGeometry([2, 40, 7, 9], [128, 40, 3, 3], { padding: 1 }), 2, 2, { tiles: 8, outChannels: 32, depth: 16 });
    for (const plan of [conv5, blocks]) {
      const shared = plan.sharedV;
      if (shared === null) throw new Error('expected a shared V');
      const runStarts = new Map<number, number>(); // first tile -> the run's byte offset
      let end = 0;
      for (let i = 0; i < shared.tasks.length; i += INPUT_TASK_FIELDS) {
        const [t0, t1, k0, at] = shared.tasks.subarray(i, i + INPUT_TASK_FIELDS);
        expect(at, 'the blocks lie one after the other').to.equal(end);
        if (k0 === 0) runStarts.set(t0, at);
        const kc = Math.min(plan.blocking.depth, plan.g.inChannels - k0);
        end += plan.positions * positionStride(4 * kc * Math.ceil((t1 - t0) / 8) * 8);
      }
      expect(4 * shared.floats).to.equal(end);
      const blocksPerRun = Math.ceil(plan.g.inChannels / plan.blocking.depth);
      expect(shared.tasks.length / INPUT_TASK_FIELDS).to.equal(runStarts.size * blocksPerRun);
      const channelBlocks = new Set<number>();
      for (let i = 0; i < plan.forwardTasks.length; i += FORWARD_TASK_FIELDS) {
        const [t0, , co0, , vAt] = plan.forwardTasks.subarray(i, i + FORWARD_TASK_FIELDS);
        expect(vAt, `the run at tile ${t0}`).to.equal(runStarts.get(t0));
        channelBlocks.add(co0);
      }
      expect(channelBlocks.size).to.be.at.least(4);
    }
  });

  it('V made once gives the same bits as V made in every task (forward and input gradient, 2 threads)', async () => {
    const arena = new Arena();
    try {
      const rng = new Rng(31);
      // 40 -> 128 channels and the input gradient of 128 -> 40 (dy of 40 channels, dx of 128)
      const blocking = { tiles: 8, outChannels: 32, depth: 16 };
      for (const c of forwardAndGradient(rng, [2, 40, 7, 9], 128)) {
        for (const m of WINOGRAD_TILES) {
          const g = conv2dGeometry(c.x.shape, [128, 40, 3, 3], { padding: 1 });
          expect(planWinograd(g, m, 2, blocking).sharedV, `F(${m}x${m}): the plan shares V`).to.not.equal(null);
          const shared = await winogradConv(arena, c, m, '2 threads', rng, blocking);
          const own = await winogradConv(arena, c, m, '2 threads', rng, blocking, true);
          expectSameBits(shared, own, `F(${m}x${m}) ${c.flipped ? 'dx' : 'y'} with V made once against V made per task`);
        }
      }
    } finally {
      await arena.dispose();
    }
  });

  it('U made by the forward tasks themselves (one run of tiles) gives the same bits as a filter job first (forward and input gradient, 1 and 2 threads)', async () => {
    const arena = new Arena();
    try {
      const rng = new Rng(37);
      // 98 output channels: blocks of 32 channels and a partial last panel; 40 input channels in
      // K blocks of 16 (a short last block); one 4 x 4 map, a partial tile for F(6x6): one run.
      // And the input gradient of 98 -> 40: dy (40 channels) -> dx (98), flipped weights.
      const blocking = { tiles: 32, outChannels: 32, depth: 16 };
      for (const c of forwardAndGradient(rng, [1, 40, 4, 4], 98)) {
        for (const m of WINOGRAD_TILES) {
          for (const mode of ['2 threads', 'shuffled, 1 thread'] as const) {
            const g = conv2dGeometry(c.x.shape, [98, 40, 3, 3], { padding: 1 });
            const plan = planWinograd(g, m, mode === '2 threads' ? 2 : 1, blocking);
            expect(plan.runs, `F(${m}x${m}): one run of tiles`).to.equal(1);
            expect(plan.forwardTasks.length / FORWARD_TASK_FIELDS, `F(${m}x${m}): several blocks of channels`).to.be.at.least(3);
            const first = await winogradConv(arena, c, m, mode, rng, blocking);
            const inTasks = await winogradConv(arena, c, m, mode, rng, blocking, false, true);
            expectSameBits(inTasks, first, `F(${m}x${m}) ${c.flipped ? 'dx' : 'y'}, ${mode}, U made in the tasks against a filter job first`);
          }
        }
      }
      // a layer of several runs planned as one (oneRun), U made in the tasks: the bits of the
      // several runs with U made by a filter job first
      for (const c of forwardAndGradient(rng, [2, 40, 13, 13], 98)) {
        for (const m of WINOGRAD_TILES) {
          const g = conv2dGeometry(c.x.shape, [98, 40, 3, 3], { padding: 1 });
          const small = { tiles: 8, outChannels: 32, depth: 16 };
          expect(planWinograd(g, m, 2, small).runs, `F(${m}x${m}): several runs`).to.be.above(1);
          const oneRun = planWinograd(g, m, 2, small, true);
          expect([oneRun.runs, oneRun.blocking.tiles], `F(${m}x${m}): one run of every tile`).to.deep.equal([1, Math.ceil(oneRun.tiles / 8) * 8]);
          const runs = await winogradConv(arena, c, m, '2 threads', rng, small);
          const inTasks = await winogradConv(arena, c, m, '2 threads', rng, small, false, true, true);
          expectSameBits(inTasks, runs, `F(${m}x${m}) ${c.flipped ? 'dx' : 'y'}, one run with U made in the tasks against several runs`);
        }
      }
      // with two runs of tiles, two tasks would make the same rows of U: refused
      const twoRuns = planWinograd(conv2dGeometry([2, 40, 9, 9], [98, 40, 3, 3], { padding: 1 }), 2, 2, { tiles: 8, outChannels: 32, depth: 16 });
      expect(twoRuns.runs).to.be.above(1);
      expect(() => winogradForwardJob(twoRuns, 0, 0, 0, 0, 0, false, 0, { w: 0, flipped: false })).to.throw(/one run of tiles/);
    } finally {
      await arena.dispose();
    }
  });

  it('takes one run of tiles, U made in the tasks, on layers of at most 128 tiles whose blocks of channels are more than the threads', () => {
    const layer = (cin: number, cout: number, size: number): ReturnType<typeof conv2dGeometry> =>
      conv2dGeometry([1, cin, size, size], [cout, cin, 3, 3], { padding: 1 });
    expect(oneRunPlan(layer(512, 512, 38), 4, 2)?.runs, 'conv4_x: 100 tiles').to.equal(1);
    expect(oneRunPlan(layer(1024, 126, 19), 4, 2)?.runs, 'cl7: 25 tiles, 3 blocks of channels').to.equal(1);
    expect(oneRunPlan(layer(1024, 126, 19), 4, 4), 'cl7 on 4 threads').to.equal(null);
    expect(oneRunPlan(layer(512, 16, 38), 4, 2), 'loc4_3: one block of 16 channels').to.equal(null);
    expect(oneRunPlan(layer(256, 256, 75), 4, 2), 'conv3_x: 361 tiles').to.equal(null);
  });

  it('the weight-gradient tasks cover every (tile, output channel, input channel) once, in parts where the blocks are few', () => {
    for (const [shape, cout, threads, m, parts] of [[[1, 3, 300, 300], 5, 2, 4, 8], [[2, 200, 10, 10], 72, 2, 2, 1], [[1, 8, 5, 5], 8, 2, 6, 1]] as const) {
      const g = conv2dGeometry([...shape], [cout, shape[1], 3, 3], { padding: 1 });
      const plan = planWinogradWeight(g, m, threads);
      expect(plan.parts, `${shapeToString([...shape])}: parts`).to.equal(parts);
      const seen = new Map<string, number>();
      const tasks = plan.tasks;
      for (let i = 0; i < tasks.length; i += WEIGHT_TASK_FIELDS) {
        const [part, t0, t1, co0, co1, ci0, ci1] = tasks.subarray(i, i + WEIGHT_TASK_FIELDS);
        expect(co0 % 4, 'output channel blocks start on a panel').to.equal(0);
        expect(ci0 % 8, 'input channel blocks start on a panel').to.equal(0);
        for (let co = co0; co < co1; co++) for (let ci = ci0; ci < ci1; ci++) seen.set(`${part} ${co} ${ci}`, (seen.get(`${part} ${co} ${ci}`) ?? 0) + t1 - t0);
      }
      expect(seen.size).to.equal(plan.parts * cout * shape[1]);
      for (let co = 0; co < cout; co++) {
        for (let ci = 0; ci < shape[1]; ci++) {
          let tiles = 0;
          for (let part = 0; part < plan.parts; part++) tiles += seen.get(`${part} ${co} ${ci}`) ?? 0;
          expect(tiles, `(${co}, ${ci}): every tile once`).to.equal(plan.tiles);
        }
      }
    }
  });

  after(() => arena.dispose());
});

// ---------------------------------------------------------------------------------------------
// Whole convolutions against the reference

interface Case {
  name: string;
  x: number[];
  /** C_out: the weights are C_out x C_in x 3 x 3. */
  cout: number;
  padding: number;
  blocking?: WinogradBlocking;
  weightBlocking?: WinogradWeightBlocking;
}

const CASES: Case[] = [
  // every stride-1 3x3 geometry of SSD300, at its real size, with few channels
  { name: 'conv1_x (300x300)', x: [1, 3, 300, 300], cout: 5, padding: 1 },
  { name: 'conv2_x (150x150), batch 2', x: [2, 3, 150, 150], cout: 4, padding: 1 },
  { name: 'conv3_x (75x75), batch 3', x: [3, 5, 75, 75], cout: 9, padding: 1 },
  { name: 'conv4_x (38x38), batch 3, 1 input channel', x: [3, 1, 38, 38], cout: 7, padding: 1 },
  { name: 'conv5_x (19x19), batch 3', x: [3, 13, 19, 19], cout: 11, padding: 1 },
  { name: 'a prediction conv on 10x10, batch 3', x: [3, 6, 10, 10], cout: 5, padding: 1 },
  { name: 'a prediction conv on 5x5, batch 3', x: [3, 7, 5, 5], cout: 6, padding: 1 },
  { name: 'a prediction conv on 3x3, batch 3', x: [3, 5, 3, 3], cout: 3, padding: 1 },
  { name: 'a prediction conv on 1x1, batch 3', x: [3, 5, 1, 1], cout: 3, padding: 1 },
  { name: 'conv10_2 (3x3 valid, 5 -> 3), batch 3', x: [3, 6, 5, 5], cout: 3, padding: 0 },
  { name: 'conv11_2 (3x3 valid, 3 -> 1), batch 3', x: [3, 6, 3, 3], cout: 3, padding: 0 },
  // odd sizes
  { name: 'partial tiles at the right and bottom (7x9), batch 2', x: [2, 3, 7, 9], cout: 5, padding: 1 },
  { name: 'partial tiles, padding 0', x: [2, 3, 7, 9], cout: 5, padding: 0 },
  { name: 'partial tiles, padding 2', x: [2, 3, 7, 9], cout: 5, padding: 2 },
  { name: '13x11, batch 4', x: [4, 3, 13, 11], cout: 6, padding: 1 },
  { name: 'a 2x2 map', x: [1, 2, 2, 2], cout: 1, padding: 1 },
  { name: 'a 1x1 map, padding 2 (3x3 outputs)', x: [2, 3, 1, 1], cout: 2, padding: 2 },
  // K blocks (the last one short), several channel blocks and runs of tiles
  { name: 'blocks of 8 tiles, 8 channels, depth 8: 21 -> 19 channels, 11x10, batch 2', x: [2, 21, 11, 10], cout: 19, padding: 1,
    blocking: { tiles: 8, outChannels: 8, depth: 8 }, weightBlocking: { tiles: 7, outChannels: 8, inChannels: 8 } },
  // V made once for 4 blocks of output channels (2 threads), 5 runs of tiles, a short last K block
  { name: 'V made once: 40 -> 128 channels, 7x9, batch 2', x: [2, 40, 7, 9], cout: 128, padding: 1, blocking: { tiles: 8, outChannels: 32, depth: 16 } },
  // SSD-like channel counts (K = 576, 2304) with the default blocking
  { name: '64 -> 64 channels, 12x12', x: [1, 64, 12, 12], cout: 64, padding: 1 },
  { name: '256 -> 40 channels, 6x6, batch 2', x: [2, 256, 6, 6], cout: 40, padding: 1 },
];

describe('kernels/wasm/winograd: convolutions against the float64 reference', function () {
  this.timeout(300000);
  const arena = new Arena();
  after(() => arena.dispose());

  CASES.forEach((c, index) => {
    it(`${c.name}: x ${shapeToString(c.x)}, ${c.cout} filters, padding ${c.padding}: y, dx and dw, F(2x2) / F(4x4) / F(6x6), ${MODES.join(' / ')}`, async () => {
      const rng = new Rng(900 + index);
      const x = randNormal(c.x, rng);
      const cin = c.x[1];
      const w = randNormal([c.cout, cin, 3, 3], rng, 0, 1 / Math.sqrt(9 * cin));
      const b = randNormal([c.cout], rng);
      const options = { padding: c.padding };
      const y = reference.conv2dForward(x.clone('float64'), w.clone('float64'), b.clone('float64'), options);
      const dy = randNormal(y.shape, rng);
      // dx by the reference's own backward pass; Winograd gets it as the forward convolution of dy
      // with the flipped weights, padded by 2 - padding (index.ts, transposedAsForward)
      const dx = reference.conv2dBackwardInput(dy.clone('float64'), w.clone('float64'), x.shape, options);
      const dw = reference.conv2dBackwardWeight(dy.clone('float64'), x.clone('float64'), w.shape, options);
      const positions = y.shape[0] * y.shape[2] * y.shape[3];
      for (const m of WINOGRAD_TILES) {
        for (const mode of MODES) {
          const label = `F(${m}x${m}), ${mode}`;
          const forward: Convolution = { x, w, bias: b, padding: c.padding, flipped: false };
          expectClose(await winogradConv(arena, forward, m, mode, rng, c.blocking), y.data, m, 9 * cin, `${label}: y`);
          if (c.padding <= 2) {
            const gradient: Convolution = { x: dy, w, bias: null, padding: 2 - c.padding, flipped: true };
            expectClose(await winogradConv(arena, gradient, m, mode, rng, c.blocking), dx.data, m, 9 * c.cout, `${label}: dx`);
          }
          const dwWinograd = await winogradWeight(arena, x, dy, c.cout, c.padding, m, mode, rng, c.weightBlocking);
          expectClose(dwWinograd, dw.data, m, positions, `${label}: dw`);
        }
      }
    });
  });
});
