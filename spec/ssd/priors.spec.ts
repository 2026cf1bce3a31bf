// The 8732 priors of SSD300: their count, their order, and the first and last prior of every
// feature map worked out by hand from the numerics contract (the priors are summarised in
// docs/step-by-step.md, step 3, and the checks against PyTorch in docs/numerics.md; both were the README's).

import { expect } from 'chai';
import { FEATURE_MAPS, boxesPerPosition, createPriors, priorCount, priorLocation } from '../../ssd/priors';
import { Tensor } from '../../tensor/tensor';

/** Prior `index` as [cx, cy, w, h]. */
function prior(priors: Tensor, index: number): number[] {
  return Array.from(priors.data.subarray(4 * index, 4 * index + 4));
}

/** Expect prior `index` to be (cx, cy, w, h), to float32 precision. */
function expectPrior(priors: Tensor, index: number, expected: number[]): void {
  const actual = prior(priors, index);
  expected.forEach((v, k) => {
    expect(actual[k], `prior ${index} [${'cx cy w h'.split(' ')[k]}]`).to.be.closeTo(v, 1e-7);
  });
}

describe('ssd/priors', () => {
  const priors = createPriors(); // (8732, 4)

  it('the table: six maps, 38/19/10/5/3/1, 4 or 6 boxes per position', () => {
    expect(FEATURE_MAPS.map((m) => m.name)).to.deep.equal(['conv4_3', 'conv7', 'conv8_2', 'conv9_2', 'conv10_2', 'conv11_2']);
    expect(FEATURE_MAPS.map((m) => m.size)).to.deep.equal([38, 19, 10, 5, 3, 1]);
    expect(FEATURE_MAPS.map((m) => m.scale)).to.deep.equal([0.1, 0.2, 0.375, 0.55, 0.725, 0.9]);
    expect(FEATURE_MAPS.map(boxesPerPosition)).to.deep.equal([4, 6, 6, 6, 4, 4]);
    // 0.333 exactly, not 1/3: the reference weights were trained with it.
    expect(FEATURE_MAPS[1].aspectRatios).to.deep.equal([1, 2, 3, 0.5, 0.333]);
    expect(Object.isFrozen(FEATURE_MAPS) && Object.isFrozen(FEATURE_MAPS[0])).to.equal(true);
  });

  it('count: 38*38*4 + 19*19*6 + 10*10*6 + 5*5*6 + 3*3*4 + 1*1*4 = 5776 + 2166 + 600 + 150 + 36 + 4 = 8732', () => {
    expect(priorCount()).to.equal(8732);
    expect(priors.shape).to.deep.equal([8732, 4]);
    expect(priors.dtype).to.equal('float32');
    expect(createPriors('float64').dtype).to.equal('float64');
  });

  it('every value is in [0, 1] and every prior has a positive size', () => {
    for (let p = 0; p < 8732; p++) {
      const [cx, cy, w, h] = prior(priors, p);
      for (const v of [cx, cy, w, h]) expect(v >= 0 && v <= 1, `prior ${p}`).to.equal(true);
      expect(w > 0 && h > 0, `prior ${p}`).to.equal(true);
    }
  });

  // Offsets of the maps: conv4_3 0, conv7 5776, conv8_2 7942, conv9_2 8542, conv10_2 8692, conv11_2 8728.
  const r2 = Math.sqrt(2);
  const r3 = Math.sqrt(3);
  const r333 = Math.sqrt(0.333);

  it('conv4_3 (38x38, s 0.1, ratios 1, 2, 0.5): priors 0..5775', () => {
    // Cell (0, 0): centre 0.5/38 = 0.0131579.
    const c = 0.5 / 38;
    expectPrior(priors, 0, [c, c, 0.1, 0.1]); // ratio 1
    expectPrior(priors, 1, [c, c, Math.sqrt(0.1 * 0.2), Math.sqrt(0.1 * 0.2)]); // extra: sqrt(0.02) = 0.141421
    expectPrior(priors, 2, [c, c, 0.1 * r2, 0.1 / r2]); // ratio 2: 0.141421 x 0.0707107
    expectPrior(priors, 3, [c, c, 0.1 / r2, 0.1 * r2]); // ratio 0.5: 0.0707107 x 0.141421
    // Cell (0, 1) follows: the column moves first.
    expectPrior(priors, 4, [1.5 / 38, c, 0.1, 0.1]);
    // Cell (1, 0) starts at 38 * 4 = 152.
    expectPrior(priors, 152, [c, 1.5 / 38, 0.1, 0.1]);
    // Last: cell (37, 37), centre 37.5/38 = 0.986842, ratio 0.5.
    expectPrior(priors, 5775, [37.5 / 38, 37.5 / 38, 0.1 * Math.sqrt(0.5), 0.1 / Math.sqrt(0.5)]);
  });

  it('conv7 (19x19, s 0.2, ratios 1, 2, 3, 0.5, 0.333): priors 5776..7941', () => {
    const c = 0.5 / 19; // 0.0263158
    expectPrior(priors, 5776, [c, c, 0.2, 0.2]);
    expectPrior(priors, 5777, [c, c, Math.sqrt(0.2 * 0.375), Math.sqrt(0.2 * 0.375)]); // sqrt(0.075) = 0.273861
    expectPrior(priors, 5778, [c, c, 0.2 * r2, 0.2 / r2]);
    expectPrior(priors, 5779, [c, c, 0.2 * r3, 0.2 / r3]); // 0.346410 x 0.115470
    expectPrior(priors, 5780, [c, c, 0.2 / r2, 0.2 * r2]);
    // Last: cell (18, 18), centre 18.5/19 = 0.973684, ratio 0.333: 0.2*sqrt(0.333) = 0.115412 wide,
    // 0.2/sqrt(0.333) = 0.346583 tall (with 1/3 it would be 0.346410).
    expectPrior(priors, 7941, [18.5 / 19, 18.5 / 19, 0.2 * r333, 0.2 / r333]);
    expect(prior(priors, 7941)[3]).to.be.closeTo(0.346583, 1e-6);
  });

  it('conv8_2 (10x10, s 0.375): priors 7942..8541', () => {
    expectPrior(priors, 7942, [0.05, 0.05, 0.375, 0.375]);
    expectPrior(priors, 7943, [0.05, 0.05, Math.sqrt(0.375 * 0.55), Math.sqrt(0.375 * 0.55)]); // sqrt(0.20625) = 0.454148
    expectPrior(priors, 7945, [0.05, 0.05, 0.375 * r3, 0.375 / r3]); // ratio 3: 0.649519 x 0.216506
    expectPrior(priors, 8541, [0.95, 0.95, 0.375 * r333, 0.375 / r333]); // 0.216398 x 0.649843
  });

  it('conv9_2 (5x5, s 0.55): priors 8542..8691', () => {
    expectPrior(priors, 8542, [0.1, 0.1, 0.55, 0.55]);
    expectPrior(priors, 8543, [0.1, 0.1, Math.sqrt(0.55 * 0.725), Math.sqrt(0.55 * 0.725)]); // sqrt(0.39875) = 0.631467
    expectPrior(priors, 8545, [0.1, 0.1, 0.55 * r3, 0.55 / r3]); // 0.952628 x 0.317543: under 1, not clamped
    expectPrior(priors, 8691, [0.9, 0.9, 0.55 * r333, 0.55 / r333]); // 0.317384 x 0.953103
  });

  it('conv10_2 (3x3, s 0.725): priors 8692..8727, ratio 2 clamped to width 1', () => {
    const c = 1 / 6;
    expectPrior(priors, 8692, [c, c, 0.725, 0.725]);
    expectPrior(priors, 8693, [c, c, Math.sqrt(0.725 * 0.9), Math.sqrt(0.725 * 0.9)]); // sqrt(0.6525) = 0.807775
    // Ratio 2: 0.725 * sqrt(2) = 1.025305 > 1 -> 1; height 0.725 / sqrt(2) = 0.512652.
    expectPrior(priors, 8694, [c, c, 1, 0.725 / r2]);
    // Last: cell (2, 2), centre 5/6, ratio 0.5: width 0.512652, height 1.025305 -> 1.
    expectPrior(priors, 8727, [5 / 6, 5 / 6, 0.725 / r2, 1]);
  });

  it('conv11_2 (1x1, s 0.9): priors 8728..8731, extra prior 1, ratios 2 and 0.5 clamped', () => {
    expectPrior(priors, 8728, [0.5, 0.5, 0.9, 0.9]);
    expectPrior(priors, 8729, [0.5, 0.5, 1, 1]); // the last map has no next scale: the extra prior is 1
    // Ratio 2: 0.9 * sqrt(2) = 1.272792 > 1 -> 1; 0.9 / sqrt(2) = 0.636396.
    expectPrior(priors, 8730, [0.5, 0.5, 1, 0.9 / r2]);
    expectPrior(priors, 8731, [0.5, 0.5, 0.9 / r2, 1]);
  });

  it('the clamp is in centre-size form: a clamped prior still reaches past the image edge', () => {
    // conv10_2 cell (0, 0), ratio 2: centre 1/6, width 1 -> x from -1/3 to 2/3.
    const [cx, , w] = prior(priors, 8694);
    expect(cx - w / 2).to.be.closeTo(-1 / 3, 1e-7);
  });

  it('float64 priors equal the float32 ones to float32 precision', () => {
    const p64 = createPriors('float64');
    for (let k = 0; k < p64.size; k++) expect(Math.fround(p64.data[k])).to.equal(priors.data[k]);
  });

  it('priorLocation: the map, cell and box of a prior index, worked by hand', () => {
    const at = (i: number): string => {
      const l = priorLocation(i);
      return `${l.map.name} ${l.row},${l.column} #${l.box}`;
    };
    expect(at(0)).to.equal('conv4_3 0,0 #0');
    expect(at(5)).to.equal('conv4_3 0,1 #1'); // 4 boxes per conv4_3 cell
    expect(at(38 * 4)).to.equal('conv4_3 1,0 #0');
    expect(at(5775)).to.equal('conv4_3 37,37 #3'); // 38 * 38 * 4 = 5776 conv4_3 priors
    expect(at(5776)).to.equal('conv7 0,0 #0');
    expect(at(5776 + 19 * 6 + 7)).to.equal('conv7 1,1 #1');
    expect(at(8731)).to.equal('conv11_2 0,0 #3');
    expect(() => priorLocation(8732)).to.throw(/0\.\.8731, got 8732/);
  });
});
