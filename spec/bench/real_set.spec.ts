// bench/real_set.ts's choice of photographs for --stamps-per-class: spread over a class's sorted
// list, the first always in, the same every time.

import { expect } from 'chai';
import { evenlySpread } from '../../bench/real_set';

describe('bench/real_set: evenlySpread (--stamps-per-class)', () => {
  it('takes count items spread evenly from the first; all of them when there are no more', () => {
    const items = Array.from({ length: 10 }, (_, i) => `stamp${i}`);
    expect(evenlySpread(items, 1)).to.deep.equal(['stamp0']);
    expect(evenlySpread(items, 2)).to.deep.equal(['stamp0', 'stamp5']);
    expect(evenlySpread(items, 4)).to.deep.equal(['stamp0', 'stamp2', 'stamp5', 'stamp7']);
    expect(evenlySpread(items, 10)).to.deep.equal(items);
    expect(evenlySpread(items, Infinity)).to.deep.equal(items);
    expect(evenlySpread([], 3)).to.deep.equal([]);
  });
});
