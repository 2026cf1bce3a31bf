#!/usr/bin/env node
// The `ssd` command: train, detect, eval, bench, summary (and make-synthetic, to write a
// VOC-layout data set of synthetic images). Run `ssd help` for the options.

import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { parseArgs } from 'util';
import { Kernels } from '../kernels/kernels';
import { createKernels, defaultBackendName } from '../kernels/select';
import { SSD300 } from '../ssd/ssd300';
import { formatSummary, summarize } from '../ssd/summary';
import { ApMethod } from '../ssd/evaluate';
import { VOC_CLASSES, readVocClassNames, readVocDataset, writeVocDataset } from '../data/voc';
import { readImage, writePng } from '../data/image';
import { makeSyntheticDataset, SYNTHETIC_CLASSES, SYNTHETIC_TASK } from '../data/synthetic';
import { DataSource, diskSource } from '../data/source';
import { train } from '../train/trainer';
import { SCHEDULE_KINDS, ScheduleKind } from '../train/schedule';
import { detectImages, evaluateModel, formatEvaluation } from '../train/evaluate';
import { drawDetections } from '../train/draw_detections';
import { augmentationPreview } from '../train/augmentation_preview';
import { loadModel } from './model_files';
import { EXPLAIN_USAGE, explainCommand } from './explain';

const USAGE = `usage: ssd <command> [options]

commands:
  summary         layers, output shapes, parameters and multiply-adds
                    --classes N (21)  --width-divisor D (1)  --batch B (1)
  detect IMAGE..  detect objects in PNG/JPEG images; prints boxes in pixels, writes annotated PNGs
                    --weights FILE (required)  --min-score S (0.5)  --max-overlap O (0.45)  --top-k K (200)
                    --out DIR (detections/)
  train           train on a Pascal VOC layout data set (ROOT/ImageSets/Main/SPLIT.txt, Annotations/, JPEGImages/)
                    --data ROOT (required)  --split S (trainval)
                    --classes voc|synthetic|a,b,c (default: the names in the annotations, sorted)
                    --out FILE (ssd300.safetensors: the checkpoint, also a weights file; curves in FILE.curves.png)
                    --resume FILE (continue exactly where a checkpoint stopped)
                    --batch-norm (a batch norm after every base and auxiliary conv: trains from scratch)
                    --width-divisor D (1)  --epochs E (1)  --batch B (8)  --max-minutes M
                    --max-steps N (stops the run; the schedule follows --epochs, or --max-minutes if it ends first)
                    --lr LR (1e-3; with --batch-norm 0.015 x batch / 8)  --schedule cosine|steps|constant (cosine)
                    --warmup W (100 steps)  --max-grad-norm G (10)  --no-augment  --seed S (0)
                    --checkpoint-every N|Mm (steps, or minutes with 'm': 500 or 10m)
                    --eval-every E (epochs)  --eval-split S (test)  --diagnose N (layer statistics, first N steps)
                    --base-init kaiming|pytorch (kaiming: the base is trained from scratch here)
  augment-preview write a PNG of training images as the augmentations make them, with their boxes
                    --data ROOT (required)  --split S (trainval)  --classes ...  --count N (8)  --seed S (0)
                    --out FILE (augmented.png)
  eval            VOC mAP of a model on a data set (minScore 0.01, NMS 0.45, top 200)
                    --weights FILE (required)  --data ROOT (required)  --split S (test)  --method 11point|area
  make-synthetic  write a synthetic data set (circles, squares, triangles) in the VOC layout
                    --out ROOT (required)  --train N (200)  --test N (50)  --seed S (0)
                    --max-objects K (3)  --min-side F (0.1)  --max-side F (0.6): object sides as fractions of the image
  bench           benchmarks: kernels, then the whole network (extra options go to both)
${EXPLAIN_USAGE}

every command: --backend reference|wasm|cpu|gpu.js:webasm|gpu.js:headlessgl|gpu.js:cpu (default: $SSD_BACKEND, else wasm where WebAssembly SIMD works, else cpu)
               --threads N (wasm and cpu backends; default: all cores)`;

const OPTIONS = {
  backend: { type: 'string' },
  threads: { type: 'string' },
  classes: { type: 'string' },
  'width-divisor': { type: 'string' },
  batch: { type: 'string' },
  weights: { type: 'string' },
  'min-score': { type: 'string' },
  'max-overlap': { type: 'string' },
  'top-k': { type: 'string' },
  out: { type: 'string' },
  data: { type: 'string' },
  split: { type: 'string' },
  resume: { type: 'string' },
  epochs: { type: 'string' },
  lr: { type: 'string' },
  warmup: { type: 'string' },
  'max-grad-norm': { type: 'string' },
  'max-steps': { type: 'string' },
  'max-minutes': { type: 'string' },
  'no-augment': { type: 'boolean' },
  'batch-norm': { type: 'boolean' },
  schedule: { type: 'string' },
  'checkpoint-every': { type: 'string' },
  'eval-every': { type: 'string' },
  'eval-split': { type: 'string' },
  diagnose: { type: 'string' },
  count: { type: 'string' },
  'max-objects': { type: 'string' },
  'min-side': { type: 'string' },
  'max-side': { type: 'string' },
  'base-init': { type: 'string' },
  seed: { type: 'string' },
  method: { type: 'string' },
  train: { type: 'string' },
  test: { type: 'string' },
  quick: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** A numeric option: its default when absent, an error naming it when not a number. */
function num(values: Values, name: keyof typeof OPTIONS, fallback: number, integer = false): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || (integer && !Number.isInteger(v))) throw new Error(`--${name}: expected ${integer ? 'an integer' : 'a number'}, got '${raw}'`);
  return v;
}

/** A numeric option that must be above a bound (e.g. a batch of at least 1), or absent. */
function positive(values: Values, name: keyof typeof OPTIONS, integer: boolean): number | undefined {
  if (values[name] === undefined) return undefined;
  const v = num(values, name, 0, integer);
  if (!(v > 0)) throw new Error(`--${name}: expected a positive ${integer ? 'integer' : 'number'}, got '${values[name]}'`);
  return v;
}

function required(values: Values, name: keyof typeof OPTIONS): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new Error(`--${name} is required (see \`ssd help\`)`);
  return v;
}

function classList(spec: string): string[] {
  if (spec === 'voc') return [...VOC_CLASSES];
  if (spec === 'synthetic') return [...SYNTHETIC_CLASSES];
  const names = spec.split(',').map((s) => s.trim());
  if (names.length === 0 || names.some((n) => n === '')) throw new Error(`--classes: expected voc, synthetic or a comma-separated list, got '${spec}'`);
  return ['background', ...names.filter((n) => n !== 'background')];
}

async function backend(values: Values): Promise<Kernels> {
  const name = values.backend ?? defaultBackendName();
  const kernels = await createKernels(name, { threads: values.threads === undefined ? undefined : num(values, 'threads', 1, true) });
  console.error(`backend: ${kernels.name}${values.backend === undefined ? ' (default; choose with --backend)' : ''}`);
  return kernels;
}

/** Fail before training, not after the first epoch, if the checkpoint cannot be written. */
function checkWritable(file: string): void {
  const dir = path.dirname(path.resolve(file));
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new Error(`--out ${file}: cannot write there (${(e as Error).message})`);
  }
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new Error(`--out ${file}: is a directory`);
}

async function main(argv: string[]): Promise<void> {
  const command = argv[0];
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return;
  }
  if (command === 'bench') {
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log('usage: ssd bench [--quick] [--json FILE] [--backend NAME]: the kernel benchmarks, then the whole network (see README, Benchmarks)');
      return;
    }
    const dist = path.join(__dirname, '..', 'bench');
    for (const script of ['kernels.bench.js', 'ssd.bench.js']) {
      const r = spawnSync(process.execPath, [path.join(dist, script), ...argv.slice(1)], { stdio: 'inherit' });
      if (r.status !== 0) process.exit(r.status ?? 1);
    }
    return;
  }
  if (command === 'explain') {
    await explainCommand(argv.slice(1));
    return;
  }
  const { values, positionals } = parseArgs({ args: argv.slice(1), options: OPTIONS, allowPositionals: true, strict: true });
  const v = values as Values;
  if (v.help) {
    console.log(USAGE);
    return;
  }

  switch (command) {
    case 'summary': {
      const model = new SSD300({ nClasses: num(v, 'classes', 21, true), widthDivisor: num(v, 'width-divisor', 1, true) });
      console.log(formatSummary(summarize(model, num(v, 'batch', 1, true))));
      return;
    }
    case 'make-synthetic': {
      const root = required(v, 'out');
      const seed = num(v, 'seed', 0, true);
      const classes = [...SYNTHETIC_CLASSES];
      const task = {
        ...SYNTHETIC_TASK,
        maxObjects: positive(v, 'max-objects', true) ?? SYNTHETIC_TASK.maxObjects,
        minSide: positive(v, 'min-side', false) ?? SYNTHETIC_TASK.minSide,
        maxSide: positive(v, 'max-side', false) ?? SYNTHETIC_TASK.maxSide,
      };
      writeVocDataset(root, 'trainval', makeSyntheticDataset(num(v, 'train', 200, true), seed, task), classes);
      writeVocDataset(root, 'test', makeSyntheticDataset(num(v, 'test', 50, true), seed + 1, task), classes);
      console.log(`wrote ${root}: splits trainval and test; train with --classes synthetic`);
      return;
    }
    case 'detect': {
      if (positionals.length === 0) throw new Error('detect: give at least one image file');
      const kernels = await backend(v);
      const { model, classes } = loadModel(required(v, 'weights'), kernels);
      const outDir = v.out ?? 'detections';
      fs.mkdirSync(outDir, { recursive: true });
      const minScore = num(v, 'min-score', 0.5);
      for (const file of positionals) {
        const image = readImage(file);
        const [found] = await detectImages(model, [image], {
          minScore,
          maxOverlap: num(v, 'max-overlap', 0.45),
          topK: num(v, 'top-k', 200, true),
        });
        console.log(`${file}: ${found.length} object${found.length === 1 ? '' : 's'}`);
        for (const d of found) {
          const px = [d.box[0] * image.width, d.box[1] * image.height, d.box[2] * image.width, d.box[3] * image.height].map((c) => Math.round(c));
          console.log(`  ${classes[d.label].padEnd(12)} ${d.score.toFixed(3)}  [${px.join(', ')}]`);
        }
        const outFile = path.join(outDir, `${path.parse(file).name}.detections.png`);
        writePng(outFile, drawDetections(image, found, classes, minScore));
        console.log(`  -> ${outFile}`);
      }
      await kernels.dispose();
      return;
    }
    case 'train': {
      const root = required(v, 'data');
      const split = v.split ?? 'trainval';
      // every option checked before anything runs or is written
      const batchSize = positive(v, 'batch', true) ?? 8;
      const epochs = positive(v, 'epochs', true) ?? 1;
      const maxSteps = positive(v, 'max-steps', true);
      const maxMinutes = positive(v, 'max-minutes', false);
      const batchNorm = v['batch-norm'] === true;
      // batch norm takes large rates: 0.015 at batch 8, scaled with the batch (the linear scaling rule)
      const lr = positive(v, 'lr', false) ?? (batchNorm ? (0.015 * batchSize) / 8 : 1e-3);
      const warmupSteps = num(v, 'warmup', 100, true);
      if (warmupSteps < 0) throw new Error(`--warmup: expected a non-negative integer, got '${v.warmup}'`);
      const maxGradNorm = positive(v, 'max-grad-norm', false) ?? 10;
      const schedule = (v.schedule ?? 'cosine') as ScheduleKind;
      if (!SCHEDULE_KINDS.includes(schedule)) throw new Error(`--schedule: expected ${SCHEDULE_KINDS.join(', ')}, got '${schedule}'`);
      const every = v['checkpoint-every'];
      let checkpointEverySteps: number | undefined;
      let checkpointEveryMinutes: number | undefined;
      if (every !== undefined) {
        const minutes = /^([0-9.]+)m$/.exec(every);
        const value = Number(minutes === null ? every : minutes[1]);
        if (!(value > 0) || (minutes === null && !Number.isInteger(value))) throw new Error(`--checkpoint-every: expected a number of steps (500) or minutes (10m), got '${every}'`);
        if (minutes === null) checkpointEverySteps = value;
        else checkpointEveryMinutes = value;
      }
      const evalEvery = positive(v, 'eval-every', true);
      const diagnoseSteps = positive(v, 'diagnose', true);
      const seed = num(v, 'seed', 0, true);
      const out = v.out ?? 'ssd300.safetensors';
      checkWritable(out);
      const kernels = await backend(v);

      const classes = v.classes !== undefined ? classList(v.classes) : readVocClassNames(root, split);
      if (v.classes === undefined) console.log(`classes (from the annotations): ${classes.slice(1).join(', ')}`);
      const trainSet = diskSource(readVocDataset(root, split, classes));
      let evalData: DataSource | undefined;
      if (evalEvery !== undefined) evalData = diskSource(readVocDataset(root, v['eval-split'] ?? 'test', classes));
      let model: SSD300;
      if (v.resume !== undefined) {
        model = loadModel(v.resume, kernels).model;
        if (model.nClasses !== classes.length) throw new Error(`--resume ${v.resume}: has ${model.nClasses} classes, the data set ${classes.length}`);
      } else {
        const baseInit = v['base-init'] ?? 'kaiming';
        if (baseInit !== 'kaiming' && baseInit !== 'pytorch') throw new Error(`--base-init: expected kaiming or pytorch, got '${baseInit}'`);
        model = new SSD300({ nClasses: classes.length, widthDivisor: num(v, 'width-divisor', 1, true), kernels, seed, baseInit, batchNorm });
      }
      console.log(
        `training on ${trainSet.length} images, ${classes.length} classes, width divisor ${model.widthDivisor}${model.batchNorm ? ', batch norm' : ''}; ` +
          `lr ${lr} (${schedule}, warm-up ${warmupSteps}); checkpoints to ${out}`,
      );
      const result = await train(model, trainSet, {
        batchSize, epochs, maxSteps, maxMinutes, maxGradNorm, seed, out, classes, evalEvery, evalData, diagnoseSteps,
        checkpointEverySteps, checkpointEveryMinutes,
        schedule: { kind: schedule, lr, warmupSteps },
        augment: !v['no-augment'],
        resume: v.resume,
        progressBar: process.stdout.isTTY === true,
        log: (line) => console.log(line),
      });
      const why = { epochs: `${epochs} epoch(s) done`, 'max-steps': `--max-steps ${maxSteps} reached`, time: `--max-minutes ${maxMinutes} used`, interrupted: 'interrupted (Ctrl-C)' }[result.stoppedBy];
      console.log(`stopped after step ${result.steps}: ${why}; checkpoint saved to ${out} (resume with --resume ${out})`);
      await kernels.dispose();
      if (result.stoppedBy === 'interrupted') process.exit(130);
      return;
    }
    case 'augment-preview': {
      const root = required(v, 'data');
      const split = v.split ?? 'trainval';
      const classes = v.classes !== undefined ? classList(v.classes) : readVocClassNames(root, split);
      const out = v.out ?? 'augmented.png';
      const count = positive(v, 'count', true) ?? 8;
      writePng(out, augmentationPreview(diskSource(readVocDataset(root, split, classes)), classes, count, num(v, 'seed', 0, true)));
      console.log(`wrote ${out}: ${count} training images as the augmentations make them, with their boxes`);
      return;
    }
    case 'eval': {
      const kernels = await backend(v);
      const { model, classes } = loadModel(required(v, 'weights'), kernels);
      const samples = readVocDataset(required(v, 'data'), v.split ?? 'test', classes);
      const method = (v.method ?? '11point') as ApMethod;
      if (method !== '11point' && method !== 'area') throw new Error(`--method: expected 11point or area, got '${method}'`);
      const result = await evaluateModel(model, diskSource(samples), method, (line) => console.error(line));
      await kernels.dispose();
      if (Number.isNaN(result.mAP)) {
        // every object of the split is marked difficult: no class has an object that counts
        throw new Error(`${v.data} (${v.split ?? 'test'}): no class has an object that counts (all are 'difficult'), so there is no mAP`);
      }
      console.log(formatEvaluation(result, classes, method));
      return;
    }
    default:
      throw new Error(`unknown command '${command}'\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`ssd: ${e.message}`);
    process.exit(1);
  },
);
