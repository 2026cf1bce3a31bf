// A model-sized sequence of kernels, again and again: the fast CPU and WebAssembly backends must
// keep memory and threads flat over many training steps of the (small) SSD300, as a long training
// run needs.

import { expect } from 'chai';
import * as v8 from 'v8';
import * as vm from 'vm';
import { Rng, randNormal } from '../../tensor/random';
import { fromArray } from '../../tensor/create';
import { CpuKernels } from '../../kernels/cpu/fast';
import { WasmKernels } from '../../kernels/wasm';
import { checked } from '../../kernels/checked';
import { referenceKernels } from '../../kernels/cpu/reference';
import { SSD300 } from '../../ssd/ssd300';
import { ssdOptimizer, trainStep } from '../../ssd/train_step';

async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return process.memoryUsage();
}

describe('kernels: a long run of model-sized kernel sequences (cpu backend)', () => {
  it('40 training steps of the small SSD300 (some 7,000 kernel calls) keep memory and workers flat', async function () {
    this.timeout(300000);
    const kernels = new CpuKernels({ threads: 2, minParallelFlops: 0 });
    try {
      const model = new SSD300({ nClasses: 3, widthDivisor: 32, kernels, baseInit: 'kaiming' });
      const optimizer = ssdOptimizer(model, 1e-3);
      const images = randNormal([1, 3, 300, 300], new Rng(1));
      const targets = [{ boxes: fromArray([[0.2, 0.2, 0.6, 0.7]]), labels: [1] }];
      for (let i = 0; i < 5; i++) await trainStep(model, optimizer, images, targets, { maxGradNorm: 10 }); // warm-up
      const before = await settledMemory();
      const workers = kernels.workerThreadIds;
      for (let i = 0; i < 40; i++) await trainStep(model, optimizer, images, targets, { maxGradNorm: 10 });
      const after = await settledMemory();
      const MB = 1024 * 1024;
      // Each step allocates ~30 MB of activations and gradients; keeping even one step's worth
      // alive per step would add over a gigabyte. The bounds allow allocator and JIT drift only.
      expect((after.arrayBuffers - before.arrayBuffers) / MB, 'arrayBuffers growth (MB)').to.be.lessThan(8);
      expect((after.heapUsed - before.heapUsed) / MB, 'heap growth (MB)').to.be.lessThan(16);
      expect(kernels.workerThreadIds, 'the same workers').to.deep.equal(workers);
    } finally {
      await kernels.dispose();
    }
  });
});

describe('kernels: a long run of model-sized kernel sequences (wasm backend)', () => {
  it('100 training steps of the small SSD300 keep memory, the WebAssembly memory and the workers flat', async function () {
    this.timeout(300000);
    const wasm = new WasmKernels({ threads: 2, minParallelFlops: 0 });
    const kernels = checked(wasm, referenceKernels);
    try {
      const model = new SSD300({ nClasses: 3, widthDivisor: 32, kernels, baseInit: 'kaiming' });
      const optimizer = ssdOptimizer(model, 1e-3);
      const images = randNormal([1, 3, 300, 300], new Rng(1));
      const targets = [{ boxes: fromArray([[0.2, 0.2, 0.6, 0.7]]), labels: [1] }];
      for (let i = 0; i < 5; i++) await trainStep(model, optimizer, images, targets, { maxGradNorm: 10 }); // warm-up
      const before = await settledMemory();
      const workers = wasm.workerThreadIds;
      const wasmBytes = wasm.memoryBytes;
      for (let i = 0; i < 100; i++) await trainStep(model, optimizer, images, targets, { maxGradNorm: 10 });
      const after = await settledMemory();
      const MB = 1024 * 1024;
      // As above: a leak of one step's tensors per step would add gigabytes.
      expect((after.arrayBuffers - before.arrayBuffers) / MB, 'arrayBuffers growth (MB)').to.be.lessThan(8);
      expect((after.heapUsed - before.heapUsed) / MB, 'heap growth (MB)').to.be.lessThan(16);
      expect(wasm.memoryBytes, 'WebAssembly memory').to.equal(wasmBytes);
      expect(wasm.workerThreadIds, 'the same workers').to.deep.equal(workers);
    } finally {
      await kernels.dispose();
    }
  });
});
