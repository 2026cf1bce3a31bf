// Matching priors to ground truth, on small hand-made prior sets whose answer can be worked out
// by hand (matchPriors takes the priors as an argument), and once on the real 8732 priors.

import * as fs from 'fs';
import * as path from 'path';
import { expect } from 'chai';
import { cxcyToXy, jaccardOverlap } from '../../ssd/boxes';
import { matchPriors } from '../../ssd/matching';
import { createPriors } from '../../ssd/priors';
import { fromArray, zeros } from '../../tensor/create';
import { Tensor } from '../../tensor/tensor';

const f64 = (rows: number[][]): Tensor => fromArray(rows, 'float64');

/** Row p of an (n, 4) tensor. */
const row = (t: Tensor, p: number): number[] => Array.from(t.data.subarray(4 * p, 4 * p + 4));

function expectRow(t: Tensor, p: number, expected: number[]): void {
  row(t, p).forEach((v, k) => expect(v, `row ${p} [${k}]`).to.be.closeTo(expected[k], 1e-12));
}

// Four tiles of the image, 0.5 x 0.5, in centre-size form:
//   P0 = xy (0, 0, 0.5, 0.5)    P1 = (0.5, 0, 1, 0.5)
//   P2 = (0, 0.5, 0.5, 1)       P3 = (0.5, 0.5, 1, 1)
const TILES = [
  [0.25, 0.25, 0.5, 0.5],
  [0.75, 0.25, 0.5, 0.5],
  [0.25, 0.75, 0.5, 0.5],
  [0.75, 0.75, 0.5, 0.5],
];

describe('ssd/matching', () => {
  it('each prior takes its best object; above 0.5 without being anyone\'s best still counts', () => {
    // Priors: the four tiles, plus
    //   P4 = xy (0.25, 0.25, 0.75, 0.75), a centred tile, cxcy (0.5, 0.5, 0.5, 0.5)
    //   P5 = xy (0.3, 0.3, 0.8, 0.7), cxcy (0.55, 0.5, 0.5, 0.4)
    const priors = f64([...TILES, [0.5, 0.5, 0.5, 0.5], [0.55, 0.5, 0.5, 0.4]]);
    // Objects: a = xy (0, 0, 0.5, 0.5) = P0, label 1; b = xy (0.3, 0.3, 0.8, 0.8), label 2.
    //
    // Overlaps (intersection / union):
    //   a: P0 1; P4 0.0625 / 0.4375 = 0.142857; P5 0.04 / 0.41 = 0.0976; P1, P2, P3 0 (touching).
    //   b: P0 0.04 / 0.46 = 0.0870; P1, P2 0.06 / 0.44 = 0.136; P3 0.09 / 0.41 = 0.2195;
    //      P4 0.2025 / 0.2975 = 0.680672; P5 0.2 / 0.25 = 0.8.
    // Best object per prior: P0 a (1), P4 b (0.68), P5 b (0.8), the rest below 0.5 -> background.
    // Best prior per object: a P0, b P5 (forced, but they already had them).
    // P4 is nobody's best prior, yet it is a positive for b: 0.68 >= 0.5.
    const m = matchPriors(f64([[0, 0, 0.5, 0.5], [0.3, 0.3, 0.8, 0.8]]), [1, 2], priors);
    expect(Array.from(m.classTargets)).to.deep.equal([1, 0, 0, 0, 2, 2]);
    expect(m.nPositives).to.equal(3);
    expect(m.locTargets.shape).to.deep.equal([6, 4]);
    // Targets. a on P0: the prior itself -> (0, 0, 0, 0).
    expectRow(m.locTargets, 0, [0, 0, 0, 0]);
    // b = cxcy (0.55, 0.55, 0.5, 0.5) on P4 (0.5, 0.5, 0.5, 0.5):
    //   g_cx = 0.05 / (0.5 / 10) = 1, g_cy = 1, g_w = 5 log(0.5 / 0.5) = 0, g_h = 0.
    expectRow(m.locTargets, 4, [1, 1, 0, 0]);
    // b on P5 (0.55, 0.5, 0.5, 0.4): g_cx = 0, g_cy = 0.05 / 0.04 = 1.25, g_w = 0, g_h = 5 log(1.25) = 1.115718.
    expectRow(m.locTargets, 5, [0, 1.25, 0, 5 * Math.log(1.25)]);
  });

  it('an object whose best overlap is below 0.5 still gets its best prior (forced, overlap set to 1)', () => {
    // c = xy (0.1, 0.1, 0.3, 0.3), area 0.04, lies inside P0 (area 0.25): IoU 0.16, far below 0.5.
    // Without the forced match this object would have no positive prior at all.
    const m = matchPriors(f64([[0.1, 0.1, 0.3, 0.3]]), [3], f64(TILES));
    expect(Array.from(m.classTargets)).to.deep.equal([3, 0, 0, 0]);
    expect(m.nPositives).to.equal(1);
    // c = cxcy (0.2, 0.2, 0.2, 0.2) on P0 (0.25, 0.25, 0.5, 0.5):
    //   g_cx = -0.05 / 0.05 = -1, g_cy = -1, g_w = g_h = 5 log(0.4) = -4.581454.
    expectRow(m.locTargets, 0, [-1, -1, 5 * Math.log(0.4), 5 * Math.log(0.4)]);
  });

  it('two objects with the same best prior: the later one in the list wins it', () => {
    // a = xy (0, 0, 0.5, 0.5): IoU 1 with P0. b = xy (0, 0, 0.4, 0.4): IoU 0.16 / 0.25 = 0.64 with P0.
    // Both overlap nothing else. Step 1 gives P0 to a (1 > 0.64), but the forced assignment runs
    // over the objects in order and b, coming later, overwrites it. a is left with no prior.
    const a = [0, 0, 0.5, 0.5];
    const b = [0, 0, 0.4, 0.4];
    const ab = matchPriors(f64([a, b]), [1, 2], f64(TILES));
    expect(Array.from(ab.classTargets)).to.deep.equal([2, 0, 0, 0]);
    expect(ab.nPositives).to.equal(1);
    // b = cxcy (0.2, 0.2, 0.4, 0.4) on P0: (-1, -1, 5 log 0.8, 5 log 0.8) = (-1, -1, -1.115718, -1.115718).
    expectRow(ab.locTargets, 0, [-1, -1, 5 * Math.log(0.8), 5 * Math.log(0.8)]);

    // The other order: a is later, and takes P0 back.
    const ba = matchPriors(f64([b, a]), [2, 1], f64(TILES));
    expect(Array.from(ba.classTargets)).to.deep.equal([1, 0, 0, 0]);
    expectRow(ba.locTargets, 0, [0, 0, 0, 0]);
  });

  it('the threshold is a parameter: >= threshold is positive', () => {
    // b = xy (0, 0, 0.4, 0.4) has IoU 0.64 with P0 and 0 elsewhere; P0 is forced anyway, so use
    // a second object to see the threshold: d = xy (0.5, 0, 1, 0.4), IoU 0.8 with P1 (forced).
    // Add prior P4 = xy (0.5, 0, 1, 0.45), IoU with d = 0.2 / 0.225 = 0.888..., best prior of d now;
    // P1 (0.8) is then positive only if 0.8 >= threshold.
    // (0.75 and 0.85, not 0.8 itself: 0.2 / 0.25 in floating point need not be exactly 0.8.)
    const priors = f64([...TILES, [0.75, 0.225, 0.5, 0.45]]);
    const d = f64([[0.5, 0, 1, 0.4]]);
    expect(Array.from(matchPriors(d, [1], priors, 0.5).classTargets)).to.deep.equal([0, 1, 0, 0, 1]);
    expect(Array.from(matchPriors(d, [1], priors, 0.75).classTargets)).to.deep.equal([0, 1, 0, 0, 1]);
    expect(Array.from(matchPriors(d, [1], priors, 0.85).classTargets)).to.deep.equal([0, 0, 0, 0, 1]);
  });

  it('an image with no objects: all background, no positives, zero targets', () => {
    const m = matchPriors(zeros([0, 4], 'float64'), [], f64(TILES));
    expect(Array.from(m.classTargets)).to.deep.equal([0, 0, 0, 0]);
    expect(m.nPositives).to.equal(0);
    expect(Array.from(m.locTargets.data)).to.deep.equal(new Array(16).fill(0));
  });

  describe('bad input is an error that names the image and the box', () => {
    const priors = f64(TILES);
    const good = [0.1, 0.1, 0.3, 0.3];
    it('zero width', () => {
      expect(() => matchPriors(f64([good, [0.2, 0.2, 0.2, 0.5]]), [1, 1], priors, 0.5, 3)).to.throw(/image 3: box 1 .*width 0 .*must be positive/);
    });
    it('inverted (negative height)', () => {
      expect(() => matchPriors(f64([[0.2, 0.6, 0.4, 0.5]]), [1], priors)).to.throw(/box 0 \(0\.2, 0\.6, 0\.4, 0\.5\) has width 0\.2.* and height -0\.0999/);
    });
    it('non-finite coordinates', () => {
      expect(() => matchPriors(f64([good, [0.1, NaN, 0.3, 0.3]]), [1, 1], priors, 0.5, 0)).to.throw(/image 0: box 1 .*non-finite/);
      expect(() => matchPriors(f64([[0.1, 0.1, Infinity, 0.3]]), [1], priors)).to.throw(/box 0 .*non-finite/);
    });
    it('a label below 1 (0 is background) or not an integer', () => {
      expect(() => matchPriors(f64([good]), [0], priors, 0.5, 2)).to.throw(/image 2: box 0 has label 0/);
      expect(() => matchPriors(f64([good]), [1.5], priors)).to.throw(/label 1\.5/);
    });
    it('labels and boxes of different lengths, boxes not (n, 4), a bad threshold', () => {
      expect(() => matchPriors(f64([good]), [1, 2], priors)).to.throw(/1 boxes but 2 labels/);
      expect(() => matchPriors(fromArray([[0.1, 0.1, 0.3]], 'float64'), [1], priors)).to.throw(/\(n_objects, 4\)/);
      expect(() => matchPriors(f64([good]), [1], priors, 0)).to.throw(/threshold/);
    });
  });

  it('the real priors: a 0.1 x 0.1 box at a conv4_3 prior is matched to it (and its neighbours above 0.5)', () => {
    const priors = createPriors(); // (8732, 4)
    // conv4_3 cell (10, 20): centre ((20.5) / 38, (10.5) / 38); its ratio-1 prior is index
    // (10 * 38 + 20) * 4 = 1600, of size 0.1 x 0.1. A box exactly there has IoU 1 with it.
    const cx = 20.5 / 38;
    const cy = 10.5 / 38;
    const m = matchPriors(fromArray([[cx - 0.05, cy - 0.05, cx + 0.05, cy + 0.05]]), [5], priors);
    expect(m.classTargets[1600]).to.equal(5);
    expect(m.locTargets.dtype).to.equal('float32');
    for (const v of row(m.locTargets, 1600)) expect(Math.abs(v)).to.be.below(1e-5);
    // Its ratio-2 and 0.5 priors (0.1414 x 0.0707, area 0.01): IoU 0.00707 / 0.01293 = 0.547, positive too.
    // (Its extra prior, a sqrt(0.02) = 0.1414 square, has IoU 0.01 / 0.02 = 0.5 exactly: too close
    // to call in float32, so it is not tested.)
    expect([m.classTargets[1602], m.classTargets[1603]]).to.deep.equal([5, 5]);
    // The ratio-1 priors of the neighbouring cells, shifted by 1/38: IoU 0.0737 / 0.1263 = 0.583.
    expect([m.classTargets[1596], m.classTargets[1604], m.classTargets[1600 - 38 * 4], m.classTargets[1600 + 38 * 4]]).to.deep.equal([5, 5, 5, 5]);
    expect(m.nPositives).to.be.greaterThan(4);
  });
});

describe('ssd/matching: the matched object and overlap of each prior, against PyTorch (spec/fixtures/matching.json)', () => {
  // Made by scripts/make_ssd_fixtures.py (run by hand, output committed): the tutorial's matching
  // in float64 on the real 8732 priors. In float64 our overlaps and PyTorch's are the same IEEE
  // operations in the same order, so they must agree exactly, ties included.
  interface FixtureImage {
    why: string;
    boxes: number[][];
    labels: number[];
    object_for_prior: number[];
    overlap_for_prior: { rows: number[]; data: number[] };
    prior_for_object: number[];
    n_positives: number;
    positive_rows: number[];
  }
  const file = path.join(__dirname, '..', '..', '..', 'spec', 'fixtures', 'matching.json');
  const fixture = JSON.parse(fs.readFileSync(file, 'utf8')) as { threshold: number; images: FixtureImage[] };
  const priors = createPriors('float64'); // (8732, 4)

  for (const image of fixture.images) {
    it(image.why, () => {
      const m = matchPriors(f64(image.boxes), image.labels, priors, fixture.threshold);
      expect(Array.from(m.objectForPrior), 'objectForPrior').to.deep.equal(image.object_for_prior);
      expect(Array.from(m.priorForObject), 'priorForObject').to.deep.equal(image.prior_for_object);
      const expected = new Float64Array(priors.shape[0]); // (8732), 0 where the fixture stores nothing
      image.overlap_for_prior.rows.forEach((p, k) => (expected[p] = image.overlap_for_prior.data[k]));
      for (let p = 0; p < expected.length; p++) expect(m.overlapForPrior[p], `overlap of prior ${p}`).to.equal(expected[p]);
      expect(m.nPositives).to.equal(image.n_positives);
      const positives = Array.from(m.classTargets.keys()).filter((p) => m.classTargets[p] !== 0);
      expect(positives).to.deep.equal(image.positive_rows);
      // Every forced prior (a best prior that its object kept) has overlap exactly 1.
      image.prior_for_object.forEach((p, o) => {
        if (m.objectForPrior[p] === o) expect(m.overlapForPrior[p]).to.equal(1);
      });
    });
  }

  it('the cases are the ones named: a forced match below 0.5, a shared best prior, exact ties', () => {
    const [thin, shared, twins] = fixture.images.map((image) => matchPriors(f64(image.boxes), image.labels, priors));
    // The thin box's forced prior overlaps it by less than 0.5: only the forcing makes it positive.
    const thinPrior = thin.priorForObject[0];
    const realOverlap = jaccardOverlap(f64([fixture.images[0].boxes[0]]), cxcyToXy(priors)).data[thinPrior];
    expect(realOverlap).to.be.below(0.5);
    expect(thin.overlapForPrior[thinPrior]).to.equal(1);
    expect(thin.classTargets[thinPrior]).to.equal(fixture.images[0].labels[0]);
    // Both objects' best prior is 1600; the later object owns it.
    expect(Array.from(shared.priorForObject)).to.deep.equal([1600, 1600]);
    expect(shared.objectForPrior[1600]).to.equal(1);
    // Identical boxes: every prior takes the first of the two (a tie), except the forced one, which goes to the second.
    const forced = twins.priorForObject[1];
    expect(twins.objectForPrior[forced]).to.equal(1);
    for (let p = 0; p < priors.shape[0]; p++) if (p !== forced) expect(twins.objectForPrior[p]).to.not.equal(1);
  });

  it('an image without objects: no object (-1) and overlap 0 for every prior', () => {
    const m = matchPriors(zeros([0, 4], 'float64'), [], f64(TILES));
    expect(Array.from(m.objectForPrior)).to.deep.equal([-1, -1, -1, -1]);
    expect(Array.from(m.overlapForPrior)).to.deep.equal([0, 0, 0, 0]);
    expect(m.priorForObject.length).to.equal(0);
  });
});
