// Step for step against PyTorch: the project and PyTorch 1.13 (scripts/torch_train.py, the twin of
// the batch-norm SSD300) train on the same images in the same batches, without augmentation, with
// the same schedule counted in steps (a linear warm-up times a cosine from step 0: train/schedule.ts)
// and the same gradient clipping; the loss of every step and the final mAP are compared. PyTorch
// runs with two seeds (two initialisations of its own): how far apart those two curves are is the
// margin the project's curve is held to, since ours starts from a third initialisation. With
// --same-init PyTorch also runs once from the project's initial weights, which leaves only the
// arithmetic (and PIL's antialiased resize) between the two curves.
//
//   npm run build && node dist/bench/step_for_step.js --data real-set --out step-for-step \
//       [--steps 300 --batch 16 --lr 0.01 --warmup 30 --width-divisor 8 --head-init normal --torch-seeds 1,2]
//       [--same-init: PyTorch starts from the project's initial weights (OUT/initial.safetensors)]
//
// Writes OUT/order.json (the batches: indices into the train split), OUT/project.json,
// OUT/torch-seed<N>.json and OUT/torch-same-init.json (the loss of every step), OUT/compare.json (the
// losses smoothed over 10 steps, the margins, the mAPs) and OUT/compare.png (the curves). Needs
// /usr/bin/python3 with torch (Debian's python3-torch). A run takes about steps x 0.9 s here: some
// 20 minutes for 300 steps and four runs.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Rng } from '../tensor/random';
import { SSD300 } from '../ssd/ssd300';
import { ssdOptimizer, trainStep } from '../ssd/train_step';
import { createKernels } from '../kernels/select';
import { readVocClassNames, readVocDataset } from '../data/voc';
import { diskSource } from '../data/source';
import { writePng } from '../data/image_files';
import { BatchLoader } from '../train/loader';
import { batchRequest, planEpoch } from '../train/trainer';
import { learningRate } from '../train/schedule';
import { evaluateModel } from '../train/evaluate';
import { Series, renderCharts } from '../draw/charts';
import { arg } from './args';

interface StepLoss {
  step: number;
  loss: number;
}

/** The loss averaged over windows of `window` steps, at each window's last step. */
function smoothed(losses: readonly StepLoss[], window = 10): StepLoss[] {
  const out: StepLoss[] = [];
  for (let end = window; end <= losses.length; end += window) {
    const slice = losses.slice(end - window, end);
    out.push({ step: slice[slice.length - 1].step, loss: slice.reduce((s, l) => s + l.loss, 0) / window });
  }
  return out;
}

async function main(): Promise<void> {
  const root = arg('data', '');
  if (root === '') throw new Error('--data ROOT: a Pascal VOC layout with train and test splits (npm run real-set makes one)');
  const out = arg('out', 'step-for-step');
  const steps = Number(arg('steps', '300'));
  const batchSize = Number(arg('batch', '16'));
  const lr = Number(arg('lr', '0.01'));
  const warmup = Number(arg('warmup', '30'));
  const widthDivisor = Number(arg('width-divisor', '8'));
  const headInit = arg('head-init', 'normal') as 'normal' | 'xavier';
  const clip = Number(arg('clip', '10'));
  const seed = Number(arg('seed', '1'));
  const torchSeeds = arg('torch-seeds', '1,2').split(',').map(Number);
  fs.mkdirSync(out, { recursive: true });

  const classes = readVocClassNames(root, 'train'); // background first
  const trainSamples = readVocDataset(root, 'train', classes, { warn: () => undefined });
  const testSamples = readVocDataset(root, 'test', classes, { warn: () => undefined });

  // The batches, as the trainer orders them: epoch after epoch, each shuffled from the generator.
  const order: number[][] = [];
  let plan = planEpoch(trainSamples.length, new Rng(seed).getState());
  for (let position = 0; order.length < steps; position += batchSize) {
    if (position + batchSize > trainSamples.length) {
      plan = planEpoch(trainSamples.length, plan.next);
      position = 0;
    }
    order.push(batchRequest(plan, position, batchSize).indices);
  }
  const orderFile = path.join(out, 'order.json');
  fs.writeFileSync(orderFile, `${JSON.stringify(order)}\n`);
  console.log(`${root}: ${trainSamples.length} train, ${testSamples.length} test images; ${steps} steps of ${batchSize}; order in ${orderFile}`);

  // The project's model, made now: with --same-init, PyTorch starts from its weights too
  const kernels = await createKernels('wasm');
  const model = new SSD300({ nClasses: classes.length, widthDivisor, kernels, batchNorm: true, baseInit: 'kaiming', headInit, seed });
  const sameInit = process.argv.includes('--same-init');
  const initFile = path.join(out, 'initial.safetensors');
  if (sameInit) model.saveWeights(initFile);

  // PyTorch: once per seed from its own initialisation (their spread is the margin) and, with
  // --same-init, once more from the project's initial weights
  const torchRuns: { label: string; seed: number; ownInit: boolean; losses: StepLoss[]; mAP: number }[] = [];
  const plans = [
    ...(sameInit ? [{ seed: torchSeeds[0], init: true }] : []),
    ...torchSeeds.map((torchSeed) => ({ seed: torchSeed, init: false })),
  ];
  for (const { seed: torchSeed, init } of plans) {
    const name = init ? 'torch-same-init' : `torch-seed${torchSeed}`;
    const losses = path.join(out, `${name}.json`);
    const curve = path.join(out, `${name}-curve.json`);
    const args = [
      'scripts/torch_train.py', '--data', root, '--order', orderFile, '--steps', String(steps), '--lr', String(lr), '--warmup-steps', String(warmup),
      '--cosine-from', 'start', '--clip', String(clip), '--head-init', headInit, '--width-divisor', String(widthDivisor), '--seed', String(torchSeed),
      '--eval-at', '', '--losses', losses, '--json', curve, '--log-every', '50', ...(init ? ['--init', initFile] : []),
    ];
    console.log(`PyTorch, ${init ? "from the project's initial weights" : `seed ${torchSeed}`}: /usr/bin/python3 ${args.join(' ')}`);
    const run = spawnSync('/usr/bin/python3', args, { stdio: 'inherit' });
    if (run.status !== 0) throw new Error(`scripts/torch_train.py failed (exit code ${run.status})`);
    const record = JSON.parse(fs.readFileSync(curve, 'utf8')) as { curve: { mAP: number }[] };
    torchRuns.push({
      label: init ? "PyTorch, the project's initial weights" : `PyTorch seed ${torchSeed}`,
      seed: torchSeed, ownInit: !init,
      losses: JSON.parse(fs.readFileSync(losses, 'utf8')) as StepLoss[],
      mAP: record.curve[record.curve.length - 1].mAP,
    });
  }

  // The project, on the same batches
  model.train();
  const optimizer = ssdOptimizer(model, lr);
  const schedule = { kind: 'cosine' as const, lr, warmupSteps: warmup };
  const loader = new BatchLoader(diskSource(trainSamples), { workers: 2, augment: false, cacheBytes: 2 ** 31 });
  const ours: StepLoss[] = [];
  const started = Date.now();
  try {
    const ahead = order.slice(0, 3).map((indices) => loader.load({ indices, seeds: indices.map(() => 0) }));
    for (let step = 0; step < steps; step++) {
      const batch = await ahead[step];
      if (step + 3 < steps) ahead.push(loader.load({ indices: order[step + 3], seeds: order[step + 3].map(() => 0) }));
      optimizer.lr = learningRate(schedule, step, step / steps);
      const result = await trainStep(model, optimizer, batch.images, batch.targets, { maxGradNorm: clip });
      ours.push({ step: step + 1, loss: result.loss });
      if ((step + 1) % 50 === 0 || step === 0) console.log(`project step ${step + 1}: loss ${result.loss.toFixed(4)}, ${((Date.now() - started) / 1000 / (step + 1)).toFixed(2)} s/step`);
    }
  } finally {
    await loader.close();
  }
  const ourMap = (await evaluateModel(model, diskSource(testSamples))).mAP;
  await kernels.dispose();
  fs.writeFileSync(path.join(out, 'project.json'), `${JSON.stringify(ours)}\n`);

  // The comparison, on the losses smoothed over 10 steps (single steps are noisy: one hard batch)
  const ourSmooth = smoothed(ours);
  const torchSmooth = torchRuns.map((r) => smoothed(r.losses));
  // the margin: how far apart PyTorch's runs from its own initialisations are, window by window
  const ownInit = torchSmooth.filter((_, k) => torchRuns[k].ownInit);
  const margin = ourSmooth.map((_, k) => Math.max(...ownInit.map((a) => Math.max(...ownInit.map((b) => Math.abs(a[k].loss - b[k].loss))))));
  const gap = ourSmooth.map((p, k) => Math.min(...torchSmooth.map((t) => Math.abs(p.loss - t[k].loss))));
  const within = gap.filter((g, k) => g <= Math.max(margin[k], 0.05 * ourSmooth[k].loss)).length;
  const summary = {
    steps, batchSize, lr, warmup, clip, headInit, widthDivisor,
    project: { mAP: ourMap, smoothed: ourSmooth },
    torch: torchRuns.map((r, k) => ({ label: r.label, seed: r.seed, ownInit: r.ownInit, mAP: r.mAP, smoothed: torchSmooth[k] })),
    margin, gap, windowsWithinMargin: `${within} of ${gap.length}`,
  };
  fs.writeFileSync(path.join(out, 'compare.json'), `${JSON.stringify(summary, null, 1)}\n`);
  const colors: [number, number, number][] = [[213, 94, 0], [230, 159, 0], [204, 121, 167]];
  const series: Series[] = [
    { points: ourSmooth.map((p): [number, number] => [p.step, p.loss]), color: [0, 114, 178], label: `this project (mAP ${ourMap.toFixed(3)})` },
    ...torchRuns.map((r, k): Series => ({ points: torchSmooth[k].map((p): [number, number] => [p.step, p.loss]), color: colors[k % colors.length], label: `${r.label} (mAP ${r.mAP.toFixed(3)})` })),
  ];
  const maxLoss = Math.max(...series.flatMap((s) => s.points.map((p) => p[1])));
  writePng(path.join(out, 'compare.png'), renderCharts(`step for step: the same ${steps} batches of ${batchSize}, no augmentation`, [
    { title: 'loss (mean of 10 steps)', series, maxX: steps, maxY: Math.min(maxLoss, 3 * series[0].points[series[0].points.length - 1][1]), xLabel: 'step' },
  ]));
  console.log(`mAP after ${steps} steps: project ${ourMap.toFixed(4)}; ${torchRuns.map((r) => `${r.label} ${r.mAP.toFixed(4)}`).join(', ')}`);
  console.log(`loss (10-step means) within the PyTorch seeds' margin (or 5%): ${within} of ${gap.length} windows; wrote ${out}/compare.json and compare.png`);
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
