import { expect } from 'chai';
import { fromArray } from '../../tensor/create';
import { Rng, randNormal } from '../../tensor/random';
import { SSD300 } from '../../ssd/ssd300';
import { ssdOptimizer, trainStep } from '../../ssd/train_step';
import { ImageTargets } from '../../ssd/loss';

describe('ssd/trainStep: training sanity on the small model', () => {
  const targets: ImageTargets[] = [
    { boxes: fromArray([[0.1, 0.1, 0.4, 0.5], [0.5, 0.55, 0.9, 0.95]]), labels: [1, 2] },
    { boxes: fromArray([[0.3, 0.2, 0.7, 0.8]]), labels: [2] },
  ];

  it('a few SGD steps on one batch lower the MultiBox loss', async function () {
    this.timeout(120000);
    const model = new SSD300({ nClasses: 3, widthDivisor: 32, seed: 1 });
    const images = randNormal([2, 3, 300, 300], new Rng(2));
    const optimizer = ssdOptimizer(model, 1e-3);
    const losses: number[] = [];
    for (let step = 0; step < 4; step++) {
      const r = await trainStep(model, optimizer, images, targets, { maxGradNorm: 10 });
      expect(r.nPositives).to.be.above(3);
      losses.push(r.loss);
    }
    expect(losses[3], `losses ${losses.join(', ')}`).to.be.below(losses[0]);
  });

  it('biases train at twice the rate, as in the paper', () => {
    const model = new SSD300({ nClasses: 3, widthDivisor: 32 });
    ssdOptimizer(model, 1e-3);
    const params = new Map(model.namedParameters());
    expect(params.get('base.conv1_1.bias')?.lrMult).to.equal(2);
    expect(params.get('base.conv1_1.weight')?.lrMult).to.equal(1);
    expect(params.get('rescale_factors')?.lrMult).to.equal(1);
  });

  it('a non-finite loss stops training with a message and leaves the weights alone', async () => {
    const model = new SSD300({ nClasses: 3, widthDivisor: 32 });
    const optimizer = ssdOptimizer(model, 1e-3);
    const before = Array.from(model.base.toConv4_3[0].parameters()[0].value.data);
    const images = randNormal([2, 3, 300, 300], new Rng(3));
    images.data[0] = NaN;
    let error: Error | null = null;
    await trainStep(model, optimizer, images, targets).catch((e: Error) => (error = e));
    expect(String(error)).to.match(/not finite|NaN/);
    expect(Array.from(model.base.toConv4_3[0].parameters()[0].value.data)).to.deep.equal(before);
  });
});
