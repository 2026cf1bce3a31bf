// The `ssd` command end to end, as a user runs it: a tiny synthetic VOC data set, one training
// step of the small model, evaluation, detection with a picture written, and the error messages.

import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runSsd } from '../helpers/cli';


function ssd(...args: string[]): ReturnType<typeof runSsd> {
  return runSsd(args);
}

describe('cli/ssd', () => {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-cli-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('summary prints every layer and the totals of SSD300', () => {
    const r = ssd('summary');
    expect(r.status).to.equal(0);
    expect(r.stdout).to.match(/base\.conv4_3\s+Conv2d\+ReLU\s+\(1, 512, 38, 38\)/);
    expect(r.stdout).to.contain('total parameters: 26,285,486');
    expect(r.stdout).to.contain('31.37 GMAC');
  });

  it('make-synthetic, train, eval and detect work on a VOC-layout data set', function () {
    this.timeout(300000);
    const data = path.join(dir, 'voc');
    expect(ssd('make-synthetic', '--out', data, '--train', '4', '--test', '2').status).to.equal(0);
    expect(fs.existsSync(path.join(data, 'ImageSets/Main/trainval.txt'))).to.equal(true);

    const weights = path.join(dir, 'w.safetensors');
    const train = ssd('train', '--data', data, '--classes', 'synthetic', '--width-divisor', '32', '--batch', '2', '--max-steps', '1', '--out', weights, '--backend', 'cpu');
    expect(train.status, train.stderr).to.equal(0);
    expect(train.stderr).to.contain('backend: cpu');
    expect(train.stdout).to.match(/step 1: loss \d+\.\d+/);
    expect(fs.existsSync(weights)).to.equal(true);

    const evaluation = ssd('eval', '--weights', weights, '--data', data, '--method', 'area');
    expect(evaluation.status, evaluation.stderr).to.equal(0);
    expect(evaluation.stdout).to.match(/(circle|square|triangle)\s+AP \d\.\d{4}/);
    expect(evaluation.stdout).to.match(/mAP \(all-point area\): \d\.\d{4}/);

    const image = path.join(data, 'JPEGImages/test_000001.png');
    const out = path.join(dir, 'detections');
    const detect = ssd('detect', '--weights', weights, '--min-score', '0.05', '--out', out, image);
    expect(detect.status, detect.stderr).to.equal(0);
    expect(detect.stdout).to.match(/test_000001\.png: \d+ objects?/);
    expect(fs.existsSync(path.join(out, 'test_000001.detections.png'))).to.equal(true);
  });

  it('train --batch-norm reads the classes off the annotations, evaluates, draws its curves; augment-preview draws a grid', function () {
    this.timeout(300000);
    const data = path.join(dir, 'voc-bn');
    expect(ssd('make-synthetic', '--out', data, '--train', '4', '--test', '2').status).to.equal(0);
    const weights = path.join(dir, 'bn.safetensors');
    const train = ssd('train', '--data', data, '--batch-norm', '--width-divisor', '32', '--batch', '2', '--max-steps', '2', '--eval-every', '1', '--out', weights);
    expect(train.status, train.stderr).to.equal(0);
    expect(train.stdout).to.contain('classes (from the annotations): circle, square, triangle');
    expect(train.stdout).to.match(/evaluation at step 2 \(epoch \d, \d+\.\d min of training\): mAP \d\.\d{4}/);
    expect(train.stdout).to.match(/stopped after step 2: --max-steps 2 reached; checkpoint saved to/);
    expect(fs.existsSync(path.join(dir, 'bn.curves.png'))).to.equal(true);
    const detect = ssd('detect', '--weights', weights, '--out', path.join(dir, 'bn-detections'), path.join(data, 'JPEGImages/test_000001.png'));
    expect(detect.status, detect.stderr).to.equal(0);
    const preview = path.join(dir, 'augmented.png');
    const r = ssd('augment-preview', '--data', data, '--count', '3', '--out', preview);
    expect(r.status, r.stderr).to.equal(0);
    expect(fs.existsSync(preview)).to.equal(true);
    // options that would run no step are refused before anything is written
    const zero = ssd('train', '--data', data, '--batch', '0', '--out', path.join(dir, 'never.safetensors'));
    expect(zero.status).to.equal(1);
    expect(zero.stderr).to.contain("--batch: expected a positive integer, got '0'");
    expect(fs.existsSync(path.join(dir, 'never.safetensors'))).to.equal(false);
  });

  it('errors say what was wrong: unknown command, missing option, bad number, bad file, unknown backend', () => {
    const unknown = ssd('fly');
    expect(unknown.status).to.equal(1);
    expect(unknown.stderr).to.contain("unknown command 'fly'");
    expect(ssd('eval', '--data', dir).stderr).to.contain('--weights is required');
    expect(ssd('summary', '--classes', 'many').stderr).to.contain("--classes: expected an integer, got 'many'");
    const notWeights = path.join(dir, 'not.safetensors');
    fs.writeFileSync(notWeights, 'hello');
    expect(ssd('detect', '--weights', notWeights, 'x.png').stderr).to.contain(notWeights);
    // checked by every command, even one that runs no kernel
    expect(ssd('summary', '--backend', 'tpu').status).to.equal(1);
    expect(ssd('eval', '--backend', 'tpu', '--weights', notWeights, '--data', dir).stderr).to.contain("--backend: expected one of reference, wasm, cpu, gpu.js:webasm, gpu.js:headlessgl, gpu.js:cpu, got 'tpu'");
  });
});
