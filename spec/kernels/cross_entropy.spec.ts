// The MultiBox loss's confidence term as kernels (kernels/cross_entropy.ts, Kernels.priorCrossEntropy
// and priorCrossEntropyGradient): by hand on two priors, every backend against the reference to the
// last bit (wasm on 1 and 2 threads), the checks, and the whole loss through a backend
// (multiboxLossOn) against the plain one (multiboxLoss), to the last bit.

import { expect } from 'chai';
import { Rng, randNormal } from '../../tensor/random';
import { fromArray } from '../../tensor/create';
import { Tensor } from '../../tensor/tensor';
import { Kernels } from '../../kernels/kernels';
import { referenceKernels } from '../../kernels/cpu/reference';
import { createKernels } from '../../kernels/select';
import { createPriors } from '../../ssd/priors';
import { ImageTargets, multiboxLoss, multiboxLossOn } from '../../ssd/loss';

function bits(a: ArrayLike<number>): number[] {
  return Array.from(a);
}

describe('kernels: the MultiBox confidence term (priorCrossEntropy, priorCrossEntropyGradient)', function () {
  this.timeout(120000);
  const backends: { name: string; kernels: Kernels }[] = [];
  before(async () => {
    backends.push({ name: 'wasm, 1 thread', kernels: await createKernels('wasm', { threads: 1 }) });
    backends.push({ name: 'wasm, 2 threads', kernels: await createKernels('wasm', { threads: 2 }) });
    backends.push({ name: 'cpu', kernels: await createKernels('cpu') });
  });
  after(async () => {
    for (const b of backends) await b.kernels.dispose();
  });

  it('by hand: two priors of two classes, scores (0, 0) and (0, ln 3)', async () => {
    const scores = fromArray([[[0, 0], [0, Math.log(3)]]], 'float64'); // (1, 2, 2)
    const { logSum, ce } = await referenceKernels.priorCrossEntropy(scores, Int32Array.from([0, 1]));
    expect(logSum[0]).to.be.closeTo(Math.log(2), 1e-15); // log(e^0 + e^0)
    expect(logSum[1]).to.be.closeTo(Math.log(4), 1e-15); // log(1 + 3)
    expect(ce[0]).to.be.closeTo(Math.log(2), 1e-15); // -log(1/2)
    expect(ce[1]).to.be.closeTo(Math.log(4 / 3), 1e-15); // -log(3/4)
    // only prior 1 counts; divided by 2: ((1/4 - 0) / 2, (3/4 - 1) / 2)
    const d = await referenceKernels.priorCrossEntropyGradient(scores, Int32Array.from([0, 1]), logSum, Uint8Array.from([0, 1]), 2);
    expect(bits(d.data.subarray(0, 2))).to.deep.equal([0, 0]);
    expect(d.data[2]).to.be.closeTo(0.125, 1e-15);
    expect(d.data[3]).to.be.closeTo(-0.125, 1e-15);
  });

  for (const [batch, classes] of [[3, 21], [16, 6], [1, 2]]) {
    it(`every backend gives the reference's bits: ${batch} images x 8732 priors x ${classes} classes, float32`, async () => {
      const rng = new Rng(40 + classes);
      const scores = randNormal([batch, 8732, classes], rng, 0, 3);
      const priors = batch * 8732;
      const targets = Int32Array.from({ length: priors }, () => (rng.uniform() < 0.05 ? 1 + rng.int(classes - 1) : 0));
      const counted = Uint8Array.from({ length: priors }, (_, p) => (targets[p] !== 0 || rng.uniform() < 0.15 ? 1 : 0));
      const expected = await referenceKernels.priorCrossEntropy(scores, targets);
      const expectedGradient = await referenceKernels.priorCrossEntropyGradient(scores, targets, expected.logSum, counted, 37);
      for (const { name, kernels } of backends) {
        const got = await kernels.priorCrossEntropy(scores, targets);
        expect(bits(got.logSum), `${name}: logSum`).to.deep.equal(bits(expected.logSum));
        expect(bits(got.ce), `${name}: ce`).to.deep.equal(bits(expected.ce));
        const gradient = await kernels.priorCrossEntropyGradient(scores, targets, got.logSum, counted, 37);
        expect(gradient.shape, name).to.deep.equal([batch, 8732, classes]);
        expect(bits(gradient.data), `${name}: dScores`).to.deep.equal(bits(expectedGradient.data));
      }
    });
  }

  it('the checks: shapes, counts and classes, naming the kernel', async () => {
    const kernels = backends[0].kernels;
    const scores = randNormal([2, 5, 3], new Rng(1));
    await kernels.priorCrossEntropy(scores, new Int32Array(9)).then(
      () => expect.fail('accepted 9 targets for 10 priors'),
      (e: Error) => expect(e.message).to.contain('priorCrossEntropy: 9 class targets for scores (2, 5, 3) (expected 10)'),
    );
    await kernels.priorCrossEntropy(scores, Int32Array.from({ length: 10 }, (_, p) => (p === 4 ? 3 : 0))).then(
      () => expect.fail('accepted class 3 of 3'),
      (e: Error) => expect(e.message).to.contain("prior 4's class target is 3, not a class of 3"),
    );
    await kernels.priorCrossEntropyGradient(scores, new Int32Array(10), new Float64Array(10), new Uint8Array(9), 1).then(
      () => expect.fail('accepted 9 flags'),
      (e: Error) => expect(e.message).to.contain('logSum has 10 and counted 9 values for 10 priors'),
    );
  });

  it('the whole loss through a backend (multiboxLossOn) equals multiboxLoss to the last bit, float32 and float64', async () => {
    const priors = createPriors(); // (8732, 4)
    const rng = new Rng(5);
    const targets: ImageTargets[] = [];
    for (let i = 0; i < 4; i++) {
      const boxes: number[][] = [];
      const labels: number[] = [];
      for (let k = 0; k < 1 + i; k++) {
        const [cx, cy, w, h] = [0.2 + 0.6 * rng.uniform(), 0.2 + 0.6 * rng.uniform(), 0.1 + 0.3 * rng.uniform(), 0.1 + 0.3 * rng.uniform()];
        boxes.push([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]);
        labels.push(1 + rng.int(20));
      }
      targets.push({ boxes: fromArray(boxes), labels });
    }
    for (const dtype of ['float32', 'float64'] as const) {
      const locs = randNormal([4, 8732, 4], rng, 0, 1, dtype);
      const scores = randNormal([4, 8732, 21], rng, 0, 2, dtype);
      const plain = multiboxLoss(locs, scores, targets, priors);
      for (const { name, kernels } of [{ name: 'reference', kernels: referenceKernels as Kernels }, ...backends]) {
        const r = await multiboxLossOn(kernels, locs, scores, targets, priors);
        const where = `${name}, ${dtype}`;
        expect([r.loss, r.locLoss, r.confLoss, r.nPositives], where).to.deep.equal([plain.loss, plain.locLoss, plain.confLoss, plain.nPositives]);
        expect(r.dScores.dtype, where).to.equal(dtype);
        expect(bits(r.dScores.data), `${where}: dScores`).to.deep.equal(bits(plain.dScores.data));
        expect(bits(r.dLocs.data), `${where}: dLocs`).to.deep.equal(bits(plain.dLocs.data));
      }
    }
  });

  it('a batch without objects: loss 0 and zero gradients through a backend too', async () => {
    const empty = { boxes: new Tensor([0, 4]), labels: [] };
    const r = await multiboxLossOn(backends[1].kernels, randNormal([2, 8732, 4], new Rng(2)), randNormal([2, 8732, 3], new Rng(3)), [empty, empty], createPriors());
    expect([r.loss, r.nPositives]).to.deep.equal([0, 0]);
    expect(r.dScores.data.every((v) => v === 0)).to.equal(true);
  });
});
