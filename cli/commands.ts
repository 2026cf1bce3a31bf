// The `ssd` command's work (cli/ssd.ts starts it): train, detect, eval, bench, summary, explain
// (and make-synthetic, to write a VOC-layout data set of synthetic images, and augment-preview).
// `ssd help` lists every command; `ssd <command> --help` prints one command's options and examples
// (cli/help.ts). This file reads the options, checks them all before anything runs or is written,
// and calls the library.

import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { parseArgs } from 'util';
import { Kernels } from '../kernels/kernels';
import { BACKEND_NAMES, createKernels, defaultBackendName, isBackendName } from '../kernels/select';
import { CONV_ALGORITHMS, ConvAlgorithm } from '../kernels/wasm';
import { SSD300, WIDTH_DIVISORS } from '../ssd/ssd300';
import { formatSummary, summarize } from '../ssd/summary';
import { ApMethod } from '../ssd/evaluate';
import { readVocClassNames, readVocDataset, writeVocDataset } from '../data/voc';
import { DEFAULT_MAX_PIXELS, DecodeOptions, readImage, writePng } from '../data/image_files';
import { makeSyntheticDataset, SYNTHETIC_CLASSES, SYNTHETIC_TASK } from '../data/synthetic';
import { Sample, samplesFingerprint } from '../data/annotations';
import { DataSource, diskSource } from '../data/source';
import { DEFAULT_WORKERS, curvesPath, train } from '../train/trainer';
import { DEFAULT_CACHE_BYTES } from '../train/loader';
import { AugmentSteps } from '../data/augment';
import { withFingerprint } from '../train/checkpoint';
import { SCHEDULE_KINDS, ScheduleKind } from '../train/schedule';
import { detectImages, evaluateModel, formatEvaluation } from '../train/evaluate';
import { drawDetections } from '../train/draw_detections';
import { augmentationPreview } from '../train/augmentation_preview';
import { loadModel } from './model_files';
import { explainCommand } from './explain';
import { commandHelp, isCommandName, overview } from './help';
import { classList, fraction, num, positive, required, threadCount, valuesGlued } from './options';
import { checkCanWrite, lockOutput, makeDirectory } from '../tensor/files';
import { uniqueOutputNames } from './output_names';
import { NamedPath, checkOutputs } from './outputs';

const OPTIONS = {
  backend: { type: 'string' },
  'conv-algorithm': { type: 'string' },
  threads: { type: 'string' },
  classes: { type: 'string' },
  'width-divisor': { type: 'string' },
  batch: { type: 'string' },
  weights: { type: 'string' },
  'min-score': { type: 'string' },
  'max-overlap': { type: 'string' },
  'top-k': { type: 'string' },
  'max-pixels': { type: 'string' },
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
  augment: { type: 'string' },
  'warmup-share': { type: 'string' },
  'head-init': { type: 'string' },
  workers: { type: 'string' },
  'cache-mb': { type: 'string' },
  profile: { type: 'boolean' },
  'batch-norm': { type: 'boolean' },
  'allow-empty': { type: 'boolean' },
  'skip-bad': { type: 'boolean' },
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
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** --max-pixels, for every command that reads images. */
function decodeOptions(values: Values): DecodeOptions {
  return { maxPixels: positive(values, 'max-pixels', true) ?? DEFAULT_MAX_PIXELS };
}

async function backend(values: Values): Promise<Kernels> {
  const name = values.backend ?? defaultBackendName();
  const convAlgorithm = values['conv-algorithm'];
  if (convAlgorithm !== undefined && !(CONV_ALGORITHMS as readonly string[]).includes(convAlgorithm)) {
    throw new Error(`--conv-algorithm: expected one of ${CONV_ALGORITHMS.join(', ')}, got '${convAlgorithm}'`);
  }
  const kernels = await createKernels(name, { threads: threadCount(values), convAlgorithm: convAlgorithm as ConvAlgorithm | undefined });
  console.error(`backend: ${kernels.name}${values.backend === undefined ? ' (default; choose with --backend)' : ''}`);
  return kernels;
}

/** Make `dir` if needed and check that it can be written, before any work; `refusal` starts the error. */
function checkWritableDirectory(dir: string, refusal: string): void {
  try {
    makeDirectory(dir);
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new Error(`${refusal} (${(e as Error).message})`);
  }
}

/**
 * Fail before any work, not after the first epoch, if an output file cannot be written: its
 * folder is made and a file of the temporary's name (the longest name the write uses) is created
 * and removed there. A 100,000-character --out used to fail only after training.
 */
function checkWritable(file: string, what: string): void {
  checkWritableDirectory(path.dirname(path.resolve(file)), `--out ${file}: cannot write there`);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new Error(`--out ${file}: is a directory`);
  try {
    checkCanWrite(file, what); // its message names the file: "FILE: cannot write WHAT there (why)"
  } catch (e) {
    throw new Error(`--out ${(e as Error).message}`);
  }
}

/** Every file of a data set that a command reads: the images and annotations, by their own names (links included). */
function dataSetFiles(samples: readonly Sample[]): NamedPath[] {
  return samples.flatMap((s) => [
    { path: s.imagePath, what: 'the data set\'s image' },
    ...(s.annotationPath === undefined ? [] : [{ path: s.annotationPath, what: 'the data set\'s annotation' }]),
  ]);
}

/** Take the lock of an output for this run (see lockOutput); a stale lock taken over is said on stderr. */
function lock(output: string, what: string): void {
  lockOutput(output, what, (message) => console.error(message));
}

/** The class list: --classes, else the names in the annotations (printed, so the user sees them). */
function classesOf(v: Values, root: string, split: string): string[] {
  if (v.classes !== undefined) return classList(v.classes);
  const classes = readVocClassNames(root, split, { skipBad: v['skip-bad'] === true });
  console.log(`classes (from the annotations): ${classes.slice(1).join(', ')}`);
  return classes;
}

function summaryCommand(v: Values): void {
  const nClasses = num(v, 'classes', 21, true);
  if (nClasses < 2) throw new Error(`--classes: expected the number of classes with the background, at least 2, got '${v.classes}'`);
  const model = new SSD300({ nClasses, widthDivisor: num(v, 'width-divisor', 1, true) });
  console.log(formatSummary(summarize(model, positive(v, 'batch', true) ?? 1)));
}

function makeSyntheticCommand(v: Values): void {
  const root = required(v, 'out', 'make-synthetic');
  const seed = num(v, 'seed', 0, true);
  const classes = [...SYNTHETIC_CLASSES];
  const task = {
    ...SYNTHETIC_TASK,
    maxObjects: positive(v, 'max-objects', true) ?? SYNTHETIC_TASK.maxObjects,
    minSide: fraction(v, 'min-side', SYNTHETIC_TASK.minSide ?? 0.1),
    maxSide: fraction(v, 'max-side', SYNTHETIC_TASK.maxSide ?? 0.6),
  };
  if (!(task.minSide > 0 && task.minSide <= task.maxSide)) {
    throw new Error(`--min-side ${task.minSide} and --max-side ${task.maxSide}: need 0 < min-side <= max-side <= 1`);
  }
  checkWritableDirectory(root, `--out ${root}: cannot write the data set there`);
  lock(path.join(root, '.ssd-make-synthetic'), `the data set ${root}`);
  writeVocDataset(root, 'trainval', makeSyntheticDataset(positive(v, 'train', true) ?? 200, seed, task), classes);
  writeVocDataset(root, 'test', makeSyntheticDataset(positive(v, 'test', true) ?? 50, seed + 1, task), classes);
  console.log(`wrote ${root}: splits trainval and test; train with --classes synthetic`);
}

/** A box in pixels of the image, clipped to it; `clipped` says whether the box reached past an edge. */
function boxInPixels(box: readonly number[], width: number, height: number): { pixels: number[]; clipped: boolean } {
  const sizes = [width, height, width, height];
  const clippedBox = box.map((c) => Math.min(Math.max(c, 0), 1));
  return { pixels: clippedBox.map((c, k) => Math.round(c * sizes[k])), clipped: clippedBox.some((c, k) => c !== box[k]) };
}

/**
 * Every image is tried: a bad one is reported (on stderr, with its file) and the others go on;
 * the command fails at the end if any image did.
 */
async function detectCommand(v: Values, files: readonly string[]): Promise<void> {
  if (files.length === 0) throw new Error('detect: give at least one image file (see `ssd detect --help`)');
  const weights = required(v, 'weights', 'detect');
  const minScore = fraction(v, 'min-score', 0.5);
  const options = { minScore, maxOverlap: fraction(v, 'max-overlap', 0.45), topK: positive(v, 'top-k', true) ?? 200 };
  const decode = decodeOptions(v);
  const outDir = v.out ?? 'detections';
  const outNames = uniqueOutputNames(files);
  const outFiles = outNames.map((name) => path.join(outDir, `${name}.detections.png`));
  // a picture must never replace an input (an image called X.detections.png, the weights): it
  // would be overwritten, and then read back as an input
  checkOutputs(
    outFiles.map((f, i) => ({ path: f, what: `the picture of ${files[i]}` })),
    [...files.map((f) => ({ path: f, what: 'the input image' })), { path: weights, what: 'the --weights file' }],
  );
  threadCount(v);
  const kernels = await backend(v);
  const failed: string[] = [];
  try {
    const { model, classes } = loadModel(weights, kernels);
    checkWritableDirectory(outDir, `--out ${outDir}: cannot write pictures there`);
    lock(path.join(outDir, '.ssd-detect'), `the pictures in ${outDir}`);
    for (const [i, file] of files.entries()) {
      try {
        const image = readImage(file, decode);
        const [found] = await detectImages(model, [image], { ...options, names: [file] });
        console.log(`${file}: ${found.length} object${found.length === 1 ? '' : 's'}${found.length > 0 ? ' (x1, y1, x2, y2 in pixels, clipped to the image)' : ''}`);
        for (const d of found) {
          const { pixels, clipped } = boxInPixels(d.box, image.width, image.height);
          console.log(`  ${classes[d.label].padEnd(12)} ${d.score.toFixed(3)}  [${pixels.join(', ')}]${clipped ? '  clipped' : ''}`);
        }
        const outFile = outFiles[i];
        writePng(outFile, drawDetections(image, found, classes, minScore));
        console.log(`  -> ${outFile}`);
      } catch (e) {
        const message = (e as Error).message;
        console.error(`ssd: ${message.includes(file) ? message : `${file}: ${message}`}`);
        failed.push(file);
      }
    }
  } finally {
    await kernels.dispose();
  }
  if (failed.length > 0) throw new Error(`detect: ${failed.length} of ${files.length} image(s) failed: ${failed.join(', ')}`);
}

/**
 * What `ssd train --batch-norm` trains with when not told otherwise: batch 16 at lr 0.01 (scaled
 * with --batch), a warm-up of 5% of the run, prediction convs starting at std 0.01, and the
 * augmentations' crop and flip. Measured on real photographs (npm run real-set; the README's
 * "Training on real photographs" has the runs): at lr 0.03, the rate PyTorch's recipe in the
 * issue used, both this project and PyTorch diverged (the confidence loss rose to 16-18 and
 * hundreds; mAP 0.00 and 0.02 after 5 and 3 minutes), at 0.02 the loss spiked (grad norm 227,
 * mAP 0.002 after 5 minutes), at 0.01 it fell steadily. The heads at std 0.01 start the loss at 12
 * (as PyTorch's twin) instead of 42 with Xavier's larger weights.
 */
const RECIPE = { batch: 16, lr: 0.01, warmupShare: 0.05, headInit: 'normal' as const, augment: ['crop', 'flip'] };

const AUGMENT_STEP_NAMES = ['photometric', 'expand', 'crop', 'flip'] as const;

/** --augment all|a,b,c (of photometric, expand, crop, flip): which augmentations train uses. */
function augmentationSteps(v: Values, batchNorm: boolean): AugmentSteps {
  const text = v.augment ?? (batchNorm ? RECIPE.augment.join(',') : 'all');
  const names = text === 'all' ? [...AUGMENT_STEP_NAMES] : text.split(',').map((s) => s.trim());
  for (const name of names) {
    if (!(AUGMENT_STEP_NAMES as readonly string[]).includes(name)) throw new Error(`--augment: expected all or a list of ${AUGMENT_STEP_NAMES.join(', ')}, got '${name}'`);
  }
  if (v.augment !== undefined && v['no-augment'] === true) throw new Error('--augment and --no-augment: give one of them');
  return { photometric: names.includes('photometric'), expand: names.includes('expand'), crop: names.includes('crop'), flip: names.includes('flip') };
}

function augmentText(none: boolean, steps: AugmentSteps): string {
  if (none) return 'none';
  const on = AUGMENT_STEP_NAMES.filter((name) => steps[name]);
  return on.length === 0 ? 'none' : on.join(', ');
}

async function trainCommand(v: Values): Promise<void> {
  const root = required(v, 'data', 'train');
  const split = v.split ?? 'trainval';
  // every option checked before anything runs or is written
  const batchNorm = v['batch-norm'] === true;
  const batchSize = positive(v, 'batch', true) ?? (batchNorm ? RECIPE.batch : 8);
  const maxSteps = positive(v, 'max-steps', true);
  const maxMinutes = positive(v, 'max-minutes', false);
  // --max-minutes alone trains for that long (as many epochs as fit); otherwise 1 epoch by default
  const epochs = positive(v, 'epochs', true) ?? (maxMinutes !== undefined ? Infinity : 1);
  const lrOption = positive(v, 'lr', false);
  if (v.warmup !== undefined && v['warmup-share'] !== undefined) throw new Error('--warmup and --warmup-share: give one of them (steps, or a share of the run)');
  const warmupSteps = num(v, 'warmup', v['warmup-share'] === undefined && !batchNorm ? 100 : 0, true);
  if (warmupSteps < 0) throw new Error(`--warmup: expected a non-negative integer, got '${v.warmup}'`);
  const warmupShare = v.warmup !== undefined ? undefined : v['warmup-share'] !== undefined ? fraction(v, 'warmup-share', 0) : batchNorm ? RECIPE.warmupShare : undefined;
  if (warmupShare !== undefined && !(warmupShare < 1)) throw new Error(`--warmup-share: expected a share of the run below 1, got '${v['warmup-share']}'`);
  const headInit = v['head-init'] ?? (batchNorm ? RECIPE.headInit : 'xavier');
  if (headInit !== 'xavier' && headInit !== 'normal') throw new Error(`--head-init: expected xavier or normal, got '${headInit}'`);
  const augmentSteps = augmentationSteps(v, batchNorm);
  const workers = num(v, 'workers', DEFAULT_WORKERS, true);
  if (!(workers >= 0 && workers <= 16)) throw new Error(`--workers: expected 0 to 16 input pipeline threads, got '${v.workers}'`);
  const cacheMb = num(v, 'cache-mb', DEFAULT_CACHE_BYTES / 2 ** 20);
  if (!(cacheMb >= 0)) throw new Error(`--cache-mb: expected a non-negative number of megabytes, got '${v['cache-mb']}'`);
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
  const baseInit = v['base-init'] ?? 'kaiming';
  if (baseInit !== 'kaiming' && baseInit !== 'pytorch') throw new Error(`--base-init: expected kaiming or pytorch, got '${baseInit}'`);
  const decode = decodeOptions(v);
  const widthDivisor = v['width-divisor'] === undefined ? undefined : num(v, 'width-divisor', 1, true);
  if (widthDivisor !== undefined && !WIDTH_DIVISORS.includes(widthDivisor)) {
    throw new Error(`--width-divisor: expected one of ${WIDTH_DIVISORS.join(', ')}, got '${v['width-divisor']}'`);
  }
  threadCount(v);
  const out = v.out ?? 'ssd300.safetensors';
  const outputs = [
    { path: out, what: 'the checkpoint (--out)' },
    { path: curvesPath(out), what: 'the training curves' },
  ];
  // The checkpoint may be the one resumed from (that is how a run goes on); nothing else may be an input.
  const resumeFile = v.resume === undefined ? [] : [{ path: v.resume, what: 'the --resume checkpoint' }];
  checkOutputs(outputs, [], [{ path: root, what: 'the data set' }]);
  checkOutputs(outputs.slice(1), resumeFile);
  for (const o of outputs) checkWritable(o.path, o.what);
  lock(out, 'the checkpoint');

  const classes = classesOf(v, root, split);
  const readOptions = { allowEmpty: v['allow-empty'] === true, skipBad: v['skip-bad'] === true, decode };
  const samples = readVocDataset(root, split, classes, readOptions);
  const evalSamples = evalEvery === undefined ? undefined : readVocDataset(root, v['eval-split'] ?? 'test', classes, { ...readOptions, allowEmpty: true });
  // the data set's files by their own names too: an image of it may be a link to a file elsewhere
  checkOutputs(outputs, [...dataSetFiles(samples), ...dataSetFiles(evalSamples ?? [])]);
  const trainSet = withFingerprint(diskSource(samples, decode), samplesFingerprint(samples, root));
  // evaluation counts the false positives on images without objects: they are always welcome there
  const evalData: DataSource | undefined = evalSamples === undefined ? undefined : diskSource(evalSamples, decode);
  const kernels = await backend(v);
  let model: SSD300;
  if (v.resume !== undefined) {
    // the model is the checkpoint's: options that say otherwise are errors, not ignored
    model = loadModel(v.resume, kernels).model;
    if (model.nClasses !== classes.length) throw new Error(`--resume ${v.resume}: has ${model.nClasses} classes, the data set ${classes.length}`);
    if (widthDivisor !== undefined && widthDivisor !== model.widthDivisor) {
      throw new Error(`--width-divisor ${widthDivisor}: the checkpoint ${v.resume} has width divisor ${model.widthDivisor} (leave the option out to resume it)`);
    }
    if (batchNorm && !model.batchNorm) throw new Error(`--batch-norm: the checkpoint ${v.resume} has no batch norm (leave the option out to resume it)`);
  } else {
    model = new SSD300({ nClasses: classes.length, widthDivisor: widthDivisor ?? 1, kernels, seed, baseInit, batchNorm, headInit });
  }
  // batch norm takes large rates (RECIPE, measured), scaled with the batch (the linear scaling
  // rule); the model's own batch norm decides, so that a resumed run keeps the rate it was trained with
  const lr = lrOption ?? (model.batchNorm ? (RECIPE.lr * batchSize) / RECIPE.batch : 1e-3);
  const warmupText = warmupShare !== undefined ? `warm-up ${(100 * warmupShare).toFixed(1)}% of the run` : `warm-up ${warmupSteps} steps`;
  console.log(
    `training on ${trainSet.length} images, ${classes.length} classes, width divisor ${model.widthDivisor}${model.batchNorm ? ', batch norm' : ''}; ` +
      `batch ${batchSize}, lr ${lr} (${schedule}, ${warmupText}); augmentation: ${augmentText(v['no-augment'] === true, augmentSteps)}; ` +
      `${workers} input thread(s); checkpoints to ${out}`,
  );
  const result = await train(model, trainSet, {
    batchSize, epochs, maxSteps, maxMinutes, maxGradNorm, seed, out, classes, evalEvery, evalData, diagnoseSteps,
    checkpointEverySteps, checkpointEveryMinutes,
    schedule: { kind: schedule, lr, warmupSteps, warmupShare },
    augment: !v['no-augment'],
    augmentSteps,
    workers, cacheBytes: cacheMb * 2 ** 20, skipBad: v['skip-bad'] === true, profile: v.profile === true,
    resume: v.resume,
    progressBar: process.stdout.isTTY === true,
    log: (line) => console.log(line),
  });
  const why = { epochs: `${epochs} epoch(s) done`, 'max-steps': `--max-steps ${maxSteps} reached`, time: `--max-minutes ${maxMinutes} used`, interrupted: 'interrupted (Ctrl-C)' }[result.stoppedBy];
  console.log(`stopped after step ${result.steps}: ${why}; checkpoint saved to ${out} (resume with --resume ${out})`);
  await kernels.dispose();
  if (result.stoppedBy === 'interrupted') process.exit(130);
}

function augmentPreviewCommand(v: Values): void {
  const root = required(v, 'data', 'augment-preview');
  const split = v.split ?? 'trainval';
  const out = v.out ?? 'augmented.png';
  const count = positive(v, 'count', true) ?? 8;
  const seed = num(v, 'seed', 0, true);
  const decode = decodeOptions(v);
  const output = { path: out, what: 'the preview (--out)' };
  checkOutputs([output], [], [{ path: root, what: 'the data set' }]);
  checkWritable(out, 'the preview');
  lock(out, 'the preview');
  const classes = classesOf(v, root, split);
  const samples = readVocDataset(root, split, classes, { allowEmpty: v['allow-empty'] === true, skipBad: v['skip-bad'] === true, decode });
  checkOutputs([output], dataSetFiles(samples));
  writePng(out, augmentationPreview(diskSource(samples, decode), classes, count, seed));
  console.log(`wrote ${out}: ${count} training images as the augmentations make them, with their boxes`);
}

async function evalCommand(v: Values): Promise<void> {
  const weights = required(v, 'weights', 'eval');
  const root = required(v, 'data', 'eval');
  const split = v.split ?? 'test';
  const method = (v.method ?? '11point') as ApMethod;
  if (method !== '11point' && method !== 'area') throw new Error(`--method: expected 11point or area, got '${method}'`);
  const decode = decodeOptions(v);
  const kernels = await backend(v);
  try {
    const { model, classes } = loadModel(weights, kernels);
    // images without objects are part of a test set: detections on them are false positives
    const samples = readVocDataset(root, split, classes, { allowEmpty: true, skipBad: v['skip-bad'] === true, decode });
    const result = await evaluateModel(model, diskSource(samples, decode), method, (line) => console.error(line));
    if (Number.isNaN(result.mAP)) {
      // every object of the split is marked difficult, or there is none: no class has an object that counts
      throw new Error(`${root} (${split}): no class has an object that counts (none, or all are 'difficult'), so there is no mAP`);
    }
    console.log(formatEvaluation(result, classes, method));
  } finally {
    await kernels.dispose();
  }
}

/** `ssd bench`: the two benchmark scripts, one after the other, with the same options. */
function benchCommand(args: readonly string[]): void {
  const dist = path.join(__dirname, '..', 'bench');
  for (const script of ['kernels.bench.js', 'ssd.bench.js']) {
    const r = spawnSync(process.execPath, [path.join(dist, script), ...args], { stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  const wantsHelp = args.includes('--help') || args.includes('-h');
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    // `ssd help detect` is `ssd detect --help`
    const about = args[0];
    console.log(about !== undefined && isCommandName(about) ? commandHelp(about) : overview());
    return;
  }
  if (!isCommandName(command)) throw new Error(`unknown command '${command}'\n\n${overview()}`);
  if (wantsHelp) {
    console.log(commandHelp(command)); // and nothing runs
    return;
  }
  // these two take their own options
  if (command === 'bench') return benchCommand(args);
  if (command === 'explain') return explainCommand(args);

  const { values, positionals } = parseArgs({ args: valuesGlued(args, OPTIONS), options: OPTIONS, allowPositionals: true, strict: true });
  const v = values as Values;
  // the options every command takes are checked even where the command has no use for them
  if (v.backend !== undefined && !isBackendName(v.backend)) throw new Error(`--backend: expected one of ${BACKEND_NAMES.join(', ')}, got '${v.backend}'`);
  threadCount(v);
  if (command !== 'detect' && positionals.length > 0) {
    throw new Error(`${command}: unexpected argument '${positionals[0]}' (see \`ssd ${command} --help\`)`);
  }
  switch (command) {
    case 'summary':
      return summaryCommand(v);
    case 'make-synthetic':
      return makeSyntheticCommand(v);
    case 'detect':
      return detectCommand(v, positionals);
    case 'train':
      return trainCommand(v);
    case 'augment-preview':
      return augmentPreviewCommand(v);
    case 'eval':
      return evalCommand(v);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`ssd: ${e.message}`);
    process.exit(1);
  },
);
