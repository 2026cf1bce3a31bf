// exp and log with the same bits in every engine (tensor/exact_math.ts): within 1 and 2 ulps of
// V8's Math.exp and Math.log, and their edge cases.

import { expect } from 'chai';
import { exactExp, exactLog } from '../../tensor/exact_math';

/** Distance in units in the last place between two finite doubles of one sign. */
function ulps(a: number, b: number): number {
  const view = new DataView(new ArrayBuffer(16));
  view.setFloat64(0, a);
  view.setFloat64(8, b);
  return Math.abs(Number(view.getBigInt64(0) - view.getBigInt64(8)));
}

describe('tensor/exact_math: exp and log the same in every engine', () => {
  let seed = 1;
  const random = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };

  it('exactExp is within 1 ulp of Math.exp on [-30, 30] and the softmax range', () => {
    let worst = 0;
    for (let i = 0; i < 200000; i++) {
      const x = (random() - 0.5) * 60;
      worst = Math.max(worst, ulps(exactExp(x), Math.exp(x)));
    }
    expect(worst).to.be.at.most(1);
  });

  it('exactLog is within 2 ulps of Math.log from 1e-17 to 1e17, subnormals included', () => {
    let worst = 0;
    for (let i = 0; i < 200000; i++) {
      const x = Math.exp((random() - 0.5) * 80);
      worst = Math.max(worst, ulps(exactLog(x), Math.log(x)));
    }
    for (const x of [5e-324, 1e-310, 2.2250738585072014e-308, 1.7976931348623157e308]) worst = Math.max(worst, ulps(exactLog(x), Math.log(x)));
    expect(worst).to.be.at.most(2);
  });

  it('edge cases as Math has them', () => {
    expect(exactExp(0)).to.equal(1);
    expect(exactExp(-Infinity)).to.equal(0);
    expect(exactExp(Infinity)).to.equal(Infinity);
    expect(exactExp(710)).to.equal(Infinity);
    expect(exactExp(-746)).to.equal(0);
    expect(exactExp(NaN)).to.be.NaN;
    expect(exactLog(1)).to.equal(0);
    expect(exactLog(0)).to.equal(-Infinity);
    expect(exactLog(Infinity)).to.equal(Infinity);
    expect(exactLog(-1)).to.be.NaN;
    expect(exactLog(NaN)).to.be.NaN;
    expect(exactLog(2)).to.equal(Math.LN2);
  });
});
