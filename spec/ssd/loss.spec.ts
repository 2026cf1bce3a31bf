// The MultiBox loss: its pieces, cases worked by hand on small prior sets, a finite-difference
// check of the gradient, and a golden comparison with PyTorch on the real 8732 priors.

import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';

import {
  ImageTargets,
  crossEntropyPerPrior,
  hardNegativeMask,
  multiboxLoss,
  smoothL1,
  smoothL1Grad,
} from '../../ssd/loss';
import { matchPriors } from '../../ssd/matching';
import { createPriors } from '../../ssd/priors';
import { fromArray, fromFlat, zeros } from '../../tensor/create';
import { allFinite, logSoftmax, sliceBatch } from '../../tensor/ops';
import { Rng, randNormal } from '../../tensor/random';
import { DType, Tensor } from '../../tensor/tensor';

const f64 = (rows: number[][]): Tensor => fromArray(rows, 'float64');

// Eight tiles of the image, 4 columns x 2 rows, each 0.25 wide and 0.5 tall; prior p = row * 4 + col:
//   P0 P1 P2 P3     (top row,    y 0..0.5)
//   P4 P5 P6 P7     (bottom row, y 0.5..1)
// A ground-truth box equal to a tile has IoU 1 with it and 0 with every other tile (they only
// touch), so it makes exactly that tile positive, with the regression target (0, 0, 0, 0).
const TILES: number[][] = [];
for (let row = 0; row < 2; row++) {
  for (let col = 0; col < 4; col++) TILES.push([(col + 0.5) / 4, (row + 0.5) / 2, 0.25, 0.5]);
}
const tileXy = (p: number): number[] => {
  const [cx, cy, w, h] = TILES[p];
  return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
};

/**
 * Scores for 2 classes that give prior p the softmax (bg[p], 1 - bg[p]): (log bg, log(1 - bg)).
 * A negative prior with background probability q then has cross-entropy -log q.
 */
function twoClassScores(bg: number[][]): Tensor {
  const data: number[] = [];
  for (const image of bg) for (const q of image) data.push(Math.log(q), Math.log(1 - q));
  return fromFlat(data, [bg.length, bg[0].length, 2], 'float64');
}

function expectRows(t: Tensor, image: number, width: number, expected: Record<number, number[]>): void {
  const nPriors = t.shape[1];
  for (let p = 0; p < nPriors; p++) {
    const want = expected[p] ?? new Array<number>(width).fill(0);
    for (let k = 0; k < width; k++) {
      expect(t.data[(image * nPriors + p) * width + k], `image ${image} prior ${p} [${k}]`).to.be.closeTo(want[k], 1e-12);
    }
  }
}

describe('ssd/loss', () => {
  describe('the pieces', () => {
    it('smoothL1 (beta 1): 0.5 x^2 inside |x| < 1, |x| - 0.5 outside; its derivative x, then sign(x)', () => {
      expect([0, 0.5, -0.5, 1, -2, 3].map(smoothL1)).to.deep.equal([0, 0.125, 0.125, 0.5, 1.5, 2.5]);
      expect([0, 0.5, -0.5, 1, -2, 3].map(smoothL1Grad)).to.deep.equal([0, 0.5, -0.5, 1, -1, 1]);
    });

    it('crossEntropyPerPrior: -log p(target) from log-probabilities', () => {
      const logProbs = logSoftmax(f64([[Math.log(0.2), Math.log(0.8)], [Math.log(0.6), Math.log(0.4)]]));
      const ce = crossEntropyPerPrior(logProbs, [1, 0]);
      expect(ce[0]).to.be.closeTo(-Math.log(0.8), 1e-15);
      expect(ce[1]).to.be.closeTo(-Math.log(0.6), 1e-15);
    });

    it('hardNegativeMask: the nNeg largest negative CEs, positives left out, ties to the lower index', () => {
      //         prior:  0    1  2    3  4  5
      const ce = [0.5, 2, 0.1, 3, 2, 1];
      const positives = [0, 0, 0, 1, 0, 0]; // prior 3 is positive: the largest CE, but not a negative
      expect(Array.from(hardNegativeMask(ce, positives, 2))).to.deep.equal([0, 1, 0, 0, 1, 0]);
      // Priors 1 and 4 tie at 2: with room for one, the lower index wins.
      expect(Array.from(hardNegativeMask(ce, positives, 1))).to.deep.equal([0, 1, 0, 0, 0, 0]);
      expect(Array.from(hardNegativeMask(ce, positives, 3))).to.deep.equal([0, 1, 0, 0, 1, 1]);
      // More wanted than there are negatives: all of them.
      expect(Array.from(hardNegativeMask(ce, positives, 100))).to.deep.equal([1, 1, 1, 0, 1, 1]);
      expect(Array.from(hardNegativeMask(ce, positives, 0))).to.deep.equal([0, 0, 0, 0, 0, 0]);
      expect(() => hardNegativeMask(ce, [0, 1], 1)).to.throw(/6 cross-entropies but 2/);
    });

    it('hardNegativeMask picks the same priors as ranking every negative (random CEs with many ties, every count)', () => {
      const rng = new Rng(7);
      for (const n of [1, 2, 7, 100, 1000]) {
        // CEs from a few values only, so that ties are everywhere
        const ce = Array.from({ length: n }, () => Math.floor(rng.uniform() * 5) / 4);
        const positives = Array.from({ length: n }, () => (rng.uniform() < 0.1 ? 1 : 0));
        const ranked = ce.map((_, p) => p).filter((p) => !positives[p]).sort((a, b) => ce[b] - ce[a] || a - b);
        for (const nNeg of [0, 1, 2, 3, Math.floor(n / 3), n - 1, n, n + 5]) {
          const expected = new Array(n).fill(0);
          for (const p of ranked.slice(0, Math.max(nNeg, 0))) expected[p] = 1;
          expect(Array.from(hardNegativeMask(ce, positives, nNeg)), `${n} priors, nNeg ${nNeg}`).to.deep.equal(expected);
        }
      }
    });
  });

  describe('worked by hand on 8 tiles, 2 classes', () => {
    // One image, one object equal to tile P1: P1 is the only positive, the 7 others are negatives.
    // Background probabilities of the negatives, so their cross-entropies are -log q:
    //   P0 0.9, P2 0.5, P3 0.8, P4 0.2, P5 0.6, P6 0.7, P7 0.4.
    // P1 (positive, class 1) gets background probability 0.5 too: p(class 1) = 0.5, cross-entropy log 2.
    const bg = [[0.9, 0.5, 0.5, 0.8, 0.2, 0.6, 0.7, 0.4]];
    const scores = twoClassScores(bg); // (1, 8, 2)
    const locs = zeros([1, 8, 4], 'float64'); // (1, 8, 4)
    // P1's predicted offsets; its target is (0, 0, 0, 0) since the object is the tile itself.
    // Smooth L1: 0.125 + 1.5 + 0 + 1.0 = 2.625, over 4 values: 0.65625.
    [0.5, -2, 0, 1.5].forEach((v, k) => locs.set(v, 0, 1, k));
    // The other priors' offsets are wild, and must not matter: they are not positives.
    for (const p of [0, 2, 3, 4, 5, 6, 7]) for (let k = 0; k < 4; k++) locs.set(7, 0, p, k);
    const targets: ImageTargets[] = [{ boxes: f64([tileXy(1)]), labels: [1] }];
    const priors = f64(TILES);

    it('3:1: the 3 hardest negatives (P4 0.2, P7 0.4, P2 0.5) count, the other 4 do not', () => {
      const r = multiboxLoss(locs, scores, targets, priors);
      // conf = (log 2 + log 5 + log 2.5 + log 2) / 1 = log 50 = 3.912023.
      expect(r.nPositives).to.equal(1);
      expect(r.confLoss).to.be.closeTo(Math.log(50), 1e-12);
      expect(r.locLoss).to.be.closeTo(0.65625, 1e-15);
      expect(r.loss).to.be.closeTo(Math.log(50) + 0.65625, 1e-12);
      // Had all 7 negatives counted: log 2 - log(0.9 * 0.5 * 0.8 * 0.2 * 0.6 * 0.7 * 0.4) = log 2 + 4.1921.
      expect(r.confLoss).to.be.below(Math.log(2) - Math.log(0.9 * 0.5 * 0.8 * 0.2 * 0.6 * 0.7 * 0.4) - 1);

      // dScores = softmax - onehot on P1 and the 3 mined negatives (n_pos = 1), 0 elsewhere.
      expectRows(r.dScores, 0, 2, { 1: [0.5, -0.5], 4: [-0.8, 0.8], 7: [-0.6, 0.6], 2: [-0.5, 0.5] });
      // dLocs = smoothL1'(0.5, -2, 0, 1.5) / (4 n_pos) = (0.5, -1, 0, 1) / 4 on P1 only.
      expectRows(r.dLocs, 0, 4, { 1: [0.125, -0.25, 0, 0.25] });
      expect(r.dLocs.dtype).to.equal('float64');
    });

    it('negPosRatio 1 keeps only P4; alpha 2 doubles the localization term and its gradient', () => {
      const r = multiboxLoss(locs, scores, targets, priors, { negPosRatio: 1, alpha: 2 });
      expect(r.confLoss).to.be.closeTo(Math.log(2) + Math.log(5), 1e-12);
      expect(r.locLoss).to.be.closeTo(0.65625, 1e-15);
      expect(r.loss).to.be.closeTo(Math.log(10) + 2 * 0.65625, 1e-12);
      expectRows(r.dScores, 0, 2, { 1: [0.5, -0.5], 4: [-0.8, 0.8] });
      expectRows(r.dLocs, 0, 4, { 1: [0.25, -0.5, 0, 0.5] });
    });

    it('float32 predictions give float32 gradients with the same values', () => {
      const r = multiboxLoss(locs.clone('float32'), scores.clone('float32'), targets, priors);
      expect(r.dLocs.dtype).to.equal('float32');
      expect(r.dScores.dtype).to.equal('float32');
      expect(r.loss).to.be.closeTo(Math.log(50) + 0.65625, 1e-6);
      expect(r.dScores.get(0, 4, 0)).to.be.closeTo(-0.8, 1e-7);
    });

    it('per image, not per batch: each image mines 3 x its own positives', () => {
      // Image A: as above, 1 positive (P1), 7 negatives; it mines 3: P4, P7, P2 (CE log 25 in all).
      // Image B: objects = tiles P0, P2, P5: 3 positives, 5 negatives (P1, P3, P4, P6, P7), all
      //   with background probability 0.5 (CE log 2 each). It wants 9 but has 5: all count.
      //   Its positives have p(class 1) = 0.5: CE log 2 each.
      // Batch: n_pos = 1 + 3 = 4, and
      //   conf = (4 log 2 [positives] + log 25 [A's 3] + 5 log 2 [B's 5]) / 4 = log(12800) / 4 = 2.366.
      // Pooling the negatives over the batch instead would take the 3 * 4 = 12 hardest of the 12
      // negatives, i.e. also A's easy ones (P0 0.9, P3 0.8, P5 0.6, P6 0.7), adding
      //   -log(0.9 * 0.8 * 0.6 * 0.7) / 4 = -log(0.3024) / 4 = 0.299.
      const bgB = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
      const batchScores = twoClassScores([bg[0], bgB]); // (2, 8, 2)
      const batchLocs = zeros([2, 8, 4], 'float64'); // all offsets 0 = all targets: loc loss 0
      const batchTargets: ImageTargets[] = [
        { boxes: f64([tileXy(1)]), labels: [1] },
        { boxes: f64([tileXy(0), tileXy(2), tileXy(5)]), labels: [1, 1, 1] },
      ];
      const r = multiboxLoss(batchLocs, batchScores, batchTargets, priors);
      expect(r.nPositives).to.equal(4);
      expect(r.locLoss).to.equal(0);
      expect(r.confLoss).to.be.closeTo(Math.log(12800) / 4, 1e-12);
      const pooled = (Math.log(12800) - Math.log(0.3024)) / 4;
      expect(r.confLoss).to.be.below(pooled - 0.29);
      // A's unmined negatives get no gradient; every prior of B does. The divisor is 4 for both.
      expectRows(r.dScores, 0, 2, { 1: [0.125, -0.125], 4: [-0.2, 0.2], 7: [-0.15, 0.15], 2: [-0.125, 0.125] });
      const half = [-0.125, 0.125]; // (0.5 - 1, 0.5) / 4 for a negative; (0.5, 0.5 - 1) / 4 for a positive
      expectRows(r.dScores, 1, 2, { 0: [0.125, -0.125], 2: [0.125, -0.125], 5: [0.125, -0.125], 1: half, 3: half, 4: half, 6: half, 7: half });
    });
  });

  describe('no positives', () => {
    it('a batch of images without objects: loss 0, zero gradients, no NaN', () => {
      const priors = createPriors(); // (8732, 4)
      const rng = new Rng(3);
      const locs = randNormal([2, 8732, 4], rng); // (2, 8732, 4)
      const scores = randNormal([2, 8732, 21], rng); // (2, 8732, 21)
      const empty = (): ImageTargets => ({ boxes: zeros([0, 4]), labels: [] });
      const r = multiboxLoss(locs, scores, [empty(), empty()], priors);
      expect([r.loss, r.locLoss, r.confLoss, r.nPositives]).to.deep.equal([0, 0, 0, 0]);
      expect(allFinite(r.dLocs) && allFinite(r.dScores)).to.equal(true);
      expect(r.dLocs.data.every((v) => v === 0) && r.dScores.data.every((v) => v === 0)).to.equal(true);
      expect(r.dScores.shape).to.deep.equal([2, 8732, 21]);
    });

    it('an image without objects beside one with: it contributes no positives and mines no negatives', () => {
      const scores = twoClassScores([[0.9, 0.5, 0.5, 0.8, 0.2, 0.6, 0.7, 0.4], new Array<number>(8).fill(0.1)]);
      const r = multiboxLoss(zeros([2, 8, 4], 'float64'), scores, [
        { boxes: f64([tileXy(1)]), labels: [1] },
        { boxes: zeros([0, 4], 'float64'), labels: [] },
      ], f64(TILES));
      expect(r.confLoss).to.be.closeTo(Math.log(50), 1e-12); // image 0 alone; image 1's hard negatives ignored
      expect(sliceBatch(r.dScores, 1, 2).data.every((v) => v === 0)).to.equal(true);
    });
  });

  describe('bad input', () => {
    const priors = f64(TILES);
    const targets: ImageTargets[] = [{ boxes: f64([tileXy(1)]), labels: [1] }];
    const locs = zeros([1, 8, 4], 'float64');
    const scores = zeros([1, 8, 3], 'float64');

    it('shapes that do not fit the priors or each other', () => {
      expect(() => multiboxLoss(zeros([1, 9, 4]), scores, targets, priors)).to.throw(/predLocs.*\(1, 9, 4\)/);
      expect(() => multiboxLoss(locs, zeros([2, 8, 3]), targets, priors)).to.throw(/predScores.*\(2, 8, 3\)/);
      expect(() => multiboxLoss(locs, zeros([1, 8, 1]), targets, priors)).to.throw(/1 classes/);
      expect(() => multiboxLoss(locs, scores, [...targets, ...targets], priors)).to.throw(/1 images of predictions but 2 of targets/);
    });

    it('a label that is not a class of the model, a degenerate box', () => {
      expect(() => multiboxLoss(locs, scores, [{ boxes: f64([tileXy(1)]), labels: [3] }], priors)).to.throw(/image 0, box 0 has label 3.*3 classes/);
      expect(() => multiboxLoss(locs, scores, [{ boxes: f64([[0.1, 0.1, 0.1, 0.2]]), labels: [1] }], priors)).to.throw(/image 0: box 0 .*width 0/);
    });

    it('non-finite predictions, or a loss that overflows, are errors that say so', () => {
      const nanScores = scores.clone();
      nanScores.set(NaN, 0, 5, 2);
      expect(() => multiboxLoss(locs, nanScores, targets, priors)).to.throw(/not be finite: predScores image 0, prior 5 holds NaN/);
      const infLocs = locs.clone();
      infLocs.set(-Infinity, 0, 6, 1);
      expect(() => multiboxLoss(infLocs, scores, targets, priors)).to.throw(/not be finite: predLocs image 0, prior 6/);
      const huge = locs.clone();
      for (let k = 0; k < 4; k++) huge.set(1e308, 0, 1, k); // P1 is the positive: 4 x 1e308 overflows
      expect(() => multiboxLoss(huge, scores, targets, priors)).to.throw(/loss is not finite/);
    });

    it('options out of range', () => {
      expect(() => multiboxLoss(locs, scores, targets, priors, { negPosRatio: 2.5 })).to.throw(/negPosRatio/);
      expect(() => multiboxLoss(locs, scores, targets, priors, { alpha: NaN })).to.throw(/alpha/);
      expect(() => multiboxLoss(locs, scores, targets, priors, { threshold: 1.5 })).to.throw(/threshold/);
    });
  });

  describe('gradient by central differences (float64)', () => {
    // 8 tiles plus 4 more priors of other shapes; 2 images, 3 classes, random predictions.
    const priors = f64([...TILES, [0.5, 0.5, 0.6, 0.6], [0.3, 0.3, 0.3, 0.5], [0.7, 0.6, 0.5, 0.3], [0.4, 0.7, 0.2, 0.2]]);
    const targets: ImageTargets[] = [
      { boxes: f64([[0.1, 0.05, 0.45, 0.5]]), labels: [2] },
      { boxes: f64([[0.55, 0.1, 0.95, 0.45], [0.2, 0.5, 0.6, 0.95]]), labels: [1, 2] },
    ];
    const rng = new Rng(11);
    const locs = randNormal([2, 12, 4], rng, 0, 1, 'float64'); // (2, 12, 4)
    const scores = randNormal([2, 12, 3], rng, 0, 1, 'float64'); // (2, 12, 3)

    it('the inputs are away from the kinks: no near-tie at the mining cut, no |diff| near 1', () => {
      // A finite difference across a kink would not see the derivative; make sure there is none.
      for (let i = 0; i < 2; i++) {
        const m = matchPriors(targets[i].boxes, targets[i].labels, priors, 0.5, i);
        const ce = crossEntropyPerPrior(logSoftmax(sliceBatch(scores, i, i + 1).reshape([12, 3])), m.classTargets);
        const mined = hardNegativeMask(ce, m.classTargets, 3 * m.nPositives);
        let minMined = Infinity;
        let maxLeft = -Infinity;
        for (let p = 0; p < 12; p++) {
          if (m.classTargets[p] !== 0) {
            for (let k = 0; k < 4; k++) expect(Math.abs(Math.abs(locs.get(i, p, k) - m.locTargets.get(p, k)) - 1)).to.be.above(1e-3);
          } else if (mined[p]) minMined = Math.min(minMined, ce[p]);
          else maxLeft = Math.max(maxLeft, ce[p]);
        }
        expect(m.nPositives).to.be.greaterThan(0);
        expect(maxLeft === -Infinity || minMined - maxLeft > 1e-3, `image ${i}: cut gap ${minMined - maxLeft}`).to.equal(true);
      }
    });

    it('dLocs and dScores match (L(x + h) - L(x - h)) / 2h for every entry', () => {
      const h = 1e-5;
      const r = multiboxLoss(locs, scores, targets, priors);
      expect(r.nPositives).to.be.greaterThan(1);
      const check = (values: Tensor, analytic: Tensor, name: string): void => {
        for (let k = 0; k < values.size; k++) {
          const saved = values.data[k];
          values.data[k] = saved + h;
          const plus = multiboxLoss(locs, scores, targets, priors).loss;
          values.data[k] = saved - h;
          const minus = multiboxLoss(locs, scores, targets, priors).loss;
          values.data[k] = saved;
          const numeric = (plus - minus) / (2 * h);
          expect(Math.abs(numeric - analytic.data[k]), `${name}[${k}]: analytic ${analytic.data[k]}, numeric ${numeric}`).to.be.below(1e-8);
        }
      };
      check(locs, r.dLocs, 'dLocs');
      check(scores, r.dScores, 'dScores');
    });
  });

  describe('golden: PyTorch, the tutorial\'s MultiBoxLoss with smooth L1 (spec/fixtures/multibox.json)', () => {
    // Made by scripts/make_ssd_fixtures.py (run by hand, output committed): 2 images, 3 + 2
    // hand-written objects, the 8732 real priors, 4 classes, seeded predictions rounded to 2
    // decimals, evaluated by PyTorch in float32 and in float64. The script made sure that no
    // discrete decision (match, threshold, mining cut, smooth L1 branch) is within rounding of
    // flipping, so both precisions and both implementations take the same ones.
    //
    // Tolerances, |ours - torch| <= atol + rtol * |torch|:
    // - float64: rtol 1e-12 on the losses, atol 1e-15 on the gradients. Same formulas in double;
    //   only the summation order differs.
    // - float32: PyTorch rounds every intermediate to float32, we compute in double and round the
    //   gradients once. Losses: rtol 1e-6 (sums of ~200 float32 cross-entropies of size ~5).
    //   Matched targets: atol 1e-5 (values up to ~10, a few float32 ulps). Gradients: atol 1e-8
    //   (values up to 1 / 55 = 0.018, float32 ulps there are ~2e-9).
    // Observed (printed with DEBUG_GOLDEN=1): float32 losses 8.5e-8 relative, targets 2.5e-7,
    // dLocs 1.2e-9, dScores 2.8e-9; float64 losses 8.1e-16 relative, targets 4.4e-16, gradients 1.1e-17.

    interface Sparse {
      rows: number[];
      data: number[];
    }
    interface Result {
      loss: number;
      loc_loss: number;
      conf_loss: number;
      n_positives: number[];
      positive_rows: number[];
      positive_labels: number[];
      positive_true_locs: number[];
      hard_negative_rows: number[];
      d_locs: Sparse;
      d_scores: Sparse;
    }
    interface Fixture {
      n_classes: number;
      threshold: number;
      neg_pos_ratio: number;
      alpha: number;
      n_priors: number;
      priors_column_sums: number[];
      boxes: number[][][];
      labels: number[][];
      pred_locs: { shape: number[]; data: number[] };
      pred_scores: { shape: number[]; data: number[] };
      float32: Result;
      float64: Result;
    }
    const file = path.join(__dirname, '..', '..', '..', 'spec', 'fixtures', 'multibox.json');
    const fixture = JSON.parse(fs.readFileSync(file, 'utf8')) as Fixture;
    const debug = process.env.DEBUG_GOLDEN === '1';

    it('both sides use the same priors', () => {
      const priors = createPriors();
      expect(fixture.n_priors).to.equal(8732);
      for (let k = 0; k < 4; k++) {
        let s = 0;
        for (let p = 0; p < 8732; p++) s += priors.data[4 * p + k];
        expect(s, `column ${k}`).to.be.closeTo(fixture.priors_column_sums[k], 1e-9);
      }
    });

    /** Compare a gradient with PyTorch's: the stored rows within atol, every other row exactly 0. */
    function compareSparse(actual: Tensor, expected: Sparse, width: number, atol: number, what: string): number {
      let maxDiff = 0;
      const stored = new Set(expected.rows);
      expected.rows.forEach((r, j) => {
        for (let k = 0; k < width; k++) {
          const d = Math.abs(actual.data[r * width + k] - expected.data[j * width + k]);
          if (!(d <= atol)) {
            throw new Error(`${what} row ${r} [${k}]: got ${actual.data[r * width + k]}, PyTorch ${expected.data[j * width + k]}`);
          }
          maxDiff = Math.max(maxDiff, d);
        }
      });
      const rows = actual.size / width;
      for (let r = 0; r < rows; r++) {
        if (stored.has(r)) continue;
        for (let k = 0; k < width; k++) {
          if (actual.data[r * width + k] !== 0) throw new Error(`${what} row ${r} [${k}]: got ${actual.data[r * width + k]}, PyTorch 0`);
        }
      }
      return maxDiff;
    }

    for (const dtype of ['float32', 'float64'] as DType[]) {
      const tol = dtype === 'float64' ? { loss: 1e-12, targets: 1e-12, grad: 1e-15 } : { loss: 1e-6, targets: 1e-5, grad: 1e-8 };

      it(`${dtype}: loss, locLoss, confLoss, the matching, the mined negatives and both gradients`, () => {
        const expected = dtype === 'float64' ? fixture.float64 : fixture.float32;
        const priors = createPriors(dtype);
        const locs = fromFlat(fixture.pred_locs.data, fixture.pred_locs.shape, dtype); // (2, 8732, 4)
        const scores = fromFlat(fixture.pred_scores.data, fixture.pred_scores.shape, dtype); // (2, 8732, 4)
        const targets: ImageTargets[] = fixture.boxes.map((b, i) => ({ boxes: fromArray(b, dtype), labels: fixture.labels[i] }));
        const options = { threshold: fixture.threshold, negPosRatio: fixture.neg_pos_ratio, alpha: fixture.alpha };

        const r = multiboxLoss(locs, scores, targets, priors, options);
        const rel = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);
        expect(rel(r.loss, expected.loss), 'loss').to.be.below(tol.loss);
        expect(rel(r.locLoss, expected.loc_loss), 'locLoss').to.be.below(tol.loss);
        expect(rel(r.confLoss, expected.conf_loss), 'confLoss').to.be.below(tol.loss);
        expect(r.nPositives).to.equal(expected.n_positives[0] + expected.n_positives[1]);

        // The matching, image by image: the same positives, labels and encoded targets.
        const nPriors = fixture.n_priors;
        let targetDiff = 0;
        const positiveRows: number[] = [];
        const labels: number[] = [];
        targets.forEach((t, i) => {
          const m = matchPriors(t.boxes, t.labels, priors, fixture.threshold, i);
          expect(m.nPositives, `image ${i} positives`).to.equal(expected.n_positives[i]);
          for (let p = 0; p < nPriors; p++) {
            if (m.classTargets[p] === 0) continue;
            const j = positiveRows.length;
            positiveRows.push(i * nPriors + p);
            labels.push(m.classTargets[p]);
            for (let k = 0; k < 4; k++) {
              targetDiff = Math.max(targetDiff, Math.abs(m.locTargets.data[4 * p + k] - expected.positive_true_locs[4 * j + k]));
            }
          }
        });
        expect(positiveRows).to.deep.equal(expected.positive_rows);
        expect(labels).to.deep.equal(expected.positive_labels);
        expect(targetDiff, 'matched targets').to.be.below(tol.targets);

        // The mined negatives: the rows of dScores that are not positives and not zero.
        const positives = new Set(positiveRows);
        const mined: number[] = [];
        for (let row = 0; row < 2 * nPriors; row++) {
          if (positives.has(row)) continue;
          const c = fixture.n_classes;
          if (r.dScores.data.subarray(row * c, (row + 1) * c).some((v) => v !== 0)) mined.push(row);
        }
        expect(mined).to.deep.equal(expected.hard_negative_rows);

        expect(r.dLocs.dtype).to.equal(dtype);
        const locDiff = compareSparse(r.dLocs, expected.d_locs, 4, tol.grad, 'dLocs');
        const scoreDiff = compareSparse(r.dScores, expected.d_scores, fixture.n_classes, tol.grad, 'dScores');
        if (debug) {
          // eslint-disable-next-line no-console
          console.log(`      ${dtype}: loss rel diff ${rel(r.loss, expected.loss).toExponential(2)}, conf ${rel(r.confLoss, expected.conf_loss).toExponential(2)}, ` +
            `loc ${rel(r.locLoss, expected.loc_loss).toExponential(2)}; targets ${targetDiff.toExponential(2)}; ` +
            `dLocs ${locDiff.toExponential(2)}, dScores ${scoreDiff.toExponential(2)}`);
        }
      });
    }
  });
});
