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
//
// Do not time anything while other work runs on the machine. Needs /usr/bin/python3 with torch
// (Debian's python3-torch) unless --no-torch.

import { spawnSync } from 'child_process';
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

function torchRound(withStep: boolean, o: Options, dir: string, round: number, isa: TorchIsa): TorchReport {
  const json = path.join(dir, `torch-ssd-speed-${round}-${isa}.json`);
  const args = ['scripts/torch_ssd_speed.py', '--batch', String(o.batch), '--classes', String(o.nClasses), '--warmup', String(o.warmup), '--runs', String(o.runs), '--json', json];
  if (o.batchNorm) args.push('--batch-norm');
  if (!withStep) args.push('--no-step');
  // oneDNN 2.6 reads DNNL_MAX_CPU_ISA (later versions ONEDNN_MAX_CPU_ISA); both are set
  const env = isa === 'native' ? process.env : { ...process.env, DNNL_MAX_CPU_ISA: 'AVX2', ONEDNN_MAX_CPU_ISA: 'AVX2' };
  const run = spawnSync('/usr/bin/python3', args, { encoding: 'utf8', env });
  if (run.status !== 0) throw new Error(`scripts/torch_ssd_speed.py failed (exit code ${run.status}): ${run.stderr}`);
  return JSON.parse(fs.readFileSync(json, 'utf8')) as TorchReport;
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
