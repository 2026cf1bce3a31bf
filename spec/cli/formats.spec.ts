// One data set in the three layouts `ssd` reads (VOC, COCO, YOLO), through the CLI as a user runs
// it: `make-synthetic --format` writes each, and eval and train must not be able to tell them
// apart (the same metrics, the same detections file, the same first losses).

import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { SSD300 } from '../../ssd/ssd300';
import { SYNTHETIC_CLASSES } from '../../data/synthetic';
import { readImageHeader } from '../../data/image_files';
import { runSsd } from '../helpers/cli';

const FORMATS = ['voc', 'coco', 'yolo'] as const;

describe('cli: VOC, COCO and YOLO layouts of one data set', function () {
  this.timeout(600000);
  let dir = '';
  let weights = '';
  const data = (format: string): string => path.join(dir, `shapes-${format}`);

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-formats-'));
    for (const format of FORMATS) {
      const r = runSsd(['make-synthetic', '--out', data(format), '--format', format, '--train', '6', '--test', '5', '--seed', '3']);
      expect(r.status, r.stderr).to.equal(0);
    }
    // an untrained small model: these tests are about reading the data, not about what is found
    weights = path.join(dir, 'small.safetensors');
    new SSD300({ nClasses: SYNTHETIC_CLASSES.length, widthDivisor: 32, seed: 1 }).saveWeights(weights, { classes: JSON.stringify(SYNTHETIC_CLASSES) });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('make-synthetic writes each layout where its reader looks', () => {
    expect(fs.existsSync(path.join(data('voc'), 'ImageSets', 'Main', 'test.txt'))).to.equal(true);
    expect(fs.existsSync(path.join(data('coco'), 'annotations', 'instances_test.json'))).to.equal(true);
    expect(fs.readFileSync(path.join(data('yolo'), 'data.yaml'), 'utf8')).to.match(/^test: images\/test$/m);
  });

  it('eval prints the same VOC mAP and COCO summary, and writes the same detections, from each layout', () => {
    const outputs = FORMATS.map((format) => {
      const json = path.join(dir, `detections-${format}.json`);
      const plot = path.join(dir, `pr-${format}.png`);
      const r = runSsd(['eval', '--weights', weights, '--data', data(format), '--detections-out', json, '--plot', plot]);
      expect(r.status, `${format}: ${r.stderr}`).to.equal(0);
      const header = readImageHeader(plot);
      expect(header.width, 'the precision-recall plot is a picture').to.be.above(100);
      return { stdout: r.stdout.replace(/^wrote .*$/gm, ''), detections: fs.readFileSync(json, 'utf8') };
    });
    expect(outputs[0].stdout).to.contain('mAP (VOC2007 11-point)');
    expect(outputs[0].stdout).to.contain(' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = ');
    expect(outputs[0].stdout.split('\n').filter((l) => l.startsWith(' Average')).length, "COCO's 12 lines").to.equal(12);
    for (const k of [1, 2]) {
      expect(outputs[k].stdout, FORMATS[k]).to.equal(outputs[0].stdout);
      expect(outputs[k].detections, FORMATS[k]).to.equal(outputs[0].detections);
    }
    // COCO's results format: what pycocotools' loadRes reads
    const results = JSON.parse(outputs[1].detections) as { image_id: number; category_id: number; bbox: number[]; score: number }[];
    expect(results.length).to.be.above(0);
    for (const d of results.slice(0, 50)) {
      expect(Object.keys(d).sort()).to.deep.equal(['bbox', 'category_id', 'image_id', 'score']);
      expect(d.image_id).to.be.within(1, 5);
      expect(d.category_id).to.be.within(1, 3);
      expect(d.bbox.length).to.equal(4);
      expect(d.bbox[2]).to.be.at.least(0);
    }
  });

  it('eval --metric picks what is printed', () => {
    const coco = runSsd(['eval', '--weights', weights, '--data', data('coco'), '--metric', 'coco']);
    expect(coco.status, coco.stderr).to.equal(0);
    expect(coco.stdout).to.not.contain('mAP (VOC2007');
    expect(coco.stdout).to.contain('Average Recall');
    const voc = runSsd(['eval', '--weights', weights, '--data', data('yolo'), '--metric', 'voc07']);
    expect(voc.status, voc.stderr).to.equal(0);
    expect(voc.stdout).to.contain('mAP (VOC2007');
    expect(voc.stdout).to.not.contain('Average Recall');
  });

  it('train reads all three, and its first steps are the same on each', () => {
    const firstLoss = FORMATS.map((format) => {
      const out = path.join(dir, `trained-${format}.safetensors`);
      const r = runSsd(['train', '--data', data(format), '--batch-norm', '--width-divisor', '32', '--batch', '2', '--max-steps', '2', '--workers', '0', '--out', out]);
      expect(r.status, `${format}: ${r.stderr}`).to.equal(0);
      expect(fs.existsSync(out)).to.equal(true);
      const line = r.stdout.split('\n').find((l) => l.startsWith('epoch 1 step 1:'));
      expect(line, `${format}: a line for step 1`).to.not.equal(undefined);
      return (line as string).replace(/, [0-9.]+ img\/s.*$/, ''); // the speed differs, not the loss
    });
    expect(firstLoss[1]).to.equal(firstLoss[0]);
    expect(firstLoss[2]).to.equal(firstLoss[0]);
  });

  it('explain --data draws the same picture of an image from each layout', () => {
    const pictures = FORMATS.map((format) => {
      const out = path.join(dir, `matching-${format}.png`);
      const r = runSsd(['explain', 'matching', '--data', data(format), '--split', 'test', '--out', out]);
      expect(r.status, `${format}: ${r.stderr}`).to.equal(0);
      return fs.readFileSync(out);
    });
    expect(pictures[1].equals(pictures[0]), 'coco').to.equal(true);
    expect(pictures[2].equals(pictures[0]), 'yolo').to.equal(true);
    const stranger = runSsd(['explain', 'mining', weights, '--data', data('coco'), '--split', 'test', '--out', path.join(dir, 'never.png')]);
    expect(stranger.status).to.equal(1);
    expect(stranger.stderr).to.contain(`${weights}: not an image of --data`);
  });

  it('a COCO file is one split: --eval-every without --eval-data is refused before training', () => {
    const out = path.join(dir, 'never.safetensors');
    const file = path.join(data('coco'), 'annotations', 'instances_train.json');
    const r = runSsd(['train', '--data', file, '--eval-every', '1', '--out', out]);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain('is one COCO split; name the split to evaluate with --eval-data FILE.json');
    expect(fs.existsSync(out)).to.equal(false);
  });
});
