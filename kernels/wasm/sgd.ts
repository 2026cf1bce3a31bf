// SGD's float32 step (layers/sgd.ts) in WebAssembly SIMD (sgd.wat): the same arithmetic to the
// bit, faster than the JavaScript loop, which converts every value between float32 and float64
// one at a time. A step of the full SSD300's 26 million parameters (its own weights and
// gradients, one thread, the two side by side in one process) took 50-51 ms against 63-70 ms for
// the loop. The first call runs V8's baseline code (170 ms) until the optimized code is ready.
//
// The parameters stay in their JavaScript arrays: each is sent through a small memory of this
// optimizer's own in chunks that stay in cache (copied in, stepped, copied back), so the arrays
// are read and written once each, as by the loop.

import { wasmModule } from './runtime';

/** 0: no momentum; 1: the first step with momentum (buf = d); 2: the later ones. */
export type SgdMode = 0 | 1 | 2;

interface SgdExports {
  sgd_step(value: number, grad: number, buf: number, n: number, lr: number, weightDecay: number, momentum: number, mode: SgdMode): void;
}

/** Floats per chunk and array: 3 x 256 KiB, in L2. */
const CHUNK = 65536;

let compiled: WebAssembly.Module | null = null;

/** Needs SIMD128 (runtime.ts, simdSupported). */
export class WasmSgd {
  private readonly memory = new WebAssembly.Memory({ initial: (3 * 4 * CHUNK) / 65536, maximum: (3 * 4 * CHUNK) / 65536 });
  private readonly heap = new Float32Array(this.memory.buffer);
  private readonly exports: SgdExports;

  constructor() {
    compiled ??= wasmModule('sgd');
    this.exports = new WebAssembly.Instance(compiled, { env: { memory: this.memory } }).exports as unknown as SgdExports;
  }

  /**
   * value += lr * (the step), in place; buf (the momentum buffer, undefined without momentum) too.
   * lr, weightDecay and momentum are the float32-rounded rates, as stepFloat32 uses them.
   */
  step(value: Float32Array, grad: Float32Array, buf: Float32Array | undefined, mode: SgdMode, lr: number, weightDecay: number, momentum: number): void {
    const heap = this.heap;
    const [v, g, b] = [0, CHUNK, 2 * CHUNK]; // where each array's chunk sits (floats)
    for (let start = 0; start < value.length; start += CHUNK) {
      const end = Math.min(value.length, start + CHUNK);
      const length = end - start;
      const padded = Math.ceil(length / 4) * 4; // the lanes past the end step zeros, and stay here
      heap.set(value.subarray(start, end), v);
      heap.set(grad.subarray(start, end), g);
      if (buf !== undefined) heap.set(buf.subarray(start, end), b);
      if (padded > length) {
        heap.fill(0, v + length, v + padded);
        heap.fill(0, g + length, g + padded);
        heap.fill(0, b + length, b + padded);
      }
      this.exports.sgd_step(4 * v, 4 * g, 4 * b, padded, lr, weightDecay, momentum, mode);
      value.set(heap.subarray(v, v + length), start);
      if (buf !== undefined) buf.set(heap.subarray(b, b + length), start);
    }
  }
}
