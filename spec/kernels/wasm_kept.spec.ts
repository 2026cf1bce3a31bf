// The 'wasm' backend keeps the Winograd filter transform U of a weight tensor between calls
// (kernels/wasm/index.ts, keptFilterTransform): from the third call with the same version of the
// weights on, U is kept, and read instead of made at the calls after. What must hold:
// - the outputs are the same bits whether U was made in the call, made into the kept block, or read
//   from it (forward and the input gradient, which keep their own, flipped, U);
// - a change of the weights through the library (the optimizer's step, loadStateDict,
//   Tensor.changed()) is seen at the next call: the output is that of a backend that never kept
//   anything, and the old block goes back;
// - training (forward, step, forward, ...) keeps nothing; keptTransformBytes 0 keeps nothing, and
//   the limit is kept.
// The GEMM's packed weights (convolveInto) are kept the same way, and the same must hold for them.

import { expect } from 'chai';
import { expectSameTensor } from '../helpers/same_bits';
import { Tensor } from '../../tensor/tensor';
import { Rng, randNormal } from '../../tensor/random';
import { WasmKernels } from '../../kernels/wasm';
import { planWinograd, recommendedWinogradTile } from '../../kernels/wasm/winograd';
import { packedAFloats } from '../../kernels/wasm/conv';
import { conv2dGeometry } from '../../kernels/geometry';
import { Conv2d } from '../../layers/conv2d';
import { SGD } from '../../layers/sgd';
import { loadStateDict } from '../../layers/layer';

/** A copy of a tensor's values in ordinary memory (the backend's outputs are released below). */
function copy(t: Tensor): Tensor {
  return new Tensor(t.shape, Float32Array.from(t.data));
}

describe('kernels/wasm: Winograd filter transforms kept between calls', function () {
  this.timeout(120000);
  const rng = new Rng(7);
  // 24 -> 20 channels on 12 x 12 (F(2x2) by 'winograd'); the depth is one K block
  const x = randNormal([1, 24, 12, 12], rng);
  const w = randNormal([20, 24, 3, 3], rng, 0, 0.1);
  const b = randNormal([20], rng);
  const dy = randNormal([1, 20, 12, 12], rng);
  const options = { padding: 1 };
  /** U's bytes, forward or (flipped) the input gradient's, at the tile size the backend picks (F(2x2) on 12 x 12). */
  const uBytes = (flipped: boolean): number => {
    const g = flipped ? conv2dGeometry(dy.shape, [24, 20, 3, 3], options) : conv2dGeometry(x.shape, w.shape, options);
    expect(recommendedWinogradTile(g, 'forward')).to.equal(2);
    return 4 * planWinograd(g, 2, 2).uFloats;
  };

  /** y and dx of a backend that keeps nothing: what every call must give. */
  async function fresh(weights: Tensor): Promise<{ y: Tensor; dx: Tensor }> {
    const k = new WasmKernels({ threads: 2, convAlgorithm: 'winograd', keptTransformBytes: 0 });
    try {
      const y = copy(await k.conv2dForward(x, weights, b, options));
      const dx = copy(await k.conv2dBackwardInput(dy, weights, x.shape, options));
      expect(k.keptTransformBytesInUse).to.equal(0);
      return { y, dx };
    } finally {
      await k.dispose();
    }
  }

  it('forward and input gradient: the same bits on calls 1 and 2 (U made), 3 (U kept) and 4 (U read); each direction keeps its own U', async () => {
    const expected = await fresh(w);
    const k = new WasmKernels({ threads: 2, convAlgorithm: 'winograd' });
    try {
      for (let call = 1; call <= 4; call++) {
        expectSameTensor(await k.conv2dForward(x, w, b, options), expected.y, `y, call ${call}`);
        expectSameTensor(await k.conv2dBackwardInput(dy, w, x.shape, options), expected.dx, `dx, call ${call}`);
        expect(k.keptTransformBytesInUse, `kept after call ${call}`).to.equal(call < 3 ? 0 : uBytes(false) + uBytes(true));
      }
    } finally {
      await k.dispose();
    }
  });

  it('a change of the weights (Tensor.changed, the SGD step) is seen at the next call, and the old U goes back', async () => {
    const weights = copy(w);
    const k = new WasmKernels({ threads: 2, convAlgorithm: 'winograd' });
    try {
      for (let call = 0; call < 3; call++) await k.conv2dForward(x, weights, b, options);
      expect(k.keptTransformBytesInUse).to.equal(uBytes(false));
      // written by hand, then said
      weights.data[5] += 0.25;
      weights.changed();
      expectSameTensor(await k.conv2dForward(x, weights, b, options), (await fresh(weights)).y, 'y after changed()');
      expect(k.keptTransformBytesInUse, 'the stale U went back').to.equal(0);
      for (const call of ['made', 'kept', 'read']) expectSameTensor(await k.conv2dForward(x, weights, b, options), (await fresh(weights)).y, `y, U ${call} again`);
      expect(k.keptTransformBytesInUse).to.equal(uBytes(false));
      // the optimizer's step on this backend
      const gradient = randNormal(weights.shape, new Rng(3));
      await k.sgdStep(weights, gradient, null, { lr: -0.1, weightDecay: 0, momentum: 0, phase: 'none' });
      expectSameTensor(await k.conv2dForward(x, weights, b, options), (await fresh(weights)).y, 'y after sgdStep');
    } finally {
      await k.dispose();
    }
  });

  it('a Conv2d layer: loadStateDict is seen; training (forward, backward, SGD step, repeated) keeps nothing', async () => {
    const k = new WasmKernels({ threads: 2, convAlgorithm: 'winograd' });
    try {
      const conv = new Conv2d('conv', { inChannels: 24, outChannels: 20, kernelSize: 3, padding: 1, kernels: k });
      loadStateDict(conv, new Map([['weight', copy(w)], ['bias', copy(b)]]), 'spec');
      for (let call = 0; call < 3; call++) await conv.forward(x);
      expect(k.keptTransformBytesInUse).to.equal(uBytes(false));
      const other = randNormal(w.shape, new Rng(11), 0, 0.1);
      loadStateDict(conv, new Map([['weight', other], ['bias', copy(b)]]), 'spec');
      expectSameTensor(await conv.forward(x), (await fresh(other)).y, 'y after loadStateDict');

      const training = new Conv2d('conv', { inChannels: 24, outChannels: 20, kernelSize: 3, padding: 1, kernels: k });
      const before = k.keptTransformBytesInUse;
      const sgd = new SGD(training.parameters(), { lr: 0.01, momentum: 0.9, kernels: k });
      for (let step = 0; step < 4; step++) {
        sgd.zeroGrad();
        await training.forward(x);
        await training.backward(dy);
        await sgd.step();
      }
      expect(k.keptTransformBytesInUse, 'training keeps no U').to.equal(before);
    } finally {
      await k.dispose();
    }
  });

  it("the GEMM's packed weights: the same bits on calls 1 to 4 (3x3 and 1x1, forward and input gradient); a change is seen", async () => {
    const cases = [
      { name: '3x3', weights: w, options, packed: [packedAFloats(20, 24 * 9), packedAFloats(24, 20 * 9)] },
      { name: '1x1', weights: randNormal([20, 24, 1, 1], new Rng(5), 0, 0.2), options: {}, packed: [packedAFloats(20, 24), packedAFloats(24, 20)] },
    ];
    for (const c of cases) {
      const weights = copy(c.weights);
      const gemm = (keptTransformBytes?: number): WasmKernels => new WasmKernels({ threads: 2, convAlgorithm: 'gemm', keptTransformBytes });
      const expect1 = async (): Promise<{ y: Tensor; dx: Tensor }> => {
        const k = gemm(0);
        try {
          return { y: copy(await k.conv2dForward(x, weights, b, c.options)), dx: copy(await k.conv2dBackwardInput(dy, weights, x.shape, c.options)) };
        } finally {
          await k.dispose();
        }
      };
      const expected = await expect1();
      const k = gemm();
      try {
        for (let call = 1; call <= 4; call++) {
          expectSameTensor(await k.conv2dForward(x, weights, b, c.options), expected.y, `${c.name}: y, call ${call}`);
          expectSameTensor(await k.conv2dBackwardInput(dy, weights, x.shape, c.options), expected.dx, `${c.name}: dx, call ${call}`);
          expect(k.keptTransformBytesInUse, `${c.name}: kept after call ${call}`).to.equal(call < 3 ? 0 : 4 * (c.packed[0] + c.packed[1]));
        }
        weights.data[3] -= 0.5;
        weights.changed();
        const changed = await expect1();
        expectSameTensor(await k.conv2dForward(x, weights, b, c.options), changed.y, `${c.name}: y after changed()`);
        expectSameTensor(await k.conv2dBackwardInput(dy, weights, x.shape, c.options), changed.dx, `${c.name}: dx after changed()`);
        expect(k.keptTransformBytesInUse, `${c.name}: the stale blocks went back`).to.equal(0);
      } finally {
        await k.dispose();
      }
    }
  });

  it('keptTransformBytes: 0 keeps nothing; a limit below U keeps nothing and still gives the same bits', async () => {
    const expected = await fresh(w);
    for (const limit of [0, uBytes(false) - 1]) {
      const k = new WasmKernels({ threads: 2, convAlgorithm: 'winograd', keptTransformBytes: limit });
      try {
        for (let call = 1; call <= 3; call++) expectSameTensor(await k.conv2dForward(x, w, b, options), expected.y, `limit ${limit}: y, call ${call}`);
        expect(k.keptTransformBytesInUse).to.equal(0);
      } finally {
        await k.dispose();
      }
    }
    expect(() => new WasmKernels({ keptTransformBytes: -1 })).to.throw(/keptTransformBytes must be >= 0/);
  });
});
