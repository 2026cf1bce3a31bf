// ReLU on GPU.js: y = max(x, 0), and dx = dy where y > 0.
//
// A tensor of any shape is seen as a 3-D array [X, Y, Z]: X its last dimension, Y the one before,
// Z everything else. (A flat 1-D view would need flat indices above 2^24 for big activations, which
// 'webasm' computes wrongly when they pass through a float; see runtime.ts.)

import { Shape } from '../../tensor/tensor';
import { Dims3, ElementFunction, GpuJsRuntime, KernelThis, as3D, flattenRows } from './runtime';

interface EltConstants {
  width: number; // X, before padding
}

type EltThis = KernelThis<EltConstants>;

function reluForwardElement(this: EltThis, x: number[][][]): number {
  // Padded columns must not read: the last row has nothing after it.
  if (this.thread.x < this.constants.width) {
    const v = x[this.thread.z][this.thread.y][this.thread.x];
    if (v > 0) return v;
  }
  return 0;
}

function reluBackwardElement(this: EltThis, dy: number[][][], y: number[][][]): number {
  if (this.thread.x < this.constants.width) {
    if (y[this.thread.z][this.thread.y][this.thread.x] > 0) return dy[this.thread.z][this.thread.y][this.thread.x];
  }
  return 0;
}

/** [X, Y, Z] for a shape: last dimension, the one before, the product of the rest. */
export function dims3(shape: Shape): Dims3 {
  const r = shape.length;
  const x = r >= 1 ? shape[r - 1] : 1;
  const y = r >= 2 ? shape[r - 2] : 1;
  let z = 1;
  for (let i = 0; i < r - 2; i++) z *= shape[i];
  return [x, y, z];
}

function eltKernel(rt: GpuJsRuntime, kind: string, dims: Dims3, fn: ElementFunction) {
  return rt.kernel(`${kind}:${dims.join(',')}`, () => ({
    fn,
    output: [rt.paddedWidth(dims[0]), dims[1], dims[2]],
    constants: { width: dims[0] },
  }));
}

export async function reluForward(rt: GpuJsRuntime, shape: Shape, x: Float32Array): Promise<Float32Array> {
  const dims = dims3(shape);
  const rows = await rt.run(eltKernel(rt, 'relu.forward', dims, reluForwardElement), [as3D(x, dims)]);
  return flattenRows(rows, dims[0]);
}

export async function reluBackward(rt: GpuJsRuntime, shape: Shape, dy: Float32Array, y: Float32Array): Promise<Float32Array> {
  const dims = dims3(shape);
  const rows = await rt.run(eltKernel(rt, 'relu.backward', dims, reluBackwardElement), [as3D(dy, dims), as3D(y, dims)]);
  return flattenRows(rows, dims[0]);
}
