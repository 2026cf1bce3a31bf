// The demo: everything a user of a detector does, on data the project makes itself (no model
// weights or data sets can be downloaded here).
//
//   1. make a synthetic data set (circles, squares, triangles) and write it in the VOC layout;
//   2. read it back as a VOC data set and train a small SSD300 (same structure and 8732 priors,
//      channels divided by 16) for a few minutes on the CPU;
//   3. evaluate VOC mAP on the held-out split, before and after training;
//   4. detect objects in a few test images and write them with their boxes drawn as PNGs.
//
// Options through the environment: DEMO_MINUTES (training time, default 5), DEMO_WIDTH_DIVISOR
// (default 16), DEMO_OUT (output folder, default demo-output), SSD_BACKEND (default cpu).

import * as path from 'path';
import { createKernels, defaultBackendName } from '../kernels/select';
import { SSD300 } from '../ssd/ssd300';
import { SYNTHETIC_CLASSES, makeSyntheticDataset } from '../data/synthetic';
import { readVocDataset, writeVocDataset } from '../data/voc';
import { writePng } from '../data/image';
import { detect, diskSource, drawDetections, evaluate, formatEvaluation, saveModel, train } from '../cli/pipeline';

async function main(): Promise<void> {
  const minutes = Number(process.env.DEMO_MINUTES ?? '5');
  const widthDivisor = Number(process.env.DEMO_WIDTH_DIVISOR ?? '16');
  const outDir = process.env.DEMO_OUT ?? 'demo-output';
  const classes = [...SYNTHETIC_CLASSES];
  const log = (line: string): void => console.log(line);

  const dataRoot = path.join(outDir, 'synthetic-voc');
  log(`1. writing a synthetic data set in the VOC layout to ${dataRoot}`);
  // Large, well separated objects: a task a small network learns in minutes on a CPU.
  const shapes = { maxObjects: 2, minSide: 0.3, maxSide: 0.6 };
  writeVocDataset(dataRoot, 'trainval', makeSyntheticDataset(400, 1, shapes), classes);
  writeVocDataset(dataRoot, 'test', makeSyntheticDataset(40, 2, shapes), classes);
  const trainSet = diskSource(readVocDataset(dataRoot, 'trainval', classes));
  const testSet = diskSource(readVocDataset(dataRoot, 'test', classes));

  const kernels = await createKernels(defaultBackendName());
  log(`   backend: ${kernels.name}`);
  // 'kaiming': the base is trained from scratch here (no ImageNet weights), see layers/init.ts
  const model = new SSD300({ nClasses: classes.length, widthDivisor, kernels, seed: 0, baseInit: 'kaiming' });

  log('2. VOC mAP of the untrained model on the test split:');
  log(formatEvaluation(await evaluate(model, testSet), classes, '11point'));

  log(`3. training for ${minutes} minute(s) (set DEMO_MINUTES for longer; the mAP keeps rising)`);
  const weights = path.join(outDir, 'ssd-synthetic.safetensors');
  const { steps } = await train(model, trainSet, {
    epochs: 1000,
    batchSize: 8,
    lr: 5e-3, // higher than the paper's 1e-3: the base starts from random weights, not ImageNet ones
    warmupSteps: 30,
    maxGradNorm: 10,
    augment: false, // the synthetic shapes need no augmentation to be learned in minutes
    seed: 0,
    maxSeconds: minutes * 60,
    checkpoint: weights,
    classes,
    log,
  });
  saveModel(model, weights, classes);
  log(`   ${steps} steps; weights saved to ${weights} (load them with \`ssd detect --weights ${weights} IMAGE\`)`);

  log('4. VOC mAP of the trained model on the test split:');
  log(formatEvaluation(await evaluate(model, testSet), classes, '11point'));

  log('5. detections on test images (score > 0.1):');
  const items = [0, 1, 2, 3].map((i) => testSet.get(i));
  const found = await detect(model, items.map((it) => it.image), { minScore: 0.1 });
  found.forEach((dets, i) => {
    const file = path.join(outDir, `test_${i + 1}.detections.png`);
    writePng(file, drawDetections(items[i].image, dets));
    const truth = items[i].objects.map((o) => classes[o.label]).join(', ');
    const best = dets.slice(0, 5).map((d) => `${classes[d.label]} ${d.score.toFixed(2)}`).join(', ') || 'nothing';
    log(`   ${file}: truth ${truth}; found ${dets.length}, best: ${best}`);
  });
  await kernels.dispose();
}

main().catch((e: Error) => {
  console.error(`demo: ${e.message}`);
  process.exit(1);
});
