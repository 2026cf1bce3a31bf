// Finite-difference checks of every layer's input gradient and every parameter gradient, in
// float64 (see spec/helpers/gradcheck.ts for the method and the tolerance).

import { expect } from 'chai';
import { Rng, randNormal, randUniform } from '../../tensor/random';
import { zeros } from '../../tensor/create';
import { Conv2d } from '../../layers/conv2d';
import { ReLU } from '../../layers/relu';
import { MaxPool2d } from '../../layers/maxpool2d';
import { L2Norm } from '../../layers/l2norm';
import { Sequential } from '../../layers/sequential';
import { gradcheckLayer } from '../helpers/gradcheck';
import { Kernels } from '../../kernels/kernels';
import { referenceKernels } from '../../kernels/cpu/reference';
import { checked } from '../../kernels/checked';
import { WasmKernels } from '../../kernels/wasm';

const f64 = 'float64' as const;

describe('layers: finite-difference gradient checks (float64)', () => {
  const convCases = [
    { label: '1x1', kernelSize: 1, stride: 1, padding: 0, dilation: 1, size: [5, 4] },
    { label: '3x3 s=1 p=1', kernelSize: 3, stride: 1, padding: 1, dilation: 1, size: [5, 6] },
    { label: '3x3 s=2 p=1 (odd input)', kernelSize: 3, stride: 2, padding: 1, dilation: 1, size: [7, 5] },
    { label: '3x3 valid', kernelSize: 3, stride: 1, padding: 0, dilation: 1, size: [5, 5] },
    { label: '3x3 d=6 p=6', kernelSize: 3, stride: 1, padding: 6, dilation: 6, size: [9, 8] },
  ];
  for (const c of convCases) {
    it(`Conv2d ${c.label}: x=[2,3,${c.size.join(',')}] -> 4 channels, input, weight and bias`, async () => {
      const rng = new Rng(11);
      const conv = new Conv2d('conv', { inChannels: 3, outChannels: 4, kernelSize: c.kernelSize, stride: c.stride, padding: c.padding, dilation: c.dilation, rng, dtype: f64 });
      await gradcheckLayer(conv, randNormal([2, 3, c.size[0], c.size[1]], rng, 0, 1, f64));
    });
  }

  it('Conv2d without bias has only a weight', async () => {
    const rng = new Rng(12);
    const conv = new Conv2d('conv', { inChannels: 2, outChannels: 2, kernelSize: 3, padding: 1, bias: false, rng, dtype: f64 });
    expect(conv.namedParameters().map(([n]) => n)).to.deep.equal(['weight']);
    await gradcheckLayer(conv, randNormal([1, 2, 4, 4], rng, 0, 1, f64));
  });

  it('Conv2d with its ReLU fused (relu: true): input, weight and bias', async () => {
    const rng = new Rng(15);
    const conv = new Conv2d('conv', { inChannels: 3, outChannels: 4, kernelSize: 3, padding: 1, relu: true, rng, dtype: f64 });
    await gradcheckLayer(conv, randNormal([2, 3, 5, 6], rng, 0, 1, f64));
  });

  for (const [label, make] of [['the reference kernels', () => referenceKernels], ['wasm', () => checked(new WasmKernels({ threads: 2, minParallelFlops: 0 }), referenceKernels)]] as const) {
    it(`Conv2d with relu: true gives the outputs and gradients of a Conv2d followed by a ReLU layer, on ${label}`, async () => {
      const kernels: Kernels = make();
      const rng = new Rng(16);
      const x = randNormal([2, 6, 12, 10], rng);
      const dy = randNormal([2, 8, 12, 10], rng);
      const fused = new Conv2d('conv', { inChannels: 6, outChannels: 8, kernelSize: 3, padding: 1, relu: true, rng: new Rng(3), kernels });
      const plain = new Conv2d('conv', { inChannels: 6, outChannels: 8, kernelSize: 3, padding: 1, rng: new Rng(3), kernels });
      const relu = new ReLU('relu', { kernels });
      const y = await fused.forward(x);
      const expected = await relu.forward(await plain.forward(x));
      expect(Array.from(y.data), 'y').to.deep.equal(Array.from(expected.data));
      expect(y.data.some((v) => v === 0) && y.data.some((v) => v > 0), 'some units off, some on').to.equal(true);
      const dx = await fused.backward(dy);
      const want = await plain.backward(await relu.backward(dy));
      expect(Array.from(dx.data), 'dx').to.deep.equal(Array.from(want.data));
      expect(Array.from(fused.weight.grad.data), 'dweight').to.deep.equal(Array.from(plain.weight.grad.data));
      expect(Array.from(fused.bias!.grad.data), 'dbias').to.deep.equal(Array.from(plain.bias!.grad.data));
      // the first conv of a network stops at its parameters' gradients: they count the ReLU too
      fused.zeroGrad();
      await fused.parameterGradients(dy);
      expect(Array.from(fused.weight.grad.data), 'dweight from parameterGradients').to.deep.equal(Array.from(plain.weight.grad.data));
      await kernels.dispose();
    });
  }

  it('ReLU (inputs kept away from the kink at 0)', async () => {
    const rng = new Rng(13);
    const x = randNormal([2, 3, 4, 4], rng, 0, 1, f64);
    for (let i = 0; i < x.size; i++) if (Math.abs(x.data[i]) < 0.01) x.data[i] = 0.5;
    await gradcheckLayer(new ReLU('relu'), x);
  });

  for (const [label, options, size] of [
    ['2x2 s=2', { kernelSize: 2, stride: 2 }, [6, 6]],
    ['2x2 s=2 ceil (odd input)', { kernelSize: 2, stride: 2, ceilMode: true }, [7, 5]],
    ['3x3 s=1 p=1 (overlapping windows)', { kernelSize: 3, stride: 1, padding: 1 }, [5, 5]],
  ] as const) {
    it(`MaxPool2d ${label}`, async () => {
      // distinct values (a shuffled ramp) so that no window has a tie a small step could flip
      const rng = new Rng(14);
      const x = zeros([2, 2, size[0], size[1]], f64);
      const order = Array.from({ length: x.size }, (_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      for (let i = 0; i < x.size; i++) x.data[i] = order[i] * 0.1;
      await gradcheckLayer(new MaxPool2d('pool', options), x);
    });
  }

  it('L2Norm: input and rescale_factors, including an all-zero position', async () => {
    const rng = new Rng(15);
    const norm = new L2Norm('l2norm', { channels: 5, dtype: f64 });
    const x = randUniform([2, 5, 3, 3], rng, 0, 2, f64);
    // position (0, :, 1, 1) is zero in every channel, as happens after ReLU
    for (let c = 0; c < 5; c++) x.set(0, 0, c, 1, 1);
    // The gradient there is scale / sqrt(1e-10) = 2e6 and the function is not smooth at x = 0 on a
    // scale of h, so we check it with a one-sided look: the analytic value must be finite.
    norm.scale.value.data.set([20, 10, 5, 1, 0.5]);
    await gradcheckLayer(norm, x, { tolerance: 1e-6, skip: (name, i) => name === 'input' && isZeroPosition(i) });
  });

  it('Sequential conv -> relu -> pool -> L2Norm -> conv: the chain rule across layers', async () => {
    const rng = new Rng(16);
    const net = new Sequential('net', [
      new Conv2d('conv1', { inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1, rng, dtype: f64 }),
      new ReLU('relu1'),
      new MaxPool2d('pool1', { kernelSize: 2, stride: 2, ceilMode: true }),
      new L2Norm('norm', { channels: 3, dtype: f64 }),
      new Conv2d('conv2', { inChannels: 3, outChannels: 2, kernelSize: 1, rng, dtype: f64 }),
    ]);
    expect(net.namedParameters().map(([n]) => n)).to.deep.equal([
      'conv1.weight',
      'conv1.bias',
      'norm.rescale_factors',
      'conv2.weight',
      'conv2.bias',
    ]);
    await gradcheckLayer(net, randNormal([2, 2, 5, 5], rng, 0, 1, f64), { tolerance: 1e-6 });
  });
});

/** Flat indices of x (2, 5, 3, 3) at position (0, :, 1, 1). */
function isZeroPosition(i: number): boolean {
  const n = Math.floor(i / 45);
  const hw = i % 9;
  return n === 0 && hw === 4;
}
