// `ssd explain`: each picture from the command line, on a plain background and on an image with
// its VOC annotation and a weights file.

import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { SSD300 } from '../../ssd/ssd300';
import { makeSyntheticDataset, SYNTHETIC_CLASSES } from '../../data/synthetic';
import { writeVocDataset } from '../../data/voc';
import { decodeImage } from '../../data/image_files';
import { runSsd } from '../helpers/cli';


function ssd(...args: string[]): ReturnType<typeof runSsd> {
  return runSsd(args);
}

describe('cli/explain', () => {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-explain-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const kind of ['priors', 'matching', 'mining', 'detection']) {
    it(`${kind}, with no image: a PNG on a plain background`, () => {
      const out = path.join(dir, `${kind}.png`);
      const r = ssd('explain', kind, '--out', out);
      expect(r.status, r.stderr).to.equal(0);
      const img = decodeImage(fs.readFileSync(out), out);
      expect(img.width).to.be.greaterThan(300);
      expect(img.height).to.be.greaterThan(300);
    });
  }

  it('on an image with its annotation and a weights file', function () {
    this.timeout(120000);
    const voc = path.join(dir, 'voc');
    writeVocDataset(voc, 'test', makeSyntheticDataset(1, 3), [...SYNTHETIC_CLASSES]);
    const id = fs.readFileSync(path.join(voc, 'ImageSets/Main/test.txt'), 'utf8').trim();
    const imageFile = fs.readdirSync(path.join(voc, 'JPEGImages')).map((f) => path.join(voc, 'JPEGImages', f))[0];
    const annotation = path.join(voc, 'Annotations', `${id}.xml`);
    const weights = path.join(dir, 'w.safetensors');
    new SSD300({ nClasses: SYNTHETIC_CLASSES.length, widthDivisor: 32, seed: 1 }).saveWeights(weights, { classes: JSON.stringify(SYNTHETIC_CLASSES) });
    for (const kind of ['matching', 'mining', 'detection']) {
      const out = path.join(dir, `${kind}-image.png`);
      const r = ssd('explain', kind, imageFile, '--annotation', annotation, '--weights', weights, '--backend', 'reference', '--out', out);
      expect(r.status, r.stderr).to.equal(0);
      expect(fs.existsSync(out)).to.equal(true);
    }
    // No annotation: the example scene, its labels fitted to the model's 4 classes.
    const noAnnotation = ssd('explain', 'mining', '--weights', weights, '--backend', 'reference', '--out', path.join(dir, 'm.png'));
    expect(noAnnotation.status, noAnnotation.stderr).to.equal(0);
    const r = ssd('explain', 'priors', imageFile, '--map', 'conv9_2', '--cell', '2,3', '--out', path.join(dir, 'p.png'));
    expect(r.status, r.stderr).to.equal(0);
  });

  it('says what is wrong: an unknown picture, no --out, a bad map', () => {
    expect(ssd('explain', 'anchors', '--out', 'x.png').stderr).to.match(/say what to draw: priors, matching, mining, detection/);
    expect(ssd('explain', 'priors').stderr).to.match(/explain: --out is required/);
    expect(ssd('explain', 'priors', '--map', 'fc7', '--out', path.join(dir, 'x.png')).stderr).to.match(/no feature map 'fc7'/);
  });
});
