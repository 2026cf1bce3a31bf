// Benchmark of the numeric kernels, per kernel and per backend: GFLOP/s of the convolutions of
// conv3_1 and conv6 (forward and both backward passes), GB/s of the memory-bound kernels, and the
// share of the machine's peak.
//
//   node dist/bench/kernels.bench.js [--quick] [--threads 1,2] [--runs 7] [--retries 10] [--json FILE]
//                                    [--backends wasm,cpu,gpu.js:webasm,gpu.js:cpu,gpu.js:headlessgl]
//
// --quick: well under a minute here: conv3_1 only, wasm and cpu on all cores only, 3 runs, no
// retries. Every row is printed as soon as it is measured, in quick mode and otherwise.
//
// GPU.js backends compile a kernel on its first call for each geometry: the column `first call`
// is that call (compile + one run), reported apart from the median of the runs after it.
// gpu.js:headlessgl needs an X server: run under `xvfb-run -a` (it is benchmarked by default
// when $DISPLAY is set).
//
// Method. Each backend is first checked against the reference on a slice of each layer (fewer
// channels, same geometry). Then each kernel is run `warm-up` times untimed (JIT compilation,
// worker start, buffers grown), then `runs` times; the table shows the median. The reference is
// run once, on a slice with fewer output channels (its speed hardly depends on the size), since
// the full conv3_1 would take it a minute per pass.
//
// Peak. The wasm backend is compared with the measured peak of WebAssembly SIMD on as many
// threads (bench/machine.ts: a loop of independent f32x4 multiply-adds, of the micro-kernel
// variant that ran: plain mul + add, or the fused relaxed_madd). The cpu backend is scalar
// JavaScript: V8 emits one scalar multiply and one scalar add per multiply-add (no SIMD, no fused
// multiply-add), so its peak is
//   threads x clock x 2 FLOPs per cycle   (a multiply and an add issued each cycle on each core).
// The clock is measured, not read from /proc/cpuinfo (which shows the nominal clock, not turbo):
// a chain of dependent integer multiply-adds (Math.imul: 3 cycles, add: 1 cycle on x86-64) runs
// on as many threads as are measured at once, since all-core turbo is lower than one-core turbo.
// A vector (AVX-512) peak would be 8 to 16 times higher; JavaScript cannot reach it.
//
// Other load. The machine may be shared: the column `others` is the CPU time other processes
// used during the timed runs (from /proc/stat, minus this process's own CPU time), in cores.
// Runs disturbed by more than a sixth of a core are repeated after a pause, up to --retries times.

import * as fs from 'fs';
import * as os from 'os';
import { Tensor } from '../tensor/tensor';
import { Rng, randNormal } from '../tensor/random';
import { Conv2dOptions, conv2dGeometry } from '../kernels/geometry';
import { Kernels } from '../kernels/kernels';
import * as reference from '../kernels/cpu/reference';
import { CpuKernels } from '../kernels/cpu/fast';
import { WasmKernels } from '../kernels/wasm';
import { createKernels } from '../kernels/select';
import { measureClockGhz, nominalGhz, simdPeakGflops } from './machine';
import { arg } from './args';

const quick = process.argv.includes('--quick');

const WARMUP = quick ? 1 : 2;
const RUNS = Number(arg('runs') ?? (quick ? 3 : 7));
const RETRIES = Number(arg('retries') ?? (quick ? 1 : 10));
const THREADS = (arg('threads') ?? (quick ? String(os.availableParallelism()) : [...new Set([1, 2, os.availableParallelism()])].join(',')))
  .split(',')
  .map(Number)
  .filter((t) => Number.isInteger(t) && t >= 1);
const GPUJS_BACKENDS = (arg('backends') ?? (quick ? 'wasm,cpu' : `wasm,cpu,gpu.js:webasm,gpu.js:cpu${process.env.DISPLAY ? ',gpu.js:headlessgl' : ''}`))
  .split(',')
  .filter((name) => name.startsWith('gpu.js:'));
const BENCH_CPU = (arg('backends') ?? 'cpu').split(',').includes('cpu');
const BENCH_WASM = (arg('backends') ?? 'wasm').split(',').includes('wasm');
const JSON_FILE = arg('json');
/** GPU.js runs are slow here (1-2 GFLOP/s): fewer of them. */
const GPUJS_RUNS = quick ? 1 : 3;

// ---------------------------------------------------------------------------------------------
// The machine

/** Busy and total CPU time of the whole machine so far, in seconds (Linux), or null. */
function machineCpu(): { busy: number; total: number } | null {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    const idle = fields[3] + (fields[4] ?? 0); // idle + iowait
    const tick = 100; // USER_HZ, 100 on every Linux this runs on
    return { busy: (total - idle) / tick, total: total / tick };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Timing

interface Timing {
  median: number; // seconds
  others: number | null; // cores used by other processes meanwhile
  attempts: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The median time of `runs` calls after `warmup` untimed ones. When other processes used more
 * than a sixth of a core meanwhile, the runs are repeated after a pause (up to `attempts` times;
 * the `others` column then shows what the kept measurement endured).
 */
async function time(fn: () => Promise<unknown>, warmup: number, runs: number, attempts = RETRIES): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  let best: Timing | null = null;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const times: number[] = [];
    const cpu0 = machineCpu();
    const own0 = process.cpuUsage();
    const wall0 = performance.now();
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await fn();
      times.push((performance.now() - t0) / 1000);
    }
    const wall = (performance.now() - wall0) / 1000;
    const own = process.cpuUsage(own0);
    const cpu1 = machineCpu();
    times.sort((a, b) => a - b);
    const others = cpu0 && cpu1 ? Math.max(0, cpu1.busy - cpu0.busy - (own.user + own.system) / 1e6) / wall : null;
    const timing = { median: times[Math.floor(times.length / 2)], others, attempts: attempt };
    if (best === null || (others ?? 0) < (best.others ?? 0)) best = timing;
    if (others === null || others < 1 / 6) break;
    if (attempt < attempts) await sleep(5000);
  }
  return best!;
}

/** The column `others`: cores used by other processes, and how many attempts it took. */
function othersCell(t: Timing): string {
  return (t.others === null ? '-' : t.others.toFixed(2)) + (t.attempts > 1 ? ` (try ${t.attempts})` : '');
}

// ---------------------------------------------------------------------------------------------
// The layers

interface ConvLayer {
  name: string;
  x: number[];
  w: number[];
  options: Conv2dOptions;
  /** A slice for the correctness check: fewer channels, same geometry. */
  check: { x: number[]; w: number[] };
  /** Output channels the reference is timed with. */
  referenceOutChannels: number;
}

const ALL_LAYERS: ConvLayer[] = [
  {
    name: 'conv3_1',
    x: [1, 256, 75, 75],
    w: [256, 256, 3, 3],
    options: { padding: 1 },
    check: { x: [1, 32, 75, 75], w: [24, 32, 3, 3] },
    referenceOutChannels: quick ? 2 : 8,
  },
  {
    name: 'conv6',
    x: [1, 512, 19, 19],
    w: [1024, 512, 3, 3],
    options: { padding: 6, dilation: 6 },
    check: { x: [1, 64, 19, 19], w: [40, 64, 3, 3] },
    referenceOutChannels: quick ? 8 : 32,
  },
];
const LAYERS = quick ? ALL_LAYERS.slice(0, 1) : ALL_LAYERS;

type Pass = 'forward' | 'backward input' | 'backward weight';
const PASSES: Pass[] = ['forward', 'backward input', 'backward weight'];

interface ConvData {
  x: Tensor;
  w: Tensor;
  b: Tensor;
  dy: Tensor;
  flops: number;
}

function convData(xShape: number[], wShape: number[], options: Conv2dOptions, seed: number): ConvData {
  const rng = new Rng(seed);
  const g = conv2dGeometry(xShape, wShape, options);
  return {
    x: randNormal(xShape, rng),
    w: randNormal(wShape, rng, 0, 1 / Math.sqrt(wShape[1] * wShape[2] * wShape[3])),
    b: randNormal([wShape[0]], rng),
    dy: randNormal([g.batch, g.outChannels, g.outH, g.outW], rng),
    flops: flopsOf({ x: xShape, w: wShape, options } as ConvLayer),
  };
}

function flopsOf(layer: ConvLayer): number {
  const g = conv2dGeometry(layer.x, layer.w, layer.options);
  return 2 * g.batch * g.outChannels * g.outH * g.outW * g.inChannels * g.kernelH * g.kernelW;
}

/**
 * One pass of a layer. The forward pass runs the same weights call after call, as inference does
 * (the wasm backend keeps their Winograd transform from the third call on); the input gradient is
 * a training pass, and training changes the weights between steps: w.changed() says so, so that
 * its time includes making the transform, as in a training step.
 */
function runPass(k: Kernels, pass: Pass, d: ConvData, options: Conv2dOptions): Promise<Tensor> {
  if (pass === 'forward') return k.conv2dForward(d.x, d.w, d.b, options);
  if (pass === 'backward input') {
    d.w.changed();
    return k.conv2dBackwardInput(d.dy, d.w, d.x.shape, options);
  }
  return k.conv2dBackwardWeight(d.dy, d.x, d.w.shape, options);
}

/** max |a - b| / max |b|. */
function relativeError(a: Tensor, b: Tensor): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < b.size; i++) {
    err = Math.max(err, Math.abs(a.data[i] - b.data[i]));
    scale = Math.max(scale, Math.abs(b.data[i]));
  }
  return err / (scale || 1);
}

// ---------------------------------------------------------------------------------------------
// The table

interface Row {
  kernel: string;
  pass: string;
  backend: string;
  threads: number;
  ms: number;
  rate: string; // e.g. '10.1 GFLOP/s'
  peak: string; // share of the peak, or '-'
  others: string;
  /** The first call of this backend on this geometry (compile + run), ms; '-' when not measured apart. */
  first?: string;
}

/**
 * A table printed row by row, as each is measured (a long run shows its progress): the columns
 * have fixed widths, wide enough for this benchmark's cells.
 */
class TablePrinter {
  private static readonly HEADER = ['kernel', 'pass', 'backend', 'threads', 'first call ms', 'median ms', 'rate', '% of peak', 'others'];
  private static readonly WIDTHS = [38, 15, 16, 7, 13, 9, 16, 9, 6];
  readonly rows: Row[] = [];

  constructor() {
    console.log(this.line(TablePrinter.HEADER));
    console.log(TablePrinter.WIDTHS.map((w) => '-'.repeat(w)).join('  '));
  }

  add(r: Row): void {
    this.rows.push(r);
    console.log(this.line([r.kernel, r.pass, r.backend, String(r.threads), r.first ?? '-', r.ms.toFixed(1), r.rate, r.peak, r.others]));
  }

  private line(cells: string[]): string {
    return cells.map((s, i) => (i >= 3 ? s.padStart(TablePrinter.WIDTHS[i]) : s.padEnd(TablePrinter.WIDTHS[i]))).join('  ');
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  console.log(`kernels benchmark${quick ? ' (--quick)' : ''}: Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} threads available`);
  console.log(`warm-up ${WARMUP}, median of ${RUNS} runs; cpu backend with ${THREADS.join(', ')} thread(s)`);

  // The best of a few measurements: another process sharing a core makes the chain look slower.
  const clocks = new Map<number, number>();
  for (const t of new Set([1, ...THREADS, os.availableParallelism()])) {
    let ghz = 0;
    for (let i = 0; i < (quick ? 1 : 5); i++) ghz = Math.max(ghz, await measureClockGhz(t));
    clocks.set(t, ghz);
  }
  const nominal = nominalGhz();
  const scalarPeak = (threads: number): number => threads * clocks.get(threads)! * 2;
  console.log('scalar peak = threads x measured clock x 2 FLOP/cycle (scalar multiply + add per cycle), for cpu and GPU.js:');
  for (const t of clocks.keys()) console.log(`  ${t} thread(s): clock ${clocks.get(t)!.toFixed(2)} GHz -> ${scalarPeak(t).toFixed(1)} GFLOP/s`);
  if (nominal !== null) console.log(`  (nominal clock in /proc/cpuinfo: ${nominal.toFixed(2)} GHz)`);
  // The SIMD peak of each micro-kernel variant, measured on as many threads as run it.
  const simdPeaks = new Map<string, number>();
  if (BENCH_WASM) {
    console.log('WebAssembly SIMD peak = a loop of independent f32x4 multiply-adds on every thread, for wasm:');
    for (const t of THREADS) {
      for (const variant of ['simd', 'relaxed'] as const) simdPeaks.set(`${variant}/${t}`, await simdPeakGflops(t, variant));
      console.log(`  ${t} thread(s): plain mul + add ${simdPeaks.get(`simd/${t}`)!.toFixed(1)} GFLOP/s, relaxed_madd ${simdPeaks.get(`relaxed/${t}`)!.toFixed(1)} GFLOP/s`);
    }
  }
  console.log();

  const backends: { label: string; threads: number; kernels: Kernels; runs: number; peak: number }[] = [];
  if (BENCH_WASM) {
    for (const t of THREADS) {
      const kernels = new WasmKernels({ threads: t });
      backends.push({ label: `wasm (${kernels.microKernel})`, threads: t, kernels, runs: RUNS, peak: simdPeaks.get(`${kernels.microKernel}/${t}`)! });
    }
  }
  if (BENCH_CPU) {
    for (const t of THREADS) backends.push({ label: 'cpu', threads: t, kernels: new CpuKernels({ threads: t }), runs: RUNS, peak: scalarPeak(t) });
  }
  for (const name of GPUJS_BACKENDS) {
    // GPU.js's webasm mode runs on worker threads of its own (all cores)
    const threads = name === 'gpu.js:webasm' ? os.availableParallelism() : 1;
    backends.push({ label: name, threads, kernels: await createKernels(name), runs: GPUJS_RUNS, peak: scalarPeak(threads) });
  }

  // 1. Correctness before speed.
  console.log('correctness against the reference (max |error| / max |reference|, on a slice of each layer):');
  for (const layer of LAYERS) {
    const d = convData(layer.check.x, layer.check.w, layer.options, 1);
    const expected = PASSES.map((p) => runPass(reference.referenceKernels, p, d, layer.options));
    for (const b of backends) {
      const errors: string[] = [];
      for (let i = 0; i < PASSES.length; i++) {
        const err = relativeError(await runPass(b.kernels, PASSES[i], d, layer.options), await expected[i]);
        if (!(err < 1e-5)) throw new Error(`${b.label} (${b.threads} threads) ${layer.name} ${PASSES[i]}: relative error ${err} vs the reference`);
        errors.push(`${PASSES[i]} ${err.toExponential(1)}`);
      }
      console.log(`  ${layer.name} x ${JSON.stringify(layer.check.x)} w ${JSON.stringify(layer.check.w)}, ${b.label} ${b.threads} thread(s): ${errors.join(', ')}`);
    }
  }
  console.log();

  // 2. Convolutions.
  const perPass = LAYERS.map((l) => `${l.name} ${(flopsOf(l) / 1e9).toFixed(2)}`).join(', ');
  console.log(`convolutions (GFLOP per pass: ${perPass}; each pass costs the same; reference rows: ms extrapolated to the full layer;`);
  console.log('% of peak: wasm of the WebAssembly SIMD peak of its micro-kernel variant, the others of the scalar peak):');
  const convTable = new TablePrinter();
  for (const layer of LAYERS) {
    const full = convData(layer.x, layer.w, layer.options, 2);
    const refW = [layer.referenceOutChannels, ...layer.w.slice(1)];
    const slice = convData(layer.x, refW, layer.options, 3);
    for (const pass of PASSES) {
      const r = await time(() => runPass(reference.referenceKernels, pass, slice, layer.options), 0, 1, 1); // one run: it is slow
      convTable.add({
        kernel: `${layer.name} (ref: C_out ${layer.referenceOutChannels})`,
        pass,
        backend: 'reference',
        threads: 1,
        ms: r.median * 1000 * (full.flops / slice.flops), // extrapolated to the full layer
        rate: `${(slice.flops / r.median / 1e9).toFixed(2)} GFLOP/s`,
        peak: `${((100 * slice.flops) / r.median / 1e9 / scalarPeak(1)).toFixed(0)}%`,
        others: othersCell(r),
      });
      for (const b of backends) {
        const first0 = performance.now();
        await runPass(b.kernels, pass, full, layer.options); // compiles (GPU.js), starts workers (cpu)
        const firstMs = performance.now() - first0;
        const t = await time(() => runPass(b.kernels, pass, full, layer.options), WARMUP - 1, b.runs);
        const gflops = full.flops / t.median / 1e9;
        convTable.add({
          kernel: `${layer.name} ${JSON.stringify(layer.x)}->${layer.w[0]}`,
          pass,
          backend: b.label,
          threads: b.threads,
          ms: t.median * 1000,
          rate: `${gflops.toFixed(2)} GFLOP/s`,
          peak: `${((100 * gflops) / b.peak).toFixed(0)}%`,
          others: othersCell(t),
          first: firstMs.toFixed(1),
        });
      }
    }
  }
  console.log();

  // 3. The memory-bound kernels: GB/s of tensors read and written (float32).
  console.log('memory-bound kernels (wasm cuts each sweep over its threads, cpu sweeps on one; rate = float32 bytes read and written / time):');
  const memTable = new TablePrinter();
  const rng = new Rng(4);
  const pool1 = randNormal([1, 64, 300, 300], rng);
  const conv43 = randNormal([1, 512, 38, 38], rng);
  const scale = randNormal([512], rng, 20, 1);
  const pooled = reference.maxPool2dForward(pool1, { kernelSize: 2, stride: 2 });
  const normed = reference.l2NormForward(conv43, scale, 1e-10);
  const memKernels: { name: string; bytes: number; run: (k: Kernels) => Promise<unknown> }[] = [
    { name: 'relu forward (1,64,300,300)', bytes: 8 * pool1.size, run: (k) => k.reluForward(pool1) },
    { name: 'relu backward (1,64,300,300)', bytes: 12 * pool1.size, run: (k) => k.reluBackward(pool1, pool1) },
    { name: 'maxpool 2x2 forward (1,64,300,300)', bytes: 4 * pool1.size + 8 * pooled.y.size, run: (k) => k.maxPool2dForward(pool1, { kernelSize: 2, stride: 2 }) },
    { name: 'maxpool 2x2 backward (1,64,300,300)', bytes: 4 * pool1.size + 8 * pooled.y.size, run: (k) => k.maxPool2dBackward(pooled.y, pooled.argmax, pool1.shape, { kernelSize: 2, stride: 2 }) },
    { name: 'l2norm forward (1,512,38,38)', bytes: 8 * conv43.size, run: (k) => k.l2NormForward(conv43, scale, 1e-10) },
    { name: 'l2norm backward (1,512,38,38)', bytes: 12 * conv43.size, run: (k) => k.l2NormBackward(conv43, conv43, scale, normed.norm) },
    { name: 'conv bias backward (1,64,300,300)', bytes: 4 * pool1.size, run: (k) => k.conv2dBackwardBias(pool1) },
  ];
  for (const m of memKernels) {
    const firstOfEach = backends.filter((b, i) => backends.findIndex((o) => o.label === b.label) === i && !b.label.startsWith('gpu.js'));
    for (const b of [{ label: 'reference', threads: 1, kernels: reference.referenceKernels }, ...firstOfEach]) {
      const t = await time(() => m.run(b.kernels), WARMUP, RUNS);
      memTable.add({
        kernel: m.name,
        pass: '',
        backend: b.label,
        threads: b.threads,
        ms: t.median * 1000,
        rate: `${(m.bytes / t.median / 1e9).toFixed(2)} GB/s`,
        peak: '-',
        others: othersCell(t),
      });
    }
  }

  if (JSON_FILE !== undefined) {
    const peaks = {
      scalar: Object.fromEntries([...clocks.keys()].map((t) => [`${t} threads`, scalarPeak(t)])),
      simd: Object.fromEntries(simdPeaks),
    };
    fs.writeFileSync(JSON_FILE, JSON.stringify({ node: process.version, cpu: os.cpus()[0]?.model, peaks, convolutions: convTable.rows, memoryBound: memTable.rows }, null, 2));
    console.log(`\nwrote ${JSON_FILE}`);
  }
  for (const b of backends) await b.kernels.dispose();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
