// Training throughput side by side with PyTorch 1.13 on this machine: the channels / 8 batch-norm
// SSD300 at batch 16, measured the two ways scripts/torch_train_speed.py measures PyTorch's twin,
// in alternating rounds (PyTorch, then the project, then PyTorch again...), so that a slower
// minute of the machine slows both:
//
//   step      forward, MultiBox loss, backward, gradient clipping and SGD on random images and
//             fixed random targets already in memory (1 to 4 boxes an image);
//   pipeline  the whole training loop: images read from disk, decoded, augmented (random crop and
//             flip, the recipe of `ssd train --batch-norm`), resized, normalized and matched by the
//             input pipeline's workers (train/loader.ts), then the step; timed from one step's end
//             to the next, so waiting for data counts, as in PyTorch's DataLoader loop.
//
// Each runs --warmup untimed steps, then --steps timed ones, and reports the median and images/s;
// the process's cores busy are reported for the pipeline (its CPU time over the wall time).
//
//   npm run build && node dist/bench/train_speed.js --data real-set [--rounds 2 --steps 10 --warmup 3 --workers 2 --json FILE]
//
// Needs /usr/bin/python3 with torch (Debian's python3-torch) for PyTorch's side; --no-torch skips it.

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
import { readVocClassNames, readVocDataset } from '../data/voc';
import { diskSource } from '../data/source';
import { Batch, BatchLoader } from '../train/loader';
import { batchRequest, planEpoch } from '../train/trainer';
import { arg } from './args';

interface Timing {
  median: number;
  imagesPerSecond: number;
  times: number[];
  cores?: number;
}

function timing(times: number[], batch: number, cores?: number): Timing {
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  return { median, imagesPerSecond: batch / median, times, cores };
}

const BATCH = 16;

/** The project's step alone: random images, random fixed targets, as torch_train_speed.py's. */
async function projectStep(nClasses: number, warmup: number, steps: number): Promise<Timing> {
  const kernels = await createKernels('wasm');
  const model = new SSD300({ nClasses, widthDivisor: 8, kernels, batchNorm: true, baseInit: 'kaiming', headInit: 'normal' });
  model.train();
  const optimizer = ssdOptimizer(model, 0.01);
  const rng = new Rng(1);
  const images = randNormal([BATCH, 3, 300, 300], rng);
  const targets: ImageTargets[] = [];
  for (let i = 0; i < BATCH; i++) {
    const boxes: number[][] = [];
    const labels: number[] = [];
    for (let k = 0, n = 1 + rng.int(4); k < n; k++) {
      const [cx, cy] = [0.2 + 0.6 * rng.uniform(), 0.2 + 0.6 * rng.uniform()];
      const [w, h] = [0.05 + 0.35 * rng.uniform(), 0.05 + 0.35 * rng.uniform()];
      boxes.push([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]);
      labels.push(1 + rng.int(nClasses - 1));
    }
    targets.push({ boxes: fromArray(boxes), labels });
  }
  const times: number[] = [];
  for (let k = 0; k < warmup + steps; k++) {
    const start = performance.now();
    await trainStep(model, optimizer, images, targets, { maxGradNorm: 10 });
    if (k >= warmup) times.push((performance.now() - start) / 1000);
  }
  await kernels.dispose();
  return timing(times, BATCH);
}

/** The project's whole loop: the input pipeline from disk, then the step, as the trainer runs them. */
async function projectPipeline(root: string, workers: number, warmup: number, steps: number): Promise<Timing> {
  const classes = readVocClassNames(root, 'train'); // background first
  const samples = readVocDataset(root, 'train', classes, { warn: () => undefined });
  const kernels = await createKernels('wasm');
  const model = new SSD300({ nClasses: classes.length, widthDivisor: 8, kernels, batchNorm: true, baseInit: 'kaiming', headInit: 'normal' });
  model.train();
  const optimizer = ssdOptimizer(model, 0.01);
  const loader = new BatchLoader(diskSource(samples), {
    workers, augment: true, augmentSteps: { photometric: false, expand: false, crop: true, flip: true }, cacheBytes: 2 ** 31,
  });
  // the batches of one epoch after another, as the trainer plans them, two ahead of their step
  const requests: ReturnType<typeof batchRequest>[] = [];
  let plan = planEpoch(samples.length, new Rng(1).getState());
  for (let position = 0; requests.length < warmup + steps; position += BATCH) {
    if (position + BATCH > samples.length) {
      plan = planEpoch(samples.length, plan.next);
      position = 0;
    }
    requests.push(batchRequest(plan, position, BATCH));
  }
  const times: number[] = [];
  let cpu: NodeJS.CpuUsage = { user: 0, system: 0 };
  let wall = 0;
  try {
    const ahead: Promise<Batch>[] = requests.slice(0, 3).map((r) => loader.load(r));
    let last = performance.now();
    for (let k = 0; k < requests.length; k++) {
      if (k === warmup) {
        cpu = process.cpuUsage();
        wall = performance.now();
      }
      const batch = await ahead[k];
      if (k + 3 < requests.length) ahead.push(loader.load(requests[k + 3]));
      await trainStep(model, optimizer, batch.images, batch.targets, { maxGradNorm: 10 });
      const now = performance.now();
      if (k >= warmup) times.push((now - last) / 1000);
      last = now;
    }
  } finally {
    await loader.close();
    await kernels.dispose();
  }
  const used = process.cpuUsage(cpu);
  return timing(times, BATCH, (used.user + used.system) / 1000 / (performance.now() - wall));
}

interface TorchReport {
  threads: number;
  step: { median_s: number; images_per_s: number };
  pipeline: { workers: number; median_s: number; images_per_s: number }[];
}

function torchRound(root: string, workers: number, warmup: number, steps: number, dir: string, round: number): TorchReport {
  const json = path.join(dir, `torch-speed-${round}.json`);
  const args = ['scripts/torch_train_speed.py', '--data', root, '--workers', String(workers), '--warmup', String(warmup), '--steps', String(steps), '--json', json];
  const run = spawnSync('/usr/bin/python3', args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`scripts/torch_train_speed.py failed (exit code ${run.status}): ${run.stderr}`);
  return JSON.parse(fs.readFileSync(json, 'utf8')) as TorchReport;
}

async function main(): Promise<void> {
  const root = arg('data', '');
  if (root === '') throw new Error('--data ROOT: a Pascal VOC layout with a train split (npm run real-set makes one)');
  const rounds = Number(arg('rounds', '2'));
  const steps = Number(arg('steps', '10'));
  const warmup = Number(arg('warmup', '3'));
  const workers = Number(arg('workers', '2'));
  const withTorch = !process.argv.includes('--no-torch');
  const nClasses = readVocClassNames(root, 'train').length; // background included
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-train-speed-'));
  const rows: { round: number; who: string; step: Timing | null; pipeline: Timing }[] = [];
  const show = (who: string, step: { median: number; ips: number } | null, pipeline: { median: number; ips: number; cores?: number }): void => {
    const stepText = step === null ? '' : `step alone ${step.median.toFixed(3)} s = ${step.ips.toFixed(2)} images/s; `;
    const cores = pipeline.cores === undefined ? '' : `, ${pipeline.cores.toFixed(2)} cores busy`;
    console.log(`${who.padEnd(24)} ${stepText}pipeline (${workers} workers) ${pipeline.median.toFixed(3)} s = ${pipeline.ips.toFixed(2)} images/s${cores}`);
  };
  const torch = withTorch ? `PyTorch ${torchVersion()}` : '';
  console.log(`training throughput, batch ${BATCH}, the /8 batch-norm SSD300, ${nClasses - 1} classes of ${root}; ${warmup} warm-up steps, median of ${steps}`);
  for (let round = 1; round <= rounds; round++) {
    if (withTorch) {
      const t = torchRound(root, workers, warmup, steps, dir, round);
      const p = t.pipeline[0];
      rows.push({
        round, who: `PyTorch (${t.threads} threads)`,
        step: { median: t.step.median_s, imagesPerSecond: t.step.images_per_s, times: [] }, pipeline: { median: p.median_s, imagesPerSecond: p.images_per_s, times: [] },
      });
      show(`round ${round}: ${torch}`, { median: t.step.median_s, ips: t.step.images_per_s }, { median: p.median_s, ips: p.images_per_s });
    }
    const step = await projectStep(nClasses, warmup, steps);
    const pipeline = await projectPipeline(root, workers, warmup, steps);
    rows.push({ round, who: 'this project (wasm)', step, pipeline });
    show(`round ${round}: this project`, { median: step.median, ips: step.imagesPerSecond }, { median: pipeline.median, ips: pipeline.imagesPerSecond, cores: pipeline.cores });
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const json = arg('json', '');
  if (json !== '') {
    fs.writeFileSync(json, `${JSON.stringify({ batch: BATCH, steps, warmup, workers, rows }, null, 1)}\n`);
    console.log(`wrote ${json}`);
  }
}

function torchVersion(): string {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
