// SGD's float32 step (kernels/cpu/reference.ts, sgdStep) in WebAssembly SIMD (sgd.wat): the same
// arithmetic to the bit, faster than the JavaScript loop, which converts every value between
// float32 and float64 one at a time. A step of the full SSD300's 26 million parameters (its own
// weights and gradients, one thread, the two side by side in one process) took 50-51 ms against
// 63-70 ms for the loop. The first call runs V8's baseline code (170 ms) until the optimized code
// is ready.
//
// Where a parameter, its gradient and its momentum buffer all live in the backend's memory (a
// model's parameters do: Parameter.placeIn, and SGD's buffers come from Kernels.zeros), the step
// runs there in place, shared over the threads (index.ts). Otherwise each array is sent through
// the backend's memory in chunks that stay in cache (copied in, stepped, copied back), so the
// arrays are read and written once each, as by the loop: sgdChunks below.

import { SgdStep } from '../kernels';
import { WasmExports } from './runtime';

/** Floats per chunk and array: 3 x 256 KiB, in L2. */
export const SGD_CHUNK = 65536;

/** sgd_step's arguments for a step: the rates as the float32 loop rounds them, and the phase's mode. */
export function sgdArguments(step: SgdStep): { lr: number; weightDecay: number; momentum: number; mode: 0 | 1 | 2 } {
  const fround = Math.fround;
  const mode = step.phase === 'none' ? 0 : step.phase === 'first' ? 1 : 2;
  return { lr: fround(step.lr), weightDecay: fround(step.weightDecay), momentum: fround(step.momentum), mode };
}

/**
 * value += the step, in place, and buf (null without momentum) too, through `scratch`: 3 *
 * SGD_CHUNK floats of the shared memory at that byte address.
 */
export function sgdChunks(
  wasm: WasmExports, memory: WebAssembly.Memory, scratch: number, value: Float32Array, grad: Float32Array, buf: Float32Array | null, step: SgdStep,
): void {
  const heap = new Float32Array(memory.buffer);
  const [v, g, b] = [scratch / 4, scratch / 4 + SGD_CHUNK, scratch / 4 + 2 * SGD_CHUNK]; // where each array's chunk sits (floats)
  const { lr, weightDecay, momentum, mode } = sgdArguments(step);
  for (let start = 0; start < value.length; start += SGD_CHUNK) {
    const end = Math.min(value.length, start + SGD_CHUNK);
    const length = end - start;
    const padded = Math.ceil(length / 4) * 4; // the lanes past the end step zeros, and stay here
    heap.set(value.subarray(start, end), v);
    heap.set(grad.subarray(start, end), g);
    if (buf !== null) heap.set(buf.subarray(start, end), b);
    if (padded > length) {
      heap.fill(0, v + length, v + padded);
      heap.fill(0, g + length, g + padded);
      heap.fill(0, b + length, b + padded);
    }
    wasm.sgd_step(4 * v, 4 * g, 4 * b, padded, lr, weightDecay, momentum, mode);
    value.set(heap.subarray(v, v + length), start);
    if (buf !== null) buf.set(heap.subarray(b, b + length), start);
  }
}
