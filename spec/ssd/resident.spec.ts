// The library's speed path, in a plain process (as a program that imports the library runs it):
// on the wasm backend the model's activations and gradients live in the backend's memory
// (kernels/wasm/heap.ts), the model gives them back at clearCache, and training steps reuse that
// memory instead of growing it. A use after release shows up: the backend here fills every block
// it is given back with NaN, and the steps must stay finite.

import { expect } from 'chai';
import { Rng, randNormal } from '../../tensor/random';
import { fromArray } from '../../tensor/create';
import { SSD300 } from '../../ssd/ssd300';
import { ssdOptimizer, trainStep } from '../../ssd/train_step';
import { WasmKernels } from '../../kernels/wasm';
import { checked } from '../../kernels/checked';
import { referenceKernels } from '../../kernels/cpu/reference';

describe('SSD300 on the wasm backend: tensors in the backend\'s memory', () => {
  it('keeps its activations there during a step, gives them back at clearCache, and reuses the memory step after step', async function () {
    this.timeout(120000);
    const wasm = new WasmKernels({ threads: 2, poisonReleased: true });
    const kernels = checked(wasm, referenceKernels);
    try {
      const model = new SSD300({ nClasses: 4, widthDivisor: 32, batchNorm: true, baseInit: 'kaiming', headInit: 'normal', kernels, seed: 1 });
      const optimizer = ssdOptimizer(model, 0.01);
      const images = randNormal([2, 3, 300, 300], new Rng(2));
      const targets = [
        { boxes: fromArray([[0.1, 0.2, 0.5, 0.7]]), labels: [1] },
        { boxes: fromArray([[0.4, 0.3, 0.9, 0.8], [0.05, 0.05, 0.3, 0.3]]), labels: [2, 3] },
      ];
      await trainStep(model, optimizer, images, targets, { maxGradNorm: 10 });
      const idle = wasm.heapBytesInUse; // the calls' scratch block alone
      // during a forward pass the maps stay: each conv's input, each batch norm's, each ReLU's output
      await model.forward(images);
      const activations = wasm.heapBytesInUse - idle;
      const conv1Output = 2 * 2 * 300 * 300 * 4; // (2, 2, 300, 300) floats: conv1_1's output at width / 32
      expect(activations, 'bytes of activations in the backend').to.be.above(5 * conv1Output);
      model.clearCache();
      expect(wasm.heapBytesInUse, 'all given back').to.equal(idle);
      const memory = wasm.memoryBytes;
      for (let step = 0; step < 4; step++) {
        // (step 2's forward pass is the second with the weights of the forward pass above: the
        // backend keeps no Winograd filter transform for so few calls, see keptFilterTransform)
        const result = await trainStep(model, optimizer, images, targets, { maxGradNorm: 10 });
        expect(Number.isFinite(result.loss), `step ${step + 2}: loss ${result.loss}`).to.equal(true);
        expect(wasm.heapBytesInUse, `step ${step + 2}: blocks in use after the step`).to.equal(idle);
        expect(wasm.keptTransformBytesInUse, `step ${step + 2}: kept filter transforms`).to.equal(0);
      }
      expect(wasm.memoryBytes, 'the memory did not grow').to.equal(memory);
    } finally {
      await kernels.dispose();
    }
  });
});
