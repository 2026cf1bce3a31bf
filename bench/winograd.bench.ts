// Winograd convolutions (kernels/wasm/winograd.ts) against the wasm backend's GEMM convolutions on
// SSD300's stride-1 3x3 layer shapes at batch 1, for each pass: the forward pass, the input
// gradient (a forward Winograd convolution of dy with the flipped weights) and the weight gradient
// (in the Winograd domain). Time per call, GFLOP/s counted as direct convolution (2 C_out C_in 9
// outH outW, the same count for every method and pass), and the error against the float64 reference.
//
//   node dist/bench/winograd.bench.js [--passes forward,input,weight] [--threads 1,2] [--runs 7]
//        [--tiles 2,4,6] [--layers conv3_x,conv4_x] [--no-error] [--error-only] [--reference-channels 8]
//        [--retries 6] [--blocking2 tiles,outChannels,depth] [--blocking4 ...] [--blocking6 ...]
//        [--weight-blocking2 tiles,outChannels,inChannels] [--weight-blocking4 ...] [--weight-blocking6 ...]
//
// GEMM: `new WasmKernels({ threads })`'s public conv2dForward, conv2dBackwardInput and
// conv2dBackwardWeight (its convMethod picks packed or implicit GEMM per layer as in the model).
// Winograd: what index.ts will do per call, on a memory and a worker of this file's own: copy w in
// (the GEMM's call copies w too; x and dy are resident for both, as the neighbouring layers'
// outputs are in the model: made resident here by reluForward), pad x or dy (shared out between
// the threads as index.ts shares out padPlanes), then the jobs: the filter transform and the
// forward job (U made at every call, as in training; with one run of tiles, which layers of at
// most 128 tiles take where oneRunPlan says so, the forward tasks make it themselves), or the weight job
// and the partial sums added up; tasks from one atomic counter,
// the main thread and the worker both taking them.
//
// Method. Per layer, pass and thread count every method runs once untimed, then `runs` rounds,
// each running every method once in a rotating order, so that a change in the machine's load
// hits all of them alike; the table shows medians. `others` is the CPU time other processes used
// meanwhile (from /proc/stat, less this process's), in cores: this machine has 2 cores and is
// shared. When others used more than a sixth of a core, the rounds run again after a pause
// (--retries times at most), and the quietest attempt is shown.
//
// Error: max |result - reference| over a slice of --reference-channels channels (the float64
// reference on all of them would take minutes for the big layers; the error does not depend on
// which channels: output channels of y and dW, input channels of dx), and its ratio to
// 2^-24 sqrt(K) max|reference|, K the terms per output (9 C_in, 9 C_out, outH outW):
// winograd.ts's WINOGRAD_ERROR bounds that ratio. Inputs: x a ReLU's output (random normal, then
// ReLU), w random normal with std 1/sqrt(9 C_in), dy random normal.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { Tensor } from '../tensor/tensor';
import { Rng, randNormal } from '../tensor/random';
import { Conv2dGeometry, conv2dGeometry } from '../kernels/geometry';
import * as reference from '../kernels/cpu/reference';
import { WasmKernels } from '../kernels/wasm';
import { convFlops } from '../kernels/wasm/conv';
import { WasmExports, WasmModules, compileModules, instantiate, pickMicroKernel } from '../kernels/wasm/runtime';
import {
  WINOGRAD_ERROR, WinogradBlocking, WinogradJob, WinogradTile, WinogradWeightBlocking, defaultBlocking, defaultWeightBlocking, oneRunPlan, planWinograd,
  planWinogradWeight, runWinogradTasks, winogradFilterJob, winogradForwardJob, winogradInputJob, winogradWeightJob,
} from '../kernels/wasm/winograd';
import { arg } from './args';

type Pass = 'forward' | 'input' | 'weight';

const PASSES = (arg('passes') ?? 'forward,input,weight').split(',') as Pass[];
const THREADS = (arg('threads') ?? '1,2').split(',').map(Number);
const RUNS = Number(arg('runs') ?? 7);
const TILES = (arg('tiles') ?? '2,4,6').split(',').map(Number) as WinogradTile[];
const REFERENCE_CHANNELS = Number(arg('reference-channels') ?? 8);
const MEASURE_ERROR = !process.argv.includes('--no-error');
const ERROR_ONLY = process.argv.includes('--error-only');
const RETRIES = Number(arg('retries') ?? 6);

function numbers(name: string): number[] | undefined {
  return arg(name)?.split(',').map(Number);
}

/** The forward blocking given on the command line, or undefined: the backend's own (defaultBlocking, which depends on the layer's tiles). */
function blockingFor(m: WinogradTile): WinogradBlocking | undefined {
  const given = numbers(`blocking${m}`);
  return given === undefined ? undefined : { tiles: given[0], outChannels: given[1], depth: given[2] };
}

function weightBlockingFor(m: WinogradTile): WinogradWeightBlocking {
  const given = numbers(`weight-blocking${m}`);
  return given === undefined ? defaultWeightBlocking(m) : { tiles: given[0], outChannels: given[1], inChannels: given[2] };
}

interface Layer {
  name: string;
  cin: number;
  cout: number;
  size: number;
  padding: number;
  /** Images per call (1 unless given): conv6 runs as a batch of 36 sub-sampled maps (kernels/wasm/dilated.ts). */
  batch?: number;
}

/**
 * SSD300's stride-1 3x3 convolutions (batch 1), conv6's 36 sub-sampled maps of 4 x 4 (its dilated
 * 19 x 19 layer as the wasm backend runs it), and the channels / 8 model's conv1_2 and conv3_x.
 */
const LAYERS: Layer[] = [
  { name: 'conv1_2', cin: 64, cout: 64, size: 300, padding: 1 },
  { name: 'conv1_2 /8', cin: 8, cout: 8, size: 300, padding: 1 },
  { name: 'conv2_2', cin: 128, cout: 128, size: 150, padding: 1 },
  { name: 'conv3_x', cin: 256, cout: 256, size: 75, padding: 1 },
  { name: 'conv3_x /8', cin: 32, cout: 32, size: 75, padding: 1 },
  { name: 'conv4_x', cin: 512, cout: 512, size: 38, padding: 1 },
  { name: 'conv5_x', cin: 512, cout: 512, size: 19, padding: 1 },
  { name: 'conv6 maps', cin: 512, cout: 1024, size: 4, padding: 1, batch: 36 },
  { name: 'loc4_3', cin: 512, cout: 16, size: 38, padding: 1 },
  { name: 'cl4_3', cin: 512, cout: 84, size: 38, padding: 1 },
  { name: 'loc7', cin: 1024, cout: 24, size: 19, padding: 1 },
  { name: 'cl7', cin: 1024, cout: 126, size: 19, padding: 1 },
  { name: 'cl8_2', cin: 512, cout: 126, size: 10, padding: 1 },
  { name: 'cl9_2', cin: 256, cout: 126, size: 5, padding: 1 },
  { name: 'cl10_2', cin: 256, cout: 84, size: 3, padding: 1 },
  { name: 'conv10_2', cin: 128, cout: 256, size: 5, padding: 0 },
  { name: 'conv11_2', cin: 128, cout: 256, size: 3, padding: 0 },
];

const wantedLayers = arg('layers')?.split(',');
const layers = wantedLayers === undefined ? LAYERS : LAYERS.filter((l) => wantedLayers.includes(l.name));

// ---------------------------------------------------------------------------------------------
// The machine's load

/** Busy CPU seconds of the whole machine so far (Linux), or null. */
function machineBusy(): number | null {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return (fields.reduce((a, b) => a + b, 0) - fields[3] - (fields[4] ?? 0)) / 100;
  } catch {
    return null;
  }
}

/** Runs `fn` and measures the CPU that other processes used meanwhile, in cores. */
async function withOthers(fn: () => Promise<void>): Promise<number | null> {
  const busy0 = machineBusy();
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = (performance.now() - t0) / 1000;
  const own = process.cpuUsage(own0);
  const busy1 = machineBusy();
  return busy0 === null || busy1 === null ? null : Math.max(0, busy1 - busy0 - (own.user + own.system) / 1e6) / wall;
}

// ---------------------------------------------------------------------------------------------
// Winograd on a memory of its own

const WORKER_SOURCE = `
  const { parentPort, workerData } = require('worker_threads');
  const { instantiate } = require(workerData.runtime);
  const { runWinogradTasks } = require(workerData.winograd);
  const wasm = instantiate(workerData.modules, workerData.memory);
  parentPort.postMessage('ready');
  parentPort.on('message', (m) => {
    if (m.kind === 'pad') for (const args of m.args) wasm.pad_planes(...args);
    else runWinogradTasks(m.job, wasm, 1, new Int32Array(m.counter));
    parentPort.postMessage('done');
  });`;

/** Phase times of one Winograd call, ms. */
interface Phases {
  /** Copying w in (forward, input gradient). */
  copy: number;
  /** Padding x and/or dy. */
  pad: number;
  /** The filter transform (forward, input gradient). */
  filter: number;
  /** The forward or weight job. */
  tasks: number;
  /** Adding the weight gradient's partial sums. */
  sum: number;
  total: number;
}

type PadArgs = Parameters<WasmExports['pad_planes']>;

/** A layer's tensors in the runner's memory. */
interface Placed {
  x: number;
  w: number;
  b: number;
  dy: number;
}

class WinogradRunner {
  readonly memory = new WebAssembly.Memory({ initial: 256, maximum: 65536, shared: true });
  readonly modules: WasmModules = compileModules(pickMicroKernel());
  readonly wasm: WasmExports = instantiate(this.modules, this.memory);
  private worker: Worker | null = null;
  private next = 1024;

  constructor(readonly threads: number) {}

  async start(): Promise<void> {
    if (this.threads < 2) return;
    const workerData = {
      modules: this.modules, memory: this.memory,
      runtime: path.join(__dirname, '../kernels/wasm/runtime.js'), winograd: path.join(__dirname, '../kernels/wasm/winograd.js'),
    };
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData });
    await new Promise((resolve) => worker.once('message', resolve));
    this.worker = worker;
  }

  async dispose(): Promise<void> {
    await this.worker?.terminate();
  }

  private alloc(floats: number): number {
    const address = this.next;
    this.next += Math.ceil((4 * floats) / 64) * 64 + 64;
    const pages = Math.ceil(this.next / 65536) - this.memory.buffer.byteLength / 65536;
    if (pages > 0) this.memory.grow(pages);
    return address;
  }

  floats(address: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, address, length);
  }

  private reply(): Promise<void> {
    const worker = this.worker as Worker;
    return new Promise((resolve) => worker.once('message', () => resolve()));
  }

  private async runJob(job: WinogradJob): Promise<void> {
    if (this.worker === null) return runWinogradTasks(job, this.wasm, 0, null);
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const done = this.reply();
    this.worker.postMessage({ kind: 'job', job, counter: counter.buffer });
    runWinogradTasks(job, this.wasm, 0, counter);
    await done;
  }

  /** pad_planes of these planes, half of each on the worker when there is one. */
  private async pad(jobs: { planes: number; args: (p0: number, p1: number) => PadArgs }[]): Promise<void> {
    if (this.worker === null) {
      for (const j of jobs) this.wasm.pad_planes(...j.args(0, j.planes));
      return;
    }
    const done = this.reply();
    this.worker.postMessage({ kind: 'pad', args: jobs.map((j) => j.args(Math.ceil(j.planes / 2), j.planes)) });
    for (const j of jobs) this.wasm.pad_planes(...j.args(0, Math.ceil(j.planes / 2)));
    await done;
  }

  /** Places a layer's x, w, bias and dy in the memory (x and dy stay: they are resident for the GEMM too). */
  place(x: Tensor, w: Tensor, b: Tensor, dy: Tensor): Placed {
    this.next = 1024;
    const at = { x: this.alloc(x.size), w: this.alloc(w.size), b: this.alloc(b.size), dy: this.alloc(dy.size) };
    this.floats(at.x, x.size).set(x.data);
    this.floats(at.b, b.size).set(b.data);
    this.floats(at.dy, dy.size).set(dy.data);
    return at;
  }

  /** A Winograd call of a pass on the placed layer: it returns its phases' times; the result is at `out`. */
  prepare(pass: Pass, at: Placed, w: Tensor, g: Conv2dGeometry, m: WinogradTile): { call: () => Promise<Phases>; out: number; length: number } {
    const planes = (n: number): number => g.batch * n;
    if (pass === 'weight') {
      const plan = planWinogradWeight(g, m, this.threads, weightBlockingFor(m));
      const xPadded = this.alloc(plan.paddedFloats);
      const dyPadded = this.alloc(plan.dyPaddedFloats);
      const size = g.outChannels * g.inChannels * 9;
      const dw = this.alloc(plan.parts * size);
      const scratch = this.alloc((this.threads * plan.scratchBytes) / 4);
      const job = winogradWeightJob(plan, xPadded, dyPadded, dw, scratch);
      const call = async (): Promise<Phases> => {
        const t0 = performance.now();
        await this.pad([
          { planes: planes(g.inChannels), args: (p0, p1) => [at.x + 4 * p0 * g.inH * g.inW, xPadded + 4 * p0 * plan.paddedH * plan.paddedW, p1 - p0, g.inH, g.inW, g.padH, g.padW, plan.paddedH, plan.paddedW] },
          { planes: planes(g.outChannels), args: (p0, p1) => [at.dy + 4 * p0 * g.outH * g.outW, dyPadded + 4 * p0 * plan.dyPaddedH * plan.dyPaddedW, p1 - p0, g.outH, g.outW, 0, 0, plan.dyPaddedH, plan.dyPaddedW] },
        ]);
        const t1 = performance.now();
        await this.runJob(job);
        const t2 = performance.now();
        const result = this.floats(dw, size);
        for (let part = 1; part < plan.parts; part++) {
          const partial = this.floats(dw + 4 * part * size, size);
          for (let i = 0; i < size; i++) result[i] += partial[i];
        }
        const t3 = performance.now();
        return { copy: 0, pad: t1 - t0, filter: 0, tasks: t2 - t1, sum: t3 - t2, total: t3 - t0 };
      };
      return { call, out: dw, length: size };
    }
    // forward, or the input gradient as the forward convolution of dy with the flipped weights
    const flipped = pass === 'input';
    const gf = flipped
      ? conv2dGeometry([g.batch, g.outChannels, g.outH, g.outW], [g.inChannels, g.outChannels, 3, 3], { padding: 2 - g.padH })
      : g;
    const source = flipped ? at.dy : at.x;
    // as the backend plans a call whose U is made at the call: one run of tiles where oneRunPlan
    // says so (unless a blocking is given)
    const oneRun = blockingFor(m) === undefined ? oneRunPlan(gf, m, this.threads) : null;
    const plan = oneRun ?? planWinograd(gf, m, this.threads, blockingFor(m));
    const padded = this.alloc(plan.paddedFloats);
    const u = this.alloc(plan.uFloats);
    const length = gf.batch * gf.outChannels * gf.outH * gf.outW;
    const y = this.alloc(length);
    const scratch = this.alloc((this.threads * plan.scratchBytes) / 4);
    // U made at every call, as in training: by the forward tasks themselves where the plan has one
    // run of tiles (the filter column then reads 0: its work is in the tasks), as the backend does
    const filterJob = plan.runs === 1 ? null : winogradFilterJob(plan, at.w, flipped, u, scratch);
    const v = plan.sharedV === null ? 0 : this.alloc(plan.sharedV.floats); // V made once, as the backend does
    const inputJob = plan.sharedV === null ? null : winogradInputJob(plan, padded, v, scratch);
    const makeU = filterJob === null ? { w: at.w, flipped } : null;
    const forwardJob = winogradForwardJob(plan, padded, u, flipped ? 0 : at.b, y, scratch, false, v, makeU);
    const call = async (): Promise<Phases> => {
      const t0 = performance.now();
      this.floats(at.w, w.size).set(w.data); // as a call copies w in
      const t1 = performance.now();
      await this.pad([{
        planes: planes(gf.inChannels),
        args: (p0, p1) => [source + 4 * p0 * gf.inH * gf.inW, padded + 4 * p0 * plan.paddedH * plan.paddedW, p1 - p0, gf.inH, gf.inW, gf.padH, gf.padW, plan.paddedH, plan.paddedW],
      }]);
      const t2 = performance.now();
      if (filterJob !== null) await this.runJob(filterJob);
      const t3 = performance.now();
      if (inputJob !== null) await this.runJob(inputJob);
      await this.runJob(forwardJob);
      const t4 = performance.now();
      return { copy: t1 - t0, pad: t2 - t1, filter: t3 - t2, tasks: t4 - t3, sum: 0, total: t4 - t0 };
    };
    return { call, out: y, length };
  }
}

// ---------------------------------------------------------------------------------------------

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** max |actual - reference| and max |reference| over the reference's `channels` planes of `plane` floats (the first of the result's). */
function errorOf(actual: Float32Array, ref: Tensor, channels: number, plane: number): { error: number; maxAbs: number } {
  let error = 0;
  let maxAbs = 0;
  for (let i = 0; i < channels * plane; i++) {
    error = Math.max(error, Math.abs(actual[i] - ref.data[i]));
    maxAbs = Math.max(maxAbs, Math.abs(ref.data[i]));
  }
  return { error, maxAbs };
}

/**
 * The reference of a pass on a slice of channels, its channel count, plane size and terms per
 * output: y and dx of the first image only (the first floats of the result), dW of every image.
 */
function referenceSlice(pass: Pass, xAll: Tensor, w: Tensor, b: Tensor, dyAll: Tensor, g: Conv2dGeometry): { ref: Tensor; channels: number; plane: number; terms: number } {
  const options = { padding: g.padH };
  const first = (t: Tensor): Tensor => new Tensor([1, ...t.shape.slice(1)], t.data.subarray(0, t.size / t.shape[0]));
  const [x, dy] = [first(xAll), first(dyAll)];
  if (pass === 'forward') {
    const channels = Math.min(REFERENCE_CHANNELS, g.outChannels);
    const ws = new Tensor([channels, g.inChannels, 3, 3], Float64Array.from(w.data.subarray(0, channels * g.inChannels * 9)));
    const bs = new Tensor([channels], Float64Array.from(b.data.subarray(0, channels)));
    return { ref: reference.conv2dForward(x.clone('float64'), ws, bs, options), channels, plane: g.outH * g.outW, terms: 9 * g.inChannels };
  }
  if (pass === 'input') {
    // dx's first input channels need the weights of those input channels only
    const channels = Math.min(REFERENCE_CHANNELS, g.inChannels);
    const slice = new Float64Array(g.outChannels * channels * 9);
    for (let co = 0; co < g.outChannels; co++) slice.set(w.data.subarray(co * g.inChannels * 9, (co * g.inChannels + channels) * 9), co * channels * 9);
    const ws = new Tensor([g.outChannels, channels, 3, 3], slice);
    return {
      ref: reference.conv2dBackwardInput(dy.clone('float64'), ws, [1, channels, g.inH, g.inW], options),
      channels, plane: g.inH * g.inW, terms: 9 * g.outChannels,
    };
  }
  // dW's first output channels need dy's first channels only (of every image)
  const channels = Math.min(REFERENCE_CHANNELS, g.outChannels);
  const plane = g.outH * g.outW;
  const dys = new Tensor([g.batch, channels, g.outH, g.outW], new Float64Array(g.batch * channels * plane));
  for (let n = 0; n < g.batch; n++) dys.data.set(dyAll.data.subarray(n * g.outChannels * plane, (n * g.outChannels + channels) * plane), n * channels * plane);
  return {
    ref: reference.conv2dBackwardWeight(dys, xAll.clone('float64'), [channels, g.inChannels, 3, 3], options),
    channels, plane: g.inChannels * 9, terms: g.batch * g.outH * g.outW,
  };
}

async function main(): Promise<void> {
  const load = os.loadavg();
  console.log(`Winograd against GEMM, batch 1, passes ${PASSES.join(', ')}. ${os.cpus().length} cores, load average ${load.map((l) => l.toFixed(2)).join(' ')} (1, 5, 15 min)`);
  console.log(`tiles ${TILES.join(', ')}; forward blocking ${TILES.map((m) => `F${m} ${Object.values(blockingFor(m) ?? defaultBlocking(m)).join('/')}${blockingFor(m) === undefined && m === 4 ? ' (64 tiles on layers of at most 128)' : ''}`).join(', ')}; weight blocking ${TILES.map((m) => `F${m} ${Object.values(weightBlockingFor(m)).join('/')}`).join(', ')}; ${RUNS} rounds, medians`);
  const kernels = new Map<number, WasmKernels>();
  const runners = new Map<number, WinogradRunner>();
  for (const threads of THREADS) {
    kernels.set(threads, new WasmKernels({ threads, convAlgorithm: 'gemm' }));
    const runner = new WinogradRunner(threads);
    await runner.start();
    runners.set(threads, runner);
  }
  const errorRows: string[] = [];
  for (const layer of layers) {
    const rng = new Rng(7);
    const options = { padding: layer.padding };
    const batch = layer.batch ?? 1;
    const xRaw = randNormal([batch, layer.cin, layer.size, layer.size], rng);
    const w = randNormal([layer.cout, layer.cin, 3, 3], rng, 0, 1 / Math.sqrt(9 * layer.cin));
    const b = randNormal([layer.cout], rng, 0, 0.1);
    const g = conv2dGeometry(xRaw.shape, w.shape, options);
    const dyRaw = randNormal([batch, layer.cout, g.outH, g.outW], rng);
    const flops = convFlops(g);
    // x as the model sees it: a ReLU's output, resident in the backend's memory (dy resident too)
    const resident = new Map<number, { x: Tensor; dy: Tensor }>();
    for (const [threads, k] of kernels) resident.set(threads, { x: await k.reluForward(xRaw), dy: await k.reluForward(dyRaw) });
    const x = new Tensor(xRaw.shape, Float32Array.from((resident.get(THREADS[0]) as { x: Tensor }).x.data));

    for (const pass of PASSES) {
      if (MEASURE_ERROR) {
        // errors with a signed dy (the resident one, ReLU'd, only serves the timings)
        const { ref, channels, plane, terms } = referenceSlice(pass, x, w, b, dyRaw, g);
        const unit = (maxAbs: number): number => 2 ** -24 * Math.sqrt(terms) * maxAbs;
        const k = kernels.get(THREADS[0]) as WasmKernels;
        const gemmOut =
          pass === 'forward' ? await k.conv2dForward(x, w, b, options)
          : pass === 'input' ? await k.conv2dBackwardInput(dyRaw, w, x.shape, options)
          : await k.conv2dBackwardWeight(dyRaw, x, w.shape, options);
        const gemm = errorOf(gemmOut.data as Float32Array, ref, channels, plane);
        k.release(gemmOut);
        const cells = [`GEMM ${gemm.error.toExponential(1)} (${(gemm.error / unit(gemm.maxAbs)).toFixed(2)})`];
        const runner = runners.get(THREADS[0]) as WinogradRunner;
        const at = runner.place(x, w, b, dyRaw);
        for (const m of TILES) {
          const { call, out, length } = runner.prepare(pass, at, w, g, m);
          await call();
          const e = errorOf(runner.floats(out, length), ref, channels, plane);
          cells.push(`F${m} ${e.error.toExponential(1)} (${(e.error / unit(e.maxAbs)).toFixed(2)} of ${WINOGRAD_ERROR[m]})`);
        }
        const row = `${layer.name.padEnd(11)} ${pass.padEnd(7)} K ${String(terms).padStart(5)}  max ${gemm.maxAbs.toPrecision(3).padStart(6)}  ${cells.join('  ')}`;
        errorRows.push(row);
        console.log(`error ${row}`);
      }
      if (ERROR_ONLY) continue;

      for (const threads of THREADS) {
        const k = kernels.get(threads) as WasmKernels;
        const runner = runners.get(threads) as WinogradRunner;
        const r = resident.get(threads) as { x: Tensor; dy: Tensor };
        const gemmCall = async (): Promise<null> => {
          const out =
            pass === 'forward' ? await k.conv2dForward(r.x, w, b, options)
            : pass === 'input' ? await k.conv2dBackwardInput(r.dy, w, x.shape, options)
            : await k.conv2dBackwardWeight(r.dy, r.x, w.shape, options);
          k.release(out);
          return null;
        };
        const methods: { name: string; call: () => Promise<Phases | null> }[] = [{ name: 'GEMM', call: gemmCall }];
        const at = runner.place(r.x, w, b, r.dy); // the same values as the GEMM's resident x and dy
        for (const m of TILES) methods.push({ name: `F${m}`, call: runner.prepare(pass, at, w, g, m).call });
        for (const method of methods) await method.call(); // warm up
        // The rounds, again after a pause while other processes used more than a sixth of a core
        // (up to RETRIES attempts); the quietest attempt is kept.
        let kept: { times: number[][]; phases: Phases[][]; others: number | null; attempt: number } | null = null;
        for (let attempt = 1; attempt <= RETRIES; attempt++) {
          const times = methods.map(() => [] as number[]);
          const phases = methods.map(() => [] as Phases[]);
          const others = await withOthers(async () => {
            for (let round = 0; round < RUNS; round++) {
              for (let j = 0; j < methods.length; j++) {
                const i = (j + round) % methods.length;
                const t0 = performance.now();
                const p = await methods[i].call();
                const elapsed = performance.now() - t0;
                times[i].push(p === null ? elapsed : p.total);
                if (p !== null) phases[i].push(p);
              }
            }
          });
          if (kept === null || (others ?? 0) < (kept.others ?? 0)) kept = { times, phases, others, attempt };
          if (others === null || others < 1 / 6) break;
          if (attempt < RETRIES) await new Promise((resolve) => setTimeout(resolve, 10000));
        }
        const { times, phases, others, attempt } = kept as NonNullable<typeof kept>;
        const cells = methods.map((method, i) => {
          const ms = median(times[i]);
          let cell = `${method.name} ${ms.toFixed(2)} ms ${(flops / (ms / 1000) / 1e9).toFixed(0)} GF/s`;
          if (phases[i].length > 0) {
            const pick = (key: keyof Phases): string => median(phases[i].map((p) => p[key])).toFixed(2);
            cell += pass === 'weight'
              ? ` [pad ${pick('pad')} tasks ${pick('tasks')} sum ${pick('sum')}]`
              : ` [w ${pick('copy')} pad ${pick('pad')} U ${pick('filter')} tasks ${pick('tasks')}]`;
          }
          return cell;
        });
        const othersCell = `others ${others === null ? '-' : others.toFixed(2)}${attempt > 1 ? ` (try ${attempt})` : ''}`;
        console.log(`${layer.name.padEnd(11)} ${pass.padEnd(7)} ${threads}T  ${(flops / 1e9).toFixed(2)} GFLOP  ${cells.join(' | ')}  ${othersCell}`);
      }
    }
    for (const [threads, k] of kernels) {
      const r = resident.get(threads) as { x: Tensor; dy: Tensor };
      k.release(r.x);
      k.release(r.dy);
    }
  }
  if (errorRows.length > 0) {
    console.log('\nerrors against the float64 reference (max |error|, and its ratio to 2^-24 sqrt(K) max|reference|):');
    for (const row of errorRows) console.log(row);
  }
  console.log(`load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (const k of kernels.values()) await k.dispose();
  for (const r of runners.values()) await r.dispose();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
