// Max pooling on GPU.js: forward (values and argmax) and backward in gather form.
//
// Forward scans each window like the reference: padding is skipped (it never wins), the first
// valid element starts the running maximum, and ties go to the first maximum in scan order. The
// running maximum does NOT start from -Infinity: on GL, GPU.js writes Infinity as 3.4e38, and a
// window of values below -3.4e38 (or an all-padding start) would then go wrong.
//
// The argmax is the index h * W + w within the input plane, as the reference gives it. One
// element function serves both outputs (the `wantIndex` constant picks which), compiled as two
// kernels: GPU.js kernels return one number per thread.
//
// Backward: each input element gathers the dy of the windows whose argmax is itself. The windows
// containing (iy, ix) are those with oy * strideH = iy + padH - ky for some tap ky.
//
// Tensors are 3-D arrays [W, H, N * C]; (n, c) planes are pooled independently.
// NaN inputs: the reference lets a NaN win its window; here a NaN would never win (comparisons with
// NaN are false, and GL compilers may not preserve NaN at all), so GpuJsKernels sends an input
// holding a NaN to the reference kernel instead of these.

import { Pool2dGeometry } from '../geometry';
import { GpuJsRuntime, KernelThis, as3D, flattenRows } from './runtime';

interface PoolConstants extends Pool2dGeometry {
  wantIndex: number; // 1: return the argmax index, 0: return the maximum
}

type PoolThis = KernelThis<PoolConstants>;

/** The maximum of window (oy, ox) of plane z, or its index; output [W_out (padded), H_out, N * C]. */
function maxPoolForwardElement(this: PoolThis, x: number[][][]): number {
  const ox = this.thread.x;
  const oy = this.thread.y;
  const z = this.thread.z;
  let best = 0;
  let bestIndex = -1; // -1 until the first valid element of the window is seen
  for (let ky = 0; ky < this.constants.kernelH; ky++) {
    const iy = oy * this.constants.strideH - this.constants.padH + ky;
    for (let kx = 0; kx < this.constants.kernelW; kx++) {
      const ix = ox * this.constants.strideW - this.constants.padW + kx;
      if (iy >= 0 && iy < this.constants.inH && ix >= 0 && ix < this.constants.inW) {
        const v = x[z][iy][ix];
        if (bestIndex < 0 || v > best) {
          best = v;
          bestIndex = iy * this.constants.inW + ix;
        }
      }
    }
  }
  if (this.constants.wantIndex === 1) return bestIndex;
  return best;
}

/** dx(z, iy, ix); output [W (padded), H, N * C]. */
function maxPoolBackwardElement(this: PoolThis, dy: number[][][], argmax: number[][][]): number {
  const ix = this.thread.x;
  const iy = this.thread.y;
  const z = this.thread.z;
  const self = iy * this.constants.inW + ix;
  let acc = 0;
  for (let ky = 0; ky < this.constants.kernelH; ky++) {
    const ty = iy + this.constants.padH - ky;
    const oy = Math.floor((ty + 0.5) / this.constants.strideH); // the candidate window row
    for (let kx = 0; kx < this.constants.kernelW; kx++) {
      const tx = ix + this.constants.padW - kx;
      const ox = Math.floor((tx + 0.5) / this.constants.strideW);
      if (
        ty >= 0 && tx >= 0 &&
        oy * this.constants.strideH === ty && ox * this.constants.strideW === tx &&
        oy < this.constants.outH && ox < this.constants.outW
      ) {
        // Overlapping windows (3x3 stride 1) may all pick this element: their gradients add up.
        if (argmax[z][oy][ox] === self) acc += dy[z][oy][ox];
      }
    }
  }
  return acc;
}

function poolKey(kind: string, g: Pool2dGeometry): string {
  return `${kind}:${Object.values(g).join(',')}`;
}

/** Argmax indices travel as float32: exact only below 2^24, so a plane may not be larger. */
function checkPlaneSize(g: Pool2dGeometry): void {
  if (g.inH * g.inW >= 2 ** 24) {
    throw new Error(`maxpool2d (gpu.js): an input plane of ${g.inH}x${g.inW} has too many elements for float32 argmax indices`);
  }
}

export async function maxPool2dForward(rt: GpuJsRuntime, g: Pool2dGeometry, x: Float32Array): Promise<{ y: Float32Array; argmax: Int32Array }> {
  checkPlaneSize(g);
  const planes = g.batch * g.channels;
  const output: [number, number, number] = [rt.paddedWidth(g.outW), g.outH, planes];
  const xs = as3D(x, [g.inW, g.inH, planes]);
  const values = rt.kernel(poolKey('maxpool2d.forward', g), () => ({ fn: maxPoolForwardElement, output, constants: { ...g, wantIndex: 0 } }));
  const indices = rt.kernel(poolKey('maxpool2d.argmax', g), () => ({ fn: maxPoolForwardElement, output, constants: { ...g, wantIndex: 1 } }));
  const y = flattenRows(await rt.run(values, [xs]), g.outW);
  const argmaxF = flattenRows(await rt.run(indices, [xs]), g.outW);
  return { y, argmax: Int32Array.from(argmaxF) };
}

export async function maxPool2dBackward(rt: GpuJsRuntime, g: Pool2dGeometry, dy: Float32Array, argmax: Int32Array): Promise<Float32Array> {
  checkPlaneSize(g);
  const planes = g.batch * g.channels;
  const kernel = rt.kernel(poolKey('maxpool2d.backward', g), () => ({
    fn: maxPoolBackwardElement,
    output: [rt.paddedWidth(g.inW), g.inH, planes],
    constants: { ...g, wantIndex: 0 },
  }));
  const rows = await rt.run(kernel, [as3D(dy, [g.outW, g.outH, planes]), as3D(Float32Array.from(argmax), [g.outW, g.outH, planes])]);
  return flattenRows(rows, g.inW);
}
