import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LabeledImage, ObjectAnnotation, Sample, cloneObjects, loadSampleImage, objectArea, validateObjects } from '../../data/annotations';
import { writeCocoDataset } from '../../data/coco';
import { detectDatasetFormat, readDataset, readDatasetClassNames, trainingObjects } from '../../data/dataset';
import { makeSyntheticDataset, SYNTHETIC_CLASSES } from '../../data/synthetic';
import { writeVocDataset } from '../../data/voc';
import { writeYoloDataset } from '../../data/yolo';

/**
 * The images of the three-layout test: synthetic ones (square, boxes on whole pixels), one that
 * is not square (so that x and y scale apart) with a box of the whole image and a one-pixel box
 * in its corner, and one without objects.
 */
function sameImages(): LabeledImage[] {
  const items = makeSyntheticDataset(5, 3, { size: 48 });
  const data = new Uint8Array(40 * 24 * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) % 251;
  const objects: ObjectAnnotation[] = [
    { boxXy: [3 / 40, 2 / 24, 17 / 40, 20 / 24], label: 2, difficult: false },
    { boxXy: [0, 0, 1, 1], label: 3, difficult: false },
    { boxXy: [39 / 40, 23 / 24, 1, 1], label: 1, difficult: false },
  ];
  return [...items, { image: { width: 40, height: 24, data }, objects }, { image: items[0].image, objects: [] }];
}

describe('data/dataset', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-dataset-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The same images written in the three layouts; returns the three roots. */
  function threeLayouts(items: readonly LabeledImage[]): { voc: string; coco: string; yolo: string } {
    const named = items.map((item, k) => ({ ...item, id: `img_${k}` })); // ids that sort as written: YOLO's order is by path
    const roots = { voc: path.join(dir, 'voc'), coco: path.join(dir, 'coco'), yolo: path.join(dir, 'yolo') };
    writeVocDataset(roots.voc, 'trainval', named, SYNTHETIC_CLASSES);
    writeCocoDataset(path.join(roots.coco, 'annotations', 'instances_train2017.json'), items, SYNTHETIC_CLASSES, { imagesDir: path.join(roots.coco, 'train2017') });
    writeYoloDataset(roots.yolo, { train: named }, SYNTHETIC_CLASSES);
    return roots;
  }

  describe('the same images in VOC, COCO and YOLO', () => {
    it('read back through readDataset give identical samples: sizes, labels, boxes (exactly), class lists, pixels', () => {
      const items = sameImages();
      const roots = threeLayouts(items);
      const voc = readDataset(roots.voc, { split: 'trainval', allowEmpty: true });
      const coco = readDataset(roots.coco, { split: 'trainval', allowEmpty: true });
      const yolo = readDataset(roots.yolo, { split: 'trainval', allowEmpty: true });
      expect([voc.format, coco.format, yolo.format]).to.deep.equal(['voc', 'coco', 'yolo']);
      expect([voc.split, coco.split, yolo.split]).to.deep.equal(['trainval', 'train2017', 'train']);
      // classes from each data set's own description: VOC's names found, COCO's categories, YOLO's names
      for (const d of [voc, coco, yolo]) expect(d.classes).to.deep.equal(SYNTHETIC_CLASSES);
      expect(coco.categoryIds).to.deep.equal([-1, 1, 2, 3]);

      // What the layouts have in common. COCO adds `area` (checked below) and its image ids.
      // Boxes are compared EXACTLY, not within a tolerance: each reader makes pixel boundaries
      // and divides them by the image size, VOC from whole pixels, COCO from [x, y, w, h] (whole
      // pixels, as the writer snaps them), YOLO from cx +- w / 2 (fractions: floating point leaves
      // them within 1e-13 of a pixel, which parseYoloLabels snaps to the whole pixel, below 1e-6).
      const common = (samples: readonly Sample[]): unknown[] =>
        samples.map((s) => ({ width: s.width, height: s.height, objects: s.objects.map(({ area: _area, ...o }) => o) }));
      expect(common(coco.samples)).to.deep.equal(common(voc.samples));
      expect(common(yolo.samples)).to.deep.equal(common(voc.samples));
      expect(voc.samples.map((s) => s.objects)).to.deep.equal(items.map((item) => item.objects)); // and as made
      expect(voc.samples.map((s) => s.objects.length)).to.deep.equal([...items.slice(0, 5).map((i) => i.objects.length), 3, 0]);

      // COCO's area is the box's in pixels, as written: whole pixels, so a whole number
      for (const s of coco.samples) {
        for (const o of s.objects) {
          expect(Number.isInteger(o.area)).to.equal(true);
          expect(o.area).to.be.closeTo(objectArea({ ...o, area: undefined }, s.width, s.height), 1e-9); // fractions times sizes: rounding
        }
      }
      expect(coco.samples.map((s) => s.imageId)).to.deep.equal([1, 2, 3, 4, 5, 6, 7]);

      // the same pixels (PNG, lossless)
      for (const i of [0, 5]) {
        const pixels = [voc, coco, yolo].map((d) => loadSampleImage(d.samples[i]).data);
        for (const p of pixels) expect(Buffer.from(p).equals(Buffer.from(items[i].image.data))).to.equal(true);
      }
    });

    it('in training (no allowEmpty) VOC refuses the image without objects; COCO and YOLO leave it out with a warning', () => {
      const roots = threeLayouts(sameImages());
      expect(() => readDataset(roots.voc, { split: 'trainval' })).to.throw(/img_6\.xml: no <object> in the annotation/);
      for (const root of [roots.coco, roots.yolo]) {
        const warnings: string[] = [];
        const d = readDataset(root, { split: 'trainval', warn: (m) => warnings.push(m) });
        expect(d.samples).to.have.length(6);
        expect(warnings).to.have.length(1);
        expect(warnings[0]).to.match(/left out 1 of 7 images without objects/);
      }
    });

    it('readDatasetClassNames gives each layout\'s own class list; a given class list is used by all three', () => {
      const roots = threeLayouts(sameImages());
      for (const root of Object.values(roots)) expect(readDatasetClassNames(root, { split: 'trainval' })).to.deep.equal(SYNTHETIC_CLASSES);
      const classes = ['background', 'triangle', 'square', 'circle', 'star'];
      const labels = Object.values(roots).map((root) => readDataset(root, { split: 'trainval', classes, allowEmpty: true }).samples.map((s) => s.objects.map((o) => o.label)));
      expect(labels[1]).to.deep.equal(labels[0]);
      expect(labels[2]).to.deep.equal(labels[0]);
      expect(labels[0][5]).to.deep.equal([2, 1, 3]); // square, triangle, circle in the given list
    });
  });

  describe('detectDatasetFormat', () => {
    it('tells the layouts apart by what --data names', () => {
      const roots = threeLayouts(makeSyntheticDataset(1, 1, { size: 16 }));
      expect(detectDatasetFormat(roots.voc)).to.equal('voc');
      expect(detectDatasetFormat(roots.coco)).to.equal('coco');
      expect(detectDatasetFormat(path.join(roots.coco, 'annotations', 'instances_train2017.json'))).to.equal('coco');
      expect(detectDatasetFormat(roots.yolo)).to.equal('yolo');
      expect(detectDatasetFormat(path.join(roots.yolo, 'data.yaml'))).to.equal('yolo');
      fs.writeFileSync(path.join(dir, 'other.yml'), 'names: [a]\n');
      expect(detectDatasetFormat(path.join(dir, 'other.yml'))).to.equal('yolo');
      // a COCO .json file given itself reads as the folder does
      const coco = readDataset(path.join(roots.coco, 'annotations', 'instances_train2017.json'), { split: 'ignored' });
      expect(coco.samples).to.deep.equal(readDataset(roots.coco, { split: 'trainval' }).samples);
    });

    it('says what it looked for, and refuses to guess between two', () => {
      const empty = path.join(dir, 'empty');
      fs.mkdirSync(empty);
      expect(() => detectDatasetFormat(empty)).to.throw(
        `--data ${empty}: not a data set this reader knows: looked for data.yaml (YOLO), Annotations/ and ImageSets/ (VOC), annotations/instances_<split>.json (COCO)`,
      );
      expect(() => detectDatasetFormat(path.join(dir, 'nothing'))).to.throw(`--data ${path.join(dir, 'nothing')}: no such file or folder`);
      fs.writeFileSync(path.join(dir, 'list.txt'), 'x');
      expect(() => detectDatasetFormat(path.join(dir, 'list.txt'))).to.throw('a file, but neither a COCO .json file nor a YOLO .yaml file');
      const both = path.join(dir, 'both');
      writeVocDataset(both, 'trainval', makeSyntheticDataset(1, 1, { size: 16 }), SYNTHETIC_CLASSES);
      fs.writeFileSync(path.join(both, 'data.yaml'), 'names: [a]\n');
      expect(() => detectDatasetFormat(both)).to.throw(`--data ${both}: looks like yolo and like voc; say which with --format`);
      expect(readDataset(both, { format: 'voc', split: 'trainval' }).samples).to.have.length(1);
    });

    it('--images is for COCO only', () => {
      const roots = threeLayouts(makeSyntheticDataset(1, 1, { size: 16 }));
      expect(() => readDataset(roots.voc, { split: 'trainval', images: dir })).to.throw(`--images: only a COCO data set takes it (${roots.voc} is VOC)`);
    });
  });

  describe('crowd and area', () => {
    const person: ObjectAnnotation = { boxXy: [0.1, 0.2, 0.5, 0.6], label: 1, difficult: false };
    const crowd: ObjectAnnotation = { boxXy: [0, 0, 1, 1], label: 1, difficult: false, crowd: true, area: 50 };

    it('trainingObjects leaves crowd regions out', () => {
      expect(trainingObjects({ objects: [person, crowd, { ...person, crowd: false }] })).to.deep.equal([person, { ...person, crowd: false }]);
    });

    it('objectArea is the given area, else the box\'s in pixels', () => {
      expect(objectArea(crowd, 10, 10)).to.equal(50);
      expect(objectArea({ ...person, boxXy: [0.25, 0.5, 0.75, 1] }, 40, 20)).to.equal(20 * 10);
    });

    it('cloneObjects keeps crowd and area where set and adds neither where not', () => {
      const copies = cloneObjects([person, crowd]);
      expect(copies).to.deep.equal([person, crowd]);
      expect(Object.keys(copies[0])).to.deep.equal(['boxXy', 'label', 'difficult']);
      expect(copies[1].boxXy).to.not.equal(crowd.boxXy);
    });

    it('validateObjects refuses an area that is not a finite number >= 0', () => {
      expect(() => validateObjects([{ ...crowd, area: NaN }], 'a.json')).to.throw('a.json: object 0: area NaN must be a finite number >= 0 (pixels)');
      expect(() => validateObjects([{ ...crowd, area: -1 }], 'a.json')).to.throw(/area -1 must be/);
    });
  });
});
