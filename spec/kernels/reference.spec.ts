// Hand-worked cases for the reference kernels, named after their configuration, and property
// tests that hold whatever the numbers. (PyTorch-generated cases are in pytorch_golden.spec.ts.)

import { expect } from 'chai';
import { Tensor } from '../../tensor/tensor';
import { fromArray, fromFlat, full, ones, zeros } from '../../tensor/create';
import { Rng, randNormal } from '../../tensor/random';
import { add, allFinite, sliceBatch } from '../../tensor/ops';
import {
  conv2dBackwardBias,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dForward,
  l2NormBackward,
  l2NormForward,
  maxPool2dBackward,
  maxPool2dForward,
  reluBackward,
  reluForward,
} from '../../kernels/cpu/reference';
import { expectClose } from '../helpers/gradcheck';

/** x (1, 1, 3, 3) holding 1..9 row by row. */
const oneToNine = (): Tensor => fromFlat([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);

// Sums of the 3x3 neighbourhoods of 1..9 with zero padding, worked by hand:
// (0,0): 1+2+4+5 = 12, (0,1): 1+2+3+4+5+6 = 21, (1,1): 1+...+9 = 45, and so on.
const neighbourhoodSums = [
  [12, 21, 16],
  [27, 45, 33],
  [24, 39, 28],
];

describe('kernels/cpu/reference: conv2d', () => {
  it('x=[1,2,2,2] w=[1,2,1,1] (1x1): y = 2*x0 - x1 + 0.5', () => {
    const x = fromArray([[[[1, 2], [3, 4]], [[10, 20], [30, 40]]]]);
    const w = fromFlat([2, -1], [1, 2, 1, 1]);
    const b = fromFlat([0.5], [1]);
    const y = conv2dForward(x, w, b, {});
    expect(y.toArray()).to.deep.equal([[[[2 - 10 + 0.5, 4 - 20 + 0.5], [6 - 30 + 0.5, 8 - 40 + 0.5]]]]);
  });

  it('x=[1,1,3,3] w=ones(3x3) s=1 p=1: forward gives the neighbourhood sums', () => {
    const y = conv2dForward(oneToNine(), ones([1, 1, 3, 3]), null, { padding: 1 });
    expect(y.toArray()).to.deep.equal([[neighbourhoodSums]]);
  });

  it('x=[1,1,3,3] w=ones(3x3) s=1 p=1: backward to the input counts the windows covering each pixel', () => {
    // corners are covered by 4 windows, edges by 6, the centre by 9
    const dx = conv2dBackwardInput(ones([1, 1, 3, 3]), ones([1, 1, 3, 3]), [1, 1, 3, 3], { padding: 1 });
    expect(dx.toArray()).to.deep.equal([[[[4, 6, 4], [6, 9, 6], [4, 6, 4]]]]);
  });

  it('x=[1,1,3,3] w=[1,1,3,3] s=1 p=1: backward to the weights with dy = 1 gives the shifted sums', () => {
    // dw[ky][kx] = sum over outputs of x at the pixel that tap touched: tap (0,0) sees rows 0-1 and
    // columns 0-1 (1+2+4+5 = 12), and so on: the same table as the forward neighbourhood sums.
    const dw = conv2dBackwardWeight(ones([1, 1, 3, 3]), oneToNine(), [1, 1, 3, 3], { padding: 1 });
    expect(dw.toArray()).to.deep.equal([[neighbourhoodSums]]);
    expect(Array.from(conv2dBackwardBias(full([2, 1, 3, 3], 0.5)).data)).to.deep.equal([9]);
  });

  it('x=[1,1,3,3] w=ones(3x3) s=2 p=1 (conv8_2-like): keeps every other output', () => {
    const y = conv2dForward(oneToNine(), ones([1, 1, 3, 3]), null, { stride: 2, padding: 1 });
    expect(y.toArray()).to.deep.equal([[[[12, 16], [24, 28]]]]);
    // backward: only the 4 corner windows exist; the centre pixel is in all of them
    const dx = conv2dBackwardInput(ones([1, 1, 2, 2]), ones([1, 1, 3, 3]), [1, 1, 3, 3], { stride: 2, padding: 1 });
    expect(dx.toArray()).to.deep.equal([[[[1, 2, 1], [2, 4, 2], [1, 2, 1]]]]);
  });

  it('x=[1,1,4,4] w=ones(3x3) s=2 p=1: even input, 4 -> 2, and backward needs the input shape', () => {
    const x = fromFlat(Array.from({ length: 16 }, (_, i) => i), [1, 1, 4, 4]);
    const y = conv2dForward(x, ones([1, 1, 3, 3]), null, { stride: 2, padding: 1 });
    // each window covers rows and columns {2o-1, 2o, 2o+1} clipped to the input:
    // (0,0): 0+1+4+5 = 10, (0,1): 1+2+3+5+6+7 = 24, (1,0): 4+5+8+9+12+13 = 51, (1,1): 5+6+7+9+10+11+13+14+15 = 90
    expect(y.toArray()).to.deep.equal([[[[10, 24], [51, 90]]]]);
    // a 3x3 input also gives a 2x2 output: only inputShape tells backward which one it was
    const dx = conv2dBackwardInput(ones([1, 1, 2, 2]), ones([1, 1, 3, 3]), [1, 1, 4, 4], { stride: 2, padding: 1 });
    expect(dx.toArray()).to.deep.equal([[[[1, 2, 1, 1], [2, 4, 2, 2], [1, 2, 1, 1], [1, 2, 1, 1]]]]);
  });

  it('x=[1,1,3,3] w=ones(3x3) p=0 (conv10_2/conv11_2-like, valid): 3 -> 1, the sum of all', () => {
    const y = conv2dForward(oneToNine(), ones([1, 1, 3, 3]), fromFlat([1], [1]), {});
    expect(y.toArray()).to.deep.equal([[[[46]]]]);
  });

  it('x=[1,1,13,13] w=ones(3x3) d=6 p=6 (conv6-like): the centre output sums 9 pixels 6 apart', () => {
    const x = fromFlat(Array.from({ length: 169 }, (_, i) => i), [1, 1, 13, 13], 'float64');
    const y = conv2dForward(x, ones([1, 1, 3, 3], 'float64'), null, { dilation: 6, padding: 6 });
    expect(y.shape).to.deep.equal([1, 1, 13, 13]);
    // taps at rows {0, 6, 12} x columns {0, 6, 12}: pixel (r, c) holds 13r + c
    let centre = 0;
    for (const r of [0, 6, 12]) for (const c of [0, 6, 12]) centre += 13 * r + c;
    expect(y.get(0, 0, 6, 6)).to.equal(centre);
    // output (0, 0) only reaches taps (6,6), (6,12), (12,6), (12,12) of the padded input: pixels (0,0), (0,6), (6,0), (6,6)
    expect(y.get(0, 0, 0, 0)).to.equal(0 + 6 + 78 + 84);
  });

  it('a dilated 3x3 filter equals a 13x13 filter with zeros inserted (forward and both backwards)', () => {
    const rng = new Rng(7);
    const x = randNormal([1, 2, 15, 15], rng, 0, 1, 'float64');
    const w = randNormal([3, 2, 3, 3], rng, 0, 1, 'float64');
    const wide = zeros([3, 2, 13, 13], 'float64');
    for (let o = 0; o < 3; o++)
      for (let i = 0; i < 2; i++)
        for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) wide.set(w.get(o, i, ky, kx), o, i, 6 * ky, 6 * kx);
    const dilated = { dilation: 6, padding: 6 };
    const plain = { padding: 6 };
    const y = conv2dForward(x, w, null, dilated);
    expectClose(y, conv2dForward(x, wide, null, plain), 1e-12, 0, 'y');
    const dy = randNormal(y.shape, rng, 0, 1, 'float64');
    expectClose(conv2dBackwardInput(dy, w, x.shape, dilated), conv2dBackwardInput(dy, wide, x.shape, plain), 1e-12, 0, 'dx');
    const dw = conv2dBackwardWeight(dy, x, w.shape, dilated);
    const dwWide = conv2dBackwardWeight(dy, x, wide.shape, plain);
    for (let o = 0; o < 3; o++)
      for (let i = 0; i < 2; i++)
        for (let ky = 0; ky < 3; ky++)
          for (let kx = 0; kx < 3; kx++) expect(dw.get(o, i, ky, kx)).to.be.closeTo(dwWide.get(o, i, 6 * ky, 6 * kx), 1e-12);
  });

  it('the weight gradient of a batch of two is the sum of the single-image gradients', () => {
    const rng = new Rng(8);
    const x = randNormal([2, 3, 6, 5], rng, 0, 1, 'float64');
    const dy = randNormal([2, 4, 3, 3], rng, 0, 1, 'float64');
    const options = { stride: 2, padding: 1 };
    const both = conv2dBackwardWeight(dy, x, [4, 3, 3, 3], options);
    const first = conv2dBackwardWeight(sliceBatch(dy, 0, 1), sliceBatch(x, 0, 1), [4, 3, 3, 3], options);
    const second = conv2dBackwardWeight(sliceBatch(dy, 1, 2), sliceBatch(x, 1, 2), [4, 3, 3, 3], options);
    expectClose(both, add(first, second), 1e-12, 0, 'dw');
    const db = conv2dBackwardBias(dy);
    expectClose(db, add(conv2dBackwardBias(sliceBatch(dy, 0, 1)), conv2dBackwardBias(sliceBatch(dy, 1, 2))), 1e-12, 0, 'db');
  });

  it('forward and backward-to-input are adjoint: <conv(x), dy> = <x, conv_T(dy)>', () => {
    const rng = new Rng(9);
    const x = randNormal([2, 3, 7, 6], rng, 0, 1, 'float64');
    const w = randNormal([5, 3, 3, 3], rng, 0, 1, 'float64');
    for (const options of [{ padding: 1 }, { stride: 2, padding: 1 }, { dilation: 2, padding: 2 }, {}]) {
      const y = conv2dForward(x, w, null, options);
      const dy = randNormal(y.shape, rng, 0, 1, 'float64');
      const dx = conv2dBackwardInput(dy, w, x.shape, options);
      let lhs = 0;
      let rhs = 0;
      for (let i = 0; i < y.size; i++) lhs += y.data[i] * dy.data[i];
      for (let i = 0; i < x.size; i++) rhs += x.data[i] * dx.data[i];
      expect(lhs).to.be.closeTo(rhs, 1e-9 * Math.max(1, Math.abs(lhs)));
    }
  });

  it('a bias of the wrong shape and a dy of the wrong shape are errors naming both shapes', () => {
    expect(() => conv2dForward(zeros([1, 2, 4, 4]), zeros([3, 2, 3, 3]), zeros([2]), {})).to.throw(
      'conv2d forward: bias: expected shape (3), got (2)',
    );
    expect(() => conv2dBackwardInput(zeros([1, 3, 4, 4]), zeros([3, 2, 3, 3]), [1, 2, 4, 4], {})).to.throw(
      'conv2d backward (input): dy: expected shape (1, 3, 2, 2), got (1, 3, 4, 4)',
    );
  });
});

describe('kernels/cpu/reference: max pooling', () => {
  it('x=[1,1,4,4] k=2 s=2: the max of each 2x2 block, and backward routes to it', () => {
    const x = fromArray([[[[1, 5, 2, 0], [3, 4, 8, 1], [9, 0, 1, 1], [2, 2, 7, 3]]]]);
    const { y, argmax } = maxPool2dForward(x, { kernelSize: 2, stride: 2 });
    expect(y.toArray()).to.deep.equal([[[[5, 8], [9, 7]]]]);
    expect(Array.from(argmax)).to.deep.equal([1, 6, 8, 14]); // h * 4 + w
    const dx = maxPool2dBackward(fromArray([[[[10, 20], [30, 40]]]]), argmax, x.shape, { kernelSize: 2, stride: 2 });
    expect(dx.toArray()).to.deep.equal([[[[0, 10, 0, 0], [0, 0, 20, 0], [30, 0, 0, 0], [0, 0, 40, 0]]]]);
  });

  it('x=[1,1,5,5] k=2 s=2 ceil (pool3-like, odd size): 5 -> 3, the last windows are partial', () => {
    const x = fromFlat(Array.from({ length: 25 }, (_, i) => i), [1, 1, 5, 5]);
    const { y } = maxPool2dForward(x, { kernelSize: 2, stride: 2, ceilMode: true });
    // window (0,2) holds only column 4 of rows 0..1: max 9; window (2,2) holds only pixel (4,4) = 24
    expect(y.toArray()).to.deep.equal([[[[6, 8, 9], [16, 18, 19], [21, 23, 24]]]]);
    expect(maxPool2dForward(x, { kernelSize: 2, stride: 2 }).y.shape).to.deep.equal([1, 1, 2, 2]);
  });

  it('pool3: (1, 2, 75, 75) -> (1, 2, 38, 38) in ceil mode', () => {
    const { y } = maxPool2dForward(zeros([1, 2, 75, 75]), { kernelSize: 2, stride: 2, ceilMode: true });
    expect(y.shape).to.deep.equal([1, 2, 38, 38]);
  });

  it('x=[1,1,3,3] k=3 s=1 p=1 (pool5-like): overlapping windows, padding never wins', () => {
    const x = fromFlat([-1, -2, -3, -4, -5, -6, -7, -8, -9], [1, 1, 3, 3]);
    const { y, argmax } = maxPool2dForward(x, { kernelSize: 3, stride: 1, padding: 1 });
    // all values are negative: a zero-padded max would give 0 at the borders
    expect(y.toArray()).to.deep.equal([[[[-1, -1, -2], [-1, -1, -2], [-4, -4, -5]]]]);
    // the pixel -1 wins four windows: its gradients add up
    const dx = maxPool2dBackward(ones([1, 1, 3, 3]), argmax, x.shape, { kernelSize: 3, stride: 1, padding: 1 });
    expect(dx.toArray()).to.deep.equal([[[[4, 2, 0], [2, 1, 0], [0, 0, 0]]]]);
  });

  it('ties go to the first maximum in scan order, as in PyTorch', () => {
    const { argmax } = maxPool2dForward(fromArray([[[[7, 7], [7, 7]]]]), { kernelSize: 2 });
    expect(Array.from(argmax)).to.deep.equal([0]);
  });
});

describe('kernels/cpu/reference: L2 normalization', () => {
  it('a position holding (3, 4) across two channels has norm 5 and becomes scale * (0.6, 0.8)', () => {
    const x = fromFlat([3, 4], [1, 2, 1, 1], 'float64');
    const scale = fromFlat([20, 10], [2], 'float64');
    const { y, norm } = l2NormForward(x, scale, 1e-10);
    expect(norm.data[0]).to.be.closeTo(5, 1e-10); // sqrt(25 + 1e-10)
    expect(y.data[0]).to.be.closeTo(12, 1e-10);
    expect(y.data[1]).to.be.closeTo(8, 1e-10);
    // dy = (1, 0): dx = (20/5 - 3*(20*3)/125, -4*(20*3)/125) = (2.56, -1.92); dscale = (3/5, 0)
    const { dx, dscale } = l2NormBackward(fromFlat([1, 0], [1, 2, 1, 1], 'float64'), x, scale, norm);
    expect(dx.data[0]).to.be.closeTo(2.56, 1e-10);
    expect(dx.data[1]).to.be.closeTo(-1.92, 1e-10);
    expect(dscale.data[0]).to.be.closeTo(0.6, 1e-10);
    expect(dscale.data[1]).to.equal(0);
  });

  it('an all-zero position (common after ReLU) gives 0 and a finite gradient, never NaN', () => {
    const x = zeros([1, 4, 2, 2]);
    const scale = full([4], 20);
    const { y, norm } = l2NormForward(x, scale, 1e-10);
    expect(Array.from(y.data).every((v) => v === 0)).to.equal(true);
    const { dx, dscale } = l2NormBackward(ones([1, 4, 2, 2]), x, scale, norm);
    expect(allFinite(dx) && allFinite(dscale)).to.equal(true);
    // with x = 0 only the first term remains: scale * dy / sqrt(eps) = 20 / 1e-5
    expect(dx.data[0]).to.be.closeTo(2e6, 1);
  });
});

describe('kernels/cpu/reference: ReLU', () => {
  it('keeps positives, zeroes the rest, and lets the gradient through where y > 0', () => {
    const x = fromArray([-2, -0, 0, 0.5, 3]);
    const y = reluForward(x);
    expect(Array.from(y.data)).to.deep.equal([0, 0, 0, 0.5, 3]);
    const dx = reluBackward(fromArray([1, 2, 3, 4, 5]), y);
    expect(Array.from(dx.data)).to.deep.equal([0, 0, 0, 4, 5]);
  });
});
