import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { Tensor } from '../../tensor/tensor';
import { fromFlat } from '../../tensor/create';
import { Rng, randNormal } from '../../tensor/random';
import { sub, dot } from '../../tensor/ops';
import { Parameter } from '../../layers/layer';
import { Conv2d } from '../../layers/conv2d';
import { ReLU } from '../../layers/relu';
import { Sequential } from '../../layers/sequential';
import { SGD, clipGradNorm } from '../../layers/sgd';
import { Kernels } from '../../kernels/kernels';
import { referenceKernels } from '../../kernels/cpu/reference';
import { createKernels } from '../../kernels/select';
import { expectClose } from '../helpers/gradcheck';

interface FixtureTensor {
  shape: number[];
  data: number[];
}
interface SgdFixture {
  momentum: number;
  weight_decay: number;
  groups: { name: string; lr: number; params: string[] }[];
  initial_params: Record<string, FixtureTensor>;
  steps: { grads: Record<string, FixtureTensor>; params_after: Record<string, FixtureTensor> }[];
}
interface ClipFixture {
  max_norm: number;
  grads_before: Record<string, FixtureTensor>;
  total_norm: number;
  grads_after: Record<string, FixtureTensor>;
}

const fixtures = JSON.parse(fs.readFileSync(path.join(__dirname, '../../../spec/fixtures/kernels.json'), 'utf8')) as {
  sgd: SgdFixture;
  clip_grad_norm: ClipFixture;
};
const load = (t: FixtureTensor): Tensor => fromFlat(t.data, t.shape);

describe('layers/SGD', () => {
  let wasmKernels: Kernels;
  before(async () => (wasmKernels = await createKernels('wasm')));
  after(() => wasmKernels.dispose());

  it('momentum by hand: p=1, g=0.5, lr=0.1, momentum=0.9 gives 0.95 then 0.855', async () => {
    const p = new Parameter(fromFlat([1], [1], 'float64'));
    const sgd = new SGD([p], { lr: 0.1, momentum: 0.9 });
    p.grad.data[0] = 0.5;
    await sgd.step(); // buf = 0.5, p = 1 - 0.05
    expect(p.value.data[0]).to.be.closeTo(0.95, 1e-15);
    await sgd.step(); // buf = 0.9 * 0.5 + 0.5 = 0.95, p = 0.95 - 0.095
    expect(p.value.data[0]).to.be.closeTo(0.855, 1e-15);
  });

  it('weight decay adds weightDecay * p to the gradient, and lrMult scales the rate', async () => {
    const p = new Parameter(fromFlat([2], [1], 'float64'), { lrMult: 2 });
    const sgd = new SGD([p], { lr: 0.1, weightDecay: 0.5 });
    await sgd.step(); // grad 0 + 0.5 * 2 = 1; p = 2 - 0.2 * 1
    expect(p.value.data[0]).to.be.closeTo(1.8, 1e-15);
  });

  for (const wasm of [true, false]) it(`matches torch.optim.SGD over 3 steps (momentum 0.9, weight decay 5e-4, biases at twice the rate), ${wasm ? 'WebAssembly' : 'JavaScript'} step`, async () => {
    const f = fixtures.sgd;
    const params = new Map<string, Parameter>();
    const lrOf = new Map<string, number>();
    for (const g of f.groups) for (const name of g.params) lrOf.set(name, g.lr);
    const baseLr = f.groups[0].lr;
    for (const [name, t] of Object.entries(f.initial_params)) {
      params.set(name, new Parameter(load(t), { lrMult: (lrOf.get(name) as number) / baseLr }));
    }
    const sgd = new SGD([...params.values()], { lr: baseLr, momentum: f.momentum, weightDecay: f.weight_decay, kernels: wasm ? wasmKernels : referenceKernels });
    for (const [k, step] of f.steps.entries()) {
      for (const [name, g] of Object.entries(step.grads)) (params.get(name) as Parameter).grad.data.set(g.data);
      await sgd.step();
      for (const [name, expected] of Object.entries(step.params_after)) {
        // float32 parameters, rounded where PyTorch rounds: bit for bit the same
        expectClose((params.get(name) as Parameter).value, load(expected), 0, 0, `step ${k + 1} ${name}`);
      }
    }
  });

  // The wasm step runs two ways: in place on every thread where the parameter, its gradient and
  // its buffer live in the backend's memory (placed), through chunks of its scratch otherwise.
  for (const placed of [false, true]) for (const threads of placed ? [1, 2] : [2]) it(`the WebAssembly step equals the JavaScript loop bit for bit: with momentum (first and later steps) and without, any length; ${placed ? `parameters in the backend's memory, ${threads} thread(s)` : 'parameters in ordinary memory'}`, async () => {
    // lengths around the 4-wide vectors, the 65,536-float chunks and the threads' 4,096-float tasks
    const lengths = [1, 3, 4, 7, 4097, 65536, 65539, 140001];
    const kernels = threads === 2 ? wasmKernels : await createKernels('wasm', { threads: 1 });
    for (const momentum of [0.9, 0]) {
      const make = (): Parameter[] => lengths.map((n, i) => new Parameter(randNormal([n], new Rng(700 + i)), { lrMult: i % 2 === 0 ? 1 : 2 }));
      const [js, wasm] = [make(), make()];
      if (placed) {
        wasm.forEach((p) => p.placeIn(kernels));
        for (const p of wasm) expect(p.value.data.buffer, 'a placed value lives in the shared memory').to.be.instanceOf(SharedArrayBuffer);
      }
      const optimizers = [new SGD(js, { lr: 0.01, momentum, weightDecay: 5e-4 }), new SGD(wasm, { lr: 0.01, momentum, weightDecay: 5e-4, kernels })];
      for (let step = 0; step < 3; step++) {
        [js, wasm].forEach((params) => params.forEach((p, i) => p.grad.data.set(randNormal([lengths[i]], new Rng(800 + 10 * step + i)).data)));
        for (const o of optimizers) await o.step();
        js.forEach((p, i) => {
          const where = `momentum ${momentum}, step ${step + 1}, ${lengths[i]} values`;
          expect(Array.from(wasm[i].value.data), `${where}: value`).to.deep.equal(Array.from(p.value.data));
          const [a, b] = [optimizers[0].momentumBuffer(p), optimizers[1].momentumBuffer(wasm[i])];
          expect(b === undefined ? undefined : Array.from(b), `${where}: momentum buffer`).to.deep.equal(a === undefined ? undefined : Array.from(a));
        });
      }
    }
    if (kernels !== wasmKernels) await kernels.dispose();
  });

  it("the WebAssembly momentum step (float32's own multiply and add) equals the reference's float64 route bit for bit on values of every exponent", async () => {
    // Random float32 bit patterns (finite ones) span every exponent, subnormals included: the
    // hardest case for the claim that one float32 operation done in float64 and rounded gives
    // float32's own result. Moderate values too, and momentum values of several widths.
    const n = 200003;
    const rng = new Rng(4242);
    const bits = new Uint32Array(1);
    const asFloat = new Float32Array(bits.buffer);
    const anyFinite = (): number => {
      for (;;) {
        bits[0] = Math.floor(rng.uniform() * 2 ** 32) >>> 0;
        if (Number.isFinite(asFloat[0])) return asFloat[0];
      }
    };
    const arrays = (): Float32Array[] => [0, 1, 2].map((k) => Float32Array.from({ length: n }, (_, i) => (i % 3 === k ? rng.normal() : anyFinite())));
    for (const momentum of [0.9, 0.5, 0.99, 1e-3]) {
      const [value, grad, buf] = arrays();
      const reference = [value, grad, buf].map((a) => new Tensor([n], Float32Array.from(a)));
      const wasm = [value, grad, buf].map((a) => new Tensor([n], Float32Array.from(a)));
      const step = { lr: 1e-3, weightDecay: 5e-4, momentum, phase: 'later' as const };
      await referenceKernels.sgdStep(reference[0], reference[1], reference[2], step);
      await wasmKernels.sgdStep(wasm[0], wasm[1], wasm[2], step);
      for (const [k, name] of [[2, 'momentum buffer'], [0, 'value']] as const) {
        for (let i = 0; i < n; i++) {
          const [a, b] = [wasm[k].data[i], reference[k].data[i]];
          if (!Object.is(a, b) && !(Number.isNaN(a) && Number.isNaN(b))) {
            throw new Error(`momentum ${momentum}, ${name} ${i}: ${a}, the reference ${b} (value ${value[i]}, grad ${grad[i]}, buf ${buf[i]})`);
          }
        }
      }
    }
  });

  it('one SGD step on a tiny conv net lowers its loss', async () => {
    const rng = new Rng(21);
    const net = new Sequential('net', [
      new Conv2d('conv1', { inChannels: 3, outChannels: 8, kernelSize: 3, padding: 1, rng }),
      new ReLU('relu1'),
      new Conv2d('conv2', { inChannels: 8, outChannels: 2, kernelSize: 3, stride: 2, padding: 1, rng }),
    ]);
    const x = randNormal([2, 3, 8, 8], rng);
    const target = randNormal([2, 2, 4, 4], rng);
    // L = 0.5 * |y - target|^2, so dL/dy = y - target
    const lossAndGrad = async (): Promise<[number, Tensor]> => {
      const diff = sub(await net.forward(x), target);
      return [0.5 * dot(diff, diff), diff];
    };
    const sgd = new SGD(net.parameters(), { lr: 0.01, momentum: 0.9 });
    const [before, dy] = await lossAndGrad();
    sgd.zeroGrad();
    await net.backward(dy);
    await sgd.step();
    const [after] = await lossAndGrad();
    expect(after).to.be.below(before);
  });
});

describe('layers/clipGradNorm', () => {
  it('matches torch.nn.utils.clip_grad_norm_: returns the norm and scales by max_norm / (norm + 1e-6)', async () => {
    const f = fixtures.clip_grad_norm;
    const params = Object.values(f.grads_before).map((g) => {
      const p = new Parameter(load(g));
      p.grad.data.set(g.data);
      return p;
    });
    const norm = await clipGradNorm(params, f.max_norm);
    expect(norm).to.be.closeTo(f.total_norm, 1e-6 * f.total_norm);
    Object.values(f.grads_after).forEach((g, k) => expectClose(params[k].grad, load(g), 1e-8, 1e-6, `grad ${k}`));
  });

  it("the wasm backend's sum of squares: within 1e-13 of a compensated float64 sum (as the reference's loop is), and the same total on 1 and 2 threads, in its memory or not", async () => {
    const oneThread = await createKernels('wasm', { threads: 1 });
    const twoThreads = await createKernels('wasm', { threads: 2 });
    try {
      // lengths around the 4-wide vectors and the 65,536-float partial sums
      for (const n of [1, 3, 4, 5, 65535, 65536, 65537, 300001]) {
        const values = randNormal([n], new Rng(900 + n));
        const exact = await referenceKernels.sumOfSquares(values);
        // Neumaier's compensated sum: far closer to the true total than either one-pass float64 sum
        let [sum, carry] = [0, 0];
        for (let i = 0; i < n; i++) {
          const square = values.data[i] * values.data[i];
          const next = sum + square;
          carry += Math.abs(sum) >= Math.abs(square) ? sum - next + square : square - next + sum;
          sum = next;
        }
        const accurate = sum + carry;
        expect(Math.abs(exact - accurate), `${n} values: the reference's loop`).to.be.at.most(1e-12 * accurate);
        const totals: number[] = [];
        for (const kernels of [oneThread, twoThreads]) {
          const resident = kernels.zeros([n]);
          resident.data.set(values.data);
          expect(resident.data.buffer, `${n} values`).to.be.instanceOf(SharedArrayBuffer);
          totals.push(await kernels.sumOfSquares(resident));
          expect(await kernels.sumOfSquares(values), `${n} values in ordinary memory: the reference's loop`).to.equal(exact);
        }
        expect(totals[1], `${n} values: 2 threads against 1`).to.equal(totals[0]);
        expect(Math.abs(totals[0] - accurate), `${n} values`).to.be.at.most(1e-13 * accurate);
      }
    } finally {
      await oneThread.dispose();
      await twoThreads.dispose();
    }
  });

  it('leaves gradients alone when their norm is below the limit', async () => {
    const p = new Parameter(fromFlat([0, 0], [2]));
    p.grad.data.set([3, 4]);
    expect(await clipGradNorm([p], 10)).to.equal(5);
    expect(Array.from(p.grad.data)).to.deep.equal([3, 4]);
  });
});
