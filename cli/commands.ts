// The `ssd` command's work (cli/ssd.ts starts it): train, detect, eval, bench, summary, explain
// (and make-synthetic, to write a VOC-layout data set of synthetic images, and augment-preview).
// `ssd help` lists every command; `ssd <command> --help` prints one command's options and examples
// (cli/help.ts). This file reads the options, checks them all before anything runs or is written,
// and calls the library.

import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { SSD300 } from '../ssd/ssd300';
import { formatSummary, summarize } from '../ssd/summary';
import { ApMethod } from '../ssd/evaluate';
import { writeVocDataset } from '../data/voc';
import { DatasetFormat, detectDatasetFormat, readDatasetClassNames, trainingObjects } from '../data/dataset';
import { writeCocoDataset } from '../data/coco';
import { writeYoloDataset } from '../data/yolo';
import { cocoResults, evaluateCoco, formatCocoSummary } from '../ssd/coco_evaluate';
import { writePrecisionRecallPng } from '../train/precision_recall';
import { readImage, writePng } from '../data/image_files';
import { makeSyntheticDataset, SYNTHETIC_CLASSES, SYNTHETIC_TASK } from '../data/synthetic';
import { Sample, samplesFingerprint } from '../data/annotations';
import { DataSource, diskSource } from '../data/source';
import { curvesPath, train } from '../train/trainer';
import { AugmentSteps } from '../data/augment';
import { Checkpoint, readCheckpoint, withFingerprint } from '../train/checkpoint';
import { ScheduleKind } from '../train/schedule';
import { cocoGroundTruth, detectDataset, detectImages, formatEvaluation, vocGroundTruth } from '../train/evaluate';
import { evaluateDetections } from '../ssd/evaluate';
import { drawDetections } from '../train/draw_detections';
import { augmentationPreview } from '../train/augmentation_preview';
import { loadModel, modelFromTensors } from './model_files';
import { explainCommand } from './explain';
import { decodeOptions, readData } from './data_options';
import { commandHelp, isCommandName, markdownTable, overview } from './help';
import { AUGMENT_STEP_NAMES, ParsedOptions, classList, parseCommandLine } from './options';
import { lockOutput, writeFileAtomic } from '../io/files';
import { uniqueOutputNames } from './output_names';
import { NamedPath, checkOutputs, checkWritable, checkWritableDirectory } from './outputs';
import { kernelsOf } from './kernels_option';

/**
 * Every file of a data set that a command reads: the images and annotations, by their own names
 * (links included), each once (a COCO file is the annotation of every image).
 */
function dataSetFiles(samples: readonly Sample[]): NamedPath[] {
  const files = new Map<string, string>();
  for (const s of samples) {
    files.set(s.imagePath, 'the data set\'s image');
    if (s.annotationPath !== undefined) files.set(s.annotationPath, 'the data set\'s annotation');
  }
  return [...files].map(([file, what]) => ({ path: file, what }));
}

/** The folder of a data set that no output may be written into: --data itself, or the folder of its JSON or data.yaml. */
function dataSetFolder(dataPath: string): NamedPath {
  const isFile = fs.statSync(dataPath, { throwIfNoEntry: false })?.isFile() === true;
  return { path: isFile ? path.dirname(dataPath) : dataPath, what: 'the data set' };
}

/** Take the lock of an output for this run (see lockOutput); a stale lock taken over is said on stderr. */
function lock(output: string, what: string): void {
  lockOutput(output, what, (message) => console.error(message));
}

/** The class list: --classes, else the names in the annotations (printed, so the user sees them). */
function classesOf(o: ParsedOptions, root: string, split: string): string[] {
  const given = o.text('classes');
  if (given !== undefined) return classList(given);
  const classes = readDatasetClassNames(root, { format: o.text('format') as DatasetFormat | undefined, split, skipBad: o.flag('skip-bad') });
  console.log(`classes (from the annotations): ${classes.slice(1).join(', ')}`);
  return classes;
}

function summaryCommand(o: ParsedOptions): void {
  const model = new SSD300({ nClasses: o.number('classes') ?? 21, widthDivisor: o.number('width-divisor') });
  console.log(formatSummary(summarize(model, o.number('batch'))));
}

function makeSyntheticCommand(o: ParsedOptions): void {
  const root = o.required('out');
  const seed = o.number('seed') ?? 0;
  const classes = [...SYNTHETIC_CLASSES];
  const task = {
    ...SYNTHETIC_TASK,
    maxObjects: o.number('max-objects') ?? SYNTHETIC_TASK.maxObjects,
    minSide: o.number('min-side') ?? 0.1,
    maxSide: o.number('max-side') ?? 0.6,
  };
  if (!(task.minSide > 0 && task.minSide <= task.maxSide)) {
    throw new Error(`--min-side ${task.minSide} and --max-side ${task.maxSide}: need 0 < min-side <= max-side <= 1`);
  }
  checkWritableDirectory(root, `--out ${root}: cannot write the data set there`);
  lock(path.join(root, '.ssd-make-synthetic'), `the data set ${root}`);
  const train = makeSyntheticDataset(o.number('train') ?? 200, seed, task);
  const test = makeSyntheticDataset(o.number('test') ?? 50, seed + 1, task);
  // the same images and boxes in each layout: they read back as the same samples
  switch (o.required('format')) {
    case 'coco':
      writeCocoDataset(path.join(root, 'annotations', 'instances_train.json'), train, classes, { imagesDir: path.join(root, 'train') });
      writeCocoDataset(path.join(root, 'annotations', 'instances_test.json'), test, classes, { imagesDir: path.join(root, 'test') });
      console.log(`wrote ${root} in the COCO layout: annotations/instances_train.json (images in train/) and instances_test.json (test/)`);
      break;
    case 'yolo':
      writeYoloDataset(root, { train, test }, classes);
      console.log(`wrote ${root} in the YOLO layout: data.yaml with splits train and test`);
      break;
    default:
      writeVocDataset(root, 'trainval', train, classes);
      writeVocDataset(root, 'test', test, classes);
      console.log(`wrote ${root} in the VOC layout: splits trainval and test; train with --classes synthetic`);
  }
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
async function detectCommand(o: ParsedOptions, files: readonly string[]): Promise<void> {
  if (files.length === 0) throw new Error('detect: give at least one image file (see `ssd detect --help`)');
  const weights = o.required('weights');
  const minScore = o.number('min-score') ?? 0.5;
  const options = { minScore, maxOverlap: o.number('max-overlap'), topK: o.number('top-k') };
  const decode = decodeOptions(o);
  const outDir = o.required('out');
  const outNames = uniqueOutputNames(files);
  const outFiles = outNames.map((name) => path.join(outDir, `${name}.detections.png`));
  // a picture must never replace an input (an image called X.detections.png, the weights): it
  // would be overwritten, and then read back as an input
  checkOutputs(
    outFiles.map((f, i) => ({ path: f, what: `the picture of ${files[i]}` })),
    [...files.map((f) => ({ path: f, what: 'the input image' })), { path: weights, what: 'the --weights file' }],
  );
  const kernels = await kernelsOf(o);
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
 * augmentations' crop and flip. Measured on real photographs (npm run real-set; docs/training.md's
 * "Training on real photographs" has the runs): at lr 0.03, the rate PyTorch's recipe in the
 * issue used, both this project and PyTorch diverged (the confidence loss rose to 16-18 and
 * hundreds; mAP 0.00 and 0.02 after 5 and 3 minutes), at 0.02 the loss spiked (grad norm 227,
 * mAP 0.002 after 5 minutes), at 0.01 it fell steadily. The heads at std 0.01 start the loss at 12
 * (as PyTorch's twin) instead of 42 with Xavier's larger weights.
 */
const RECIPE = { batch: 16, lr: 0.01, warmupShare: 0.05, headInit: 'normal' as const, augment: ['crop', 'flip'] };

/** --augment all|a,b,c (of photometric, expand, crop, flip; the table checked the names): which augmentations train uses. */
function augmentationSteps(o: ParsedOptions, batchNorm: boolean): AugmentSteps {
  const text = o.text('augment') ?? (batchNorm ? RECIPE.augment.join(',') : 'all');
  const names = text === 'all' ? [...AUGMENT_STEP_NAMES] : text.split(',').map((s) => s.trim());
  if (o.given('augment') && o.flag('no-augment')) throw new Error('--augment and --no-augment: give one of them');
  return { photometric: names.includes('photometric'), expand: names.includes('expand'), crop: names.includes('crop'), flip: names.includes('flip') };
}

function augmentText(none: boolean, steps: AugmentSteps): string {
  if (none) return 'none';
  const on = AUGMENT_STEP_NAMES.filter((name) => steps[name]);
  return on.length === 0 ? 'none' : on.join(', ');
}

async function trainCommand(o: ParsedOptions): Promise<void> {
  // every value was checked by the option table; here what depends on several options
  const root = o.required('data');
  const split = o.required('split');
  const batchNorm = o.flag('batch-norm');
  const batchSize = o.number('batch') ?? (batchNorm ? RECIPE.batch : 8);
  const maxSteps = o.number('max-steps');
  const maxMinutes = o.number('max-minutes');
  // --max-minutes alone trains for that long (as many epochs as fit); otherwise 1 epoch by default
  const epochs = o.number('epochs') ?? (maxMinutes !== undefined ? Infinity : 1);
  const lrOption = o.number('lr');
  if (o.given('warmup') && o.given('warmup-share')) throw new Error('--warmup and --warmup-share: give one of them (steps, or a share of the run)');
  const warmupSteps = o.number('warmup') ?? (!o.given('warmup-share') && !batchNorm ? 100 : 0);
  const warmupShare = o.given('warmup') ? undefined : o.number('warmup-share') ?? (batchNorm ? RECIPE.warmupShare : undefined);
  const headInit = (o.text('head-init') ?? (batchNorm ? RECIPE.headInit : 'xavier')) as 'xavier' | 'normal';
  const augmentSteps = augmentationSteps(o, batchNorm);
  const workers = o.number('workers') ?? 2;
  const cacheMb = o.number('cache-mb') ?? 2048;
  const maxGradNorm = o.number('max-grad-norm') ?? 10;
  const schedule = o.required('schedule') as ScheduleKind;
  const every = o.text('checkpoint-every');
  let checkpointEverySteps: number | undefined;
  let checkpointEveryMinutes: number | undefined;
  if (every !== undefined) {
    if (every.endsWith('m')) checkpointEveryMinutes = Number(every.slice(0, -1));
    else checkpointEverySteps = Number(every);
  }
  const evalEvery = o.number('eval-every');
  const diagnoseSteps = o.number('diagnose');
  const seed = o.number('seed') ?? 0;
  const baseInit = o.required('base-init') as 'kaiming' | 'pytorch';
  const decode = decodeOptions(o);
  const widthDivisor = o.given('width-divisor') ? o.number('width-divisor') : undefined;
  const out = o.required('out');
  const outputs = [
    { path: out, what: 'the checkpoint (--out)' },
    { path: curvesPath(out), what: 'the training curves' },
  ];
  // The checkpoint may be the one resumed from (that is how a run goes on); nothing else may be an input.
  const resume = o.text('resume');
  const resumeFile = resume === undefined ? [] : [{ path: resume, what: 'the --resume checkpoint' }];
  const evalPath = o.text('eval-data') ?? root;
  checkOutputs(outputs, [], [dataSetFolder(root), dataSetFolder(evalPath)]);
  checkOutputs(outputs.slice(1), resumeFile);
  for (const output of outputs) checkWritable(output.path, output.what);
  const format = (o.text('format') as DatasetFormat | undefined) ?? detectDatasetFormat(root);
  if (evalEvery !== undefined && !o.given('eval-data') && format === 'coco' && fs.statSync(root).isFile()) {
    throw new Error(`--eval-every: ${root} is one COCO split; name the split to evaluate with --eval-data FILE.json`);
  }
  lock(out, 'the checkpoint');

  const classes = classesOf(o, root, split);
  const samples = readData(o, root, split, classes, o.flag('allow-empty')).samples;
  const evalSamples = evalEvery === undefined ? undefined : readData(o, evalPath, o.required('eval-split'), classes, true).samples;
  // the data set's files by their own names too: an image of it may be a link to a file elsewhere
  checkOutputs(outputs, [...dataSetFiles(samples), ...dataSetFiles(evalSamples ?? [])]);
  // a crowd region (COCO's iscrowd) is never a training target: no prior is matched to it
  const targets = samples.map((s) => ({ ...s, objects: trainingObjects(s) }));
  const trainSet = withFingerprint(diskSource(targets, decode), samplesFingerprint(samples, root));
  // evaluation counts the false positives on images without objects: they are always welcome there
  const evalData: DataSource | undefined = evalSamples === undefined ? undefined : diskSource(evalSamples, decode);
  const kernels = await kernelsOf(o);
  let model: SSD300;
  let checkpoint: Checkpoint | undefined;
  if (resume !== undefined) {
    // the model is the checkpoint's: options that say otherwise are errors, not ignored
    checkpoint = readCheckpoint(resume); // read once: the model and the trainer's state come from it
    model = modelFromTensors(checkpoint.tensors, checkpoint.metadata, resume, kernels).model;
    if (model.nClasses !== classes.length) throw new Error(`--resume ${resume}: has ${model.nClasses} classes, the data set ${classes.length}`);
    if (widthDivisor !== undefined && widthDivisor !== model.widthDivisor) {
      throw new Error(`--width-divisor ${widthDivisor}: the checkpoint ${resume} has width divisor ${model.widthDivisor} (leave the option out to resume it)`);
    }
    if (batchNorm && !model.batchNorm) throw new Error(`--batch-norm: the checkpoint ${resume} has no batch norm (leave the option out to resume it)`);
  } else {
    model = new SSD300({ nClasses: classes.length, widthDivisor: widthDivisor ?? 1, kernels, seed, baseInit, batchNorm, headInit });
  }
  // batch norm takes large rates (RECIPE, measured), scaled with the batch (the linear scaling
  // rule); the model's own batch norm decides, so that a resumed run keeps the rate it was trained with
  const lr = lrOption ?? (model.batchNorm ? (RECIPE.lr * batchSize) / RECIPE.batch : 1e-3);
  const warmupText = warmupShare !== undefined ? `warm-up ${(100 * warmupShare).toFixed(1)}% of the run` : `warm-up ${warmupSteps} steps`;
  console.log(
    `training on ${trainSet.length} images, ${classes.length} classes, width divisor ${model.widthDivisor}${model.batchNorm ? ', batch norm' : ''}; ` +
      `batch ${batchSize}, lr ${lr} (${schedule}, ${warmupText}); augmentation: ${augmentText(o.flag('no-augment'), augmentSteps)}; ` +
      `${workers} input thread(s); checkpoints to ${out}`,
  );
  const result = await train(model, trainSet, {
    batchSize, epochs, maxSteps, maxMinutes, maxGradNorm, seed, out, classes, evalEvery, evalData, diagnoseSteps,
    checkpointEverySteps, checkpointEveryMinutes,
    schedule: { kind: schedule, lr, warmupSteps, warmupShare },
    augment: !o.flag('no-augment'),
    augmentSteps,
    workers, cacheBytes: cacheMb * 2 ** 20, skipBad: o.flag('skip-bad'), profile: o.flag('profile'),
    resume: checkpoint,
    progressBar: process.stdout.isTTY === true,
    log: (line) => console.log(line),
  });
  const why = { epochs: `${epochs} epoch(s) done`, 'max-steps': `--max-steps ${maxSteps} reached`, time: `--max-minutes ${maxMinutes} used`, interrupted: 'interrupted (Ctrl-C)' }[result.stoppedBy];
  console.log(`stopped after step ${result.steps}: ${why}; checkpoint saved to ${out} (resume with --resume ${out})`);
  await kernels.dispose();
  if (result.stoppedBy === 'interrupted') process.exit(130);
}

function augmentPreviewCommand(o: ParsedOptions): void {
  const root = o.required('data');
  const split = o.required('split');
  const out = o.required('out');
  const count = o.number('count') ?? 8;
  const seed = o.number('seed') ?? 0;
  const decode = decodeOptions(o);
  const output = { path: out, what: 'the preview (--out)' };
  checkOutputs([output], [], [dataSetFolder(root)]);
  checkWritable(out, 'the preview');
  lock(out, 'the preview');
  const classes = classesOf(o, root, split);
  const samples = readData(o, root, split, classes, o.flag('allow-empty')).samples;
  checkOutputs([output], dataSetFiles(samples));
  writePng(out, augmentationPreview(diskSource(samples, decode), classes, count, seed));
  console.log(`wrote ${out}: ${count} training images as the augmentations make them, with their boxes`);
}

async function evalCommand(o: ParsedOptions): Promise<void> {
  const weights = o.required('weights');
  const root = o.required('data');
  const split = o.required('split');
  const metric = o.required('metric');
  const method = o.required('method') as ApMethod;
  const decode = decodeOptions(o);
  // the files it writes: checked before any work, and never an input
  const outputs = [
    ...(o.given('detections-out') ? [{ path: o.required('detections-out'), what: 'the detections (--detections-out)' }] : []),
    ...(o.given('plot') ? [{ path: o.required('plot'), what: 'the precision-recall plot (--plot)' }] : []),
  ];
  checkOutputs(outputs, [{ path: weights, what: 'the --weights file' }], [dataSetFolder(root)]);
  for (const output of outputs) checkWritable(output.path, output.what);
  const kernels = await kernelsOf(o);
  try {
    const { model, classes } = loadModel(weights, kernels);
    // images without objects are part of a test set: detections on them are false positives
    const dataset = readData(o, root, split, classes, true);
    const samples = dataset.samples;
    checkOutputs(outputs, dataSetFiles(samples));
    for (const output of outputs) lock(output.path, output.what);
    const data = diskSource(samples, decode);
    const detections = await detectDataset(model, data, (line) => console.error(line));
    if (metric === 'voc07' || metric === 'all') {
      const result = evaluateDetections(detections, vocGroundTruth(data), model.nClasses, { method });
      if (Number.isNaN(result.mAP)) {
        // every object of the split is marked difficult, or there is none: no class has an object that counts
        throw new Error(`${root} (${split}): no class has an object that counts (none, or all are 'difficult'), so there is no mAP`);
      }
      console.log(formatEvaluation(result, classes, method));
    }
    const coco = metric === 'coco' || metric === 'all' || o.given('plot') ? evaluateCoco(detections, cocoGroundTruth(data), model.nClasses) : undefined;
    if (coco !== undefined && (metric === 'coco' || metric === 'all')) {
      if (metric === 'all') console.log('');
      console.log(`COCO box metrics (${samples.length} images):`);
      console.log(formatCocoSummary(coco));
    }
    const detectionsOut = o.text('detections-out');
    if (detectionsOut !== undefined) {
      // COCO's own ids where the data is COCO; else image i is i + 1, category = class index
      const images = samples.map((s, i) => ({ imageId: s.imageId ?? i + 1, width: s.width, height: s.height }));
      const results = cocoResults(detections, images, dataset.categoryIds);
      writeFileAtomic(detectionsOut, Buffer.from(`${JSON.stringify(results)}\n`), 'the detections');
      console.log(`wrote ${detectionsOut}: ${results.length} detections in COCO's results format`);
    }
    const plot = o.text('plot');
    if (plot !== undefined && coco !== undefined) {
      const curves = [];
      for (let c = 1; c < model.nClasses; c++) {
        if (coco.ap50PerClass[c] < 0) continue; // no object of the class: no curve
        curves.push({ name: classes[c], recall: coco.prCurve50.recall, precision: coco.prCurve50.precision[c], ap: coco.ap50PerClass[c] });
      }
      if (curves.length === 0) throw new Error(`--plot: ${root} (${split}) has no object of any class, so there is no curve to draw`);
      writePrecisionRecallPng(plot, curves, `precision-recall at IoU 0.5, ${samples.length} images of ${path.basename(root)}`);
      console.log(`wrote ${plot}: the precision-recall curve of ${curves.length} classes`);
    }
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
    console.log(about === '--markdown' ? markdownTable() : about !== undefined && isCommandName(about) ? commandHelp(about) : overview());
    return;
  }
  if (!isCommandName(command)) throw new Error(`unknown command '${command}'\n\n${overview()}`);
  if (wantsHelp) {
    console.log(commandHelp(command)); // and nothing runs
    return;
  }
  if (command === 'bench') return benchCommand(args); // its options go to the benchmark scripts
  // every option checked against the command's table before anything runs
  const { options: o, positionals } = parseCommandLine(command, args);
  switch (command) {
    case 'summary':
      return summaryCommand(o);
    case 'make-synthetic':
      return makeSyntheticCommand(o);
    case 'detect':
      return detectCommand(o, positionals);
    case 'train':
      return trainCommand(o);
    case 'augment-preview':
      return augmentPreviewCommand(o);
    case 'eval':
      return evalCommand(o);
    case 'explain':
      return explainCommand(o, positionals);
  }
}

// `ssd detect ... | head`: a reader that stops early closes the pipe; what is left unprinted is
// not wanted, so that ends the command quietly instead of with an unhandled EPIPE
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`ssd: ${e.message}`);
    process.exit(1);
  },
);
