// Box coordinate changes and the Jaccard overlap, on boxes worked out by hand.

import { expect } from 'chai';
import { cxcyToGcxgcy, cxcyToXy, gcxgcyToCxcy, intersection, jaccardOverlap, xyToCxcy } from '../../ssd/boxes';
import { fromArray } from '../../tensor/create';
import { maxAbsDiff } from '../../tensor/ops';
import { Rng, randUniform } from '../../tensor/random';
import { Tensor } from '../../tensor/tensor';
import { expectClose } from '../helpers/gradcheck';

const boxes = (rows: number[][]): Tensor => fromArray(rows, 'float64');

/** (n, 4) random cxcy boxes with centres in [0.1, 0.9] and sizes in [0.05, 0.8]. */
function randomCxcy(n: number, rng: Rng): Tensor {
  const t = randUniform([n, 4], rng, 0, 1, 'float64');
  for (let i = 0; i < n; i++) {
    t.data[4 * i] = 0.1 + 0.8 * t.data[4 * i];
    t.data[4 * i + 1] = 0.1 + 0.8 * t.data[4 * i + 1];
    t.data[4 * i + 2] = 0.05 + 0.75 * t.data[4 * i + 2];
    t.data[4 * i + 3] = 0.05 + 0.75 * t.data[4 * i + 3];
  }
  return t;
}

describe('ssd/boxes', () => {
  describe('xy <-> cxcy', () => {
    it('(0.1, 0.2, 0.5, 0.8) is centred at (0.3, 0.5), 0.4 wide and 0.6 tall', () => {
      const cxcy = xyToCxcy(boxes([[0.1, 0.2, 0.5, 0.8]]));
      expectClose(cxcy, boxes([[0.3, 0.5, 0.4, 0.6]]), 1e-15, 0, 'cxcy');
      expectClose(cxcyToXy(cxcy), boxes([[0.1, 0.2, 0.5, 0.8]]), 1e-15, 0, 'xy');
    });

    it('round trip on random boxes: xy(cxcy(b)) = b and cxcy(xy(b)) = b', () => {
      const cxcy = randomCxcy(50, new Rng(1));
      expect(maxAbsDiff(xyToCxcy(cxcyToXy(cxcy)), cxcy)).to.be.below(1e-15);
      const xy = cxcyToXy(cxcy);
      expect(maxAbsDiff(cxcyToXy(xyToCxcy(xy)), xy)).to.be.below(1e-15);
    });

    it('keeps the dtype and rejects a tensor that is not (n, 4)', () => {
      expect(xyToCxcy(fromArray([[0, 0, 1, 1]])).dtype).to.equal('float32');
      expect(() => xyToCxcy(fromArray([[0, 0, 1]]))).to.throw(/xyToCxcy.*\(n, 4\).*\(1, 3\)/);
    });
  });

  describe('jaccardOverlap (xy boxes)', () => {
    const iou = (a: number[], b: number[]): number => jaccardOverlap(boxes([a]), boxes([b])).data[0];

    it('disjoint boxes: 0', () => {
      expect(iou([0, 0, 0.2, 0.2], [0.5, 0.5, 0.7, 0.7])).to.equal(0);
    });

    it('touching boxes (a shared edge, no area): 0', () => {
      expect(iou([0, 0, 0.5, 0.5], [0.5, 0, 1, 0.5])).to.equal(0);
      expect(iou([0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1])).to.equal(0); // a shared corner
    });

    it('identical boxes: 1', () => {
      expect(iou([0.1, 0.2, 0.6, 0.9], [0.1, 0.2, 0.6, 0.9])).to.equal(1);
    });

    it('nested: inner 0.2x0.2 inside outer 0.4x0.4 gives 0.04 / 0.16 = 0.25, either order', () => {
      expect(iou([0, 0, 0.4, 0.4], [0.1, 0.1, 0.3, 0.3])).to.be.closeTo(0.25, 1e-15);
      expect(iou([0.1, 0.1, 0.3, 0.3], [0, 0, 0.4, 0.4])).to.be.closeTo(0.25, 1e-15);
    });

    it('partial overlap: two 0.4x0.4 squares offset by 0.2 share 0.2x0.2, IoU 0.04 / (0.16 + 0.16 - 0.04) = 1/7', () => {
      expect(intersection(boxes([[0, 0, 0.4, 0.4]]), boxes([[0.2, 0.2, 0.6, 0.6]])).data[0]).to.be.closeTo(0.04, 1e-15);
      expect(iou([0, 0, 0.4, 0.4], [0.2, 0.2, 0.6, 0.6])).to.be.closeTo(1 / 7, 1e-15);
    });

    it('every box of a against every box of b: (n_a, n_b)', () => {
      const a = boxes([[0, 0, 0.4, 0.4], [0.5, 0.5, 0.7, 0.7]]);
      const b = boxes([[0.2, 0.2, 0.6, 0.6], [0, 0, 0.4, 0.4], [0.9, 0.9, 1, 1]]);
      const m = jaccardOverlap(a, b);
      expect(m.shape).to.deep.equal([2, 3]);
      // a0 with b: 1/7, 1, 0. a1 with b0: inter 0.1x0.1 = 0.01, union 0.04 + 0.16 - 0.01 = 0.19.
      expectClose(m, boxes([[1 / 7, 1, 0], [0.01 / 0.19, 0, 0]]), 1e-15, 0, 'iou');
    });
  });

  describe('encoding against priors (gcxgcy)', () => {
    it('a worked case: box (0.3, 0.5, 0.4, 0.6) against prior (0.25, 0.45, 0.2, 0.3)', () => {
      // g_cx = 0.05 / (0.2 / 10) = 2.5, g_cy = 0.05 / (0.3 / 10) = 5/3, g_w = g_h = 5 log 2 = 3.465736.
      const g = cxcyToGcxgcy(boxes([[0.3, 0.5, 0.4, 0.6]]), boxes([[0.25, 0.45, 0.2, 0.3]]));
      expectClose(g, boxes([[2.5, 5 / 3, 5 * Math.log(2), 5 * Math.log(2)]]), 1e-14, 0, 'gcxgcy');
    });

    it('a box equal to its prior encodes to (0, 0, 0, 0)', () => {
      const p = boxes([[0.4, 0.6, 0.3, 0.2]]);
      expect(Array.from(cxcyToGcxgcy(p, p).data)).to.deep.equal([0, 0, 0, 0]);
    });

    it('encode(decode(g)) = g and decode(encode(b)) = b, on random boxes and priors', () => {
      const rng = new Rng(7);
      const b = randomCxcy(40, rng);
      const priors = randomCxcy(40, rng);
      expect(maxAbsDiff(gcxgcyToCxcy(cxcyToGcxgcy(b, priors), priors), b)).to.be.below(1e-14);
      const g = cxcyToGcxgcy(randomCxcy(40, rng), priors);
      expect(maxAbsDiff(cxcyToGcxgcy(gcxgcyToCxcy(g, priors), priors), g)).to.be.below(1e-12);
    });

    it('a box of zero or negative width or height is an error naming the box, not a NaN', () => {
      const priors = boxes([[0.5, 0.5, 0.2, 0.2], [0.5, 0.5, 0.2, 0.2]]);
      expect(() => cxcyToGcxgcy(boxes([[0.5, 0.5, 0.1, 0.1], [0.5, 0.5, 0, 0.1]]), priors)).to.throw(/box 1 has width 0 and height 0\.1/);
      expect(() => cxcyToGcxgcy(boxes([[0.5, 0.5, 0.1, -0.1], [0.5, 0.5, 0.1, 0.1]]), priors)).to.throw(/box 0 .*must be positive/);
      expect(() => cxcyToGcxgcy(boxes([[0.5, 0.5, NaN, 0.1]]), boxes([[0.5, 0.5, 0.2, 0.2]]))).to.throw(/box 0/);
    });

    it('one prior per box: mismatched counts are an error', () => {
      expect(() => cxcyToGcxgcy(boxes([[0.5, 0.5, 0.1, 0.1]]), boxes([[0.5, 0.5, 0.1, 0.1], [0.5, 0.5, 0.1, 0.1]]))).to.throw(/priors/);
    });
  });
});
