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
import { VOC_CLASSES, readVocDataset, writeVocDataset } from '../data/voc';
import { readImage, writePng } from '../data/image';
import { makeSyntheticDataset, SYNTHETIC_CLASSES } from '../data/synthetic';
import { detect, diskSource, drawDetections, evaluate, formatEvaluation, loadModel, saveModel, train } from './pipeline';
import { EXPLAIN_USAGE, explainCommand } from './explain';

const USAGE = `usage: ssd <command> [options]

commands:
  summary         layers, output shapes, parameters and multiply-adds
                    --classes N (21)  --width-divisor D (1)  --batch B (1)
  detect IMAGE..  detect objects in PNG/JPEG images; prints boxes in pixels, writes annotated PNGs
                    --weights FILE (required)  --min-score S (0.3)  --max-overlap O (0.45)  --top-k K (200)
                    --out DIR (detections/)
  train           train on a Pascal VOC layout data set (ROOT/ImageSets/Main/SPLIT.txt, Annotations/, JPEGImages/)
                    --data ROOT (required)  --split S (trainval)  --classes voc|synthetic|a,b,c (voc)
                    --out FILE (ssd300.safetensors)  --resume FILE  --width-divisor D (1)
                    --epochs E (1)  --batch B (8)  --lr LR (1e-3)  --warmup W (100)  --max-grad-norm G (10)
                    --max-steps N  --max-minutes M  --no-augment  --seed S (0)
                    --base-init kaiming|pytorch (kaiming: the base is trained from scratch here)
  eval            VOC mAP of a model on a data set (minScore 0.01, NMS 0.45, top 200)
                    --weights FILE (required)  --data ROOT (required)  --split S (test)  --method 11point|area
  make-synthetic  write a synthetic data set (circles, squares, triangles) in the VOC layout
                    --out ROOT (required)  --train N (200)  --test N (50)  --seed S (0)
  bench           benchmarks: kernels, then the whole network (extra options go to both)
${EXPLAIN_USAGE}

every command: --backend reference|cpu|gpu.js:webasm|gpu.js:headlessgl|gpu.js:cpu (default: $SSD_BACKEND or cpu)
               --threads N (cpu backend; default: all cores)`;

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

async function main(argv: string[]): Promise<void> {
  const command = argv[0];
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return;
  }
  if (command === 'bench') {
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
      writeVocDataset(root, 'trainval', makeSyntheticDataset(num(v, 'train', 200, true), seed), classes);
      writeVocDataset(root, 'test', makeSyntheticDataset(num(v, 'test', 50, true), seed + 1), classes);
      console.log(`wrote ${root}: splits trainval and test; train with --classes synthetic`);
      return;
    }
    case 'detect': {
      if (positionals.length === 0) throw new Error('detect: give at least one image file');
      const kernels = await backend(v);
      const { model, classes } = loadModel(required(v, 'weights'), kernels);
      const outDir = v.out ?? 'detections';
      fs.mkdirSync(outDir, { recursive: true });
      for (const file of positionals) {
        const image = readImage(file);
        const [found] = await detect(model, [image], {
          minScore: num(v, 'min-score', 0.3),
          maxOverlap: num(v, 'max-overlap', 0.45),
          topK: num(v, 'top-k', 200, true),
        });
        console.log(`${file}: ${found.length} object${found.length === 1 ? '' : 's'}`);
        for (const d of found) {
          const px = [d.box[0] * image.width, d.box[1] * image.height, d.box[2] * image.width, d.box[3] * image.height].map((c) => Math.round(c));
          console.log(`  ${classes[d.label].padEnd(12)} ${d.score.toFixed(3)}  [${px.join(', ')}]`);
        }
        const outFile = path.join(outDir, `${path.parse(file).name}.detections.png`);
        writePng(outFile, drawDetections(image, found));
        console.log(`  -> ${outFile}`);
      }
      await kernels.dispose();
      return;
    }
    case 'train': {
      const kernels = await backend(v);
      const classes = classList(v.classes ?? 'voc');
      const samples = readVocDataset(required(v, 'data'), v.split ?? 'trainval', classes);
      let model: SSD300;
      if (v.resume !== undefined) {
        model = loadModel(v.resume, kernels).model;
        if (model.nClasses !== classes.length) throw new Error(`--resume ${v.resume}: has ${model.nClasses} classes, the data set ${classes.length}`);
      } else {
        const baseInit = v['base-init'] ?? 'kaiming';
        if (baseInit !== 'kaiming' && baseInit !== 'pytorch') throw new Error(`--base-init: expected kaiming or pytorch, got '${baseInit}'`);
        model = new SSD300({ nClasses: classes.length, widthDivisor: num(v, 'width-divisor', 1, true), kernels, seed: num(v, 'seed', 0, true), baseInit });
      }
      const out = v.out ?? 'ssd300.safetensors';
      console.log(`training on ${samples.length} images, ${classes.length} classes, width divisor ${model.widthDivisor}; checkpoints to ${out}`);
      const maxMinutes = v['max-minutes'] === undefined ? undefined : num(v, 'max-minutes', 0);
      await train(model, diskSource(samples), {
        epochs: num(v, 'epochs', 1, true),
        batchSize: num(v, 'batch', 8, true),
        lr: num(v, 'lr', 1e-3),
        warmupSteps: num(v, 'warmup', 100, true),
        maxGradNorm: num(v, 'max-grad-norm', 10),
        augment: !v['no-augment'],
        seed: num(v, 'seed', 0, true),
        maxSteps: v['max-steps'] === undefined ? undefined : num(v, 'max-steps', 0, true),
        maxSeconds: maxMinutes === undefined ? undefined : maxMinutes * 60,
        checkpoint: out,
        classes,
        log: (line) => console.log(line),
      });
      saveModel(model, out, classes);
      console.log(`saved ${out}`);
      await kernels.dispose();
      return;
    }
    case 'eval': {
      const kernels = await backend(v);
      const { model, classes } = loadModel(required(v, 'weights'), kernels);
      const samples = readVocDataset(required(v, 'data'), v.split ?? 'test', classes);
      const method = (v.method ?? '11point') as ApMethod;
      if (method !== '11point' && method !== 'area') throw new Error(`--method: expected 11point or area, got '${method}'`);
      const result = await evaluate(model, diskSource(samples), method, (line) => console.error(line));
      console.log(formatEvaluation(result, classes, method));
      await kernels.dispose();
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
