import { expect } from 'chai';
import { Rng } from '../../tensor/random';
import { LabeledImage, validateObjects } from '../../data/annotations';
import { Rgb } from '../../data/image';
import {
  SHAPE_COLORS,
  SYNTHETIC_CLASSES,
  ShapeName,
  makeSyntheticDataset,
  makeSyntheticSample,
  syntheticClasses,
} from '../../data/synthetic';

/**
 * The class (1 circle, 2 square, 3 triangle) whose colour the pixel has, or 0. Shape colours
 * vary by +-10 per channel and noise adds +-6: within 16 per channel (28 in distance) of the
 * nominal colour. The grey background is more than 80 away from all three.
 */
function classOfPixel(sample: LabeledImage, x: number, y: number): number {
  const p = (y * sample.image.width + x) * 3;
  const d = sample.image.data;
  for (let k = 1; k < SYNTHETIC_CLASSES.length; k++) {
    const c: Rgb = SHAPE_COLORS[SYNTHETIC_CLASSES[k] as ShapeName];
    if (Math.hypot(d[p] - c[0], d[p + 1] - c[1], d[p + 2] - c[2]) <= 30) return k;
  }
  return 0;
}

/** Pixel bounds [x0, y0, x1, y1) of a fractional box of a size x size image (synthetic boxes lie on pixels). */
function pixelBox(boxXy: readonly number[], size: number): number[] {
  return boxXy.map((v) => Math.round(v * size));
}

describe('data/synthetic', () => {
  const samples = makeSyntheticDataset(8, 123, { size: 120 });

  it('is reproducible from the seed, and another seed gives other data', () => {
    const again = makeSyntheticDataset(8, 123, { size: 120 });
    expect(again.map((s) => s.objects)).to.deep.equal(samples.map((s) => s.objects));
    again.forEach((s, i) => expect(Buffer.from(s.image.data).equals(Buffer.from(samples[i].image.data))).to.equal(true));
    const other = makeSyntheticDataset(8, 124, { size: 120 });
    expect(other.map((s) => s.objects)).to.not.deep.equal(samples.map((s) => s.objects));
    // One Rng drives samples one after another: the dataset is the samples of that stream.
    const rng = new Rng(123);
    expect(makeSyntheticSample(rng, { size: 120 }).objects).to.deep.equal(samples[0].objects);
    expect(makeSyntheticSample(rng, { size: 120 }).objects).to.deep.equal(samples[1].objects);
  });

  it('has 1..3 objects per image, valid boxes inside the image, labels 1..3, nothing difficult', () => {
    for (const s of samples) {
      expect(s.image.width).to.equal(120);
      expect(s.image.height).to.equal(120);
      expect(s.image.data.length).to.equal(120 * 120 * 3);
      expect(s.objects.length).to.be.within(1, 3);
      expect(() => validateObjects(s.objects, 'synthetic', 4)).to.not.throw();
      for (const o of s.objects) {
        expect(o.difficult).to.equal(false);
        expect(o.boxXy.every((v) => v >= 0 && v <= 1)).to.equal(true);
        const [x0, y0, x1, y1] = pixelBox(o.boxXy, 120);
        const side = Math.max(x1 - x0, y1 - y0);
        expect(side).to.be.within(Math.round(0.15 * 120) - 1, Math.round(0.6 * 120) + 1); // 15%..60% of the image
      }
    }
    const labels = new Set(samples.flatMap((s) => s.objects.map((o) => o.label)));
    expect([...labels].sort()).to.deep.equal([1, 2, 3]); // all three shapes turn up in 8 images
  });

  it('boxes are tight: each box edge touches its shape, and every shape pixel is inside a box of its class', () => {
    for (const s of samples) {
      // Every box has a pixel of its class on each of its four edges (first and last row and column).
      for (const o of s.objects) {
        const [x0, y0, x1, y1] = pixelBox(o.boxXy, 120);
        const rowHas = (y: number): boolean => Array.from({ length: x1 - x0 }, (_, i) => x0 + i).some((x) => classOfPixel(s, x, y) === o.label);
        const colHas = (x: number): boolean => Array.from({ length: y1 - y0 }, (_, i) => y0 + i).some((y) => classOfPixel(s, x, y) === o.label);
        expect(rowHas(y0), 'top edge').to.equal(true);
        expect(rowHas(y1 - 1), 'bottom edge').to.equal(true);
        expect(colHas(x0), 'left edge').to.equal(true);
        expect(colHas(x1 - 1), 'right edge').to.equal(true);
      }
      // And no coloured pixel lies outside the boxes of its class: the boxes are not too small.
      for (let y = 0; y < 120; y++) {
        for (let x = 0; x < 120; x++) {
          const k = classOfPixel(s, x, y);
          if (k === 0) continue;
          const covered = s.objects.some((o) => {
            const [x0, y0, x1, y1] = pixelBox(o.boxXy, 120);
            return o.label === k && x >= x0 && x < x1 && y >= y0 && y < y1;
          });
          expect(covered, `pixel (${x}, ${y}) of class ${k}`).to.equal(true);
        }
      }
    }
  });

  it('shapes do not overlap', () => {
    for (const s of samples) {
      const boxes = s.objects.map((o) => o.boxXy);
      for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) {
          const [a, b] = [boxes[i], boxes[j]];
          const apart = a[2] <= b[0] || b[2] <= a[0] || a[3] <= b[1] || b[3] <= a[1];
          expect(apart).to.equal(true);
        }
      }
    }
  });

  it('honours options: a subset of shapes, more objects, the default 300x300 size', () => {
    expect(SYNTHETIC_CLASSES).to.deep.equal(['background', 'circle', 'square', 'triangle']);
    expect(syntheticClasses({ classes: ['triangle', 'circle'] })).to.deep.equal(['background', 'triangle', 'circle']);
    const tri = makeSyntheticDataset(5, 1, { size: 64, classes: ['triangle'], maxObjects: 5 });
    expect(tri.every((s) => s.objects.every((o) => o.label === 1))).to.equal(true);
    const sample = makeSyntheticSample(new Rng(5));
    expect([sample.image.width, sample.image.height]).to.deep.equal([300, 300]);
    expect(() => makeSyntheticSample(new Rng(1), { classes: ['hexagon'] })).to.throw(/unknown shape "hexagon"/);
    expect(() => makeSyntheticSample(new Rng(1), { maxObjects: 0 })).to.throw(/maxObjects/);
  });
});
