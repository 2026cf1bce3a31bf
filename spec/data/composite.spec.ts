import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import { Rng } from '../../tensor/random';
import { LabeledImage } from '../../data/annotations';
import { RgbImage, makeImage } from '../../data/image';
import { readImage } from '../../data/image_files';
import { readVocClassNames, readVocDataset } from '../../data/voc';
import { RgbaImage, SceneOptions, Stamp, composeScene, decodeRgbaPng, resample, trimToAlpha, writeSceneDataset } from '../../data/composite';

// The scenes here are made of stamps that can be told apart in the picture: class k's stamps are
// pure red, green or blue (channel k - 1), distractors pure black, on a black background. With
// brightness and contrast jitter off, channel k - 1 of a pixel is then 255 times the VISIBLE alpha
// of the one class-k object there (alpha blending multiplies what lies under a stamp by 1 - alpha,
// black adds nothing): the picture itself says where each object shows.

const CLASSES = ['background', 'red', 'green', 'blue'];

/** A w x h stamp of one colour; alpha 255 inside an ellipse, fading to 0 over `soft` pixels at its edge (0: a hard rectangle). */
function stamp(w: number, h: number, color: readonly number[], soft: number): RgbaImage {
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let a = 255;
      if (soft > 0) {
        // distance inside the ellipse's edge, in pixels (roughly)
        const dx = (x + 0.5 - w / 2) / (w / 2);
        const dy = (y + 0.5 - h / 2) / (h / 2);
        const inside = (1 - Math.hypot(dx, dy)) * Math.min(w, h) / 2;
        a = Math.round(255 * Math.min(1, Math.max(0, inside / soft)));
      }
      data.set([color[0], color[1], color[2], a], (y * w + x) * 4);
    }
  }
  return { width: w, height: h, data };
}

const COLORS = [[255, 0, 0], [0, 255, 0], [0, 0, 255]];

/** Two stamps per class (a wide and a tall one), or only the wide one. */
function stamps(soft: number, both = true): { classStamps: Stamp[][]; distractors: Stamp[] } {
  const classStamps = COLORS.map((color, k) => [
    { image: stamp(30, 20, color, soft), label: k + 1, name: `${CLASSES[k + 1]} wide` },
    ...(both ? [{ image: stamp(16, 28, color, soft), label: k + 1, name: `${CLASSES[k + 1]} tall` }] : []),
  ]);
  const distractors = [{ image: stamp(24, 24, [0, 0, 0], soft), label: 0, name: 'black' }];
  return { classStamps, distractors };
}

const BLACK: RgbImage[] = [makeImage(200, 150, [0, 0, 0])];
const NO_JITTER: SceneOptions = { brightness: 0, contrast: 0 };

/** The tight box (fractions) of the pixels whose channel c is at least `min`; null if none. */
function channelBox(img: RgbImage, c: number, min: number): number[] | null {
  let [x0, y0, x1, y1] = [Infinity, Infinity, -1, -1];
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      if (img.data[(y * img.width + x) * 3 + c] < min) continue;
      [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
  }
  return x1 < 0 ? null : [x0 / img.width, y0 / img.height, (x1 + 1) / img.width, (y1 + 1) / img.height];
}

/** Scenes whose labeled objects all have different classes (so each has a channel to itself). */
function distinctScenes(count: number, soft: number, options: SceneOptions, both = true): LabeledImage[] {
  const { classStamps, distractors } = stamps(soft, both);
  const scenes: LabeledImage[] = [];
  for (let seed = 0; scenes.length < count; seed++) {
    if (seed > 50 * count) throw new Error('too few scenes with distinct labels');
    const scene = composeScene(new Rng(seed), BLACK, classStamps, distractors, { ...NO_JITTER, ...options });
    const labels = scene.objects.map((o) => o.label);
    if (new Set(labels).size === labels.length) scenes.push(scene);
  }
  return scenes;
}

describe('data/composite', () => {
  it('decodes an RGBA PNG with its alpha, and trims a stamp to the pixels with alpha', () => {
    const png = new PNG({ width: 5, height: 4 });
    png.data.fill(0);
    for (const [x, y] of [[1, 1], [3, 2]]) png.data.set([10, 20, 30, 200], (y * 5 + x) * 4);
    const rgba = decodeRgbaPng(PNG.sync.write(png), 'test.png');
    expect([rgba.width, rgba.height, rgba.data[(1 * 5 + 1) * 4 + 3]]).to.deep.equal([5, 4, 200]);
    const trimmed = trimToAlpha(rgba)!;
    expect([trimmed.width, trimmed.height]).to.deep.equal([3, 2]);
    expect(Array.from(trimmed.data.subarray(0, 4))).to.deep.equal([10, 20, 30, 200]);
    expect(Array.from(trimmed.data.subarray((1 * 3 + 2) * 4, (1 * 3 + 2) * 4 + 4))).to.deep.equal([10, 20, 30, 200]);
    expect(trimToAlpha({ width: 2, height: 1, data: new Uint8Array(8) })).to.equal(null);
    expect(() => decodeRgbaPng(new Uint8Array([1, 2, 3]), 'bad.png')).to.throw(/bad\.png/);
  });

  it('resamples a constant image to the same constant, and keeps the mean when shrinking by a whole factor', () => {
    const flat = new Float32Array(7 * 5 * 2).fill(3);
    for (const [w, h] of [[3, 2], [20, 11], [7, 5]]) {
      const out = resample(flat, 7, 5, 2, w, h);
      out.forEach((v) => expect(v).to.be.closeTo(3, 1e-5));
    }
    const ramp = Float32Array.from({ length: 8 * 4 }, (_, i) => i % 8); // 8x4, one channel
    const half = resample(ramp, 8, 4, 1, 4, 2);
    const mean = (a: Float32Array): number => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(half)).to.be.closeTo(mean(ramp), 1e-5);
  });

  it("makes each box the tight box of the object's visible alpha above one half", () => {
    // soft-edged stamps, partly hidden by each other and by black distractors, some past the edge
    let occluded = 0;
    for (const scene of distinctScenes(40, 3, { minLong: 64, maxLong: 120, maxObjects: 3, maxDistractors: 3, minScale: 0.2, maxScale: 0.7, maxUpscale: 10 })) {
      expect(scene.objects.length).to.be.within(1, 3);
      for (const o of scene.objects) {
        const c = o.label - 1;
        // visible alpha > 1/2 <=> 255 * alpha > 127.5 <=> the byte is at least 128
        expect(o.boxXy).to.deep.equal(channelBox(scene.image, c, 128));
        const full = channelBox(scene.image, c, 1)!; // every pixel the object shows in at all
        if (full[2] - full[0] > o.boxXy[2] - o.boxXy[0] + 4 / scene.image.width) occluded++;
      }
    }
    expect(occluded).to.be.greaterThan(0); // soft edges or occlusion made the visible box smaller than the object
  });

  it('leaves no labeled object with less than minVisible of it showing (other objects, distractors and the edge)', () => {
    // hard-edged (opaque) rectangles of a fixed size: an object shows in exactly w * h pixels when nothing hides it
    for (const minVisible of [0.5, 0.9]) {
      let hidden = 0;
      for (const scene of distinctScenes(40, 0, { minLong: 80, maxLong: 120, maxObjects: 3, maxDistractors: 3, minScale: 0.45, maxScale: 0.45, maxUpscale: 10, minVisible }, false)) {
        // every object is the 30x20 stamp scaled to 0.45 of the image's shorter side
        const f = (0.45 * Math.min(scene.image.width, scene.image.height)) / 30;
        const area = Math.round(30 * f) * Math.round(20 * f);
        for (const o of scene.objects) {
          let shown = 0;
          for (let p = 0; p < scene.image.width * scene.image.height; p++) if (scene.image.data[p * 3 + o.label - 1] >= 128) shown++;
          expect(shown / area, `${CLASSES[o.label]} in a ${scene.image.width}x${scene.image.height} scene`).to.be.at.least(minVisible);
          if (shown < 0.98 * area) hidden++;
        }
      }
      expect(hidden, `objects partly hidden at minVisible ${minVisible}`).to.be.greaterThan(minVisible < 0.9 ? 5 : 0);
    }
  });

  it('makes images of varied sizes and shapes with 1..maxObjects objects, from the given seed', () => {
    const { classStamps, distractors } = stamps(2);
    const scenes = Array.from({ length: 30 }, (_, seed) => composeScene(new Rng(seed), BLACK, classStamps, distractors, { minLong: 40, maxLong: 60 }));
    const shapes = new Set(scenes.map((s) => Math.sign(s.image.width - s.image.height)));
    expect([...shapes].sort()).to.deep.equal([-1, 0, 1]); // portrait, square and landscape
    scenes.forEach((s) => {
      expect(Math.max(s.image.width, s.image.height)).to.be.within(40, 60);
      expect(s.objects.length).to.be.within(1, 4);
    });
    const again = composeScene(new Rng(3), BLACK, classStamps, distractors, { minLong: 40, maxLong: 60 });
    expect(Buffer.from(again.image.data).equals(Buffer.from(scenes[3].image.data))).to.equal(true);
    expect(again.objects).to.deep.equal(scenes[3].objects);
  });

  describe('writeSceneDataset', () => {
    let dirs: string[] = [];
    const tempDir = (): string => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-composite-'));
      dirs.push(dir);
      return dir;
    };
    after(() => {
      dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
      dirs = [];
    });

    const TRAIN_BG = [makeImage(160, 120, [40, 90, 160])];
    const TEST_BG = [makeImage(160, 120, [200, 190, 60])];
    const write = (root: string, seed: number, nTrain = 6): ReturnType<typeof writeSceneDataset> => {
      const { classStamps, distractors } = stamps(2);
      return writeSceneDataset(
        root,
        [
          { name: 'train', lists: ['trainval', 'train'], count: nTrain, backgrounds: TRAIN_BG },
          { name: 'test', count: 3, backgrounds: TEST_BG },
        ],
        classStamps,
        distractors,
        CLASSES,
        seed,
        { minLong: 48, maxLong: 80 },
      );
    };
    const files = (root: string, dir = ''): string[] =>
      fs.readdirSync(path.join(root, dir), { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? files(root, path.join(dir, e.name)) : [path.join(dir, e.name)]))
        .sort();

    it('writes the VOC layout that data/voc.ts reads back, boxes and all', () => {
      const root = tempDir();
      const written = write(root, 7);
      expect(fs.readFileSync(path.join(root, 'ImageSets/Main/train.txt'), 'utf8')).to.equal(fs.readFileSync(path.join(root, 'ImageSets/Main/trainval.txt'), 'utf8'));
      const classes = readVocClassNames(root, 'trainval');
      expect(CLASSES).to.include.members(classes);
      for (const [split, name] of [['trainval', 'train'], ['test', 'test']]) {
        const samples = readVocDataset(root, split, CLASSES);
        expect(samples.map((s) => path.basename(s.imagePath))).to.deep.equal(written[name].map((_, k) => `${name}_${String(k + 1).padStart(6, '0')}.jpg`));
        samples.forEach((s, k) => {
          expect(s.objects.length).to.equal(written[name][k].length);
          s.objects.forEach((o, j) => {
            expect(o.label).to.equal(written[name][k][j].label);
            o.boxXy.forEach((v, i) => expect(v).to.be.closeTo(written[name][k][j].boxXy[i], 1e-12));
          });
        });
      }
      // the test split's images are made on the test backgrounds only: a corner pixel far from the train colour
      for (const s of readVocDataset(root, 'test', CLASSES)) {
        const img = readImage(s.imagePath);
        let nearTest = 0;
        for (let p = 0; p < img.width * img.height; p++) if (Math.abs(img.data[p * 3] - 200) + Math.abs(img.data[p * 3 + 2] - 60) < 30) nearTest++;
        expect(nearTest / (img.width * img.height)).to.be.greaterThan(0.3);
      }
    });

    it('writes the same bytes from the same seed (whatever the split sizes), other images from another', () => {
      const [a, b, c] = [tempDir(), tempDir(), tempDir()];
      write(a, 7);
      write(b, 7, 4); // fewer training images: the first four are the same
      write(c, 8);
      const listA = files(a);
      for (const f of files(b)) {
        if (f.startsWith('ImageSets')) continue;
        expect(fs.readFileSync(path.join(b, f)).equals(fs.readFileSync(path.join(a, f))), f).to.equal(true);
      }
      expect(files(c)).to.deep.equal(listA);
      const images = listA.filter((f) => f.endsWith('.jpg'));
      const same = images.filter((f) => fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(c, f))));
      expect(same).to.deep.equal([]);
    });
  });
});
