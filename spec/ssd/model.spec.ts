// The whole network: structure, names, shapes, and a finite-difference check of the input and
// parameter gradients through the small model (same structure, channels divided by 32).

import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Tensor } from '../../tensor/tensor';
import { zeros } from '../../tensor/create';
import { Rng, randNormal } from '../../tensor/random';
import { concat, dot, permute } from '../../tensor/ops';
import { FEATURE_MAPS, boxesPerPosition } from '../../ssd/priors';
import { writeSafetensors, readSafetensors } from '../../tensor/safetensors';
import { stateDict } from '../../layers/layer';
import { SSD300 } from '../../ssd/ssd300';
import { Kernels } from '../../kernels/kernels';
import { referenceKernels } from '../../kernels/cpu/reference';
import { centralDifference } from '../helpers/gradcheck';
import { formatSummary, summarize } from '../../ssd/summary';

describe('ssd/SSD300: structure', () => {
  it('the full model has 26,285,486 parameters for 21 classes and 31.37 GMAC per image', () => {
    const s = summarize(new SSD300({ nClasses: 21 }));
    expect(s.totalParams).to.equal(26285486);
    expect(s.totalMacs / 1e9).to.be.closeTo(31.37, 0.005);
    const byName = new Map(s.rows.map((r) => [r.name, r]));
    // the shapes of the maps SSD predicts from (docs/step-by-step.md, steps 1 and 2; moved there from the README)
    expect(byName.get('base.pool3')?.outputShape).to.deep.equal([1, 256, 38, 38]);
    expect(byName.get('base.conv4_3')?.outputShape).to.deep.equal([1, 512, 38, 38]);
    expect(byName.get('base.pool5')?.outputShape).to.deep.equal([1, 512, 19, 19]);
    expect(byName.get('base.conv7')?.outputShape).to.deep.equal([1, 1024, 19, 19]);
    expect(byName.get('aux_convs.conv8_2')?.outputShape).to.deep.equal([1, 512, 10, 10]);
    expect(byName.get('aux_convs.conv9_2')?.outputShape).to.deep.equal([1, 256, 5, 5]);
    expect(byName.get('aux_convs.conv10_2')?.outputShape).to.deep.equal([1, 256, 3, 3]);
    expect(byName.get('aux_convs.conv11_2')?.outputShape).to.deep.equal([1, 256, 1, 1]);
    expect(byName.get('pred_convs.cl_conv7')?.outputShape).to.deep.equal([1, 6 * 21, 19, 19]);
    expect(formatSummary(s)).to.match(/total parameters: 26,285,486/);
  });

  it('one topology: every layer runs in exactly one chain, each chain reads a map made before it, and the summary has a row for every weight', () => {
    for (const batchNorm of [false, true]) {
      const model = new SSD300({ nClasses: 4, widthDivisor: 32, batchNorm });
      const layers = model.topology.flatMap((chain) => chain.layers);
      expect(new Set(layers).size).to.equal(layers.length); // no layer twice
      const made = new Set(['image']);
      for (const chain of model.topology) {
        expect(made.has(chain.from), `${chain.from} is made before ${chain.to} reads it`).to.equal(true);
        made.add(chain.to);
      }
      // every parameter of the model is in some chain's layers
      const inChains = new Set(layers.flatMap((layer) => layer.parameters()));
      expect(model.parameters().every((p) => inChains.has(p))).to.equal(true);
      const s = summarize(model);
      expect(s.totalParams).to.equal(model.parameters().reduce((n, p) => n + p.value.size, 0));
      expect(s.rows.find((r) => r.name === 'base.conv1_1')?.type).to.equal(batchNorm ? 'Conv2d+BN+ReLU' : 'Conv2d+ReLU');
      expect(s.rows.find((r) => r.name === 'pred_convs.cl_conv4_3')?.type).to.equal('Conv2d');
      expect(s.rows.find((r) => r.name === 'rescale_factors')?.type).to.equal('L2Norm');
    }
  });

  it("parameter names are the reference PyTorch SSD300's state_dict names", () => {
    const names = [...stateDict(new SSD300({ nClasses: 21, widthDivisor: 8 })).keys()];
    expect(names.length).to.equal(1 + 2 * 15 + 2 * 8 + 2 * 12);
    expect(names[0]).to.equal('rescale_factors');
    for (const expected of [
      'base.conv1_1.weight',
      'base.conv1_1.bias',
      'base.conv4_3.weight',
      'base.conv6.weight',
      'base.conv7.bias',
      'aux_convs.conv8_1.weight',
      'aux_convs.conv11_2.bias',
      'pred_convs.loc_conv4_3.weight',
      'pred_convs.cl_conv4_3.weight',
      'pred_convs.cl_conv11_2.bias',
    ]) {
      expect(names).to.include(expected);
    }
  });

  it('the width divisor narrows base and auxiliary convs but keeps the prediction outputs', () => {
    const small = summarize(new SSD300({ nClasses: 3, widthDivisor: 8 }));
    const byName = new Map(small.rows.map((r) => [r.name, r]));
    expect(byName.get('base.conv1_1')?.outputShape).to.deep.equal([1, 8, 300, 300]);
    expect(byName.get('base.conv7')?.outputShape).to.deep.equal([1, 128, 19, 19]);
    expect(byName.get('pred_convs.loc_conv4_3')?.outputShape).to.deep.equal([1, 16, 38, 38]);
    expect(byName.get('pred_convs.cl_conv8_2')?.outputShape).to.deep.equal([1, 18, 10, 10]);
  });

  it('rejects an input that is not (N, 3, 300, 300)', async () => {
    const model = new SSD300({ nClasses: 3, widthDivisor: 32 });
    let error: Error | null = null;
    await model.forward(zeros([1, 3, 299, 299])).catch((e: Error) => (error = e));
    expect(String(error)).to.contain('SSD300 input images: expected shape (*, 3, 300, 300), got (1, 3, 299, 299)');
  });

  it('saves and loads its weights as safetensors; a wrong shape names the tensor and the file', () => {
    const a = new SSD300({ nClasses: 3, widthDivisor: 32, seed: 1 });
    const b = new SSD300({ nClasses: 3, widthDivisor: 32, seed: 2 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-model-'));
    const file = path.join(dir, 'ssd.safetensors');
    a.saveWeights(file);
    b.loadWeights(file);
    for (const [name, t] of stateDict(a)) expect(Array.from(stateDict(b).get(name)!.data), name).to.deep.equal(Array.from(t.data));
    const other = new SSD300({ nClasses: 4, widthDivisor: 32 });
    expect(() => other.loadWeights(file)).to.throw(/ssd\.safetensors: tensor 'pred_convs\.cl_conv4_3\.weight' has shape \(12, 16, 3, 3\), expected \(16, 16, 3, 3\)/);
    const tensors = readSafetensors(file).tensors;
    tensors.delete('base.conv6.bias');
    writeSafetensors(file, tensors);
    expect(() => b.loadWeights(file)).to.throw(/missing tensor 'base\.conv6\.bias'/);
    fs.rmSync(dir, { recursive: true });
  });
});

describe('ssd/SSD300: forward and backward through the small model', () => {
  it('output shapes: locs (2, 8732, 4), scores (2, 8732, 3), and the six feature maps', async () => {
    const model = new SSD300({ nClasses: 3, widthDivisor: 32 });
    const out = await model.forward(randNormal([2, 3, 300, 300], new Rng(3)), { features: true });
    expect(out.locs.shape).to.deep.equal([2, 8732, 4]);
    expect(out.scores.shape).to.deep.equal([2, 8732, 3]);
    expect(out.features?.map((f) => f.shape.slice(2))).to.deep.equal([[38, 38], [19, 19], [10, 10], [5, 5], [3, 3], [1, 1]]);
  });

  it('gather lays the twelve maps out prior by prior as permute NCHW -> NHWC, reshape and concat do; scatter undoes it exactly', () => {
    const model = new SSD300({ nClasses: 3, widthDivisor: 32 });
    const rng = new Rng(4);
    const locMaps = FEATURE_MAPS.map((m) => randNormal([2, boxesPerPosition(m) * 4, m.size, m.size], rng));
    const classMaps = FEATURE_MAPS.map((m) => randNormal([2, boxesPerPosition(m) * 3, m.size, m.size], rng));
    const { locs, scores } = model.predConvs.gather(locMaps, classMaps);
    // the plain composition of the tensor operations, map by map
    const rows = (maps: Tensor[], per: number): Tensor => concat(maps.map((m) => permute(m, [0, 2, 3, 1]).reshape([2, -1, per])), 1);
    expect(Array.from(locs.data)).to.deep.equal(Array.from(rows(locMaps, 4).data));
    expect(Array.from(scores.data)).to.deep.equal(Array.from(rows(classMaps, 3).data));
    const { dLocMaps, dClassMaps } = model.predConvs.scatter(locs, scores);
    dLocMaps.forEach((m, k) => expect(Array.from(m.data), `loc map ${k}`).to.deep.equal(Array.from(locMaps[k].data)));
    dClassMaps.forEach((m, k) => expect(Array.from(m.data), `class map ${k}`).to.deep.equal(Array.from(classMaps[k].data)));
  });

  it('backwardToParameters gives every parameter the same gradient as backward, and skips the image\'s', async () => {
    // the reference kernels, counting the input gradients computed for 3-channel inputs (images)
    let imageGradients = 0;
    const kernels = Object.create(referenceKernels) as Kernels;
    kernels.conv2dBackwardInput = (dy, w, shape, options) => {
      if (shape[1] === 3) imageGradients++;
      return referenceKernels.conv2dBackwardInput(dy, w, shape, options);
    };
    const model = new SSD300({ nClasses: 3, widthDivisor: 32, seed: 6, kernels });
    const rng = new Rng(7);
    const x = randNormal([2, 3, 300, 300], rng);
    const out = await model.forward(x);
    const rLocs = randNormal(out.locs.shape, rng);
    const rScores = randNormal(out.scores.shape, rng);
    model.zeroGrad();
    await model.backward(rLocs, rScores);
    expect(imageGradients).to.equal(1);
    const full = model.namedParameters().map(([name, p]): [string, number[]] => [name, Array.from(p.grad.data)]);
    model.zeroGrad();
    await model.forward(x);
    await model.backwardToParameters(rLocs, rScores);
    expect(imageGradients).to.equal(1); // none this time
    const params = new Map(model.namedParameters());
    expect(full.length).to.be.greaterThan(40);
    for (const [name, grad] of full) expect(Array.from(params.get(name)!.grad.data), name).to.deep.equal(grad);
  });

  it('finite-difference check of the input and parameter gradients (float64)', async function () {
    this.timeout(300000);
    const model = new SSD300({ nClasses: 3, widthDivisor: 32, dtype: 'float64', seed: 4 });
    const rng = new Rng(5);
    const x = randNormal([1, 3, 300, 300], rng, 0, 1, 'float64');
    // L = sum(locs * rLocs) + sum(scores * rScores): backward receives (rLocs, rScores)
    const first = await model.forward(x);
    const rLocs = randNormal(first.locs.shape, rng, 0, 1, 'float64');
    const rScores = randNormal(first.scores.shape, rng, 0, 1, 'float64');
    const loss = async (): Promise<number> => {
      const out = await model.forward(x);
      return dot(out.locs, rLocs) + dot(out.scores, rScores);
    };
    model.zeroGrad();
    await model.forward(x);
    const dx = await model.backward(rLocs, rScores);

    const h = 1e-6; // small, so that few ReLU kinks or pooling switches fall within +-h; float64 keeps the rounding error near 1e-8
    const checkEntry = async (what: string, values: Tensor, i: number, analytic: number): Promise<void> => {
      const numeric = await centralDifference(loss, values, i, h);
      // ReLU kinks and max-pool switches make a rare entry non-smooth at the scale of h; with
      // these seeds none is hit, and 1e-5 relative is far below any real error (a wrong factor).
      expect(Math.abs(numeric - analytic), `${what}[${i}]: analytic ${analytic}, numeric ${numeric}`).to.be.at.most(1e-5 * Math.max(1, Math.abs(numeric)));
    };

    // input pixels spread over the image
    for (const i of [0, 45150, 90000 + 300 * 150 + 150, 3 * 90000 - 1]) await checkEntry('image', x, i, dx.data[i]);
    // one or two entries of the weight and bias of a layer of every kind and depth
    const params = new Map(model.namedParameters());
    for (const name of [
      'rescale_factors',
      'base.conv1_1.weight',
      'base.conv3_3.bias',
      'base.conv4_3.weight',
      'base.conv6.weight',
      'base.conv7.bias',
      'aux_convs.conv8_2.weight',
      'aux_convs.conv9_1.bias',
      'aux_convs.conv11_2.weight',
      'pred_convs.loc_conv4_3.weight',
      'pred_convs.cl_conv7.bias',
      'pred_convs.cl_conv11_2.weight',
    ]) {
      const p = params.get(name)!;
      const grad = p.grad.clone();
      for (const i of [0, Math.floor(p.value.size / 2)]) await checkEntry(name, p.value, i, grad.data[i]);
    }
  });
});
