import { expect } from 'chai';
import { conv2dGeometry, outputLength, pool2dGeometry } from '../../kernels/geometry';

describe('kernels/geometry', () => {
  describe('every SSD300 geometry', () => {
    const conv = (size: number, k: number, s: number, p: number, d: number): number => outputLength(size, k, s, p, d);
    it('3x3 stride 1 pad 1 keeps the size (300 -> 300, 38 -> 38)', () => {
      expect(conv(300, 3, 1, 1, 1)).to.equal(300);
      expect(conv(38, 3, 1, 1, 1)).to.equal(38);
    });
    it('1x1 keeps the size (19 -> 19)', () => expect(conv(19, 1, 1, 0, 1)).to.equal(19));
    it('conv6: 3x3 dilation 6 pad 6 keeps 19', () => expect(conv(19, 3, 1, 6, 6)).to.equal(19));
    it('conv8_2 and conv9_2: 3x3 stride 2 pad 1 gives 19 -> 10 and 10 -> 5', () => {
      expect(conv(19, 3, 2, 1, 1)).to.equal(10);
      expect(conv(10, 3, 2, 1, 1)).to.equal(5);
    });
    it('conv10_2 and conv11_2: 3x3 valid gives 5 -> 3 and 3 -> 1', () => {
      expect(conv(5, 3, 1, 0, 1)).to.equal(3);
      expect(conv(3, 3, 1, 0, 1)).to.equal(1);
    });
    it('pool1, pool2, pool4: 2x2 stride 2 gives 300 -> 150 -> 75 and 38 -> 19', () => {
      expect(outputLength(300, 2, 2, 0, 1)).to.equal(150);
      expect(outputLength(150, 2, 2, 0, 1)).to.equal(75);
      expect(outputLength(38, 2, 2, 0, 1)).to.equal(19);
    });
    it("pool3: 2x2 stride 2 in ceil mode gives 75 -> 38 (floor would give 37)", () => {
      expect(outputLength(75, 2, 2, 0, 1, true)).to.equal(38);
      expect(outputLength(75, 2, 2, 0, 1, false)).to.equal(37);
    });
    it('pool5: 3x3 stride 1 pad 1 keeps 19', () => expect(outputLength(19, 3, 1, 1, 1)).to.equal(19));
  });

  it('ceil mode drops a last window that would start in the right padding (PyTorch rule)', () => {
    // in 5, k 2, s 2, pad 1: ceil((5 + 2 - 2) / 2) + 1 = 4, but window 3 starts at 3*2 - 1 = 5 >= 5:
    // it would hold only padding, so the output is 3.
    expect(outputLength(5, 2, 2, 1, 1, true)).to.equal(3);
    expect(outputLength(6, 2, 2, 1, 1, true)).to.equal(4);
  });

  it('conv2dGeometry names the layer and both shapes when channels differ', () => {
    expect(() => conv2dGeometry([1, 3, 8, 8], [4, 2, 3, 3], {}, 'conv1_1')).to.throw(
      'conv1_1: input (1, 3, 8, 8) has 3 channels but weight (4, 2, 3, 3) expects 2',
    );
    expect(() => conv2dGeometry([1, 3, 8], [4, 3, 3, 3], {})).to.throw(/input must be \(N, C, H, W\), got \(1, 3, 8\)/);
    expect(() => conv2dGeometry([1, 3, 2, 2], [4, 3, 3, 3], {}, 'conv10_2')).to.throw(/conv10_2: input \(1, 3, 2, 2\) is too small/);
    expect(() => conv2dGeometry([1, 3, 8, 8], [4, 3, 3, 3], { stride: 0 })).to.throw(/strideH must be a positive integer/);
  });

  it('pool2dGeometry rejects padding over half the window', () => {
    expect(() => pool2dGeometry([1, 1, 4, 4], { kernelSize: 2, padding: 2 })).to.throw(/padding \(2, 2\) must be between 0 and half/);
    const g = pool2dGeometry([2, 3, 75, 75], { kernelSize: 2, stride: 2, ceilMode: true });
    expect([g.outH, g.outW]).to.deep.equal([38, 38]);
  });
});
