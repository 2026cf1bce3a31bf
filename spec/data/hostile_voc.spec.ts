// Data sets edited as a hostile user would, read through the `ssd` command: ids that lead out of
// the data set, ids with spaces, an image that is a link to a text file, numbers in hexadecimal,
// control characters in class names, DOCTYPEs, link loops, EXIF orientations, and class lists
// with a name twice or only 'background'. Each must fail naming the file (and the line, the
// object, the field) or be handled as the major tools do, reading nothing outside the data set.

import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { makeSyntheticDataset, SYNTHETIC_CLASSES } from '../../data/synthetic';
import { parseVocAnnotation, writeVocDataset } from '../../data/voc';
import { parseXml } from '../../data/xml';
import { decodeImage, encodeJpeg } from '../../data/image_files';
import { ssdMeasured } from '../cli/measured';

/** JPEG bytes with an EXIF block (APP1) right after SOI that holds only the orientation tag. */
function withOrientation(jpeg: Buffer, orientation: number): Buffer {
  const tiff = Buffer.alloc(26);
  tiff.write('II', 0, 'latin1');
  tiff.writeUInt16LE(42, 2);
  tiff.writeUInt32LE(8, 4); // the first IFD right after the header
  tiff.writeUInt16LE(1, 8); // one entry
  tiff.writeUInt16LE(0x0112, 10); // Orientation
  tiff.writeUInt16LE(3, 12); // SHORT
  tiff.writeUInt32LE(1, 14);
  tiff.writeUInt16LE(orientation, 18);
  const body = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const header = Buffer.from([0xff, 0xe1, 0, 0]);
  header.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), header, body, jpeg.subarray(2)]);
}

describe('data: hostile VOC data sets, through the CLI', () => {
  let dir = '';
  let clean = '';
  let n = 0;
  const items = makeSyntheticDataset(2, 41, { size: 64 });
  const ssd = (...args: string[]): ReturnType<typeof ssdMeasured> => ssdMeasured(args, 60000);

  /** A fresh copy of the clean data set, changed by `change` (given its root). */
  function dataSet(change: (root: string) => void): string {
    const root = path.join(dir, `case-${++n}`, 'data');
    fs.cpSync(clean, root, { recursive: true });
    change(root);
    return root;
  }
  const annotation = (root: string, id = 'trainval_000001'): string => path.join(root, 'Annotations', `${id}.xml`);
  const editAnnotation = (root: string, from: string | RegExp, to: string): void => {
    const file = annotation(root);
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(from, to));
  };
  const trainOn = (root: string, ...more: string[]): ReturnType<typeof ssdMeasured> =>
    ssd('train', '--data', root, '--width-divisor', '32', '--batch', '2', '--max-steps', '1', '--out', path.join(path.dirname(root), 'out.safetensors'), ...more);

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-hostile-voc-'));
    clean = path.join(dir, 'clean');
    writeVocDataset(clean, 'trainval', items, SYNTHETIC_CLASSES);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('image ids and splits that would lead outside the data set are refused, naming the line', function () {
    this.timeout(120000);
    for (const id of ['../../outside', 'sub/../trainval_000002', '/etc/hostname', '..', '.', 'a\\b']) {
      const root = dataSet((r) => {
        // what the id would reach, were it followed: a valid annotation and image outside the data set
        fs.copyFileSync(annotation(r), path.join(r, '..', '..', 'outside.xml'));
        fs.appendFileSync(path.join(r, 'ImageSets', 'Main', 'trainval.txt'), `${id}\n`);
      });
      const r = trainOn(root, '--classes', 'synthetic');
      expect(r.status, id).to.equal(1);
      expect(r.stderr, id).to.contain(`ssd: ${path.join(root, 'ImageSets', 'Main', 'trainval.txt')}: line 3: image id ${JSON.stringify(id)} is not a plain file name`);
      fs.rmSync(path.join(root, '..', '..', 'outside.xml'));
    }
    const r = trainOn(clean, '--classes', 'synthetic', '--split', '../../../etc/x');
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain('split "../../../etc/x": expected a plain name');
  });

  it('an id with a space is one error naming the line; VOC\'s per-class lists (id and flag) are read', function () {
    this.timeout(60000);
    const spaced = dataSet((r) => fs.appendFileSync(path.join(r, 'ImageSets', 'Main', 'trainval.txt'), 'my image\n'));
    const r = trainOn(spaced, '--classes', 'synthetic');
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain('trainval.txt: line 3: "my image" is not one image id (an id cannot contain spaces');
    const flagged = dataSet((r) => fs.writeFileSync(path.join(r, 'ImageSets', 'Main', 'trainval.txt'), 'trainval_000001  1\ntrainval_000002 -1\n'));
    const ok = ssd('augment-preview', '--data', flagged, '--classes', 'synthetic', '--count', '1', '--out', path.join(dir, 'flagged.png'));
    expect(ok.status, ok.stderr).to.equal(0);
  });

  it('an image that is a link to a text file is refused without printing any of its bytes', function () {
    this.timeout(60000);
    const secret = path.join(dir, 'secret.txt');
    fs.writeFileSync(secret, 'TOKEN=hunter2 and more private text');
    const root = dataSet((r) => {
      const image = path.join(r, 'JPEGImages', 'trainval_000001.png');
      fs.rmSync(image);
      fs.symlinkSync(secret, image);
    });
    const r = trainOn(root, '--classes', 'synthetic');
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain(`${path.join(root, 'JPEGImages', 'trainval_000001.png')}: unsupported image format (not an image format this reader knows); only PNG and JPEG can be read`);
    expect(r.stderr).to.not.match(/TOKEN|hunter|54 4f|first bytes/);
  });

  it('numbers in annotations are decimal, as VOC\'s tools read them: hexadecimal, binary and Infinity are refused', function () {
    this.timeout(60000);
    for (const value of ['0x10', '0b1', '0o7', 'Infinity', '1_0']) {
      const root = dataSet((r) => editAnnotation(r, /<xmin>\d+<\/xmin>/, `<xmin>${value}</xmin>`));
      const r = trainOn(root, '--classes', 'synthetic');
      expect(r.status, value).to.equal(1);
      expect(r.stderr, value).to.match(new RegExp(`trainval_000001\\.xml: object 0 \\(\\w+\\): <xmin> must be a number, got "${value}"`));
    }
    const size = dataSet((r) => editAnnotation(r, '<width>64</width>', '<width>0x40</width>'));
    const r = trainOn(size, '--classes', 'synthetic');
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain('<size><width> must be a positive integer, got "0x40" (decimal digits only');
    // what Python's float() takes is taken: a sign, a point, an exponent
    const xml = (xmin: string): string => `<annotation><size><width>10</width><height>10</height></size><object><name>circle</name><bndbox><xmin>${xmin}</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>`;
    for (const ok of ['2', '+2', '2.', '2.0', '.2e1', ' 2 ']) expect(parseVocAnnotation(xml(ok), 'a.xml', SYNTHETIC_CLASSES).objects[0].boxXy[0]).to.be.closeTo(0.1, 1e-12);
  });

  it('class names with a NUL or another control character, and --classes with a name twice or only background, are refused', function () {
    this.timeout(60000);
    const cases: Array<[string, string]> = [
      ['&#0;', 'character reference "&#0;" names a character XML does not allow'],
      ['circle&#x1F;', 'character reference "&#x1F;" names a character XML does not allow'],
      ['circle\u0001', 'object 0 <name>: "circle\\u0001" is not a usable class name (empty, or a control character in it)'],
      ['&#12abc;', 'unknown entity "&#12abc;"'],
    ];
    for (const [name, message] of cases) {
      const root = dataSet((r) => editAnnotation(r, /<name>\w+<\/name>/, `<name>${name}</name>`));
      for (const classes of [['--classes', 'synthetic'], []]) { // given, or read from the annotations
        const r = trainOn(root, ...classes);
        expect(r.status, `${name} ${classes.join(' ')}`).to.equal(1);
        expect(r.stderr, `${name} ${classes.join(' ')}`).to.contain(message);
      }
    }
    const twice = trainOn(clean, '--classes', 'circle,square,circle');
    expect(twice.status).to.equal(1);
    expect(twice.stderr).to.contain("ssd: --classes: 'circle' is named twice");
    const background = trainOn(clean, '--classes', 'background');
    expect(background.status).to.equal(1);
    expect(background.stderr).to.contain("ssd: --classes: name the classes of the objects ('background', class 0, is added by itself), got 'background'");
    const control = trainOn(clean, '--classes', 'circle,sq\u0007uare');
    expect(control.status).to.equal(1);
    expect(control.stderr).to.contain('--classes: "sq\\u0007uare" is not a usable class name');
  });

  it('a DOCTYPE with declarations, an unknown entity and link loops get messages that say so', function () {
    this.timeout(60000);
    const doctype = dataSet((r) => editAnnotation(r, '<annotation>', '<!DOCTYPE annotation [<!ENTITY c "circle">]><annotation>'));
    const r = trainOn(doctype, '--classes', 'synthetic');
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain('trainval_000001.xml: malformed XML at line 1: a DOCTYPE with declarations of its own (entities) is not supported in annotations');
    const external = dataSet((r) => editAnnotation(r, '<annotation>', '<!DOCTYPE annotation SYSTEM "file:///etc/passwd" [<!ENTITY x SYSTEM "file:///etc/passwd">]><annotation>'));
    expect(trainOn(external, '--classes', 'synthetic').stderr).to.contain('a DOCTYPE with declarations of its own');
    // a plain DOCTYPE says nothing: it is read
    expect(parseXml('<!DOCTYPE annotation SYSTEM "voc.dtd"><annotation><a>1</a></annotation>', 'x').children[0].text).to.equal('1');
    expect(() => parseXml('<a>&lol;</a>', 'x.xml')).to.throw('x.xml: malformed XML at line 1: unknown entity "&lol;"');
    expect(() => parseXml('<a>&constructor;</a>', 'x.xml')).to.throw('unknown entity "&constructor;"'); // not Object.prototype's
    const loop = dataSet((r) => {
      const image = path.join(r, 'JPEGImages', 'trainval_000001.png');
      fs.rmSync(image);
      fs.symlinkSync('trainval_000001.png', image);
    });
    const l = trainOn(loop, '--classes', 'synthetic');
    expect(l.status).to.equal(1);
    expect(l.stderr).to.contain('trainval_000001.png: the image of id "trainval_000001" is a symbolic link that is a loop of symbolic links');
    const dangling = dataSet((r) => {
      const image = path.join(r, 'JPEGImages', 'trainval_000001.png');
      fs.rmSync(image);
      fs.symlinkSync('/no/such/photo.png', image);
    });
    expect(trainOn(dangling, '--classes', 'synthetic').stderr).to.contain('is a symbolic link that leads to no file');
  });

  it('EXIF orientation is not applied (as PIL and torchvision do by default), and said once', function () {
    this.timeout(60000);
    const root = dataSet((r) => {
      for (const [k, item] of items.entries()) {
        const id = `trainval_00000${k + 1}`;
        fs.rmSync(path.join(r, 'JPEGImages', `${id}.png`));
        fs.writeFileSync(path.join(r, 'JPEGImages', `${id}.jpg`), withOrientation(encodeJpeg(item.image), 6));
      }
    });
    const r = ssd('augment-preview', '--data', root, '--classes', 'synthetic', '--count', '2', '--out', path.join(dir, 'oriented.png'));
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr.match(/EXIF orientation/g)).to.have.length(1);
    expect(r.stderr).to.contain('trainval_000001.jpg: its EXIF orientation 6 (rotated 90 degrees clockwise) is not applied: images are used as their pixels are stored, as PIL and torchvision do by default');
    // the pixels are the stored ones
    const jpeg = withOrientation(encodeJpeg(items[0].image), 6);
    const decoded = decodeImage(jpeg, 'x.jpg');
    expect([decoded.width, decoded.height]).to.deep.equal([items[0].image.width, items[0].image.height]);
    // an annotation made on the turned photo (width and height swapped) is told why it does not fit
    const wide = makeSyntheticDataset(1, 3, { size: 64 })[0];
    const turned = dataSet((r) => {
      fs.rmSync(path.join(r, 'JPEGImages', 'trainval_000001.png'));
      const image = { width: 64, height: 48, data: wide.image.data.subarray(0, 64 * 48 * 3) };
      fs.writeFileSync(path.join(r, 'JPEGImages', 'trainval_000001.jpg'), withOrientation(encodeJpeg(image), 8));
      editAnnotation(r, '<width>64</width><height>64</height>', '<width>48</width><height>64</height>');
    });
    const t = trainOn(turned, '--classes', 'synthetic');
    expect(t.status).to.equal(1);
    expect(t.stderr).to.contain('image is 64x48 but its annotation says 48x64 (its EXIF orientation 8 turns it by 90 degrees, which is not applied: annotations must measure the stored pixels)');
  });
});
