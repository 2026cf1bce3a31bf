// The demo: everything a user of a detector does, on data the project makes itself (no model
// weights or data sets can be downloaded here), in a few minutes on a laptop's CPU.
//
//   1. make a synthetic data set (circles, squares, triangles; one to three per image, small to
//      large, on textured backgrounds) and write it in the Pascal VOC layout;
//   2. read it back as a VOC data set and train a small SSD300 from scratch (the same structure
//      and 8732 priors, channels divided by 16, a batch norm after every base and auxiliary conv)
//      with the project's trainer: SGD, warm-up, cosine decay, random crops and flips;
//   3. evaluate VOC mAP on the held-out split, before training, after every epoch and at the end;
//   4. draw the confident detections (score >= 0.5) on test images, and the training curves.
//
// Options through the environment: DEMO_EPOCHS (default 7: 525 steps of 8 images, about 3
// minutes here), DEMO_WIDTH_DIVISOR (default 16), DEMO_OUT (output folder, default demo-output),
// SSD_BACKEND (default: the fastest here). The run is a fixed number of steps, not a time budget,
// so that every machine trains the same model and prints the same mAP (only the time differs).

import * as path from 'path';
import { createKernels, defaultBackendName } from '../kernels/select';
import { SSD300 } from '../ssd/ssd300';
import { DEMO_CLASSES, DEMO_EPOCHS, demoData, demoModelOptions, demoTraining } from './recipe';
import { readVocDataset, writeVocDataset } from '../data/voc';
import { writePng } from '../data/image_files';
import { loadSampleImage } from '../data/annotations';
import { inMemorySource } from '../data/source';
import { train, curvesPath } from '../train/trainer';
import { detectImages, evaluateModel, formatEvaluation } from '../train/evaluate';
import { drawDetections } from '../train/draw_detections';

async function main(): Promise<void> {
  const started = Date.now();
  const epochs = Number(process.env.DEMO_EPOCHS ?? String(DEMO_EPOCHS));
  const widthDivisor = Number(process.env.DEMO_WIDTH_DIVISOR ?? '16');
  const outDir = process.env.DEMO_OUT ?? 'demo-output';
  if (!(Number.isInteger(epochs) && epochs > 0)) throw new Error(`DEMO_EPOCHS must be a positive integer, got '${process.env.DEMO_EPOCHS}'`);
  const classes = [...DEMO_CLASSES];
  const log = (line: string): void => console.log(line);

  const dataRoot = path.join(outDir, 'synthetic-voc');
  log(`1. writing a synthetic data set in the VOC layout to ${dataRoot}`);
  const data = demoData(); // the recipe's (demo/recipe.ts): the page trains on the same images
  writeVocDataset(dataRoot, 'trainval', data.train, classes);
  writeVocDataset(dataRoot, 'test', data.test, classes);
  // read back as any VOC data set, then kept decoded in memory (small enough here) so that the
  // training steps do not wait for PNG decoding
  const load = (split: string) => inMemorySource(readVocDataset(dataRoot, split, classes).map((s) => ({ image: loadSampleImage(s), objects: s.objects })));
  const trainSet = load('trainval');
  const testSet = load('test');
  log(`   ${trainSet.length} training and ${testSet.length} test images`);

  const kernels = await createKernels(defaultBackendName());
  log(`   backend: ${kernels.name}`);
  // the recipe's model (demo/recipe.ts): from scratch, with batch norm, small prediction heads
  const model = new SSD300({ ...demoModelOptions(widthDivisor), kernels });

  const minutesSince = (t: number): string => `${((Date.now() - t) / 60000).toFixed(1)} min`;
  log(`   data ready after ${minutesSince(started)}`);
  log('2. VOC mAP of the untrained model on the test split:');
  log(formatEvaluation(await evaluateModel(model, testSet), classes, '11point'));

  log(`3. training for ${epochs} epochs of ${trainSet.length / 8} steps (set DEMO_EPOCHS for longer)`);
  const weights = path.join(outDir, 'ssd-synthetic.safetensors');
  const result = await train(model, trainSet, {
    ...demoTraining(epochs), // batch 8, lr 0.01 with a 100-step warm-up and cosine decay, crops and flips (demo/recipe.ts)
    out: weights,
    checkpointEveryMinutes: 2,
    curves: true,
    // mAP on the test split after every epoch: the curves' lower panel (a few seconds each)
    evalData: testSet,
    evalEvery: 1,
    progressBar: false,
    log,
  });
  log(`   ${result.steps} steps; checkpoint ${weights}, curves ${curvesPath(weights)}`);

  log(`   training ended after ${minutesSince(started)} in all`);
  log('4. VOC mAP of the trained model on the test split:');
  const evaluation = await evaluateModel(model, testSet);
  log(formatEvaluation(evaluation, classes, '11point'));

  log('5. detections on test images (score >= 0.5):');
  const items = [0, 1, 2, 3, 4, 5].map((i) => testSet.get(i));
  const found = await detectImages(model, items.map((it) => it.image), { minScore: 0.5 });
  found.forEach((dets, i) => {
    const file = path.join(outDir, `test_${i + 1}.detections.png`);
    writePng(file, drawDetections(items[i].image, dets, classes, 0.5));
    const truth = items[i].objects.map((o) => classes[o.label]).join(', ');
    const shown = dets.slice(0, 5).map((d) => `${classes[d.label]} ${d.score.toFixed(2)}`).join(', ') + (dets.length > 5 ? `, ... (${dets.length} in all)` : '') || 'nothing';
    log(`   ${file}: truth ${truth}; found ${shown}`);
  });
  await kernels.dispose();
  log(`done in ${((Date.now() - started) / 60000).toFixed(1)} minutes: mAP ${evaluation.mAP.toFixed(3)}`);
}

main().catch((e: Error) => {
  console.error(`demo: ${e.message}`);
  process.exit(1);
});
