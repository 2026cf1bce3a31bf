import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ObjectAnnotation, loadSampleImage, validateObjects } from '../../data/annotations';
import { RgbImage } from '../../data/image';
import { encodeJpeg, encodePng, readImageSize } from '../../data/image_files';
import { makeSyntheticDataset, SYNTHETIC_CLASSES } from '../../data/synthetic';
import { VOC_CLASSES, parseVocAnnotation, readVocClassNames, readVocDataset, writeVocDataset } from '../../data/voc';

// VOC2007 image 000001, written by hand in the VOC style, with a comment, a <part> whose own
// <bndbox> must not be taken for the person's, and the dog marked difficult for the test.
const ANNOTATION_000001 = `<?xml version="1.0"?>
<annotation>
  <folder>VOC2007</folder>
  <filename>000001.jpg</filename>
  <!-- size of the image in pixels -->
  <size><width>353</width><height>500</height><depth>3</depth></size>
  <object>
    <name>dog</name>
    <pose>Left</pose>
    <truncated>1</truncated>
    <difficult>1</difficult>
    <bndbox><xmin>48</xmin><ymin>240</ymin><xmax>195</xmax><ymax>371</ymax></bndbox>
  </object>
  <object>
    <name>person</name>
    <difficult>0</difficult>
    <bndbox>
      <xmin>8</xmin>
      <ymin>12</ymin>
      <xmax>352</xmax>
      <ymax>498</ymax>
    </bndbox>
    <part><name>head</name><bndbox><xmin>100</xmin><ymin>20</ymin><xmax>150</xmax><ymax>80</ymax></bndbox></part>
  </object>
</annotation>
`;

/** A one-object annotation of a 100x50 image with the given bndbox fields (raw text, may be bad). */
function oneObject(bndbox: string, name = 'cat', extra = ''): string {
  return `<annotation><size><width>100</width><height>50</height></size>
<object><name>${name}</name>${extra}<bndbox>${bndbox}</bndbox></object></annotation>`;
}

function box(xmin: number | string, ymin: number | string, xmax: number | string, ymax: number | string): string {
  return `<xmin>${xmin}</xmin><ymin>${ymin}</ymin><xmax>${xmax}</xmax><ymax>${ymax}</ymax>`;
}

describe('data/voc', () => {
  describe('VOC_CLASSES', () => {
    it('is background and the 20 classes in the standard order', () => {
      expect(VOC_CLASSES).to.have.length(21);
      expect(VOC_CLASSES[0]).to.equal('background');
      expect(VOC_CLASSES[1]).to.equal('aeroplane');
      expect(VOC_CLASSES[12]).to.equal('dog');
      expect(VOC_CLASSES[15]).to.equal('person');
      expect(VOC_CLASSES[20]).to.equal('tvmonitor');
    });
  });

  describe('parseVocAnnotation', () => {
    it('reads a hand-written annotation, converting 1-based pixels to boundary fractions', () => {
      const a = parseVocAnnotation(ANNOTATION_000001, '000001.xml');
      expect([a.width, a.height]).to.deep.equal([353, 500]);
      expect(a.objects).to.have.length(2); // the <part> is not an object
      // dog: pixels xmin=48..xmax=195, ymin=240..ymax=371 (1-based, inclusive). In 0-based
      // boundary coordinates the box spans [48 - 1, 195] x [240 - 1, 371]; divided by 353 x 500:
      //   x1 = 47/353 = 0.13314..., y1 = 239/500 = 0.478, x2 = 195/353 = 0.55240..., y2 = 371/500 = 0.742
      const dog = a.objects[0];
      expect(dog.label).to.equal(12);
      expect(dog.difficult).to.equal(true);
      expect(dog.boxXy).to.deep.equal([47 / 353, 0.478, 195 / 353, 0.742]);
      // person: [8 - 1, 352] x [12 - 1, 498] -> [7/353, 11/500, 352/353, 498/500]
      const person = a.objects[1];
      expect(person.label).to.equal(15);
      expect(person.difficult).to.equal(false);
      expect(person.boxXy).to.deep.equal([7 / 353, 0.022, 352 / 353, 0.996]);
    });

    it('a box of the whole image is [0, 0, 1, 1]; a missing <difficult> means 0', () => {
      const a = parseVocAnnotation(oneObject(box(1, 1, 100, 50)), 'whole.xml');
      expect(a.objects).to.deep.equal([{ boxXy: [0, 0, 1, 1], label: 8, difficult: false }]);
    });

    it('clamps a box one pixel past the edge (0-based pixels: xmin 0, xmax = width + 1) and counts it', () => {
      const a = parseVocAnnotation(oneObject(box(0, 0, 101, 51)), 'zero.xml');
      expect(a.clampedBoxes).to.equal(1);
      expect(a.objects[0].boxXy).to.deep.equal([0, 0, 1, 1]);
      expect(parseVocAnnotation(oneObject(box(1, 1, 100, 50)), 'ok.xml').clampedBoxes).to.equal(0);
    });

    it('takes a custom class list', () => {
      const a = parseVocAnnotation(oneObject(box(1, 1, 10, 10), 'square'), 'syn.xml', SYNTHETIC_CLASSES);
      expect(a.objects[0].label).to.equal(2);
    });

    it('reads an annotation without objects (an image of background only) as no objects', () => {
      const a = parseVocAnnotation('<annotation><size><width>10</width><height>8</height></size></annotation>', 'empty.xml');
      expect(a).to.deep.equal({ width: 10, height: 8, objects: [], clampedBoxes: 0 });
    });

    const bad: Array<[string, string, RegExp]> = [
      ['an unknown class name', oneObject(box(1, 1, 10, 10), 'unicorn'), /bad\.xml: object 0 \(unicorn\): unknown class name "unicorn"/],
      ['background as a class name', oneObject(box(1, 1, 10, 10), 'background'), /bad\.xml: object 0 \(background\): unknown class name/],
      ['an inverted box (xmax < xmin)', oneObject(box(30, 1, 20, 10)), /bad\.xml: object 0 \(cat\): inverted box \(xmin=30 ymin=1 xmax=20 ymax=10\)/],
      ['an inverted box (ymax < ymin)', oneObject(box(1, 30, 20, 10)), /bad\.xml: object 0 \(cat\): inverted box/],
      ['xmin -1 (past even 0-based pixels)', oneObject(box(-1, 1, 20, 10)), /bad\.xml: object 0 \(cat\): box .* is outside the 100x50 image/],
      ['xmax two pixels past the width', oneObject(box(1, 1, 102, 10)), /bad\.xml: object 0 \(cat\): box .* is outside the 100x50 image/],
      ['ymax far past the height', oneObject(box(1, 1, 10, 80)), /outside the 100x50 image/],
      ['a box that is empty once clamped', oneObject(box(101, 1, 101, 10)), /bad\.xml: object 0 \(cat\): box .* is empty once clamped/],
      ['a missing <ymax>', oneObject('<xmin>1</xmin><ymin>1</ymin><xmax>5</xmax>'), /bad\.xml: object 0 \(cat\) <bndbox>: missing <ymax>/],
      ['a coordinate that is not a number', oneObject(box(1, 1, 'ten', 10)), /bad\.xml: object 0 \(cat\): <xmax> must be a number, got "ten"/],
      ['a missing <bndbox>', '<annotation><size><width>10</width><height>10</height></size><object><name>cat</name></object></annotation>', /bad\.xml: object 0 \(cat\): missing <bndbox>/],
      ['a missing <name>', '<annotation><size><width>10</width><height>10</height></size><object><bndbox>' + box(1, 1, 2, 2) + '</bndbox></object></annotation>', /bad\.xml: object 0: missing <name>/],
      ['a missing <size>', '<annotation><object><name>cat</name></object></annotation>', /bad\.xml: missing <size>/],
      ['a zero width', '<annotation><size><width>0</width><height>10</height></size></annotation>', /bad\.xml: <size><width> must be a positive integer, got "0"/],
      ['a bad <difficult>', oneObject(box(1, 1, 10, 10), 'cat', '<difficult>yes</difficult>'), /<difficult> must be 0 or 1/],
      ['a file cut short', ANNOTATION_000001.slice(0, 300), /bad\.xml: malformed XML at line \d+/],
      ['mismatched tags', '<annotation><size></width></annotation>', /bad\.xml: malformed XML at line 1: closing tag <\/width> does not match <size>/],
      ['another root element', '<voc></voc>', /bad\.xml: root element is <voc>, expected <annotation>/],
    ];
    for (const [what, xml, message] of bad) {
      it(`rejects ${what}, naming the file`, () => {
        expect(() => parseVocAnnotation(xml, 'bad.xml')).to.throw(message);
      });
    }
  });

  describe('validateObjects', () => {
    const obj = (boxXy: [number, number, number, number], label = 1): ObjectAnnotation => ({ boxXy, label, difficult: false });
    it('accepts good boxes and names the file and object index of a bad one', () => {
      expect(() => validateObjects([obj([0, 0, 1, 1]), obj([0.1, 0.2, 0.3, 0.4])], 'a.xml', 3)).to.not.throw();
      const good = obj([0.1, 0.1, 0.2, 0.2]);
      expect(() => validateObjects([good, obj([0.5, 0.1, 0.4, 0.2])], 'a.xml')).to.throw(/a\.xml: object 1: inverted box/);
      expect(() => validateObjects([good, obj([0.5, 0.1, 0.5, 0.2])], 'a.xml')).to.throw(/a\.xml: object 1: zero-size box/);
      expect(() => validateObjects([obj([-0.1, 0, 0.5, 0.5])], 'a.xml')).to.throw(/a\.xml: object 0: box .* reaches outside the image/);
      expect(() => validateObjects([obj([0, 0, 1.01, 0.5])], 'a.xml')).to.throw(/outside the image/);
      expect(() => validateObjects([obj([0, NaN, 0.5, 0.5])], 'a.xml')).to.throw(/a\.xml: object 0: box .* non-finite/);
      expect(() => validateObjects([obj([0, 0, Infinity, 0.5])], 'a.xml')).to.throw(/non-finite/);
      expect(() => validateObjects([obj([0, 0, 0.5, 0.5], 0)], 'a.xml')).to.throw(/label 0 .* background/);
      expect(() => validateObjects([obj([0, 0, 0.5, 0.5], 3)], 'a.xml', 3)).to.throw(/label 3 is out of range for 3 classes/);
    });
  });

  describe('writeVocDataset / readVocDataset', () => {
    let root: string;
    beforeEach(() => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-voc-'));
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    const items = makeSyntheticDataset(3, 7, { size: 64 });

    it('round trip (PNG): same ids, sizes, boxes, labels and pixels', () => {
      const written = writeVocDataset(root, 'trainval', items, SYNTHETIC_CLASSES);
      const read = readVocDataset(root, 'trainval', SYNTHETIC_CLASSES);
      expect(read).to.deep.equal(written);
      expect(read).to.have.length(3);
      expect(fs.readFileSync(path.join(root, 'ImageSets', 'Main', 'trainval.txt'), 'utf8')).to.equal(
        'trainval_000001\ntrainval_000002\ntrainval_000003\n',
      );
      read.forEach((sample, i) => {
        expect(sample.imagePath).to.equal(path.join(root, 'JPEGImages', `trainval_00000${i + 1}.png`));
        expect([sample.width, sample.height]).to.deep.equal([64, 64]);
        // Synthetic boxes lie on whole pixels, so they survive the VOC integer coordinates exactly.
        expect(sample.objects).to.deep.equal(items[i].objects);
        expect([...loadSampleImage(sample).data]).to.deep.equal([...items[i].image.data]);
      });
    });

    it('round trip (JPEG, quality 95): same boxes, pixels close', () => {
      writeVocDataset(root, 'test', items, SYNTHETIC_CLASSES, { imageFormat: 'jpeg' });
      const read = readVocDataset(root, 'test', SYNTHETIC_CLASSES);
      read.forEach((sample, i) => {
        expect(sample.imagePath.endsWith('.jpg')).to.equal(true);
        expect(sample.objects).to.deep.equal(items[i].objects);
        const img: RgbImage = loadSampleImage(sample);
        let sum = 0;
        for (let k = 0; k < img.data.length; k++) sum += Math.abs(img.data[k] - items[i].image.data[k]);
        expect(sum / img.data.length).to.be.below(4); // lossy, but only a few levels on average
      });
    });

    it('keeps difficult flags and custom ids', () => {
      const objects: ObjectAnnotation[] = [{ boxXy: [0.25, 0.5, 0.75, 1], label: 3, difficult: true }];
      writeVocDataset(root, 'val', [{ id: 'img_a', image: items[0].image, objects }], SYNTHETIC_CLASSES);
      const [sample] = readVocDataset(root, 'val', SYNTHETIC_CLASSES);
      expect(sample.imagePath).to.equal(path.join(root, 'JPEGImages', 'img_a.png'));
      expect(sample.objects).to.deep.equal(objects);
    });

    it('errors name the missing file', () => {
      expect(() => readVocDataset(root, 'trainval')).to.throw(`${path.join(root, 'ImageSets', 'Main', 'trainval.txt')}: cannot read`);
      writeVocDataset(root, 'trainval', items, SYNTHETIC_CLASSES);
      fs.rmSync(path.join(root, 'Annotations', 'trainval_000002.xml'));
      expect(() => readVocDataset(root, 'trainval', SYNTHETIC_CLASSES)).to.throw(
        `${path.join(root, 'Annotations', 'trainval_000002.xml')}: cannot read VOC annotation: no such file`,
      );
      writeVocDataset(root, 'trainval', items, SYNTHETIC_CLASSES);
      fs.rmSync(path.join(root, 'JPEGImages', 'trainval_000003.png'));
      expect(() => readVocDataset(root, 'trainval', SYNTHETIC_CLASSES)).to.throw(/trainval_000003\.jpg: no image for id "trainval_000003"/);
    });

    it('images without objects: an error unless allowEmpty, which keeps them', () => {
      writeVocDataset(root, 'trainval', [items[0], { image: items[1].image, objects: [] }, items[2]], SYNTHETIC_CLASSES);
      const emptyXml = path.join(root, 'Annotations', 'trainval_000002.xml');
      expect(() => readVocDataset(root, 'trainval', SYNTHETIC_CLASSES)).to.throw(`${emptyXml}: no <object> in the annotation (to train on images of background only, allow them: --allow-empty)`);
      const read = readVocDataset(root, 'trainval', SYNTHETIC_CLASSES, { allowEmpty: true });
      expect(read.map((s) => s.objects.length)).to.deep.equal([items[0].objects.length, 0, items[2].objects.length]);
    });

    it('skipBad skips bad annotations and missing images, and lists them with a count', () => {
      const many = makeSyntheticDataset(5, 3, { size: 32 });
      writeVocDataset(root, 'trainval', many, SYNTHETIC_CLASSES);
      const broken = path.join(root, 'Annotations', 'trainval_000002.xml');
      fs.writeFileSync(broken, '<annotation><size><width>32</width>'); // cut short
      fs.rmSync(path.join(root, 'JPEGImages', 'trainval_000004.png'));
      expect(() => readVocDataset(root, 'trainval', SYNTHETIC_CLASSES)).to.throw(/trainval_000002\.xml: malformed XML/);
      const warnings: string[] = [];
      const read = readVocDataset(root, 'trainval', SYNTHETIC_CLASSES, { skipBad: true, warn: (m) => warnings.push(m) });
      expect(read.map((s) => path.basename(s.imagePath))).to.deep.equal(['trainval_000001.png', 'trainval_000003.png', 'trainval_000005.png']);
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.contain('skipped 2 of 5 images');
      expect(warnings[0]).to.contain(`${broken}: malformed XML`);
      expect(warnings[0]).to.match(/trainval_000004\.jpg: no image for id "trainval_000004"/);
      // the class names are read past the broken file too
      expect(() => readVocClassNames(root, 'trainval')).to.throw(/malformed XML/);
      expect(readVocClassNames(root, 'trainval', { skipBad: true })[0]).to.equal('background');
      // nothing usable left is still an error
      for (const id of ['000001', '000003', '000005']) fs.writeFileSync(path.join(root, 'Annotations', `trainval_${id}.xml`), 'not xml');
      expect(() => readVocDataset(root, 'trainval', SYNTHETIC_CLASSES, { skipBad: true, warn: () => undefined })).to.throw(/no usable image \(all 5 were skipped\)/);
    });

    it('an annotation that disagrees with its image size is caught when the image is loaded', () => {
      const [sample] = writeVocDataset(root, 'trainval', items.slice(0, 1), SYNTHETIC_CLASSES);
      expect(() => loadSampleImage({ ...sample, width: 65 })).to.throw(/image is 64x64 but its annotation says 65x64/);
    });

    it('reading a data set checks each image header: a wrong size, a corrupt or non-image file stops it (or is skipped)', () => {
      writeVocDataset(root, 'trainval', makeSyntheticDataset(3, 4, { size: 32 }), SYNTHETIC_CLASSES);
      const annotation = path.join(root, 'Annotations', 'trainval_000001.xml');
      fs.writeFileSync(annotation, fs.readFileSync(annotation, 'utf8').replace('<width>32</width>', '<width>40</width>'));
      const image1 = path.join(root, 'JPEGImages', 'trainval_000001.png');
      expect(() => readVocDataset(root, 'trainval', SYNTHETIC_CLASSES)).to.throw(`${image1}: image is 32x32 but its annotation says 40x32`);
      const image2 = path.join(root, 'JPEGImages', 'trainval_000002.png');
      fs.writeFileSync(image2, 'GIF89a\x01\x00\x01\x00');
      const warnings: string[] = [];
      const read = readVocDataset(root, 'trainval', SYNTHETIC_CLASSES, { skipBad: true, warn: (m) => warnings.push(m) });
      expect(read.map((s) => path.basename(s.imagePath))).to.deep.equal(['trainval_000003.png']);
      expect(warnings[0]).to.contain('skipped 2 of 3 images');
      expect(warnings[0]).to.contain(`${image2}: unsupported image format (GIF)`);
    });

    it('readImageSize reads the size from the header of a PNG and of a JPEG', () => {
      const image = makeSyntheticDataset(1, 2, { size: 48 })[0].image;
      const png = path.join(root, 'a.png');
      const jpg = path.join(root, 'a.jpg');
      fs.mkdirSync(root, { recursive: true });
      fs.writeFileSync(png, encodePng(image));
      fs.writeFileSync(jpg, encodeJpeg(image));
      expect(readImageSize(png)).to.deep.equal({ width: 48, height: 48 });
      expect(readImageSize(jpg)).to.deep.equal({ width: 48, height: 48 });
      fs.writeFileSync(jpg, encodeJpeg(image).subarray(0, 4));
      expect(() => readImageSize(jpg)).to.throw(`${jpg}: no image size in its header (truncated or corrupt file)`);
    });

    it('refuses to write a bad box', () => {
      const objects: ObjectAnnotation[] = [{ boxXy: [0.5, 0, 0.4, 1], label: 1, difficult: false }];
      expect(() => writeVocDataset(root, 'trainval', [{ image: items[0].image, objects }], SYNTHETIC_CLASSES)).to.throw(
        /object 0: inverted box/,
      );
    });
  });
});
