// The whole SSD300 side by side with PyTorch 1.13 on this machine: the full network (the paper's
// channels, 21 classes, 8732 priors, no batch norm unless --batch-norm) at --batch images, through
// the library API, in alternating rounds (PyTorch, then the project, then PyTorch again...) so that
// a slower minute of the machine slows both:
//
//   forward   model.eval(), model.forward(images): what detection runs before decoding and NMS,
//             once per convolution algorithm of the wasm backend (--algorithms auto,gemm: the
//             Winograd-or-GEMM choice per layer, and the GEMM alone);
//   step      model.train(), trainStep: forward, MultiBox loss, backward to every parameter (not
//             to the images: PyTorch's images need no gradient either), SGD with momentum and
//             weight decay, on random images and fixed random targets (1 to 4 boxes an image);
//             with the default algorithm ('auto').
//
// PyTorch's side is scripts/torch_ssd_speed.py (the same model, its oneDNN kernels, 2 threads).
// Each runs --warmup untimed passes, then --runs timed ones; medians are reported, and the
// project's time as a multiple of PyTorch's in the same round.
//
// oneDNN picks its instruction set at run time: on a CPU with AVX-512 it runs 512-bit vectors,
// four times the width of WebAssembly's SIMD128 (the targets of this comparison were set on an
// AVX2 machine). --torch-isa native,avx2 (the default) times PyTorch both ways in every round:
// as it runs here, and with oneDNN held to AVX2 + FMA (DNNL_MAX_CPU_ISA=AVX2), the yardstick
// of an AVX2 machine; the project's ratio is printed against each.
//
//   npm run build && node dist/bench/ssd_vs_torch.js [--rounds 2 --runs 5 --warmup 2 --batch 1]
//       [--algorithms auto,gemm] [--torch-isa native,avx2] [--batch-norm] [--no-step] [--no-torch] [--json FILE]
//       [--paired N --pause-ms 500]
//
// --paired N alternates single passes instead of rounds: PyTorch waits in a process of its own
// (scripts/torch_ssd_speed.py --serve, one per --torch-isa) and the project's `auto` runs in this
// one; each of N pairs times one PyTorch pass and one of the project's, in turn first, forwards
// (after --warmup of each), then training steps. The machine's speed changes from one ten seconds to
// the next on a shared host, and a round of several passes of one program can fall into a slow
// stretch the other escapes; a pair is a second or two apart. Each pass starts after a pause of
// --pause-ms, so that what the other left running (V8's garbage collection threads after the
// project's pass, OpenMP's spinning threads after PyTorch's) does not land in it. Reported: each side's median,
// and the median of the pairs' ratios with how many pairs the project won.
//
// Do not time anything while other work runs on the machine. Needs /usr/bin/python3 with torch
// (Debian's python3-torch) unless --no-torch.

import { ChildProcessWithoutNullStreams, spawn, spawnSync } from 'child_process';
import * as readline from 'readline';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Rng, randNormal } from '../tensor/random';
import { fromArray } from '../tensor/create';
import { SSD300 } from '../ssd/ssd300';
import { ImageTargets } from '../ssd/loss';
import { ssdOptimizer, trainStep } from '../ssd/train_step';
import { createKernels } from '../kernels/select';
import { ConvAlgorithm } from '../kernels/wasm';
import { arg } from './args';

interface Timing {
  median: number;
  times: number[];
}

function median(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timed(warmup: number, runs: number, body: () => Promise<unknown>): Promise<Timing> {
  const times: number[] = [];
  for (let k = 0; k < warmup + runs; k++) {
    const start = performance.now();
    await body();
    if (k >= warmup) times.push((performance.now() - start) / 1000);
  }
  return { median: median(times), times };
}

interface Options {
  batch: number;
  nClasses: number;
  batchNorm: boolean;
  warmup: number;
  runs: number;
}

/** The project's forward (and, when asked, its training step) with one convolution algorithm. */
async function project(algorithm: ConvAlgorithm, withStep: boolean, o: Options): Promise<{ forward: Timing; step: Timing | null }> {
  const kernels = await createKernels('wasm', { convAlgorithm: algorithm });
  try {
    const model = new SSD300({ nClasses: o.nClasses, kernels, batchNorm: o.batchNorm });
    const rng = new Rng(1);
    const images = randNormal([o.batch, 3, 300, 300], rng); // (N, 3, 300, 300)
    model.eval();
    const forward = await timed(o.warmup, o.runs, async () => {
      await model.forward(images);
      model.clearCache();
    });
    if (!withStep) return { forward, step: null };
    const targets = randomTargets(o, rng);
    model.train();
    const optimizer = ssdOptimizer(model, 1e-4);
    const step = await timed(o.warmup, o.runs, () => trainStep(model, optimizer, images, targets));
    return { forward, step };
  } finally {
    await kernels.dispose();
  }
}

interface TorchReport {
  torch: string;
  threads: number;
  forward: { median_s: number };
  step?: { median_s: number };
}

/** How oneDNN is told its instruction set: 'native' leaves it its own choice. */
type TorchIsa = 'native' | 'avx2';

/** scripts/torch_ssd_speed.py's command line for this model, then `extra`. */
function torchArgs(o: Options, extra: string[]): string[] {
  const args = ['scripts/torch_ssd_speed.py', '--batch', String(o.batch), '--classes', String(o.nClasses), ...extra];
  if (o.batchNorm) args.push('--batch-norm');
  return args;
}

/** The environment that gives oneDNN its instruction set. */
function torchEnv(isa: TorchIsa): NodeJS.ProcessEnv {
  // oneDNN 2.6 reads DNNL_MAX_CPU_ISA (later versions ONEDNN_MAX_CPU_ISA); both are set
  return isa === 'native' ? process.env : { ...process.env, DNNL_MAX_CPU_ISA: 'AVX2', ONEDNN_MAX_CPU_ISA: 'AVX2' };
}

function torchRound(withStep: boolean, o: Options, dir: string, round: number, isa: TorchIsa): TorchReport {
  const json = path.join(dir, `torch-ssd-speed-${round}-${isa}.json`);
  const args = torchArgs(o, ['--warmup', String(o.warmup), '--runs', String(o.runs), '--json', json, ...(withStep ? [] : ['--no-step'])]);
  const run = spawnSync('/usr/bin/python3', args, { encoding: 'utf8', env: torchEnv(isa) });
  if (run.status !== 0) throw new Error(`scripts/torch_ssd_speed.py failed (exit code ${run.status}): ${run.stderr}`);
  return JSON.parse(fs.readFileSync(json, 'utf8')) as TorchReport;
}

/** scripts/torch_ssd_speed.py --serve: one PyTorch pass per request, its time in seconds. */
class TorchServer {
  private readonly lines: AsyncIterator<string>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  static async start(o: Options, isa: TorchIsa): Promise<TorchServer> {
    const server = new TorchServer(spawn('/usr/bin/python3', torchArgs(o, ['--serve']), { env: torchEnv(isa) }));
    let stderr = '';
    server.child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    for (;;) {
      const line = await server.lines.next();
      if (line.done === true) throw new Error(`scripts/torch_ssd_speed.py --serve ended before it was ready: ${stderr}`);
      if (line.value === 'ready') return server;
    }
  }

  /** Runs one pass in the PyTorch process and returns its time (seconds, timed there). */
  async time(what: 'forward' | 'step'): Promise<number> {
    this.child.stdin.write(`${what}\n`);
    const line = await this.lines.next();
    const [name, seconds] = line.done === true ? [] : line.value.split(' ');
    if (name !== what || seconds === undefined) throw new Error(`scripts/torch_ssd_speed.py --serve answered '${line.done === true ? '(nothing)' : line.value}' to '${what}'`);
    return Number(seconds);
  }

  quit(): void {
    this.child.stdin.end('quit\n');
  }
}

/** --paired N: single passes of PyTorch (each --torch-isa) and the project's `auto`, alternating. */
async function paired(o: Options, pairs: number, pauseMs: number, isas: TorchIsa[], withStep: boolean, label: (isa: TorchIsa) => string): Promise<void> {
  const servers = new Map<TorchIsa, TorchServer>();
  for (const isa of isas) servers.set(isa, await TorchServer.start(o, isa));
  const kernels = await createKernels('wasm', { convAlgorithm: 'auto' });
  try {
    const rng = new Rng(1);
    const images = randNormal([o.batch, 3, 300, 300], rng); // (N, 3, 300, 300)
    // two models: the steps change the weights, and the forward keeps its transforms as inference does
    const inference = new SSD300({ nClasses: o.nClasses, kernels, batchNorm: o.batchNorm });
    inference.eval();
    const training = new SSD300({ nClasses: o.nClasses, kernels, batchNorm: o.batchNorm });
    training.train();
    const targets = randomTargets(o, rng);
    const optimizer = ssdOptimizer(training, 1e-4);
    const ours = {
      forward: async (): Promise<void> => {
        await inference.forward(images);
        inference.clearCache();
      },
      step: async (): Promise<void> => {
        await trainStep(training, optimizer, images, targets);
      },
    };
    const passes: ('forward' | 'step')[] = withStep ? ['forward', 'step'] : ['forward'];
    for (const what of passes) {
      const mine: number[] = [];
      const theirs = new Map<TorchIsa, number[]>(isas.map((isa) => [isa, []]));
      for (let k = 0; k < o.warmup + pairs; k++) {
        const times = new Map<string, number>();
        const order: (TorchIsa | 'ours')[] = k % 2 === 0 ? [...isas, 'ours'] : ['ours', ...isas];
        for (const who of order) {
          // a pause before each pass, so that what the previous one left running (V8's garbage
          // collector threads, OpenMP's spinning threads) has stopped when it starts
          await new Promise((resolve) => setTimeout(resolve, pauseMs));
          if (who === 'ours') {
            const start = performance.now();
            await ours[what]();
            times.set(who, (performance.now() - start) / 1000);
          } else {
            times.set(who, await (servers.get(who) as TorchServer).time(what));
          }
        }
        if (k < o.warmup) continue;
        mine.push(times.get('ours') as number);
        for (const isa of isas) (theirs.get(isa) as number[]).push(times.get(isa) as number);
      }
      for (const isa of isas) {
        const t = theirs.get(isa) as number[];
        const ratios = mine.map((m, i) => m / t[i]);
        const won = ratios.filter((r) => r < 1).length;
        console.log(
          `${what.padEnd(7)} ${label(isa).padEnd(13)} median ${median(t).toFixed(3)} s; this project ${median(mine).toFixed(3)} s; ` +
            `pairs: median ratio ${median(ratios).toFixed(2)}x, the project faster in ${won} of ${pairs}`,
        );
      }
    }
  } finally {
    for (const server of servers.values()) server.quit();
    await kernels.dispose();
  }
}

/** Random targets for a batch: 1 to 4 boxes an image, boundary fractions, classes 1 .. nClasses - 1. */
function randomTargets(o: Options, rng: Rng): ImageTargets[] {
  const targets: ImageTargets[] = [];
  for (let i = 0; i < o.batch; i++) {
    const boxes: number[][] = []; // boundary fractions
    const labels: number[] = [];
    for (let k = 0, n = 1 + rng.int(4); k < n; k++) {
      const [cx, cy] = [0.2 + 0.6 * rng.uniform(), 0.2 + 0.6 * rng.uniform()];
      const [w, h] = [0.05 + 0.35 * rng.uniform(), 0.05 + 0.35 * rng.uniform()];
      boxes.push([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]);
      labels.push(1 + rng.int(o.nClasses - 1));
    }
    targets.push({ boxes: fromArray(boxes), labels });
  }
  return targets;
}

async function main(): Promise<void> {
  const o: Options = {
    batch: Number(arg('batch', '1')),
    nClasses: Number(arg('classes', '21')),
    batchNorm: process.argv.includes('--batch-norm'),
    warmup: Number(arg('warmup', '2')),
    runs: Number(arg('runs', '5')),
  };
  const rounds = Number(arg('rounds', '2'));
  const algorithms = arg('algorithms', 'auto,gemm').split(',') as ConvAlgorithm[];
  const withStep = !process.argv.includes('--no-step');
  const withTorch = !process.argv.includes('--no-torch');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-vs-torch-'));
  const rows: { round: number; who: string; forward: number; step: number | null }[] = [];
  const seconds = (s: number | null): string => (s === null ? '-' : `${s.toFixed(3)} s`);
  console.log(
    `full SSD300${o.batchNorm ? ' with batch norm' : ''}, ${o.nClasses} classes, batch ${o.batch}: ` +
      `medians of ${o.runs} after ${o.warmup} warm-up passes, ${rounds} alternating rounds`,
  );
  const isas = arg('torch-isa', 'native,avx2').split(',') as TorchIsa[];
  for (const isa of isas) if (isa !== 'native' && isa !== 'avx2') throw new Error(`ssd_vs_torch: --torch-isa takes native and/or avx2, got '${isa}'`);
  const label = (isa: TorchIsa): string => (isa === 'native' ? 'PyTorch' : 'PyTorch AVX2');
  const pairs = Number(arg('paired', '0'));
  if (pairs > 0) {
    if (!withTorch) throw new Error('ssd_vs_torch: --paired compares with PyTorch; it cannot run with --no-torch');
    console.log(`(--paired ${pairs}: single passes alternating with PyTorch's after ${o.warmup} warm-ups each; the project with 'auto')`);
    await paired(o, pairs, Number(arg('pause-ms', '500')), isas, withStep, label);
    fs.rmSync(dir, { recursive: true, force: true });
    return;
  }
  for (let round = 1; round <= rounds; round++) {
    const theirs: { isa: TorchIsa; forward: number; step: number | null }[] = [];
    if (withTorch) {
      for (const isa of isas) {
        const t = torchRound(withStep, o, dir, round, isa);
        theirs.push({ isa, forward: t.forward.median_s, step: t.step?.median_s ?? null });
        const who = `${label(isa)} ${t.torch} (${t.threads} threads${isa === 'avx2' ? ', oneDNN held to AVX2' : ''})`;
        rows.push({ round, who, forward: t.forward.median_s, step: t.step?.median_s ?? null });
        console.log(`round ${round}: ${who}`.padEnd(64) + `forward ${seconds(t.forward.median_s)}, step ${seconds(t.step?.median_s ?? null)}`);
      }
    }
    for (const [k, algorithm] of algorithms.entries()) {
      const r = await project(algorithm, withStep && k === 0, o);
      const who = `this project (wasm, ${algorithm})`;
      rows.push({ round, who, forward: r.forward.median, step: r.step?.median ?? null });
      const ratios = (ours: number, pick: (t: { forward: number; step: number | null }) => number | null): string => {
        const parts = theirs.flatMap((t) => {
          const value = pick(t);
          return value === null ? [] : [`${(ours / value).toFixed(2)}x ${label(t.isa)}'s`];
        });
        return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
      };
      const stepText = r.step === null ? '' : `, step ${seconds(r.step.median)}${ratios(r.step.median, (t) => t.step)}`;
      console.log(`round ${round}: ${who}`.padEnd(64) + `forward ${seconds(r.forward.median)}${ratios(r.forward.median, (t) => t.forward)}${stepText}`);
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const json = arg('json', '');
  if (json !== '') {
    fs.writeFileSync(json, `${JSON.stringify({ ...o, rounds, rows }, null, 1)}\n`);
    console.log(`wrote ${json}`);
  }
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
