// The trainer (train/): exact resume, checkpoints that are weights files too, the schedule, a
// clean stop on a non-finite loss, SIGINT in a child process, the diagnosis and the curves.
// The small batch-norm model (channels / 32) on a handful of synthetic images, on the reference
// kernels: plain loops, so every run sums in the same order and bit-for-bit comparisons hold.

import { expect } from 'chai';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readSafetensors } from '../../tensor/safetensors';
import { stateDict } from '../../layers/layer';
import { SSD300 } from '../../ssd/ssd300';
import { makeSyntheticDataset, SYNTHETIC_CLASSES } from '../../data/synthetic';
import { DataSource, inMemorySource } from '../../data/source';
import { writeVocDataset } from '../../data/voc';
import { decodeImage } from '../../data/image_files';
import { TrainerConfig, curvesPath, train } from '../../train/trainer';
import { readCheckpoint } from '../../train/checkpoint';
import { learningRate } from '../../train/schedule';

const CLI = path.join(__dirname, '../../cli/ssd.js');
const classes = [...SYNTHETIC_CLASSES];
const images = makeSyntheticDataset(6, 11, { maxObjects: 2, minSide: 0.2, maxSide: 0.5 });

function config(out: string, extra: Partial<TrainerConfig> = {}): TrainerConfig {
  return {
    batchSize: 2, epochs: 10, schedule: { kind: 'cosine', lr: 0.01, warmupSteps: 2 }, maxGradNorm: 10, augment: true, seed: 5,
    out, classes, log: () => undefined, handleSigint: false, curves: false, ...extra,
  };
}

const smallModel = (): SSD300 => new SSD300({ nClasses: classes.length, widthDivisor: 32, batchNorm: true, baseInit: 'kaiming', seed: 3 });

describe('train/trainer', () => {
  let dir = '';
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-trainer-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('2 steps, then a resumed run to step 4, give the same tensors bit for bit as one run of 4 steps (across an epoch boundary)', async function () {
    this.timeout(300000);
    const data = inMemorySource(images); // 6 images, batch 2: epoch 2 starts at step 4
    const once = path.join(dir, 'once.safetensors');
    await train(smallModel(), data, config(once, { maxSteps: 4 }));
    const split = path.join(dir, 'split.safetensors');
    const first = await train(smallModel(), data, config(split, { maxSteps: 2 }));
    expect(first.stoppedBy).to.equal('max-steps');
    // the checkpoint read once, as `ssd train --resume` does (its model is built from the same
    // tensors): the trainer must not read the file again, so it is gone before the run
    const checkpoint = readCheckpoint(split);
    fs.rmSync(split);
    const resumed = await train(smallModel(), data, config(split, { maxSteps: 4, resume: checkpoint }));
    expect(resumed.steps).to.equal(4);
    const a = readSafetensors(once).tensors;
    const b = readSafetensors(split).tensors;
    expect([...b.keys()].sort()).to.deep.equal([...a.keys()].sort());
    const momentumNames = [...a.keys()].filter((n) => n.startsWith('optimizer.momentum.'));
    expect(momentumNames.length, 'the momentum buffers are saved').to.be.above(50);
    for (const [name, t] of a) expect(Buffer.from(b.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer)), `${name} differs`).to.equal(true);
    const state = readCheckpoint(split).state!;
    expect(state.step).to.equal(4);
    expect(state.epoch).to.equal(1);
  });

  it('a checkpoint loads as plain weights (model.loadWeights, SSD300.fromWeights), with its class names', async function () {
    this.timeout(120000);
    const file = path.join(dir, 'plain.safetensors');
    const model = smallModel();
    await train(model, inMemorySource(images), config(file, { maxSteps: 1 }));
    const other = smallModel();
    other.loadWeights(file);
    for (const [name, t] of stateDict(model)) expect(Array.from(stateDict(other).get(name)!.data), name).to.deep.equal(Array.from(t.data));
    expect(SSD300.fromWeights(readSafetensors(file).tensors, file).batchNorm).to.equal(true);
    expect(readCheckpoint(file).classes).to.deep.equal(classes);
  });

  it('the schedule: linear warm-up, then cosine to 0 or the paper\'s steps (x0.1 at 2/3 and 5/6 of the run)', () => {
    const cosine = { kind: 'cosine' as const, lr: 0.1, warmupSteps: 10 };
    expect(learningRate(cosine, 0, 0)).to.be.closeTo(0.01, 1e-12);
    expect(learningRate(cosine, 4, 0.004)).to.be.closeTo(0.05 * (1 + Math.cos(Math.PI * 0.004)) / 2, 1e-12);
    expect(learningRate(cosine, 100, 0.5)).to.be.closeTo(0.05, 1e-12);
    expect(learningRate(cosine, 999, 1)).to.equal(0);
    const steps = { kind: 'steps' as const, lr: 1e-3, warmupSteps: 0 };
    expect(learningRate(steps, 0, 0)).to.equal(1e-3);
    expect(learningRate(steps, 66, 0.66)).to.equal(1e-3);
    expect(learningRate(steps, 67, 0.67)).to.be.closeTo(1e-4, 1e-15);
    expect(learningRate(steps, 90, 0.9)).to.be.closeTo(1e-5, 1e-16);
    expect(learningRate({ kind: 'constant', lr: 0.5, warmupSteps: 0 }, 10, 0.99)).to.equal(0.5);
  });

  it('a non-finite loss stops the run, names the step, and keeps the last good checkpoint', async function () {
    this.timeout(120000);
    const file = path.join(dir, 'nan.safetensors');
    const model = smallModel();
    let calls = 0;
    // the images of step 3 come with a poisoned weight: the loss of that step is NaN
    const poisoned: DataSource = {
      length: images.length,
      get: (i) => {
        if (++calls === 5) model.predConvs.classConvs[0].bias!.value.data[0] = NaN;
        return images[i];
      },
    };
    let error: Error | null = null;
    // no workers: each batch is made when its step comes, so the 5th image asked for is step 3's first
    await train(model, poisoned, config(file, { maxSteps: 5, checkpointEverySteps: 1, workers: 0 })).catch((e: Error) => (error = e));
    expect(String(error)).to.match(/step 3 \(epoch 1\): .*(NaN|not finite).*the last good checkpoint \(step 2\) is .*nan\.safetensors/);
    expect(readCheckpoint(file).state?.step).to.equal(2);
    const reloaded = smallModel();
    reloaded.loadWeights(file);
    for (const v of stateDict(reloaded).get('pred_convs.cl_conv4_3.bias')!.data) expect(Number.isFinite(v)).to.equal(true);
  });

  it('rejects options that would run no step, naming the option', async () => {
    const data = inMemorySource(images);
    for (const [extra, message] of [
      [{ batchSize: 0 }, /the batch size must be a positive integer, got 0/],
      [{ epochs: 0 }, /the number of epochs must be a positive integer, got 0/],
      [{ maxSteps: -1 }, /the maximum number of steps must be a positive integer, got -1/],
      [{ maxMinutes: 0 }, /the time limit must be a positive number of minutes, got 0/],
      [{ batchSize: 7 }, /the data set has 6 images, fewer than one batch of 7/],
    ] as const) {
      let error: Error | null = null;
      await train(smallModel(), data, config(path.join(dir, 'never.safetensors'), extra)).catch((e: Error) => (error = e));
      expect(String(error)).to.match(message);
    }
    expect(fs.existsSync(path.join(dir, 'never.safetensors'))).to.equal(false);
  });

  it('--diagnose prints per-layer statistics; the curves are drawn next to the checkpoint', async function () {
    this.timeout(120000);
    const file = path.join(dir, 'diag.safetensors');
    const lines: string[] = [];
    await train(smallModel(), inMemorySource(images), config(file, { maxSteps: 1, diagnoseSteps: 1, curves: true, log: (l) => lines.push(l) }));
    const report = lines.find((l) => l.startsWith('diagnosis, step 1')) ?? '';
    expect(report).to.match(/base\.conv1_1 +Conv2d/);
    expect(report).to.match(/base\.bn1_1 +BatchNorm2d .*%/); // its ReLU fused into it: the share of zeros is the ReLU's
    expect(report).to.match(/aux_convs\.bn11_2 +BatchNorm2d/);
    const png = decodeImage(fs.readFileSync(curvesPath(file)), 'curves');
    expect(png.width).to.equal(900);
  });

  it('Ctrl-C (SIGINT) in `ssd train` finishes the step, writes a loadable checkpoint and exits 130', async function () {
    this.timeout(300000);
    const root = path.join(dir, 'voc');
    writeVocDataset(root, 'trainval', images, classes);
    const out = path.join(dir, 'sigint.safetensors');
    const child = spawn(process.execPath, [CLI, 'train', '--data', root, '--classes', 'synthetic', '--batch-norm', '--width-divisor', '32', '--batch', '2', '--epochs', '1000', '--out', out, '--backend', 'reference'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let signalled = false;
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (!signalled && /step 1:/.test(stdout)) {
          signalled = true;
          child.kill('SIGINT');
        }
      });
      child.on('close', (c) => resolve(c));
    });
    expect(code, stdout).to.equal(130);
    expect(stdout).to.match(/interrupted: finishing the current step/);
    expect(stdout).to.match(/stopped after step \d+: interrupted \(Ctrl-C\); checkpoint saved to/);
    const state = readCheckpoint(out).state!;
    expect(state.step).to.be.at.least(1);
    smallModel().loadWeights(out);
  });
});
