// The Node side of the PyTorch round trip (scripts/torch_roundtrip.py runs it; docs/pytorch.md).
//
//   node dist/bench/roundtrip.js export --dir DIR [--seed 7 --steps 3 --backend NAME]
//     Builds a small batch-norm SSD300 (4 classes, width / 16, Kaiming base), trains it --steps
//     steps with the project's trainer on 4 synthetic images (so that the batch norms' running
//     statistics are no longer the initial 0 and 1), which writes DIR/checkpoint.safetensors (a
//     training checkpoint: weights, 'optimizer.momentum.*', metadata 'classes' and
//     'training_state'). Then it loads that checkpoint as `ssd detect` does (cli/model_files.ts
//     loadModel: evaluation mode), runs the forward pass on the 2 formula images and writes
//     DIR/node_checkpoint_outputs.safetensors (locs, scores). Also writes DIR/image.png, a
//     synthetic picture for `ssd detect`.
//
//   node dist/bench/roundtrip.js import --weights FILE --out OUT [--backend NAME]
//     Loads FILE (weights written by PyTorch) with loadModel, runs the forward pass on the same
//     images and writes OUT (locs, scores); prints one JSON line: the class names and model shape.
//
// --backend: the kernels (kernels/select.ts), by default those `ssd` uses ($SSD_BACKEND, else wasm).
//
// The images are a formula both sides compute exactly (scripts/make_batchnorm_fixtures.py
// step_images): x[n, c, i, j] = ((7i + 13j + 29c + 101n) mod 64) / 32 - 1.

import * as fs from 'fs';
import * as path from 'path';
import { Tensor } from '../tensor/tensor';
import { writeSafetensors } from '../tensor/safetensors';
import { SSD300, SSD_INPUT_SIZE } from '../ssd/ssd300';
import { createKernels, defaultBackendName } from '../kernels/select';
import { Kernels } from '../kernels/kernels';
import { makeSyntheticDataset, SYNTHETIC_CLASSES } from '../data/synthetic';
import { inMemorySource } from '../data/source';
import { writePng } from '../data/image_files';
import { train } from '../train/trainer';
import { loadModel } from '../cli/model_files';
import { arg } from './args';

/** The n formula images (n, 3, 300, 300): every value k / 32 - 1, exact in float32. */
export function formulaImages(n: number): Tensor {
  const s = SSD_INPUT_SIZE;
  const data = new Float32Array(n * 3 * s * s);
  let k = 0;
  for (let b = 0; b < n; b++) {
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < s; i++) {
        for (let j = 0; j < s; j++) data[k++] = ((7 * i + 13 * j + 29 * c + 101 * b) % 64) / 32 - 1;
      }
    }
  }
  return new Tensor([n, 3, s, s], data);
}

/** The model's outputs on the formula images, in evaluation mode, written to `file`. */
async function writeOutputs(model: SSD300, file: string, metadata: Record<string, string>): Promise<void> {
  model.eval();
  const { locs, scores } = await model.forward(formulaImages(2));
  // copies: the backend may reuse its output memory at the next call
  const tensors = new Map<string, Tensor>([
    ['locs', new Tensor(locs.shape, Float32Array.from(locs.data))],
    ['scores', new Tensor(scores.shape, Float32Array.from(scores.data))],
  ]);
  model.clearCache();
  writeSafetensors(file, tensors, metadata);
}

async function exportSide(kernels: Kernels, backend: string): Promise<void> {
  const dir = arg('dir', '');
  if (dir === '') throw new Error('export: --dir DIR is required');
  const seed = Number(arg('seed', '7'));
  const steps = Number(arg('steps', '3'));
  fs.mkdirSync(dir, { recursive: true });
  const classes = [...SYNTHETIC_CLASSES]; // background, circle, square, triangle
  const images = makeSyntheticDataset(4, seed, { maxObjects: 2, minSide: 0.2, maxSide: 0.5 });
  const checkpoint = path.join(dir, 'checkpoint.safetensors');
  const model = new SSD300({ nClasses: classes.length, widthDivisor: 16, batchNorm: true, baseInit: 'kaiming', seed, kernels });
  const result = await train(model, inMemorySource(images), {
    batchSize: 2, epochs: 100, maxSteps: steps, schedule: { kind: 'constant', lr: 0.01, warmupSteps: 0 }, maxGradNorm: 10,
    augment: false, seed, out: checkpoint, classes, log: () => undefined, handleSigint: false, curves: false, workers: 0,
  });
  // what a user of `ssd train` has: the checkpoint file, read as `ssd detect --weights` reads it
  const loaded = loadModel(checkpoint, kernels);
  await writeOutputs(loaded.model, path.join(dir, 'node_checkpoint_outputs.safetensors'), { backend });
  writePng(path.join(dir, 'image.png'), images[0].image);
  console.log(JSON.stringify({ checkpoint, steps: result.steps, lastLoss: result.lastLoss, classes: loaded.classes }));
}

async function importSide(kernels: Kernels, backend: string): Promise<void> {
  const weights = arg('weights', '');
  const out = arg('out', '');
  if (weights === '' || out === '') throw new Error('import: --weights FILE and --out FILE are required');
  const { model, classes } = loadModel(weights, kernels);
  await writeOutputs(model, out, { backend });
  console.log(JSON.stringify({ classes, nClasses: model.nClasses, widthDivisor: model.widthDivisor, batchNorm: model.batchNorm }));
}

async function main(): Promise<void> {
  const command = process.argv[2];
  const backend = arg('backend', defaultBackendName()); // as `ssd`: $SSD_BACKEND, else wasm where it works
  const kernels = await createKernels(backend);
  if (command === 'export') await exportSide(kernels, backend);
  else if (command === 'import') await importSide(kernels, backend);
  else throw new Error(`usage: roundtrip.js export --dir DIR | import --weights FILE --out FILE (got '${command ?? ''}')`);
}

main().catch((e: Error) => {
  console.error(`roundtrip: ${e.message}`);
  process.exit(1);
});
