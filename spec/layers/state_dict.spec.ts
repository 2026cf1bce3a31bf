import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Tensor } from '../../tensor/tensor';
import { zeros } from '../../tensor/create';
import { Rng } from '../../tensor/random';
import { readSafetensors, writeSafetensors } from '../../tensor/safetensors';
import { Conv2d } from '../../layers/conv2d';
import { L2Norm } from '../../layers/l2norm';
import { ReLU } from '../../layers/relu';
import { Sequential } from '../../layers/sequential';
import { loadStateDict, stateDict } from '../../layers/layer';

function smallNet(seed: number): Sequential {
  const rng = new Rng(seed);
  return new Sequential('base', [
    new Conv2d('conv1_1', { inChannels: 3, outChannels: 4, kernelSize: 3, padding: 1, rng }),
    new ReLU('relu1_1'),
    new L2Norm('norm', { channels: 4 }),
  ]);
}

describe('layers: state dict and weights files', () => {
  it('PyTorch-style names, and a save/load round trip through safetensors restores every value', () => {
    const a = smallNet(1);
    const b = smallNet(2);
    const names = [...stateDict(a, 'base.').keys()];
    expect(names).to.deep.equal(['base.conv1_1.weight', 'base.conv1_1.bias', 'base.norm.rescale_factors']);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-state-'));
    const file = path.join(dir, 'w.safetensors');
    writeSafetensors(file, stateDict(a, 'base.'));
    expect(Array.from(b.namedParameters()[0][1].value.data)).not.to.deep.equal(Array.from(a.namedParameters()[0][1].value.data));
    loadStateDict(b, readSafetensors(file).tensors, file, 'base.');
    for (const [[na, pa], [, pb]] of a.namedParameters().map((e, i) => [e, b.namedParameters()[i]] as const)) {
      expect(Array.from(pb.value.data), na).to.deep.equal(Array.from(pa.value.data));
    }
    fs.rmSync(dir, { recursive: true });
  });

  it('a missing, unexpected, wrongly shaped or wrongly typed tensor is an error naming it', () => {
    const net = smallNet(1);
    const good = (): Map<string, Tensor> => new Map(stateDict(net));
    const missing = good();
    missing.delete('conv1_1.bias');
    expect(() => loadStateDict(net, missing, 'w.safetensors')).to.throw("w.safetensors: missing tensor 'conv1_1.bias'");
    const unexpected = good();
    unexpected.set('conv9.weight', zeros([1]));
    expect(() => loadStateDict(net, unexpected, 'w.safetensors')).to.throw("w.safetensors: unexpected tensor 'conv9.weight'");
    const shape = good();
    shape.set('conv1_1.weight', zeros([4, 3, 1, 1]));
    expect(() => loadStateDict(net, shape, 'w.safetensors')).to.throw(
      "w.safetensors: tensor 'conv1_1.weight' has shape (4, 3, 1, 1), expected (4, 3, 3, 3)",
    );
    const dtype = good();
    dtype.set('norm.rescale_factors', zeros([1, 4, 1, 1], 'float64'));
    expect(() => loadStateDict(net, dtype, 'w.safetensors')).to.throw("w.safetensors: tensor 'norm.rescale_factors' has dtype float64, expected float32");
  });

  it('a failed load leaves the weights untouched', () => {
    const net = smallNet(1);
    const before = Array.from(net.namedParameters()[0][1].value.data);
    const bad = new Map(stateDict(smallNet(2)));
    bad.set('norm.rescale_factors', zeros([1, 5, 1, 1]));
    expect(() => loadStateDict(net, bad, 'x')).to.throw(/rescale_factors/);
    expect(Array.from(net.namedParameters()[0][1].value.data)).to.deep.equal(before);
  });

  it('layers name themselves in shape errors and refuse backward before forward', async () => {
    const conv = new Conv2d('conv4_3', { inChannels: 3, outChannels: 4, kernelSize: 3, padding: 1 });
    let error: Error | null = null;
    await conv.forward(zeros([1, 5, 8, 8])).catch((e: Error) => (error = e));
    expect(String(error)).to.match(/Conv2d conv4_3: input \(1, 5, 8, 8\) has 5 channels but weight \(4, 3, 3, 3\) expects 3/);
    error = null;
    await conv.backward(zeros([1, 4, 8, 8])).catch((e: Error) => (error = e));
    expect(String(error)).to.match(/Conv2d conv4_3: backward called before forward/);
    await conv.forward(zeros([1, 3, 8, 8]));
    error = null;
    await conv.backward(zeros([1, 4, 4, 4])).catch((e: Error) => (error = e));
    expect(String(error)).to.match(/Conv2d conv4_3: output gradient: expected shape \(1, 4, 8, 8\), got \(1, 4, 4, 4\)/);
  });

  it('PyTorch default init: conv weights and biases within +-1/sqrt(fan_in), and spread over it', () => {
    const conv = new Conv2d('c', { inChannels: 16, outChannels: 32, kernelSize: 3, rng: new Rng(5) });
    const bound = 1 / Math.sqrt(16 * 9);
    let maxAbs = 0;
    for (const v of conv.weight.value.data) maxAbs = Math.max(maxAbs, Math.abs(v));
    expect(maxAbs).to.be.at.most(bound);
    expect(maxAbs).to.be.above(0.95 * bound);
    for (const v of (conv.bias as { value: Tensor }).value.data) expect(Math.abs(v)).to.be.at.most(bound);
  });

  it("'kaiming' init: zero biases and weights with std sqrt(2 / fan_out), so a deep conv + ReLU stack keeps its signal", () => {
    const conv = new Conv2d('c', { inChannels: 32, outChannels: 64, kernelSize: 3, rng: new Rng(6), init: 'kaiming' });
    let sumSquares = 0;
    for (const v of conv.weight.value.data) sumSquares += v * v;
    const std = Math.sqrt(sumSquares / conv.weight.value.size);
    expect(std).to.be.closeTo(Math.sqrt(2 / (64 * 9)), 0.02 * Math.sqrt(2 / (64 * 9)));
    expect(Array.from((conv.bias as { value: Tensor }).value.data).every((b) => b === 0)).to.equal(true);
  });
});
