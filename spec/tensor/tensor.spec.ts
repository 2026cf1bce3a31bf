import { expect } from 'chai';
import { Tensor, assertShape, sizeOf } from '../../tensor/tensor';
import { fromArray, fromFlat, full, ones, zeros } from '../../tensor/create';
import { Rng, randNormal, randUniform } from '../../tensor/random';
import { add, concat, div, dot, logSoftmax, mul, permute, scale, sliceBatch, softmax, split, sub, sum } from '../../tensor/ops';

describe('tensor/Tensor', () => {
  it('creates zeros, ones and constants of a shape in float32 by default', () => {
    const z = zeros([2, 3]);
    expect(z.dtype).to.equal('float32');
    expect(z.size).to.equal(6);
    expect(Array.from(z.data)).to.deep.equal([0, 0, 0, 0, 0, 0]);
    expect(Array.from(ones([2]).data)).to.deep.equal([1, 1]);
    expect(Array.from(full([3], 7, 'float64').data)).to.deep.equal([7, 7, 7]);
    expect(full([1], 0.1, 'float64').data[0]).to.equal(0.1); // no float32 rounding
    expect(sizeOf([])).to.equal(1);
  });

  it('reads a nested array and gives it back', () => {
    const t = fromArray([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).to.deep.equal([2, 3]);
    expect(t.get(1, 2)).to.equal(6);
    expect(t.toArray()).to.deep.equal([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(() => fromArray([[1, 2], [3]])).to.throw(/ragged/);
  });

  it('stores NCHW row-major: (n, c, h, w) is at ((n*C + c)*H + h)*W + w', () => {
    const t = fromFlat(Array.from({ length: 2 * 3 * 4 * 5 }, (_, i) => i), [2, 3, 4, 5]);
    expect(t.get(1, 2, 3, 4)).to.equal(((1 * 3 + 2) * 4 + 3) * 5 + 4);
    expect(() => t.get(0, 3, 0, 0)).to.throw(/out of bounds for shape \(2, 3, 4, 5\)/);
  });

  it('rejects data whose length does not fit the shape, naming both', () => {
    expect(() => new Tensor([2, 3], new Float32Array(5))).to.throw(/5 elements but shape \(2, 3\) needs 6/);
    expect(() => zeros([2, -1])).to.throw(/invalid shape/);
  });

  it('reshapes without copying, inferring one -1 dimension', () => {
    const t = fromFlat([1, 2, 3, 4, 5, 6], [2, 3]);
    const r = t.reshape([3, -1]);
    expect(r.shape).to.deep.equal([3, 2]);
    r.data[0] = 9;
    expect(t.data[0]).to.equal(9);
    expect(() => t.reshape([4, 2])).to.throw(/cannot reshape \(2, 3\)/);
    expect(() => t.reshape([4, -1])).to.throw(/cannot reshape/);
  });

  it('assertShape names the tensor and both shapes', () => {
    const t = zeros([1, 3, 300, 300]);
    expect(() => assertShape(t, [1, 3, 300, 300], 'image')).not.to.throw();
    expect(() => assertShape(t, [-1, 3, 300, 300], 'image')).not.to.throw();
    expect(() => assertShape(t, [1, 3, 512, 512], 'SSD300 input')).to.throw(
      'SSD300 input: expected shape (1, 3, 512, 512), got (1, 3, 300, 300)',
    );
  });
});

describe('tensor/random', () => {
  it('the same seed gives the same numbers, another seed others', () => {
    const a = randNormal([100], new Rng(42));
    const b = randNormal([100], new Rng(42));
    const c = randNormal([100], new Rng(43));
    expect(Array.from(a.data)).to.deep.equal(Array.from(b.data));
    expect(Array.from(a.data)).not.to.deep.equal(Array.from(c.data));
  });

  it('normal samples have mean ~0 and std ~1; uniform samples stay in [low, high)', () => {
    const n = randNormal([20000], new Rng(1), 0, 1, 'float64');
    const mean = sum(n) / n.size;
    const variance = dot(n, n) / n.size - mean * mean;
    expect(Math.abs(mean)).to.be.below(0.03);
    expect(Math.abs(Math.sqrt(variance) - 1)).to.be.below(0.03);
    const u = randUniform([20000], new Rng(2), -3, 5, 'float64');
    let min = Infinity;
    let max = -Infinity;
    for (const v of u.data) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).to.be.at.least(-3);
    expect(max).to.be.below(5);
    expect(sum(u) / u.size).to.be.closeTo(1, 0.1);
  });
});

describe('tensor/ops', () => {
  const a = fromArray([1, 2, 3]);
  const b = fromArray([4, 5, 6]);

  it('element-wise arithmetic', () => {
    expect(Array.from(add(a, b).data)).to.deep.equal([5, 7, 9]);
    expect(Array.from(sub(a, b).data)).to.deep.equal([-3, -3, -3]);
    expect(Array.from(mul(a, b).data)).to.deep.equal([4, 10, 18]);
    expect(Array.from(div(b, a).data)).to.deep.equal([4, 2.5, 2]);
    expect(Array.from(scale(a, 2).data)).to.deep.equal([2, 4, 6]);
    expect(dot(a, b)).to.equal(32);
  });

  it('a shape mismatch throws and names both shapes', () => {
    expect(() => add(a, zeros([2, 2]))).to.throw('add: shapes differ, (3) vs (2, 2)');
  });

  it('permute NCHW -> NHWC moves channels last', () => {
    // x (1, 2, 2, 3): channel 0 holds 0..5, channel 1 holds 10..15
    const x = fromFlat([0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15], [1, 2, 2, 3]);
    const y = permute(x, [0, 2, 3, 1]); // (1, 2, 3, 2)
    expect(y.shape).to.deep.equal([1, 2, 3, 2]);
    expect(Array.from(y.data)).to.deep.equal([0, 10, 1, 11, 2, 12, 3, 13, 4, 14, 5, 15]);
    expect(Array.from(permute(y, [0, 3, 1, 2]).data)).to.deep.equal(Array.from(x.data));
    expect(() => permute(x, [0, 1, 1, 2])).to.throw(/not a permutation/);
  });

  it('concat along axis 1 and split undo each other', () => {
    const p = fromArray([
      [1, 2],
      [3, 4],
    ]);
    const q = fromArray([[5], [6]]);
    const c = concat([p, q], 1);
    expect(c.toArray()).to.deep.equal([
      [1, 2, 5],
      [3, 4, 6],
    ]);
    const [p2, q2] = split(c, [2, 1], 1);
    expect(p2.toArray()).to.deep.equal(p.toArray());
    expect(q2.toArray()).to.deep.equal(q.toArray());
    expect(concat([p, q], 0 - 1).shape).to.deep.equal([2, 3]);
    expect(() => concat([p, fromArray([[1, 2, 3]])], 1)).to.throw(/tensor 1 has shape \(1, 3\), incompatible with \(2, 2\)/);
  });

  it('sliceBatch copies images [start, end)', () => {
    const x = fromFlat([0, 1, 2, 3, 4, 5], [3, 2]);
    expect(sliceBatch(x, 1, 3).toArray()).to.deep.equal([
      [2, 3],
      [4, 5],
    ]);
    expect(() => sliceBatch(x, 2, 4)).to.throw(/not inside a batch of 3/);
  });

  it('softmax of [0, log 2, log 3] is [1/6, 2/6, 3/6], and log-softmax its log', () => {
    const x = fromArray([[0, Math.log(2), Math.log(3)]], 'float64');
    const s = softmax(x);
    expect(s.data[0]).to.be.closeTo(1 / 6, 1e-15);
    expect(s.data[1]).to.be.closeTo(2 / 6, 1e-15);
    expect(s.data[2]).to.be.closeTo(3 / 6, 1e-15);
    const l = logSoftmax(x);
    for (let i = 0; i < 3; i++) expect(l.data[i]).to.be.closeTo(Math.log(s.data[i]), 1e-15);
  });

  it('softmax does not overflow on large scores and works along axis 1', () => {
    const x = fromArray([[1000, 1000]], 'float64');
    expect(Array.from(softmax(x).data)).to.deep.equal([0.5, 0.5]);
    expect(logSoftmax(x).data[0]).to.be.closeTo(-Math.log(2), 1e-12);
    // along axis 0 of a (2, 1) column
    const col = fromArray([[0], [0]], 'float64');
    expect(Array.from(softmax(col, 0).data)).to.deep.equal([0.5, 0.5]);
  });
});
