// `ssd train --resume` on edited and mismatched checkpoints, as a hostile user makes them: every
// field of the training state is checked before anything is trained or written (a generator
// state of zeros once hung the run, other edits were written back or failed with a TypeError
// after the checkpoint was rewritten), and a checkpoint of other classes, another width, batch
// norm or another data set is refused naming both values. Through the CLI; the checkpoint must
// stay byte for byte what it was. parseTrainingState's other variants are checked directly.

import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { makeSyntheticDataset, SYNTHETIC_CLASSES } from '../../data/synthetic';
import { writeVocDataset } from '../../data/voc';
import { encodeSafetensors, readSafetensors } from '../../tensor/safetensors';
import { Tensor } from '../../tensor/tensor';
import { parseTrainingState } from '../../train/checkpoint';
import { ssdMeasured } from '../cli/measured';

/** A copy of checkpoint `from` at `to`, its training state edited by `edit` (and its tensors by `tensors`). */
function edited(from: string, to: string, edit: (state: Record<string, unknown>) => unknown, tensors?: (t: Map<string, Tensor>) => void): string {
  const { tensors: t, metadata } = readSafetensors(from);
  const state = JSON.parse(metadata.training_state) as Record<string, unknown>;
  const result = edit(state);
  tensors?.(t);
  fs.writeFileSync(to, encodeSafetensors(t, { ...metadata, training_state: typeof result === 'string' ? result : JSON.stringify(result ?? state) }));
  return to;
}

describe('train --resume: edited and mismatched checkpoints', () => {
  let dir = '';
  let data = '';
  let checkpoint = '';
  const base = ['train', '--classes', 'synthetic', '--batch', '2', '--no-augment'];
  const ssd = (...args: string[]): ReturnType<typeof ssdMeasured> => ssdMeasured(args, 60000);

  before(function () {
    this.timeout(120000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-resume-'));
    data = path.join(dir, 'data');
    writeVocDataset(data, 'trainval', makeSyntheticDataset(4, 31, { size: 96 }), SYNTHETIC_CLASSES);
    checkpoint = path.join(dir, 'start.safetensors');
    const r = ssd(...base, '--data', data, '--width-divisor', '32', '--max-steps', '1', '--out', checkpoint);
    expect(r.status, r.stderr).to.equal(0);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses every degenerate or mistyped training state before writing anything, naming the field', function () {
    this.timeout(240000);
    const cases: Array<[string, (s: Record<string, unknown>) => unknown, string]> = [
      // the cases
      ['zero-rng', (s) => ({ ...s, rng: { s: [0, 0, 0, 0], spareNormal: null } }), "'rng.s' must be a generator state that is not all zeros"],
      ['negative-step', (s) => ({ ...s, step: -5 }), "'step' must be an integer from 0 up, got -5"],
      ['negative-epoch', (s) => ({ ...s, epoch: -1 }), "'epoch' must be an integer from 0 up, got -1"],
      ['fractional-position', (s) => ({ ...s, position: 1.5 }), "'position' must be an integer from 0 to 4, got 1.5"],
      ['short-order', (s) => ({ ...s, order: [1, 0, 2] }), 'the checkpoint was trained on 3 images, this data set has 4'],
      ['history-type', (s) => ({ ...s, lossHistory: 'none' }), "'lossHistory' must be a list, got \"none\""],
      // other degenerate states
      ['duplicate-order', (s) => ({ ...s, order: [0, 0, 1, 2] }), "'order[1]' must be an index from 0 to 3 not used before"],
      ['position-past-end', (s) => ({ ...s, position: 9 }), "'position' must be an integer from 0 to 4, got 9"],
      ['history-point', (s) => ({ ...s, lossHistory: [{ step: 1, loss: 'x', locLoss: 1, confLoss: 1, lr: 0 }] }), "'lossHistory[0].loss' must be a finite number"],
      ['eval-history', (s) => ({ ...s, evalHistory: {} }), "'evalHistory' must be a list, got {}"],
      ['rng-words', (s) => ({ ...s, rng: { s: [1, 2, 3, 2 ** 32], spareNormal: null } }), "'rng.s' must be four 32-bit unsigned integers"],
      ['spare-normal', (s) => ({ ...s, rng: { ...(s.rng as object), spareNormal: 1e300 } }), "'rng.spareNormal' must be null or a number from -6.66 to 6.66"],
      ['elapsed', (s) => ({ ...s, elapsedSeconds: -1 }), "'elapsedSeconds' must be a finite number of at least 0"],
      ['batch-size', (s) => ({ ...s, batchSize: 0 }), "'batchSize' must be an integer from 1 up, got 0"],
      ['not-json', () => '{"step": 1,', "metadata 'training_state' is not valid JSON"],
      ['not-object', () => '[1, 2]', "'training_state' must be a JSON object"],
      ['missing-rng', (s) => ({ ...s, rng: undefined }), "'rng' must be an object {s, spareNormal}, got nothing"],
    ];
    for (const [name, edit, message] of cases) {
      const file = edited(checkpoint, path.join(dir, `${name}.safetensors`), edit);
      const bytes = fs.readFileSync(file);
      // resumed onto itself, as a run goes on: nothing may be written over it; with augmentation for
      // the generator of zeros, whose crop sampler never returned (the run hung, not failed)
      const args = name === 'zero-rng' ? base.filter((a) => a !== '--no-augment') : base;
      const r = ssdMeasured([...args, '--data', data, '--max-steps', '3', '--resume', file, '--out', file], 30000);
      expect(r.status, `${name}: ${r.stderr}`).to.equal(1);
      expect(r.stderr, name).to.contain(`ssd: ${file}: `);
      expect(r.stderr, name).to.contain(message);
      expect(r.stderr, name).to.not.contain('TypeError');
      expect(fs.readFileSync(file).equals(bytes), `${name}: the checkpoint was rewritten`).to.equal(true);
      expect(fs.existsSync(file.replace(/\.safetensors$/, '.curves.png')), name).to.equal(false);
    }
  });

  it('refuses optimizer state that is not finite momentum of this model\'s parameters', function () {
    this.timeout(120000);
    const name = 'pred_convs.cl_conv4_3.bias';
    const cases: Array<[string, (t: Map<string, Tensor>) => void, string]> = [
      ['nan', (t) => t.get(`optimizer.momentum.${name}`)!.data.fill(NaN), `'optimizer.momentum.${name}' holds NaN at index 0`],
      ['unknown', (t) => t.set('optimizer.momentum.base.conv99.weight', new Tensor([1])), "'optimizer.momentum.base.conv99.weight' is not the momentum of a parameter of this model"],
      ['shape', (t) => t.set(`optimizer.momentum.${name}`, new Tensor([2, t.get(`optimizer.momentum.${name}`)!.size / 2])), `'optimizer.momentum.${name}' has shape (2, 8), the parameter (16)`],
    ];
    for (const [label, change, message] of cases) {
      const file = edited(checkpoint, path.join(dir, `momentum-${label}.safetensors`), () => undefined, change);
      const bytes = fs.readFileSync(file);
      const r = ssd(...base, '--data', data, '--max-steps', '3', '--resume', file, '--out', file);
      expect(r.status, `${label}: ${r.stderr}`).to.equal(1);
      expect(r.stderr, label).to.contain(message);
      expect(fs.readFileSync(file).equals(bytes), label).to.equal(true);
    }
  });

  it('refuses other classes, another width, batch norm or data set, naming both; the right options resume', function () {
    this.timeout(240000);
    const other = path.join(dir, 'other-data');
    writeVocDataset(other, 'trainval', makeSyntheticDataset(4, 99, { size: 96 }), SYNTHETIC_CLASSES); // same size, same ids, other images
    const copy = path.join(dir, 'copy.safetensors');
    fs.copyFileSync(checkpoint, copy);
    const bytes = fs.readFileSync(copy);
    const resume = ['--max-steps', '2', '--resume', copy, '--out', copy];
    const cases: Array<[string[], RegExp | string]> = [
      [['train', '--data', data, '--classes', 'square,circle,triangle', '--batch', '2', ...resume], `${copy}: the checkpoint's classes are background, circle, square, triangle; this run's are background, square, circle, triangle`],
      [[...base, '--data', data, '--width-divisor', '16', ...resume], `--width-divisor 16: the checkpoint ${copy} has width divisor 32`],
      [[...base, '--data', data, '--batch-norm', ...resume], `--batch-norm: the checkpoint ${copy} has no batch norm`],
      [[...base, '--data', other, ...resume], /the checkpoint was trained on another data set \(its image list: 4 images, sha256 [0-9a-f]{16}; this one: 4 images, sha256 [0-9a-f]{16}\)/],
    ];
    for (const [args, message] of cases) {
      const r = ssd(...args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).to.equal(1);
      if (typeof message === 'string') expect(r.stderr, args.join(' ')).to.contain(message);
      else expect(r.stderr, args.join(' ')).to.match(message);
      expect(fs.readFileSync(copy).equals(bytes), args.join(' ')).to.equal(true);
    }
    const ok = ssd(...base, '--data', data, '--width-divisor', '32', ...resume);
    expect(ok.status, ok.stderr).to.equal(0);
    expect(ok.stdout).to.contain('resumed from');
  });

  it('a batch-norm checkpoint resumed without --batch-norm keeps the batch-norm learning rate', function () {
    this.timeout(120000);
    const bn = path.join(dir, 'bn.safetensors');
    const first = ssd(...base, '--data', data, '--width-divisor', '32', '--batch-norm', '--max-steps', '1', '--out', bn);
    expect(first.status, first.stderr).to.equal(0);
    expect(first.stdout).to.contain('lr 0.00125'); // batch norm's rate, 0.01 at batch 16, at batch 2
    const again = ssd(...base, '--data', data, '--max-steps', '2', '--resume', bn, '--out', bn);
    expect(again.status, again.stderr).to.equal(0);
    expect(again.stdout).to.contain('batch norm; batch 2, lr 0.00125'); // not the 0.001 of a model without batch norm
  });

  it('parseTrainingState names the field of every other malformed state', () => {
    const good = JSON.parse(readSafetensors(checkpoint).metadata.training_state) as Record<string, unknown>;
    expect(parseTrainingState(JSON.stringify(good), 'c').step).to.equal(1);
    const variants: Array<[Record<string, unknown>, string]> = [
      [{ ...good, step: 1e300 }, "'step' must be an integer"],
      [{ ...good, step: '1' }, "'step' must be an integer"],
      [{ ...good, order: [] }, "'order' must be a permutation"],
      [{ ...good, order: [0, 1, 2, -1] }, "'order[3]' must be an index"],
      [{ ...good, order: [0, 1, 2, 3.5] }, "'order[3]' must be an index"],
      [{ ...good, rng: { s: [1, 2, 3], spareNormal: null } }, "'rng.s' must be four"],
      [{ ...good, rng: { s: [1, 2, 3, 4], spareNormal: 'x' } }, "'rng.spareNormal' must be null or a number"],
      [{ ...good, rng: [1, 2, 3, 4] }, "'rng' must be an object"],
      [{ ...good, schedule: { kind: 'warp', lr: 1, warmupSteps: 0 } }, "'schedule.kind' must be cosine, steps, constant"],
      [{ ...good, schedule: { kind: 'cosine', lr: -1, warmupSteps: 0 } }, "'schedule.lr' must be a finite number"],
      [{ ...good, lossHistory: [null] }, "'lossHistory[0]' must be an object"],
      [{ ...good, lossHistory: [{ step: 99, loss: 1, locLoss: 1, confLoss: 1, lr: 0 }] }, "'lossHistory[0].step' must be an integer from 1 to 1"],
      [{ ...good, evalHistory: [{ step: 0, epoch: 0, mAP: 2 }] }, "'evalHistory[0].mAP' must be a number from 0 to 1, or null"],
      [{ ...good, dataset: 5 }, "'dataset' must be a fingerprint"],
      [{ ...good, elapsedSeconds: null }, "'elapsedSeconds' must be a finite number"],
    ];
    for (const [state, message] of variants) expect(() => parseTrainingState(JSON.stringify(state), 'c.safetensors'), message).to.throw(`c.safetensors: training_state: ${message}`);
    // a mAP of NaN is written as null, and read back as NaN
    expect(parseTrainingState(JSON.stringify({ ...good, evalHistory: [{ step: 1, epoch: 1, mAP: null }] }), 'c').evalHistory[0].mAP).to.be.NaN;
    // "__proto__" in the JSON is an ordinary key, and does not reach the state built
    const polluted = parseTrainingState(JSON.stringify(good).replace('{', '{"__proto__":{"step":-1},'), 'c');
    expect(Object.getPrototypeOf(polluted)).to.equal(Object.prototype);
  });
});
