// The `ssd` command under bad input, as a user meets it: each case runs the CLI as a child
// process and checks the exit code, that the message names the file, tensor or option, and that
// nothing that existed before was changed.

import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { SSD300 } from '../../ssd/ssd300';
import { COMMANDS } from '../../cli/help';
import { makeSyntheticDataset, SYNTHETIC_CLASSES } from '../../data/synthetic';
import { writeVocDataset } from '../../data/voc';
import { encodeJpeg, encodePng } from '../../data/image_files';
import { pngBomb } from '../helpers/png_bomb';
import { runSsd } from '../helpers/cli';


function ssd(...args: string[]): ReturnType<typeof runSsd> {
  return runSsd(args, 240000);
}

describe('cli/ssd under bad input', () => {
  let dir = '';
  let weights = '';
  const images = makeSyntheticDataset(3, 11, { size: 96 });
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-bad-'));
    // an untrained small model is enough: these tests are about what goes in, not what is found
    weights = path.join(dir, 'small.safetensors');
    new SSD300({ nClasses: SYNTHETIC_CLASSES.length, widthDivisor: 32, seed: 1 }).saveWeights(weights, { classes: JSON.stringify(SYNTHETIC_CLASSES) });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('`ssd <command> --help` prints that command\'s options and examples, exits 0 and runs nothing', () => {
    for (const command of Object.keys(COMMANDS)) {
      const r = ssd(command, '--help');
      expect(r.status, `${command}: ${r.stderr}`).to.equal(0);
      expect(r.stdout).to.match(new RegExp(`^usage: ssd ${command}`));
      expect(r.stdout).to.contain('examples:\n  ssd ');
    }
    // options that would start work are ignored with --help: nothing is trained or written
    const out = path.join(dir, 'never.safetensors');
    const r = ssd('train', '--data', path.join(dir, 'no-such-data'), '--out', out, '-h');
    expect(r.status).to.equal(0);
    expect(fs.existsSync(out)).to.equal(false);
    expect(ssd('help', 'eval').stdout).to.match(/^usage: ssd eval/);
    const unknown = ssd('trian');
    expect(unknown.status).to.equal(1);
    expect(unknown.stderr).to.contain("ssd: unknown command 'trian'");
  });

  it('options are checked before anything runs: negative numbers, ranges, backends, unwritable outputs', function () {
    this.timeout(240000);
    const image = path.join(dir, 'options.png');
    fs.writeFileSync(image, encodePng(images[0].image));
    const cases: Array<[string[], string]> = [
      [['train', '--data', dir, '--batch', '-4'], "ssd: --batch: expected a positive integer, got '-4'"],
      [['train', '--data', dir, '--warmup', '-1'], "ssd: --warmup: expected a non-negative integer, got '-1'"],
      [['train', '--data', dir, '--epochs', '0'], "ssd: --epochs: expected a positive integer, got '0'"],
      [['detect', '--weights', weights, '--min-score', '2', image], "ssd: --min-score: expected a number from 0 to 1, got '2'"],
      [['detect', '--weights', weights, '--max-overlap', '-0.5', image], "ssd: --max-overlap: expected a number from 0 to 1, got '-0.5'"],
      [['summary', '--backend', 'tpu'], "ssd: --backend: expected one of reference, wasm, cpu"],
      [['summary', '--threads', '0'], "ssd: --threads: expected a positive integer, got '0'"],
      [['summary', '--classes', '1'], "ssd: --classes: expected the number of classes with the background, at least 2, got '1'"],
      [['make-synthetic', '--out', path.join(dir, 'never'), '--min-side', '0.5', '--max-side', '0.2'], 'ssd: --min-side 0.5 and --max-side 0.2: need 0 < min-side <= max-side <= 1'],
      [['detect', '--weights', weights, '--out', image, image], `ssd: --out ${image}: cannot write pictures there`],
      // explain checks its picture as train checks its checkpoint (cli/outputs.ts, checkWritable)
      [['explain', 'priors', '--out', dir], `ssd: --out ${dir}: is a directory`],
    ];
    if (fs.existsSync('/proc/self')) {
      // Node's recursive mkdir never returns under /proc: this once hung the command
      cases.push([['train', '--data', dir, '--out', '/proc/nope/w.safetensors'], 'ssd: --out /proc/nope/w.safetensors: cannot write there']);
      cases.push([['explain', 'priors', '--out', '/proc/nope/priors.png'], 'ssd: --out /proc/nope/priors.png: cannot write there']);
    }
    for (const [args, message] of cases) {
      const r = ssd(...args);
      expect(r.status, args.join(' ')).to.equal(1);
      expect(r.stderr, args.join(' ')).to.contain(message);
    }
    expect(fs.existsSync(path.join(dir, 'never'))).to.equal(false);
  });

  it('detect goes on past bad images, reports each, exits 1, and never writes two inputs to one file', function () {
    this.timeout(240000);
    const good = path.join(dir, 'good.png');
    fs.writeFileSync(good, encodePng(images[0].image));
    const samePng = path.join(dir, 'one.png');
    const sameJpg = path.join(dir, 'one.jpg');
    fs.writeFileSync(samePng, encodePng(images[1].image));
    fs.writeFileSync(sameJpg, encodeJpeg(images[2].image));
    const corrupt = path.join(dir, 'corrupt.png');
    fs.writeFileSync(corrupt, encodePng(images[0].image).subarray(0, 200));
    const bomb = path.join(dir, 'bomb.png');
    fs.writeFileSync(bomb, pngBomb(20000, 20000));
    const out = path.join(dir, 'found');
    const r = ssd('detect', '--weights', weights, '--min-score', '0', '--top-k', '50', '--out', out, good, corrupt, samePng, bomb, sameJpg);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain(`ssd: ${corrupt}: truncated or corrupt PNG file`);
    expect(r.stderr).to.contain(`ssd: ${bomb}: the image is 20000x20000 (400,000,000 pixels), above the limit of 64,000,000 pixels`);
    expect(r.stderr).to.contain(`ssd: detect: 2 of 5 image(s) failed: ${corrupt}, ${bomb}`);
    expect(fs.readdirSync(out).sort()).to.deep.equal(['good.detections.png', 'one.jpg.detections.png', 'one.png.detections.png']);
    // every printed box lies inside its 96x96 image; those that reached past an edge say so
    const boxes = [...r.stdout.matchAll(/\[(-?\d+), (-?\d+), (-?\d+), (-?\d+)\]/g)].map((m) => m.slice(1, 5).map(Number));
    expect(boxes.length).to.be.above(0);
    for (const b of boxes) for (const c of b) expect(c).to.be.within(0, 96);
    expect(r.stdout).to.contain('in pixels, clipped to the image');
    expect(r.stdout).to.match(/\]  clipped/);
    // a smaller limit, given on the command line
    const small = ssd('detect', '--weights', weights, '--max-pixels', '1000', '--out', out, good);
    expect(small.status).to.equal(1);
    expect(small.stderr).to.contain(`${good}: the image is 96x96 (9,216 pixels), above the limit of 1,000 pixels`);
    expect(ssd('detect', '--weights', weights, '--max-pixels', '0', good).stderr).to.contain("--max-pixels: expected a positive integer, got '0'");
  });

  it('weights that overflow make outputs that are not finite: detect and eval name the image and the feature map', function () {
    this.timeout(240000);
    const model = new SSD300({ nClasses: SYNTHETIC_CLASSES.length, widthDivisor: 32, seed: 1 });
    const [, weight] = model.namedParameters().find(([name]) => name === 'pred_convs.cl_conv4_3.weight')!;
    weight.value.data.fill(3e38); // finite, so loading takes it; the convolution's sums overflow to infinity
    const overflowing = path.join(dir, 'overflow.safetensors');
    model.saveWeights(overflowing, { classes: JSON.stringify(SYNTHETIC_CLASSES) });
    const image = path.join(dir, 'scene.png');
    fs.writeFileSync(image, encodePng(images[0].image));
    const detect = ssd('detect', '--weights', overflowing, '--out', path.join(dir, 'overflow-out'), image);
    expect(detect.status).to.equal(1);
    expect(detect.stderr).to.match(new RegExp(`ssd: ${image.replace(/[.]/g, '\\.')}: the network's class scores are not finite \\((Infinity|-Infinity|NaN) at prior \\d+ \\(feature map conv4_3, row \\d+, column \\d+, box \\d\\)`));
    const data = path.join(dir, 'voc-overflow');
    writeVocDataset(data, 'test', images.slice(0, 2), SYNTHETIC_CLASSES);
    const evaluation = ssd('eval', '--weights', overflowing, '--data', data);
    expect(evaluation.status).to.equal(1);
    expect(evaluation.stderr).to.match(/test_000001\.png: the network's class scores are not finite .*feature map conv4_3/);
    expect(evaluation.stdout).to.not.contain('mAP');
  });

  it('images without objects: eval takes them; train refuses them unless --allow-empty, writing nothing', function () {
    this.timeout(240000);
    const data = path.join(dir, 'voc-empty');
    const items = [images[0], { image: images[1].image, objects: [] }, images[2]];
    writeVocDataset(data, 'trainval', items, SYNTHETIC_CLASSES);
    writeVocDataset(data, 'test', items, SYNTHETIC_CLASSES);
    const evaluation = ssd('eval', '--weights', weights, '--data', data);
    expect(evaluation.status, evaluation.stderr).to.equal(0);
    expect(evaluation.stdout).to.match(/mAP \(VOC2007 11-point\): \d\.\d{4}/);

    const out = path.join(dir, 'empty.safetensors');
    fs.writeFileSync(out, 'an older file');
    const refused = ssd('train', '--data', data, '--classes', 'synthetic', '--width-divisor', '32', '--batch', '3', '--max-steps', '1', '--out', out);
    expect(refused.status).to.equal(1);
    expect(refused.stderr).to.contain(`${path.join(data, 'Annotations', 'trainval_000002.xml')}: no <object> in the annotation (to train on images of background only, allow them: --allow-empty)`);
    expect(fs.readFileSync(out, 'utf8')).to.equal('an older file');
    const trained = ssd('train', '--data', data, '--classes', 'synthetic', '--width-divisor', '32', '--batch', '3', '--max-steps', '1', '--out', out, '--allow-empty', '--no-augment');
    expect(trained.status, trained.stderr).to.equal(0);
    expect(trained.stdout).to.match(/step 1: loss \d+\.\d+/);
  });

  it('train --skip-bad skips a bad annotation and lists it with a count; without it the run stops, writing nothing', function () {
    this.timeout(240000);
    const data = path.join(dir, 'voc-bad');
    writeVocDataset(data, 'trainval', images, SYNTHETIC_CLASSES);
    const broken = path.join(data, 'Annotations', 'trainval_000003.xml');
    fs.writeFileSync(broken, fs.readFileSync(broken, 'utf8').replace('<name>', '<name>unicorn'));
    const out = path.join(dir, 'skip.safetensors');
    const stopped = ssd('train', '--data', data, '--classes', 'synthetic', '--width-divisor', '32', '--batch', '2', '--max-steps', '1', '--out', out);
    expect(stopped.status).to.equal(1);
    expect(stopped.stderr).to.match(new RegExp(`${broken.replace(/[.]/g, '\\.')}: object 0 \\(unicorn\\w+\\): unknown class name`));
    expect(fs.existsSync(out)).to.equal(false);
    const skipped = ssd('train', '--data', data, '--classes', 'synthetic', '--width-divisor', '32', '--batch', '2', '--max-steps', '1', '--out', out, '--skip-bad');
    expect(skipped.status, skipped.stderr).to.equal(0);
    expect(skipped.stderr).to.contain(`(trainval): skipped 1 of 3 images:\n  ${broken}: object 0`);
    expect(skipped.stdout).to.contain('training on 2 images');
  });

  it('explain --data reads the data set as train does: a bad annotation stops it, --skip-bad skips it, --max-pixels bounds the image', () => {
    const data = path.join(dir, 'voc-bad-explain');
    writeVocDataset(data, 'trainval', images, SYNTHETIC_CLASSES);
    const broken = path.join(data, 'Annotations', 'trainval_000001.xml'); // the first image: what explain draws by default
    fs.writeFileSync(broken, fs.readFileSync(broken, 'utf8').replace('<name>', '<name>unicorn'));
    const out = path.join(dir, 'explain-skip.png');
    const explain = (...extra: string[]): ReturnType<typeof ssd> => ssd('explain', 'matching', '--data', data, '--classes', 'synthetic', '--out', out, ...extra);
    const stopped = explain();
    expect(stopped.status).to.equal(1);
    expect(stopped.stderr).to.contain(`${broken}: object 0 (unicorn`);
    expect(fs.existsSync(out)).to.equal(false);
    const skipped = explain('--skip-bad');
    expect(skipped.status, skipped.stderr).to.equal(0);
    expect(skipped.stderr).to.contain(`(trainval): skipped 1 of 3 images:\n  ${broken}: object 0`);
    expect(fs.existsSync(out)).to.equal(true);
    const tooLarge = explain('--skip-bad', '--max-pixels', '100');
    expect(tooLarge.status).to.equal(1);
    expect(tooLarge.stderr).to.contain('above the limit of 100 pixels');
  });
});
