import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { encodeJpeg, encodePng } from '../../data/image_files';
import { makeSyntheticDataset, SYNTHETIC_CLASSES } from '../../data/synthetic';
import { parseYaml, parseYoloLabels, readYoloConfig, readYoloDataset, resolveYoloSplit, writeYoloDataset, yoloLabelPath } from '../../data/yolo';

function writeImage(file: string, width: number, height: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, encodePng({ width, height, data: new Uint8Array(width * height * 3) }));
}

function writeText(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

/** JPEG bytes with an EXIF block holding only the orientation tag (as in hostile_voc.spec.ts). */
function withOrientation(jpeg: Buffer, orientation: number): Buffer {
  const tiff = Buffer.alloc(26);
  tiff.write('II', 0, 'latin1');
  tiff.writeUInt16LE(42, 2);
  tiff.writeUInt32LE(8, 4);
  tiff.writeUInt16LE(1, 8);
  tiff.writeUInt16LE(0x0112, 10);
  tiff.writeUInt16LE(3, 12);
  tiff.writeUInt32LE(1, 14);
  tiff.writeUInt16LE(orientation, 18);
  const body = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const header = Buffer.from([0xff, 0xe1, 0, 0]);
  header.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), header, body, jpeg.subarray(2)]);
}

const DATA_YAML = `# a hand-written data.yaml, as Ultralytics writes them
path: .  # the root, relative to this file
train: images/train
val: images/val
test:    # no test split

names:
  0: cat
  1: 'hot dog'
`;

describe('data/yolo', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-yolo-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('parseYaml (the subset data.yaml uses)', () => {
    const namesOf = (text: string): string[] => {
      const fileDir = fs.mkdtempSync(path.join(dir, 'y-'));
      writeText(path.join(fileDir, 'data.yaml'), text);
      return readYoloConfig(fileDir).names;
    };

    it('reads names as a flow list, a block list (indented or not), a mapping, a flow mapping, over several lines', () => {
      const names = ['person', 'hot dog', 'it\'s', 'caf\u00e9'];
      expect(namesOf('names: [person, "hot dog", \'it\'\'s\', "caf\\u00e9"]  # four\n')).to.deep.equal(names);
      expect(namesOf('names:\n  - person\n  - hot dog   # a comment\n  - "it\'s"\n  - café\n')).to.deep.equal(names);
      expect(namesOf('names:\n- person\n- hot dog\n- it\'s\n- café\nnc: 4\n')).to.deep.equal(names);
      expect(namesOf('---\nnames:\n  2: "it\'s"\n  0: person\n  1: hot dog\n  3: café\n')).to.deep.equal(names);
      expect(namesOf('names: {0: person, 1: hot dog, 2: "it\'s", 3: café}\n')).to.deep.equal(names);
      expect(namesOf('names: [\'person\', \'hot dog\', # YOLOv5 wrote long lists so\n        "it\'s", café]\n')).to.deep.equal(names);
    });

    it('keeps comments, URLs with # and : and block scalars apart from values', () => {
      const doc = parseYaml('url: https://a.b/c#frag # a comment\ndownload: |\n  import x\n\n  x.run()\nroboflow:\n  workspace: w\n  version: 3\nempty:\n', 'd.yaml');
      expect(doc).to.deep.equal({
        kind: 'map',
        line: 1,
        entries: [
          { key: 'url', line: 1, value: { kind: 'scalar', value: 'https://a.b/c#frag', line: 1 } },
          { key: 'download', line: 2, value: { kind: 'scalar', value: 'import x\n\nx.run()', line: 2 } },
          {
            key: 'roboflow',
            line: 6,
            value: { kind: 'map', line: 7, entries: [{ key: 'workspace', line: 7, value: { kind: 'scalar', value: 'w', line: 7 } }, { key: 'version', line: 8, value: { kind: 'scalar', value: '3', line: 8 } }] },
          },
          { key: 'empty', line: 9, value: { kind: 'scalar', value: null, line: 9 } },
        ],
      });
    });

    const bad: Array<[string, string, string]> = [
      ['a tab in the indentation', 'names:\n\t- a\n', 'd.yaml: line 2: a tab in the indentation'],
      ['an anchor', 'names: &n [a]\n', 'd.yaml: line 1: an anchor (&) is not supported'],
      ['an alias', 'a: [x]\nnames: *a\n', 'd.yaml: line 2: an alias (*) is not supported'],
      ['a tag', 'names: !!seq [a]\n', 'd.yaml: line 1: a tag (!) is not supported'],
      ['a duplicate key', 'train: a\nval: b\ntrain: c\n', 'd.yaml: line 3: the key "train" again (it is already set on line 1)'],
      ['a value over several lines', 'train: images\n  /train\n', 'd.yaml: line 2: unexpected indentation (a plain string over several lines is not supported'],
      ['an unclosed flow list', 'names: [a, b\nval: x\n', 'd.yaml: line 2: expected \',\' or \']\', got \'v\' (in the \'[\' of line 1)'],
      ['a quote that does not end', 'names: [\'a, b]\n', 'd.yaml: line 1: a single-quoted string that does not end on its line'],
      ['an unknown escape', 'names: ["a\\q"]\n', 'd.yaml: line 1: an escape "\\\\q" in a double-quoted string that is not understood'],
      ['a mapping in a list item', 'names:\n  - a: 1\n', 'd.yaml: line 2: a mapping inside a list item ("- key: value") is not supported'],
      ['a second document', 'a: 1\n---\nb: 2\n', 'd.yaml: line 2: a second YAML document (\'---\'): only one is read'],
      ['a line without a key', 'train: a\njust words\n', 'd.yaml: line 2: expected "key: value", got "just words"'],
      ['a ": " inside a plain value', 'train: a: b\n', 'd.yaml: line 1: a \': \' inside a value ("a: b")'],
      ['a key indented more than the others', 'train: a\n  val: b\n', 'd.yaml: line 2: unexpected indentation'],
      ['text after a closing bracket', 'names: [a] b\n', 'd.yaml: line 1: unexpected "b" after the closing bracket'],
      ['an empty file', '# only a comment\n', 'd.yaml: the file holds no YAML (empty, or only comments)'],
    ];
    for (const [what, text, message] of bad) {
      it(`refuses ${what}, naming the line`, () => {
        expect(() => parseYaml(text, 'd.yaml')).to.throw(message);
      });
    }
  });

  describe('readYoloConfig', () => {
    const config = (text: string): ReturnType<typeof readYoloConfig> => {
      writeText(path.join(dir, 'data.yaml'), text);
      return readYoloConfig(path.join(dir, 'data.yaml'));
    };

    it('reads path (relative to the yaml\'s folder), the splits and the names', () => {
      const c = config(DATA_YAML.replace('path: .', 'path: ../other'));
      expect(c.root).to.equal(path.resolve(dir, '..', 'other'));
      expect([...c.splits.keys()]).to.deep.equal(['train', 'val']); // "test:" with nothing is no split
      expect(c.names).to.deep.equal(['cat', 'hot dog']);
      expect(config('names: [a]\ntrain: [images/a, list.txt]\n').splits.get('train')).to.deep.equal({ entries: ['images/a', 'list.txt'], line: 2 });
      expect(config('names: [a]\n').root).to.equal(dir);
    });

    const bad: Array<[string, string, string]> = [
      ['nc that is not the number of names', 'nc: 3\nnames: [a, b]\n', 'data.yaml: line 1: nc: 3, but names has 2 class(es)'],
      ['nc that is not a number', 'nc: three\nnames: [a, b]\n', 'data.yaml: line 1: nc: expected the number of classes, got "three"'],
      ['a mapping of names with a gap', 'names:\n  0: a\n  2: b\n', 'data.yaml: line 3: names: key "2": expected a class number 0..1 (2 names, numbered from 0)'],
      ['a mapping of names with a key that is not a number', 'names:\n  zero: a\n', 'data.yaml: line 2: names: key "zero": expected a class number 0..0'],
      ['no names', 'train: images/train\n', 'data.yaml: no "names" (the class names, e.g. names: [cat, dog])'],
      ['names that are one string', 'names: cat\n', 'data.yaml: line 1: names: expected a list ([a, b] or "- a" lines) or a mapping ("0: a" lines), got "cat"'],
      ['an empty name', 'names:\n  - a\n  -\n', 'data.yaml: line 3: names: class 1: expected a name, got nothing'],
      ['a name twice', 'names:\n  - a\n  - b\n  - a\n', 'data.yaml: line 4: names: class 2: "a" is also the name of class 0 (line 2)'],
      ['background as a name', 'names: [background, a]\n', 'data.yaml: line 1: names: class 0: \'background\' is reserved'],
      ['a top level that is a list', '- a\n- b\n', 'data.yaml: line 1: expected keys (path, train, val, names), got a list'],
    ];
    for (const [what, text, message] of bad) {
      it(`refuses ${what}, naming the file and line`, () => {
        expect(() => config(text)).to.throw(`${path.join(dir, message)}`);
      });
    }

    it('maps the project\'s split names: trainval -> train, test -> test if there, else val', () => {
      expect(resolveYoloSplit(config(DATA_YAML), 'trainval')).to.equal('train');
      expect(resolveYoloSplit(config(DATA_YAML), 'test')).to.equal('val');
      expect(resolveYoloSplit(config(DATA_YAML.replace('test:', 'test: images/test')), 'test')).to.equal('test');
      expect(resolveYoloSplit(config(DATA_YAML), 'val')).to.equal('val');
      expect(() => resolveYoloSplit(config(DATA_YAML), 'minival')).to.throw(`${path.join(dir, 'data.yaml')}: no split "minival" (it has train, val)`);
    });
  });

  describe('parseYoloLabels', () => {
    it('converts class cx cy w h to boundary fractions, class + 1 as the label', () => {
      const { objects, clampedBoxes, droppedBoxes } = parseYoloLabels('1 0.5 0.5 0.5 0.5\n\n0 0.05 0.5 0.1 0.2\r\n', 'a.txt', [1, 2], 40, 20);
      expect(objects).to.deep.equal([
        { boxXy: [0.25, 0.25, 0.75, 0.75], label: 2, difficult: false },
        { boxXy: [0, 0.4, 0.1, 0.6], label: 1, difficult: false }, // on the left edge: nothing to clamp
      ]);
      expect([clampedBoxes, droppedBoxes]).to.deep.equal([0, 0]);
    });

    it('clamps boxes past the edge and counts them; leaves out (and counts) boxes of zero size', () => {
      // cx 0.025, w 0.1 of a 40-pixel width: x from -1 to 3 pixels, clamped to 0..3
      const r = parseYoloLabels('0 0.025 0.5 0.1 0.5\n0 1 1 0.5 0.5\n0 0.5 0.5 0 0.1\n', 'b.txt', [1], 40, 20);
      expect(r.objects).to.deep.equal([
        { boxXy: [0, 0.25, 3 / 40, 0.75], label: 1, difficult: false },
        { boxXy: [0.75, 0.75, 1, 1], label: 1, difficult: false },
      ]);
      expect([r.clampedBoxes, r.droppedBoxes]).to.deep.equal([2, 1]);
    });

    const bad: Array<[string, string, string]> = [
      ['4 values', '0 0.5 0.5 0.2\n', 'x.txt: line 1: expected 5 values (class cx cy w h), got 4'],
      ['a polygon', '0 0.5 0.5 0.2 0.2\n0 0.1 0.1 0.2 0.1 0.2 0.2\n', 'x.txt: line 2: expected 5 values (class cx cy w h), got 7 (a segmentation polygon? only boxes are read)'],
      ['a class >= nc', '\n2 0.5 0.5 0.1 0.1\n', 'x.txt: line 2: class 2, but data.yaml names 2 class(es) (0..1)'],
      ['a class that is not a whole number', '1.0 0.5 0.5 0.1 0.1\n', 'x.txt: line 1: class "1.0" is not a whole number'],
      ['a negative class', '-1 0.5 0.5 0.1 0.1\n', 'x.txt: line 1: class "-1" is not a whole number'],
      ['nan', '0 nan 0.5 0.1 0.1\n', 'x.txt: line 1: cx "nan" is not a finite decimal number'],
      ['inf', '0 0.5 0.5 inf 0.1\n', 'x.txt: line 1: w "inf" is not a finite decimal number'],
      ['hexadecimal', '0 0.5 0x1 0.1 0.1\n', 'x.txt: line 1: cy "0x1" is not a finite decimal number'],
      ['a negative size', '0 0.5 0.5 0.1 -0.1\n', 'x.txt: line 1: negative size (w 0.1, h -0.1)'],
      ['pixels instead of fractions', '0 20 10 4 4\n', 'x.txt: line 1: cx 20 is outside [0, 1] (YOLO labels are fractions of the image; pixels?)'],
    ];
    for (const [what, text, message] of bad) {
      it(`rejects ${what}, naming the file and line`, () => {
        expect(() => parseYoloLabels(text, 'x.txt', [1, 2], 40, 20)).to.throw(message);
      });
    }
  });

  describe('readYoloDataset', () => {
    /** The hand-written layout: train with an edge box, an image without label file, an empty label file, a subfolder. */
    function handWritten(): void {
      writeText(path.join(dir, 'data.yaml'), DATA_YAML);
      for (const name of ['b', 'a', 'c', 'd', 'sub/e']) writeImage(path.join(dir, 'images', 'train', `${name}.png`), 40, 20);
      writeText(path.join(dir, 'labels', 'train', 'a.txt'), '1 0.5 0.5 0.5 0.5\n0 0.05 0.5 0.1 0.2\n');
      writeText(path.join(dir, 'labels', 'train', 'b.txt'), '0 0.025 0.5 0.1 0.5\n');
      writeText(path.join(dir, 'labels', 'train', 'd.txt'), '');
      writeText(path.join(dir, 'labels', 'train', 'sub', 'e.txt'), '0 0.5 0.5 1 1\n');
      writeText(path.join(dir, 'images', 'train', 'notes.md'), 'not an image');
      writeImage(path.join(dir, 'images', 'val', 'v.png'), 10, 10);
      writeText(path.join(dir, 'labels', 'val', 'v.txt'), '1 0.5 0.5 0.2 0.2\n');
    }
    const img = (name: string): string => path.join(dir, 'images', 'train', name);

    it('reads a split sorted by path; training leaves out images without objects in one warning; clamped boxes are counted', () => {
      handWritten();
      const warnings: string[] = [];
      const yolo = readYoloDataset(dir, 'trainval', { warn: (m) => warnings.push(m) });
      expect(yolo.split).to.equal('train');
      expect(yolo.classes).to.deep.equal(['background', 'cat', 'hot dog']);
      expect(yolo.samples).to.deep.equal([
        {
          imagePath: img('a.png'),
          annotationPath: path.join(dir, 'labels', 'train', 'a.txt'),
          width: 40,
          height: 20,
          objects: [
            { boxXy: [0.25, 0.25, 0.75, 0.75], label: 2, difficult: false },
            { boxXy: [0, 0.4, 0.1, 0.6], label: 1, difficult: false },
          ],
        },
        { imagePath: img('b.png'), annotationPath: path.join(dir, 'labels', 'train', 'b.txt'), width: 40, height: 20, objects: [{ boxXy: [0, 0.25, 3 / 40, 0.75], label: 1, difficult: false }] },
        { imagePath: img(path.join('sub', 'e.png')), annotationPath: path.join(dir, 'labels', 'train', 'sub', 'e.txt'), width: 40, height: 20, objects: [{ boxXy: [0, 0, 1, 1], label: 1, difficult: false }] },
      ]);
      const name = `${path.join(dir, 'data.yaml')} (train)`;
      expect(warnings).to.deep.equal([
        `${name}: 1 box(es) in 1 label file(s) reached past the image and were clamped to it`,
        `${name}: left out 2 of 5 images without objects (no or an empty label file) from training (--allow-empty keeps them)`,
      ]);
    });

    it('allowEmpty keeps images without a label file or with an empty one; test maps to val', () => {
      handWritten();
      const yolo = readYoloDataset(path.join(dir, 'data.yaml'), 'trainval', { allowEmpty: true, warn: () => undefined });
      expect(yolo.samples.map((s) => [path.relative(dir, s.imagePath), s.annotationPath === undefined ? null : path.relative(dir, s.annotationPath), s.objects.length])).to.deep.equal([
        [path.join('images', 'train', 'a.png'), path.join('labels', 'train', 'a.txt'), 2],
        [path.join('images', 'train', 'b.png'), path.join('labels', 'train', 'b.txt'), 1],
        [path.join('images', 'train', 'c.png'), null, 0],
        [path.join('images', 'train', 'd.png'), path.join('labels', 'train', 'd.txt'), 0],
        [path.join('images', 'train', 'sub', 'e.png'), path.join('labels', 'train', 'sub', 'e.txt'), 1],
      ]);
      const test = readYoloDataset(dir, 'test', { allowEmpty: true });
      expect(test.split).to.equal('val');
      expect(test.samples[0].objects).to.deep.equal([{ boxXy: [0.4, 0.4, 0.6, 0.6], label: 2, difficult: false }]);
    });

    it('maps names to a given class list by name, and names those it lacks', () => {
      handWritten();
      const yolo = readYoloDataset(dir, 'val', { classes: ['background', 'hot dog', 'dog', 'cat'] });
      expect(yolo.samples[0].objects[0].label).to.equal(1);
      expect(() => readYoloDataset(dir, 'val', { classes: ['background', 'cat'] })).to.throw(
        `${path.join(dir, 'data.yaml')}: names not in the class list: hot dog (the class list has cat)`,
      );
    });

    it('reads a .txt list of images (relative to the list), and Roboflow\'s "../train/images"', () => {
      handWritten();
      writeText(path.join(dir, 'train.txt'), './images/train/b.png\nimages/train/a.png\n\n');
      writeText(path.join(dir, 'data.yaml'), 'train: train.txt\nval: ../images/val\nnames: [cat, "hot dog"]\n');
      expect(readYoloDataset(dir, 'train', { warn: () => undefined }).samples.map((s) => path.basename(s.imagePath))).to.deep.equal(['a.png', 'b.png']);
      expect(readYoloDataset(dir, 'val').samples.map((s) => path.basename(s.imagePath))).to.deep.equal(['v.png']);
      writeText(path.join(dir, 'data.yaml'), 'names: [cat]\ntrain: images/nothing\n');
      expect(() => readYoloDataset(dir, 'train')).to.throw(`${path.join(dir, 'data.yaml')}: line 2: train: ${path.join(dir, 'images', 'nothing')} does not exist (relative to ${dir})`);
    });

    it('a bad label file is an error naming it and the line; skipBad skips it, listing it', () => {
      handWritten();
      writeText(path.join(dir, 'labels', 'train', 'b.txt'), '0 0.5 0.5 0.1 0.1\n5 0.5 0.5 0.1 0.1\n');
      const b = path.join(dir, 'labels', 'train', 'b.txt');
      expect(() => readYoloDataset(dir, 'train')).to.throw(`${b}: line 2: class 5, but data.yaml names 2 class(es) (0..1)`);
      const warnings: string[] = [];
      const yolo = readYoloDataset(dir, 'train', { skipBad: true, warn: (m) => warnings.push(m) });
      expect(yolo.samples.map((s) => path.basename(s.imagePath))).to.deep.equal(['a.png', 'e.png']);
      expect(warnings[warnings.length - 1]).to.equal(`${path.join(dir, 'data.yaml')} (train): skipped 1 of 5 images:\n  ${b}: line 2: class 5, but data.yaml names 2 class(es) (0..1)`);
    });

    it('refuses an image with an EXIF orientation (Ultralytics\' labels refer to it turned)', () => {
      handWritten();
      const image = makeSyntheticDataset(1, 1, { size: 16 })[0].image;
      fs.writeFileSync(path.join(dir, 'images', 'val', 'turned.jpg'), withOrientation(encodeJpeg(image), 6));
      expect(() => readYoloDataset(dir, 'val')).to.throw(`${path.join(dir, 'images', 'val', 'turned.jpg')}: EXIF orientation 6: Ultralytics turns such an image`);
    });

    it('yoloLabelPath replaces the last /images/ folder by /labels/ and the extension by .txt', () => {
      const p = (...parts: string[]): string => path.join(path.sep, ...parts);
      expect(yoloLabelPath(p('data', 'images', 'x', 'images', 'train', 'a.b.jpg'))).to.equal(p('data', 'images', 'x', 'labels', 'train', 'a.b.txt'));
      expect(yoloLabelPath(p('data', 'pics', 'a.png'))).to.equal(p('data', 'pics', 'a.txt'));
    });
  });

  describe('writeYoloDataset', () => {
    it('round trip: what it returns is what readYoloDataset reads; names that need quotes are quoted', () => {
      const items = makeSyntheticDataset(4, 9, { size: 32 });
      const classes = ['background', 'circle', 'hot dog', 'null'];
      const written = writeYoloDataset(dir, { train: items.slice(0, 3), val: [items[3], { image: items[0].image, objects: [] }] }, classes);
      expect(readYoloDataset(dir, 'train', { classes }).samples).to.deep.equal(written.train);
      expect(readYoloDataset(dir, 'val', { classes, allowEmpty: true }).samples).to.deep.equal(written.val);
      // boxes on whole pixels come back as the very same numbers
      written.train.forEach((s, i) => expect(s.objects).to.deep.equal(items[i].objects));
      expect(readYoloConfig(dir).names).to.deep.equal(classes.slice(1));
      expect(fs.readFileSync(path.join(dir, 'data.yaml'), 'utf8')).to.contain('names:\n  0: circle\n  1: "hot dog"\n  2: "null"\n');
    });

    it('refuses objects YOLO cannot describe (difficult, crowd)', () => {
      const [item] = makeSyntheticDataset(1, 9, { size: 32 });
      const objects = [{ ...item.objects[0], crowd: true }];
      expect(() => writeYoloDataset(dir, { train: [{ image: item.image, objects }] }, SYNTHETIC_CLASSES)).to.throw(
        `${path.join(dir, 'labels', 'train', '000001.txt')}: object 0 is a crowd, which YOLO labels cannot say`,
      );
    });
  });
});
