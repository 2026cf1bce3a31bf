// Parameter: gradients accumulate, zeroGrad clears them, and the shortcut behind zeroGrad (a copy
// on the first accumulation instead of a clear and an add) is never visible.

import { expect } from 'chai';
import { fromArray } from '../../tensor/create';
import { Parameter } from '../../layers/layer';

describe('layers/Parameter: gradients', () => {
  it('accumulateGrad adds; zeroGrad clears; the first accumulation after zeroGrad gives the delta itself', () => {
    const p = new Parameter(fromArray([1, 2, 3]));
    expect(Array.from(p.grad.data)).to.deep.equal([0, 0, 0]);
    p.accumulateGrad(fromArray([0.5, -1, 2]));
    p.accumulateGrad(fromArray([0.25, 1, 1]));
    expect(Array.from(p.grad.data)).to.deep.equal([0.75, 0, 3]);
    p.zeroGrad();
    p.accumulateGrad(fromArray([4, 5, 6]));
    expect(Array.from(p.grad.data)).to.deep.equal([4, 5, 6]);
    p.accumulateGrad(fromArray([1, 1, 1]));
    expect(Array.from(p.grad.data)).to.deep.equal([5, 6, 7]);
  });

  it('after zeroGrad, reading grad sees zeros, and what is written there is added to', () => {
    const p = new Parameter(fromArray([1, 2]));
    p.accumulateGrad(fromArray([3, 4]));
    p.zeroGrad();
    expect(Array.from(p.grad.data)).to.deep.equal([0, 0]);
    p.grad.data[0] = 10; // a layer writing straight into the gradient (as BatchNorm2d does)
    p.accumulateGrad(fromArray([1, 1]));
    expect(Array.from(p.grad.data)).to.deep.equal([11, 1]);
  });

  it('refuses a gradient of another shape, naming both', () => {
    const p = new Parameter(fromArray([1, 2, 3]));
    expect(() => p.accumulateGrad(fromArray([1, 2]))).to.throw(/gradient of shape \(2\) for a parameter of shape \(3\)/);
  });
});
