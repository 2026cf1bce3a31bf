// BatchNorm2d: finite differences in float64 (training and evaluation mode), PyTorch's
// nn.BatchNorm2d golden outputs (scripts/make_batchnorm_fixtures.py), and the edge cases.
//
// Golden tolerances, |ours - torch| <= atol + rtol * |torch|: y, dx, dweight, dbias, running
// statistics within atol 1e-5, rtol 1e-5. PyTorch sums a channel's values in float32 in its own
// order, we sum in float64 and round once: the means and variances differ by a few float32 ulps,
// and y = (x - mean) / std * weight + bias of O(1) values carries that into the 1e-6 range. dx is a
// difference of three terms that cancel in part, hence the same absolute floor.

import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { Tensor } from '../../tensor/tensor';
import { fromFlat } from '../../tensor/create';
import { Rng, randNormal } from '../../tensor/random';
import { BatchNorm2d } from '../../layers/batchnorm2d';
import { Conv2d } from '../../layers/conv2d';
import { ReLU } from '../../layers/relu';
import { Sequential } from '../../layers/sequential';
import { expectClose, gradcheckLayer } from '../helpers/gradcheck';
import { Kernels } from '../../kernels/kernels';
import { referenceKernels } from '../../kernels/cpu/reference';
import { checked } from '../../kernels/checked';
import { WasmKernels } from '../../kernels/wasm';

interface Flat {
  shape: number[];
  data: number[];
}
interface StepRecord {
  x: Flat;
  dy: Flat;
  y: Flat;
  dx: Flat;
  dweight: Flat;
  dbias: Flat;
  running_mean?: Flat;
  running_var?: Flat;
}
interface LayerCase {
  what: string;
  shape: number[];
  initial: { weight: Flat; bias: Flat };
  train_steps: StepRecord[];
  eval: StepRecord;
}

const fixtures = JSON.parse(fs.readFileSync(path.join(__dirname, '../../../spec/fixtures/batchnorm.json'), 'utf8')) as { cases: LayerCase[] };
const tensor = (f: Flat): Tensor => fromFlat(f.data, f.shape);
const f64 = 'float64' as const;

describe('layers/BatchNorm2d', () => {
  describe('against PyTorch nn.BatchNorm2d (momentum 0.1, eps 1e-5)', () => {
    for (const c of fixtures.cases) {
      it(`${c.what}: three training steps (output, gradients, running statistics), then evaluation mode`, async () => {
        const bn = new BatchNorm2d('bn', { channels: c.shape[1] });
        bn.weight.value.data.set(c.initial.weight.data);
        bn.bias.value.data.set(c.initial.bias.data);
        // With 2 values per channel, x_hat is nearly +-1 and dx = weight / std * (dy - mean(dy) -
        // x_hat * mean(dy * x_hat)) is a difference of nearly equal terms (exactly 0 if eps were 0):
        // PyTorch's float32 rounding of those terms is what remains, so dx gets 1e-3 relative there.
        const dxTolerance = c.shape[0] * c.shape[2] * c.shape[3] === 2 ? 1e-3 : 1e-5;
        const check = async (step: StepRecord, what: string): Promise<void> => {
          bn.zeroGrad();
          const y = await bn.forward(tensor(step.x));
          expectClose(y, tensor(step.y), 1e-5, 1e-5, `${what} y`);
          const dx = await bn.backward(tensor(step.dy));
          expectClose(dx, tensor(step.dx), 1e-5, dxTolerance, `${what} dx`);
          expectClose(bn.weight.grad, tensor(step.dweight), 1e-5, 1e-5, `${what} dweight`);
          expectClose(bn.bias.grad, tensor(step.dbias), 1e-5, 1e-5, `${what} dbias`);
        };
        for (const [k, step] of c.train_steps.entries()) {
          await check(step, `training step ${k + 1}`);
          expectClose(bn.runningMean, tensor(step.running_mean as Flat), 1e-6, 1e-5, `running_mean after step ${k + 1}`);
          expectClose(bn.runningVar, tensor(step.running_var as Flat), 1e-6, 1e-5, `running_var after step ${k + 1}`);
        }
        expect(bn.numBatchesTracked.data[0]).to.equal(3);
        bn.eval();
        const before = Array.from(bn.runningMean.data);
        await check(c.eval, 'evaluation');
        expect(Array.from(bn.runningMean.data), 'evaluation mode leaves the running statistics alone').to.deep.equal(before);
        expect(bn.numBatchesTracked.data[0]).to.equal(3);
      });
    }
  });

  describe('finite differences (float64)', () => {
    it('training mode: input, weight and bias gradients through the batch statistics, x=[3,2,3,4]', async () => {
      const rng = new Rng(21);
      const bn = new BatchNorm2d('bn', { channels: 2, dtype: f64 });
      bn.weight.value.data.set([1.5, 0.7]);
      bn.bias.value.data.set([0.2, -0.3]);
      await gradcheckLayer(bn, randNormal([3, 2, 3, 4], rng, 0.5, 2, f64));
    });

    it('evaluation mode: the running statistics are constants, x=[2,3,2,2]', async () => {
      const rng = new Rng(22);
      const bn = new BatchNorm2d('bn', { channels: 3, dtype: f64 });
      bn.runningMean.data.set([0.1, -0.4, 2]);
      bn.runningVar.data.set([0.5, 2, 1.3]);
      bn.weight.value.data.set([1.2, 0.8, -0.5]);
      bn.eval();
      await gradcheckLayer(bn, randNormal([2, 3, 2, 2], rng, 0, 1, f64));
    });

    it('a 1x1 map at batch 2 (conv11_2 with the smallest batch it can train on)', async () => {
      const bn = new BatchNorm2d('bn', { channels: 2, dtype: f64 });
      await gradcheckLayer(bn, randNormal([2, 2, 1, 1], new Rng(23), 0, 1, f64));
    });

    it('conv -> batch norm -> ReLU, as in every base and auxiliary layer of the batch-norm SSD', async () => {
      const rng = new Rng(24);
      const block = new Sequential('block', [
        new Conv2d('conv', { inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1, rng, dtype: f64, init: 'kaiming' }),
        new BatchNorm2d('bn', { channels: 3, dtype: f64 }),
        new ReLU('relu', { dtype: f64 }),
      ]);
      // with this seed no pre-activation lies within the finite-difference step of the ReLU's kink
      await gradcheckLayer(block, randNormal([2, 2, 4, 4], rng, 0, 1, f64));
    });
  });

  describe('the ReLU fused into the batch norm (relu: true)', () => {
    for (const [label, make] of [['the reference kernels', () => referenceKernels], ['wasm', () => checked(new WasmKernels({ threads: 2, minParallelElements: 0 }), referenceKernels)]] as const) {
      it(`gives the outputs and gradients of a batch norm followed by a ReLU layer, training and evaluation, on ${label}`, async () => {
        const kernels: Kernels = make();
        for (const training of [true, false]) {
          const rng = new Rng(27);
          const x = randNormal([3, 4, 9, 7], rng, 0.3, 1.5); // odd planes: the kernels' tail loops too
          const dy = randNormal(x.shape, rng);
          const fused = new BatchNorm2d('bn', { channels: 4, relu: true, kernels });
          const plain = new BatchNorm2d('bn', { channels: 4, kernels });
          const relu = new ReLU('relu', { kernels });
          for (const bn of [fused, plain]) {
            bn.weight.value.data.set([1.5, -0.5, 0.8, 2]);
            bn.bias.value.data.set([0.1, 0.3, -0.2, 0]);
            if (!training) bn.eval();
          }
          const y = await fused.forward(x);
          const expected = await relu.forward(await plain.forward(x));
          expect(Array.from(y.data), `${training ? 'training' : 'evaluation'}: y`).to.deep.equal(Array.from(expected.data));
          expect(y.data.some((v) => v === 0) && y.data.some((v) => v > 0), 'some units off, some on').to.equal(true);
          const dx = await fused.backward(dy);
          const want = await plain.backward(await relu.backward(dy));
          expectClose(dx, want, 1e-6, 1e-6, `${training ? 'training' : 'evaluation'}: dx`);
          expectClose(fused.weight.grad, plain.weight.grad, 1e-6, 1e-6, 'dweight');
          expectClose(fused.bias.grad, plain.bias.grad, 1e-6, 1e-6, 'dbias');
        }
        await kernels.dispose();
      });
    }
  });

  describe('edge cases', () => {
    it('a batch of 1 with a 1x1 map is refused in training mode, as PyTorch does, and works in evaluation mode', async () => {
      const bn = new BatchNorm2d('aux_convs.bn11_2', { channels: 4 });
      const x = randNormal([1, 4, 1, 1], new Rng(25));
      let error: Error | null = null;
      await bn.forward(x).catch((e: Error) => (error = e));
      expect(String(error)).to.contain('BatchNorm2d aux_convs.bn11_2: expected more than 1 value per channel when training, got input (1, 4, 1, 1)');
      bn.eval();
      const y = await bn.forward(x);
      for (const v of y.data) expect(Number.isFinite(v)).to.equal(true);
    });

    it('a channel that is constant over the batch normalizes to the bias, without NaN (eps keeps 1/std finite)', async () => {
      const bn = new BatchNorm2d('bn', { channels: 1 });
      bn.bias.value.data[0] = 0.25;
      const y = await bn.forward(fromFlat([3, 3, 3, 3], [2, 1, 1, 2]));
      expect(Array.from(y.data)).to.deep.equal([0.25, 0.25, 0.25, 0.25]);
      const dx = await bn.backward(fromFlat([1, -2, 0.5, 4], [2, 1, 1, 2]));
      for (const v of dx.data) expect(Number.isFinite(v)).to.equal(true);
    });

    it('names the layer when the input has the wrong number of channels', async () => {
      const bn = new BatchNorm2d('base.bn1_1', { channels: 4 });
      let error: Error | null = null;
      await bn.forward(randNormal([2, 3, 2, 2], new Rng(26))).catch((e: Error) => (error = e));
      expect(String(error)).to.match(/BatchNorm2d base\.bn1_1: input: expected shape \(\*, 4, \*, \*\), got \(2, 3, 2, 2\)/);
    });

    it('its state: weight and bias are parameters, the running statistics are buffers', () => {
      const bn = new BatchNorm2d('bn', { channels: 3 });
      expect(bn.namedParameters().map(([n]) => n)).to.deep.equal(['weight', 'bias']);
      expect(bn.namedBuffers().map(([n]) => n)).to.deep.equal(['running_mean', 'running_var', 'num_batches_tracked']);
      expect(Array.from(bn.runningVar.data)).to.deep.equal([1, 1, 1]);
    });
  });
});
