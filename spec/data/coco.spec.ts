import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ObjectAnnotation } from '../../data/annotations';
import { NO_CATEGORY, cocoDataRoot, parseCocoInstances, readCocoClassNames, readCocoDataset, writeCocoDataset } from '../../data/coco';
import { encodePng } from '../../data/image_files';
import { makeSyntheticDataset, SYNTHETIC_CLASSES } from '../../data/synthetic';

type Doc = {
  images: { id: number; file_name: string; width: number; height: number }[];
  annotations: { id: number; image_id: number; category_id: number; bbox: number[]; area?: number; iscrowd?: number }[];
  categories: { id: number; name: string }[];
};

// A hand-written instances file: category ids with gaps and out of order (as COCO's 1..90 for
// 80 classes), a crowd region, an image without objects and one with only a crowd region.
function baseDoc(): Doc {
  return {
    images: [
      { id: 7, file_name: 'a.png', width: 40, height: 30 },
      { id: 3, file_name: 'b.png', width: 20, height: 20 },
      { id: 11, file_name: 'empty.png', width: 20, height: 10 },
      { id: 12, file_name: 'crowd_only.png', width: 20, height: 10 },
    ],
    annotations: [
      { id: 1, image_id: 7, category_id: 5, bbox: [10, 5, 20, 10], area: 150.5, iscrowd: 0 },
      { id: 2, image_id: 7, category_id: 1, bbox: [0, 0, 40, 30], area: 1000, iscrowd: 1 },
      { id: 3, image_id: 3, category_id: 90, bbox: [2.5, 4, 5, 6.25], area: 20, iscrowd: 0 },
      { id: 4, image_id: 12, category_id: 1, bbox: [1, 1, 5, 5], area: 25, iscrowd: 1 },
    ],
    categories: [
      { id: 90, name: 'toothbrush' },
      { id: 1, name: 'person' },
      { id: 5, name: 'airplane' },
      { id: 2, name: 'bicycle' },
    ],
  };
}

/** A PNG of the given size (its pixels do not matter here). */
function writeImage(file: string, width: number, height: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, encodePng({ width, height, data: new Uint8Array(width * height * 3) }));
}

/** The doc's JSON at `jsonPath` and its images in `imagesDir`. */
function writeDoc(jsonPath: string, doc: Doc, imagesDir: string): void {
  fs.mkdirSync(path.dirname(jsonPath), { recursive: true });
  fs.writeFileSync(jsonPath, JSON.stringify(doc, null, 1));
  for (const im of doc.images) writeImage(path.join(imagesDir, im.file_name), im.width, im.height);
}

describe('data/coco', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-coco-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('readCocoDataset', () => {
    it('reads a hand-written file: categories sorted by id (with gaps), boxes [x, y, w, h] to fractions, crowd and area kept', () => {
      const json = path.join(dir, 'instances.json');
      writeDoc(json, baseDoc(), path.join(dir, 'images'));
      const warnings: string[] = [];
      const coco = readCocoDataset(json, { allowEmpty: true, warn: (m) => warnings.push(m) });
      expect(coco.classes).to.deep.equal(['background', 'person', 'bicycle', 'airplane', 'toothbrush']);
      expect(coco.categoryIds).to.deep.equal([NO_CATEGORY, 1, 2, 5, 90]);
      expect(coco.split).to.equal('instances');
      expect(coco.imagesDir).to.equal(path.join(dir, 'images'));
      expect(warnings).to.deep.equal([]);
      expect(coco.samples.map((s) => [s.imageId, path.basename(s.imagePath), s.width, s.height])).to.deep.equal([
        [7, 'a.png', 40, 30],
        [3, 'b.png', 20, 20],
        [11, 'empty.png', 20, 10],
        [12, 'crowd_only.png', 20, 10],
      ]);
      // a.png, 40x30: bbox [10, 5, 20, 10] spans x 10..30, y 5..15 -> [10/40, 5/30, 30/40, 15/30]
      expect(coco.samples[0].objects).to.deep.equal([
        { boxXy: [10 / 40, 5 / 30, 30 / 40, 15 / 30], label: 3, difficult: false, area: 150.5 },
        { boxXy: [0, 0, 1, 1], label: 1, difficult: false, crowd: true, area: 1000 },
      ]);
      // b.png, 20x20: floats stay floats: x 2.5..7.5, y 4..10.25
      expect(coco.samples[1].objects).to.deep.equal([{ boxXy: [2.5 / 20, 4 / 20, 7.5 / 20, 10.25 / 20], label: 4, difficult: false, area: 20 }]);
      expect(coco.samples[2].objects).to.deep.equal([]);
      expect(coco.samples[1].annotationPath).to.equal(json);
    });

    it('training leaves out images without objects or with only crowd regions, in ONE warning that counts them', () => {
      const json = path.join(dir, 'instances.json');
      writeDoc(json, baseDoc(), path.join(dir, 'images'));
      const warnings: string[] = [];
      const coco = readCocoDataset(json, { warn: (m) => warnings.push(m) });
      expect(coco.samples.map((s) => s.imageId)).to.deep.equal([7, 3]);
      expect(warnings).to.deep.equal([`${json}: left out 2 of 4 images without objects (or with only crowd regions) from training (--allow-empty keeps them)`]);
    });

    it('leaves out boxes with w or h <= 0 and clamps boxes past the image, one warning line each', () => {
      const doc = baseDoc();
      doc.annotations.push(
        { id: 5, image_id: 3, category_id: 2, bbox: [1, 1, 0, 4], area: 0 },
        { id: 6, image_id: 3, category_id: 2, bbox: [1, 1, 4, -2], area: 0 },
        { id: 7, image_id: 3, category_id: 2, bbox: [30, 1, 4, 4], area: 16 }, // wholly right of the 20x20 image
        { id: 8, image_id: 3, category_id: 2, bbox: [-1, 15, 6, 6.5], area: 36 }, // past the left and the bottom
        { id: 9, image_id: 7, category_id: 2, bbox: [35, 0, 5.5, 5], area: 25 }, // past the right
      );
      const json = path.join(dir, 'instances.json');
      writeDoc(json, doc, path.join(dir, 'images'));
      const warnings: string[] = [];
      const coco = readCocoDataset(json, { warn: (m) => warnings.push(m) });
      expect(coco.samples[1].objects.slice(1)).to.deep.equal([{ boxXy: [0, 15 / 20, 5 / 20, 1], label: 2, difficult: false, area: 36 }]);
      expect(coco.samples[0].objects[2].boxXy).to.deep.equal([35 / 40, 0, 1, 5 / 30]);
      expect(warnings.slice(0, 2)).to.deep.equal([
        `${json}: 3 box(es) with a zero or negative width or height (or wholly outside their image) were left out`,
        `${json}: 2 box(es) in 2 image(s) reached past their image and were clamped to it`,
      ]);
    });

    it('finds the images beside the JSON, in COCO\'s root layout, or in --images', () => {
      // beside the JSON
      const beside = path.join(dir, 'beside', 'instances.json');
      writeDoc(beside, baseDoc(), path.join(dir, 'beside'));
      expect(readCocoDataset(beside, { allowEmpty: true }).samples[0].imagePath).to.equal(path.join(dir, 'beside', 'a.png'));
      // COCO's layout: <root>/annotations/instances_val2017.json, <root>/val2017/
      const root = path.join(dir, 'coco');
      const val = path.join(root, 'annotations', 'instances_val2017.json');
      writeDoc(val, baseDoc(), path.join(root, 'val2017'));
      const coco = readCocoDataset(val, { allowEmpty: true });
      expect(coco.split).to.equal('val2017');
      expect(coco.samples[1].imagePath).to.equal(path.join(root, 'val2017', 'b.png'));
      // --images
      const elsewhere = path.join(dir, 'pictures');
      const json = path.join(dir, 'x', 'instances.json');
      writeDoc(json, baseDoc(), elsewhere);
      expect(() => readCocoDataset(json)).to.throw(`${json}: found none of its images (the first is a.png) in ${path.join(dir, 'x', 'images')}, ${path.join(dir, 'x')}; give the image folder with --images`);
      expect(readCocoDataset(json, { images: elsewhere, allowEmpty: true }).samples[0].imagePath).to.equal(path.join(elsewhere, 'a.png'));
      expect(() => readCocoDataset(json, { images: path.join(dir, 'nothing') })).to.throw(`--images ${path.join(dir, 'nothing')}: not a folder`);
    });

    it('cocoDataRoot: the JSON itself, or annotations/instances_<split>.json of a folder (trainval -> train*, test -> test* else val*)', () => {
      const root = path.join(dir, 'coco');
      fs.mkdirSync(path.join(root, 'annotations'), { recursive: true });
      for (const f of ['instances_train2017.json', 'instances_val2017.json']) fs.writeFileSync(path.join(root, 'annotations', f), '{}');
      expect(cocoDataRoot(path.join(root, 'annotations', 'instances_val2017.json'), 'trainval')).to.equal(path.join(root, 'annotations', 'instances_val2017.json'));
      expect(cocoDataRoot(root, 'val2017')).to.equal(path.join(root, 'annotations', 'instances_val2017.json'));
      expect(cocoDataRoot(root, 'trainval')).to.equal(path.join(root, 'annotations', 'instances_train2017.json'));
      expect(cocoDataRoot(root, 'test')).to.equal(path.join(root, 'annotations', 'instances_val2017.json'));
      expect(() => cocoDataRoot(root, 'minival')).to.throw(
        `${root}: no COCO instances file for split "minival": looked for ${path.join(root, 'annotations', 'instances_minival.json')} (there: instances_train2017.json, instances_val2017.json)`,
      );
    });

    it('maps categories by name to a given class list, and names the categories it lacks', () => {
      const json = path.join(dir, 'instances.json');
      writeDoc(json, baseDoc(), path.join(dir, 'images'));
      const classes = ['background', 'toothbrush', 'dog', 'airplane', 'person', 'bicycle'];
      const coco = readCocoDataset(json, { classes, allowEmpty: true });
      expect(coco.classes).to.deep.equal(classes);
      expect(coco.categoryIds).to.deep.equal([NO_CATEGORY, 90, NO_CATEGORY, 5, 1, 2]);
      expect(coco.samples[0].objects.map((o) => o.label)).to.deep.equal([3, 4]);
      expect(coco.samples[1].objects.map((o) => o.label)).to.deep.equal([1]);
      expect(() => readCocoDataset(json, { classes: ['background', 'person', 'dog'] })).to.throw(
        `${json}: categories not in the class list: bicycle, airplane, toothbrush (the class list has person, dog)`,
      );
    });

    it('checks each image\'s header against the JSON\'s size; skipBad skips bad images and annotations, listing them', () => {
      const doc = baseDoc();
      const json = path.join(dir, 'instances.json');
      writeDoc(json, doc, path.join(dir, 'images'));
      writeImage(path.join(dir, 'images', 'a.png'), 41, 30);
      const a = path.join(dir, 'images', 'a.png');
      expect(() => readCocoDataset(json)).to.throw(`${a}: image is 41x30 but ${json} says 40x30 (image id 7)`);
      doc.annotations[2].bbox = [1, 2, 3];
      doc.images.push({ id: 20, file_name: 'missing.png', width: 8, height: 8 });
      doc.annotations.push({ id: 10, image_id: 20, category_id: 1, bbox: [1, 1, 2, 2] });
      fs.writeFileSync(json, JSON.stringify(doc));
      expect(() => readCocoDataset(json)).to.throw(`${json}: annotations[2].bbox: expected 4 finite numbers [x, y, width, height], got [1,2,3]`);
      const warnings: string[] = [];
      const coco = readCocoDataset(json, { skipBad: true, allowEmpty: true, warn: (m) => warnings.push(m) });
      expect(coco.samples.map((s) => s.imageId)).to.deep.equal([11, 12]);
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.contain(`${json}: skipped 3 of 5 images:`);
      expect(warnings[0]).to.contain(`annotations[2].bbox: expected 4 finite numbers`);
      expect(warnings[0]).to.contain(`${a}: image is 41x30`);
      expect(warnings[0]).to.contain(`${path.join(dir, 'images', 'missing.png')}: cannot read image: no such file`);
    });

    it('a number JSON reads as infinite (1e999) is not finite; invalid JSON names the line', () => {
      const json = path.join(dir, 'instances.json');
      writeDoc(json, baseDoc(), path.join(dir, 'images'));
      fs.writeFileSync(json, JSON.stringify(baseDoc()).replace('[10,5,20,10]', '[10,5,1e999,10]'));
      expect(() => readCocoDataset(json)).to.throw(`${json}: annotations[0].bbox: expected 4 finite numbers [x, y, width, height], got [10,5,null,10]`);
      fs.writeFileSync(json, '{\n  "images": [],\n  "annotations": [1, 2,]\n}');
      expect(() => readCocoDataset(json)).to.throw(new RegExp(`^${json.replace(/[.\\]/g, '\\$&')}: not valid JSON \\(line 3, column \\d+\\)`));
    });

    const bad: Array<[string, (d: Doc & Record<string, unknown>) => unknown, string]> = [
      ['a bbox of 5 numbers', (d) => (d.annotations[1].bbox = [1, 2, 3, 4, 5]), 'instances.json: annotations[1].bbox: expected 4 finite numbers [x, y, width, height], got [1,2,3,4,5]'],
      ['a bbox with a string', (d) => ((d.annotations[0] as Record<string, unknown>).bbox = [1, '2', 3, 4]), 'instances.json: annotations[0].bbox: expected 4 finite numbers [x, y, width, height], got [1,"2",3,4]'],
      ['a bbox that is missing', (d) => delete (d.annotations[0] as Record<string, unknown>).bbox, 'instances.json: annotations[0].bbox: expected 4 finite numbers [x, y, width, height], got nothing (the key is missing)'],
      ['an unknown image_id', (d) => (d.annotations[3].image_id = 99), 'instances.json: annotations[3].image_id: 99 is not the id of any image'],
      ['an image_id that is a string', (d) => ((d.annotations[3] as Record<string, unknown>).image_id = '12'), 'instances.json: annotations[3].image_id: expected an integer, got "12"'],
      ['an unknown category_id', (d) => (d.annotations[2].category_id = 3), 'instances.json: annotations[2].category_id: 3 is not the id of any category (ids: 1, 2, 5, 90)'],
      ['iscrowd 2', (d) => (d.annotations[0].iscrowd = 2), 'instances.json: annotations[0].iscrowd: expected 0 or 1, got 2'],
      ['a negative area', (d) => (d.annotations[0].area = -1), 'instances.json: annotations[0].area: expected a finite number >= 0 (pixels), got -1'],
      ['two images with one id', (d) => (d.images[2].id = 7), 'instances.json: images[2].id: 7 is also the id of images[0]'],
      ['an image id that is not an integer', (d) => (d.images[1].id = 3.5), 'instances.json: images[1].id: expected an integer >= 0, got 3.5'],
      ['a zero width', (d) => (d.images[1].width = 0), 'instances.json: images[1].width: expected an integer >= 1, got 0'],
      ['a file name leading out of the folder', (d) => (d.images[0].file_name = '../secret.png'), 'instances.json: images[0].file_name: "../secret.png" is not usable: a \'..\''],
      ['an absolute file name', (d) => (d.images[0].file_name = '/etc/passwd'), 'instances.json: images[0].file_name: "/etc/passwd" is not usable: an absolute path'],
      ['two categories with one id', (d) => (d.categories[3].id = 5), 'instances.json: categories[3].id: 5 is also the id of categories[2]'],
      ['two categories with one name', (d) => (d.categories[3].name = 'person'), 'instances.json: categories[3].name: "person" is also the name of categories[1]'],
      ['a category named background', (d) => (d.categories[0].name = 'background'), 'instances.json: categories[0].name: \'background\' is reserved for class 0'],
      ['a category without a name', (d) => delete (d.categories[0] as Record<string, unknown>).name, 'instances.json: categories[0].name: expected a string, got nothing (the key is missing)'],
      ['no categories', (d) => (d.categories = []), 'instances.json: categories: the list is empty'],
      ['images that is not a list', (d) => ((d as Record<string, unknown>).images = {}), 'instances.json: images: expected an array, got {}'],
      ['no annotations (an image_info file)', (d) => delete (d as Record<string, unknown>).annotations, 'instances.json: annotations: expected an array, got nothing (the key is missing) (an image_info file'],
      ['an annotation that is not an object', (d) => ((d.annotations as unknown[])[1] = 42), 'instances.json: annotations[1]: expected an object {id, image_id, category_id, bbox, area, iscrowd}, got 42'],
    ];
    for (const [what, change, message] of bad) {
      it(`rejects ${what}, naming the JSON path`, () => {
        const doc = baseDoc() as Doc & Record<string, unknown>;
        change(doc);
        expect(() => parseCocoInstances(JSON.parse(JSON.stringify(doc)), 'instances.json')).to.throw(message);
      });
    }

    it('rejects a top level that is not an object', () => {
      expect(() => parseCocoInstances([], 'instances.json')).to.throw('instances.json: expected a JSON object with images, annotations and categories, got []');
    });
  });

  describe('readCocoClassNames', () => {
    it('is background, then the categories sorted by id', () => {
      const json = path.join(dir, 'instances.json');
      writeDoc(json, baseDoc(), path.join(dir, 'images'));
      expect(readCocoClassNames(json)).to.deep.equal(['background', 'person', 'bicycle', 'airplane', 'toothbrush']);
    });
  });

  describe('writeCocoDataset', () => {
    it('round trip: ids, category ids with gaps, crowd and area read back as written', () => {
      const items = makeSyntheticDataset(3, 5, { size: 32 });
      const crowd: ObjectAnnotation = { boxXy: [0.25, 0.5, 0.75, 1], label: 2, difficult: false, crowd: true, area: 12.5 };
      const json = path.join(dir, 'annotations', 'instances_val.json');
      const written = writeCocoDataset(json, [items[0], { ...items[1], objects: [...items[1].objects, crowd], imageId: 42 }, items[2]], SYNTHETIC_CLASSES, {
        categoryIds: [NO_CATEGORY, 1, 5, 90],
        imagesDir: path.join(dir, 'val'),
      });
      const coco = readCocoDataset(json, { allowEmpty: true });
      expect(coco.samples).to.deep.equal(written);
      expect(coco.categoryIds).to.deep.equal([NO_CATEGORY, 1, 5, 90]);
      expect(coco.samples.map((s) => s.imageId)).to.deep.equal([1, 42, 3]);
      expect(coco.samples[1].imagePath).to.equal(path.join(dir, 'val', '000000000042.png'));
      expect(coco.samples[1].objects[coco.samples[1].objects.length - 1]).to.deep.equal(crowd);
      // written boxes lie on whole pixels: they come back exactly; area is the box's in pixels
      coco.samples.forEach((s, i) => {
        const own = items[i].objects;
        expect(s.objects.slice(0, own.length).map((o) => o.boxXy)).to.deep.equal(own.map((o) => o.boxXy));
        const [x1, y1, x2, y2] = own[0].boxXy;
        expect(s.objects[0].area).to.equal((x2 - x1) * 32 * (y2 - y1) * 32);
      });
      const text = fs.readFileSync(json, 'utf8');
      expect(JSON.parse(text).categories).to.deep.equal([{ id: 1, name: 'circle' }, { id: 5, name: 'square' }, { id: 90, name: 'triangle' }]);
    });

    it('refuses a difficult object (COCO cannot say it)', () => {
      const [item] = makeSyntheticDataset(1, 5, { size: 32 });
      const objects = [{ ...item.objects[0], difficult: true }];
      expect(() => writeCocoDataset(path.join(dir, 'i.json'), [{ image: item.image, objects }], SYNTHETIC_CLASSES)).to.throw(
        'writeCocoDataset: image 000000000001.png: object 0 is \'difficult\', which COCO cannot say',
      );
    });
  });
});
