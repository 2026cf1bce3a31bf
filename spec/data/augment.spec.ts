import { expect } from 'chai';
import { Rng } from '../../tensor/random';
import { LabeledImage, ObjectAnnotation, validateObjects } from '../../data/annotations';
import { RgbImage } from '../../data/image';
import { makeSyntheticDataset } from '../../data/synthetic';
import {
  IMAGENET_MEAN_BYTES,
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  augmentForTraining,
  cropTo,
  expand,
  expandOnto,
  flipHorizontal,
  photometricDistort,
  randomCrop,
  randomCropRect,
  randomFlip,
} from '../../data/augment';
import { resizeBilinear } from '../../data/resize';
import { makeImage } from '../../data/image';

function fromPixels(width: number, height: number, pixels: number[][]): RgbImage {
  return { width, height, data: Uint8Array.from(pixels.flat()) };
}

function pixel(img: RgbImage, x: number, y: number): number[] {
  const p = (y * img.width + x) * 3;
  return [...img.data.subarray(p, p + 3)];
}

/** The pixels of a pixel rectangle [x0, x1) x [y0, y1), row by row. */
function region(img: RgbImage, x0: number, y0: number, x1: number, y1: number): number[] {
  const out: number[] = [];
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) out.push(...pixel(img, x, y));
  return out;
}

const obj = (boxXy: [number, number, number, number], label = 1, difficult = false): ObjectAnnotation => ({ boxXy, label, difficult });

const samples = makeSyntheticDataset(6, 99, { size: 80 });

function expectBoxesInside(s: LabeledImage): void {
  validateObjects(s.objects, 'augmented', 4); // finite, not inverted, not empty, inside [0, 1]
  for (const o of s.objects) expect(o.boxXy.every((v) => v >= 0 && v <= 1)).to.equal(true);
}

describe('data/augment', () => {
  describe('photometric distortions', () => {
    const img = fromPixels(2, 1, [[200, 100, 50], [10, 20, 30]]);

    it('brightness scales every channel, clipped to 255', () => {
      expect([...adjustBrightness(img, 1).data]).to.deep.equal([...img.data]);
      expect([...adjustBrightness(img, 0.5).data]).to.deep.equal([100, 50, 25, 5, 10, 15]);
      expect([...adjustBrightness(img, 1.5).data]).to.deep.equal([255, 150, 75, 15, 30, 45]);
    });

    it('contrast 0 gives the mean grey everywhere', () => {
      // Luma 0.299 R + 0.587 G + 0.114 B: 59.8 + 58.7 + 5.7 = 124.2 and 2.99 + 11.74 + 3.42 = 18.15;
      // mean 71.175, rounded to 71.
      expect([...adjustContrast(img, 0).data]).to.deep.equal([71, 71, 71, 71, 71, 71]);
      expect([...adjustContrast(img, 1).data]).to.deep.equal([...img.data]);
    });

    it('saturation 0 gives each pixel its own grey', () => {
      expect([...adjustSaturation(img, 0).data]).to.deep.equal([124, 124, 124, 18, 18, 18]);
      expect([...adjustSaturation(img, 1).data]).to.deep.equal([...img.data]);
    });

    it('hue turns red to green by a third of the circle, and keeps greys', () => {
      const rgb = fromPixels(3, 1, [[255, 0, 0], [0, 0, 255], [90, 90, 90]]);
      expect([...adjustHue(rgb, 1 / 3).data]).to.deep.equal([0, 255, 0, 255, 0, 0, 90, 90, 90]);
      expect([...adjustHue(img, 0).data]).to.deep.equal([...img.data]);
      expect(() => adjustHue(img, 0.7)).to.throw(/shift/);
    });

    it('photometricDistort is reproducible and keeps the size', () => {
      const a = photometricDistort(samples[0].image, new Rng(3));
      const b = photometricDistort(samples[0].image, new Rng(3));
      expect([a.width, a.height]).to.deep.equal([80, 80]);
      expect(Buffer.from(a.data).equals(Buffer.from(b.data))).to.equal(true);
    });
  });

  describe('flip', () => {
    it('mirrors pixels and boxes, worked by hand', () => {
      const img = fromPixels(4, 1, [[1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4]]);
      // The box over pixel column 0 ([0, 0.25] of the width) moves over column 3: [0.75, 1].
      const out = flipHorizontal({ image: img, objects: [obj([0, 0, 0.25, 1], 2, true)] });
      expect([...out.image.data]).to.deep.equal([4, 4, 4, 3, 3, 3, 2, 2, 2, 1, 1, 1]);
      expect(out.objects).to.deep.equal([obj([0.75, 0, 1, 1], 2, true)]);
    });

    it('twice is the identity', () => {
      for (const s of samples) {
        const back = flipHorizontal(flipHorizontal(s));
        expect(Buffer.from(back.image.data).equals(Buffer.from(s.image.data))).to.equal(true);
        back.objects.forEach((o, i) => {
          expect(o.label).to.equal(s.objects[i].label);
          o.boxXy.forEach((v, k) => expect(v).to.be.closeTo(s.objects[i].boxXy[k], 1e-12));
        });
      }
    });
  });

  describe('expand', () => {
    it('puts the image on a mean-filled canvas and moves the boxes with it, worked by hand', () => {
      const img = fromPixels(2, 2, [[9, 9, 9], [9, 9, 9], [9, 9, 9], [9, 9, 9]]);
      // 2x2 image at (left 3, top 1) of a 5x4 canvas: box [0, 0, 0.5, 1] (column 0) covers canvas
      // column 3 and rows 1..2: [3/5, 1/4, 4/5, 3/4].
      const out = expandOnto({ image: img, objects: [obj([0, 0, 0.5, 1])] }, 5, 4, 3, 1);
      expect(out.objects[0].boxXy).to.deep.equal([0.6, 0.25, 0.8, 0.75]);
      expect(pixel(out.image, 3, 1)).to.deep.equal([9, 9, 9]);
      expect(pixel(out.image, 4, 2)).to.deep.equal([9, 9, 9]);
      expect(pixel(out.image, 0, 0)).to.deep.equal([...IMAGENET_MEAN_BYTES]);
      expect(pixel(out.image, 3, 3)).to.deep.equal([124, 116, 104]);
      expect(() => expandOnto({ image: img, objects: [] }, 5, 4, 4, 0)).to.throw(/does not fit/);
    });

    it('random expand keeps each object\'s pixels under its new box', () => {
      const rng = new Rng(11);
      for (const s of samples) {
        const out = expand(s, rng);
        expect(out.image.width).to.be.within(80, 320);
        expect(out.image.width / 80).to.be.closeTo(out.image.height / 80, 1 / 40); // one scale for both sides
        expectBoxesInside(out);
        s.objects.forEach((o, i) => {
          const [a0, b0, a1, b1] = o.boxXy.map((v) => Math.round(v * 80));
          const W = out.image.width;
          const H = out.image.height;
          const n = out.objects[i].boxXy;
          const [x0, y0, x1, y1] = [Math.round(n[0] * W), Math.round(n[1] * H), Math.round(n[2] * W), Math.round(n[3] * H)];
          expect([x1 - x0, y1 - y0]).to.deep.equal([a1 - a0, b1 - b0]);
          expect(region(out.image, x0, y0, x1, y1)).to.deep.equal(region(s.image, a0, b0, a1, b1));
        });
      }
    });
  });

  describe('crop', () => {
    it('keeps only boxes whose centres are inside, clipped, worked by hand', () => {
      const image = fromPixels(10, 10, Array.from({ length: 100 }, (_, p) => [p, 0, 0]));
      const sample = {
        image,
        objects: [
          obj([0.1, 0.1, 0.3, 0.3], 1), // pixels 1..3, centre (2, 2): inside [0, 5)
          obj([0.6, 0.6, 0.9, 0.9], 2), // centre (7.5, 7.5): outside, dropped
          obj([0.2, 0.2, 0.6, 0.6], 3), // centre (4, 4): inside, its right/bottom clipped from 6 to 5
          obj([0.5, 0.0, 0.9, 0.3], 1), // centre (7, 1.5): outside
        ],
      };
      const out = cropTo(sample, { left: 0, top: 0, right: 5, bottom: 5 });
      expect([out.image.width, out.image.height]).to.deep.equal([5, 5]);
      expect(pixel(out.image, 4, 4)).to.deep.equal([44, 0, 0]);
      // In fractions of the 5x5 crop: [1/5, 1/5, 3/5, 3/5] and [2/5, 2/5, 5/5, 5/5].
      expect(out.objects.map((o) => o.label)).to.deep.equal([1, 3]);
      expect(out.objects[0].boxXy).to.deep.equal([0.2, 0.2, 0.6, 0.6]);
      expect(out.objects[1].boxXy).to.deep.equal([0.4, 0.4, 1, 1]);
      // A centre exactly on the crop's edge is not strictly inside: dropped.
      const edge = cropTo({ image, objects: [obj([0.4, 0.4, 0.6, 0.6])] }, { left: 5, top: 0, right: 10, bottom: 10 });
      expect(edge.objects).to.deep.equal([]);
    });

    it('randomCrop keeps exactly the objects whose centres fall inside its patch, boxes within [0, 1]', () => {
      let cropped = 0;
      for (let seed = 0; seed < 40; seed++) {
        const s = samples[seed % samples.length];
        const rect = randomCropRect(s, new Rng(seed));
        const out = randomCrop(s, new Rng(seed)); // same seed: the same patch
        if (rect === null) {
          expect(out.objects).to.deep.equal(s.objects);
          continue;
        }
        cropped++;
        const expected = s.objects.filter((o) => {
          const cx = ((o.boxXy[0] + o.boxXy[2]) / 2) * 80;
          const cy = ((o.boxXy[1] + o.boxXy[3]) / 2) * 80;
          return cx > rect.left && cx < rect.right && cy > rect.top && cy < rect.bottom;
        });
        expect(out.objects.map((o) => o.label)).to.deep.equal(expected.map((o) => o.label));
        expect(out.objects.length).to.be.at.least(1);
        expect([out.image.width, out.image.height]).to.deep.equal([rect.right - rect.left, rect.bottom - rect.top]);
        const aspect = out.image.height / out.image.width;
        expect(aspect).to.be.above(0.5).and.below(2);
        expect(out.image.width).to.be.at.least(Math.floor(0.3 * 80));
        expectBoxesInside(out);
      }
      expect(cropped).to.be.above(20); // the whole image is chosen about 1 time in 7
    });

    it('an image without objects is not cropped', () => {
      expect(randomCropRect({ image: samples[0].image, objects: [] }, new Rng(1))).to.equal(null);
    });
  });

  describe('augmentForTraining', () => {
    it('gives size x size images with valid boxes, reproducibly', () => {
      for (let seed = 0; seed < 12; seed++) {
        const s = samples[seed % samples.length];
        const out = augmentForTraining(s, new Rng(seed), 64);
        expect([out.image.width, out.image.height]).to.deep.equal([64, 64]);
        expect(out.objects.length).to.be.within(1, s.objects.length);
        expectBoxesInside(out);
        const again = augmentForTraining(s, new Rng(seed), 64);
        expect(again.objects).to.deep.equal(out.objects);
        expect(Buffer.from(again.image.data).equals(Buffer.from(out.image.data))).to.equal(true);
      }
      // The input is never modified.
      expect(makeSyntheticDataset(6, 99, { size: 80 })[0].objects).to.deep.equal(samples[0].objects);
    });

    it('equals the steps one after the other, bit for bit (boxes and pixels), for every subset of the steps', () => {
      // What augmentForTraining does in one resampling pass, done the tutorial's way: each step
      // makes its image, with the same random choices in the same order.
      const stepByStep = (sample: LabeledImage, rng: Rng, size: number, steps: typeof all): LabeledImage => {
        let out: LabeledImage = { image: steps.photometric ? photometricDistort(sample.image, rng) : sample.image, objects: sample.objects };
        if (steps.expand && rng.uniform() < 0.5) out = expand(out, rng);
        if (steps.crop) out = randomCrop(out, rng);
        if (steps.flip) out = randomFlip(out, rng);
        return { image: resizeBilinear(out.image, size, size), objects: out.objects };
      };
      const all = { photometric: true, expand: true, crop: true, flip: true };
      // odd sizes, landscape and portrait, and an image without objects
      const wide = { ...makeSyntheticDataset(1, 7, { size: 97 })[0] };
      const images: LabeledImage[] = [
        ...samples,
        { image: resizeBilinear(wide.image, 131, 77), objects: wide.objects },
        { image: resizeBilinear(wide.image, 45, 120), objects: wide.objects },
        { image: makeImage(50, 40, [200, 10, 30]), objects: [] },
      ];
      const subsets = [all, { ...all, photometric: false }, { ...all, expand: false }, { ...all, crop: false }, { ...all, flip: false }];
      for (let seed = 0; seed < 60; seed++) {
        const sample = images[seed % images.length];
        const steps = subsets[seed % subsets.length];
        const size = seed % 3 === 0 ? 300 : 64;
        const fast = augmentForTraining(sample, new Rng(seed), size, steps);
        const slow = stepByStep(sample, new Rng(seed), size, steps);
        expect(fast.objects, `seed ${seed}: objects`).to.deep.equal(slow.objects);
        expect(Buffer.from(fast.image.data).equals(Buffer.from(slow.image.data)), `seed ${seed}: pixels`).to.equal(true);
      }
    });
  });
});
