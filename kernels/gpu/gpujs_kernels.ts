// The Kernels interface on GPU.js: every kernel of SSD300 written as a GPU.js element function.
//
//   const kernels = new GpuJsKernels({ mode: 'webasm' });   // or 'headlessgl', 'cpu'
//   const y = await kernels.conv2dForward(x, w, b, { padding: 1 });
//   await kernels.dispose();
//
// Modes: 'webasm' (WebAssembly with SIMD and worker threads), 'headlessgl' (WebGL through the `gl`
// package; needs an X server, e.g. under `xvfb-run`), 'cpu' (GPU.js translating to plain JS).
// The mode asked for is the mode that runs: if GPU.js cannot provide it, construction or the first
// kernel call throws; GPU.js's silent fallback to another backend is caught and turned into an
// error. `actualMode` says which backend ran the last kernel.
//
// Arguments are checked, and float64 tensors (the gradient checks: GPU.js computes in float32
// only) sent to the reference, by kernels/checked.ts, which createKernels puts in front of this
// backend. Empty tensors and pooling inputs holding a NaN still go to the reference from here.
//
// Accuracy against the reference (float32): convolutions and the sums of the L2 norm agree to about
// 1e-5 relative (float32 sums in another order); max pooling values and argmax are exact, its
// gradient is exact except where overlapping windows add gradients; ReLU is exact.

import { Shape, Tensor } from '../../tensor/tensor';
import { Conv2dOptions, Pool2dOptions, conv2dGeometry, pool2dGeometry } from '../geometry';
import { ConvParameterGrads, Kernels, L2NormGrads, L2NormResult, MaxPoolResult } from '../kernels';
import * as reference from '../cpu/reference';
import { GpuJsMode, GpuJsRuntime } from './runtime';
import * as conv from './conv';
import * as pool from './pool';
import * as l2 from './l2norm';
import * as relu from './relu';

export interface GpuJsKernelsOptions {
  mode: GpuJsMode;
  /** How many compiled kernels to keep (least recently used beyond it are destroyed); default 32. */
  maxKernels?: number;
}

export class GpuJsKernels extends reference.ReferencePasses implements Kernels {
  readonly name: string;
  readonly mode: GpuJsMode;
  private readonly rt: GpuJsRuntime;

  constructor(options: GpuJsKernelsOptions) {
    super();
    this.mode = options.mode;
    this.name = `gpu.js:${options.mode}`;
    this.rt = new GpuJsRuntime(options.mode, options.maxKernels);
  }

  /** The GPU.js backend that actually ran the kernels (null before the first kernel call). */
  get actualMode(): string | null {
    return this.rt.actualMode;
  }

  /** Number of compiled kernels held: one per kernel kind and geometry, at most `maxKernels`. */
  get cacheSize(): number {
    return this.rt.cacheSize;
  }

  /** How many kernels were destroyed to keep the cache within `maxKernels`. */
  get evictions(): number {
    return this.rt.evictions;
  }

  /** The key and output size [x, y, z] of every compiled kernel (x padded on 'webasm'). */
  kernelOutputs(): { key: string; output: [number, number, number] }[] {
    return this.rt.kernelOutputs();
  }

  async conv2dForward(x: Tensor, w: Tensor, b: Tensor | null, options: Conv2dOptions, relu = false): Promise<Tensor> {
    const g = conv2dGeometry(x.shape, w.shape, options);
    const y = await conv.conv2dForward(this.rt, g, x.data as Float32Array, w.data as Float32Array, b ? (b.data as Float32Array) : null);
    const out = new Tensor([g.batch, g.outChannels, g.outH, g.outW], y);
    if (relu) reference.reluInPlace(out); // on the CPU: the GPU.js kernels read and write host arrays anyway
    return out;
  }

  async conv2dBackwardInput(dy: Tensor, w: Tensor, inputShape: Shape, options: Conv2dOptions): Promise<Tensor> {
    const g = conv2dGeometry(inputShape, w.shape, options);
    return new Tensor(inputShape, await conv.conv2dBackwardInput(this.rt, g, dy.data as Float32Array, w.data as Float32Array));
  }

  async conv2dBackwardWeight(dy: Tensor, x: Tensor, weightShape: Shape, options: Conv2dOptions): Promise<Tensor> {
    const g = conv2dGeometry(x.shape, weightShape, options);
    return new Tensor(weightShape, await conv.conv2dBackwardWeight(this.rt, g, dy.data as Float32Array, x.data as Float32Array));
  }

  async conv2dBackwardBias(dy: Tensor): Promise<Tensor> {
    if (dy.size === 0) return reference.conv2dBackwardBias(dy);
    return new Tensor([dy.shape[1]], await conv.conv2dBackwardBias(this.rt, dy.shape, dy.data as Float32Array));
  }

  async conv2dBackwardWeightAndBias(dy: Tensor, x: Tensor, weightShape: Shape, options: Conv2dOptions): Promise<ConvParameterGrads> {
    return { dw: await this.conv2dBackwardWeight(dy, x, weightShape, options), db: await this.conv2dBackwardBias(dy) };
  }

  async maxPool2dForward(x: Tensor, options: Pool2dOptions): Promise<MaxPoolResult> {
    const g = pool2dGeometry(x.shape, options);
    // A NaN must win its window, as in PyTorch, but GPU comparisons drop NaN (and GL may not keep
    // it at all): an input holding a NaN goes to the reference. The scan costs one read per element.
    if (x.size === 0 || containsNaN(x.data)) return reference.maxPool2dForward(x, options);
    const { y, argmax } = await pool.maxPool2dForward(this.rt, g, x.data as Float32Array);
    return { y: new Tensor([g.batch, g.channels, g.outH, g.outW], y), argmax };
  }

  async maxPool2dBackward(dy: Tensor, argmax: Int32Array, inputShape: Shape, options: Pool2dOptions): Promise<Tensor> {
    const g = pool2dGeometry(inputShape, options);
    if (dy.size === 0) return reference.maxPool2dBackward(dy, argmax, inputShape, options);
    return new Tensor(inputShape, await pool.maxPool2dBackward(this.rt, g, dy.data as Float32Array, argmax));
  }

  async l2NormForward(x: Tensor, scale: Tensor, eps: number): Promise<L2NormResult> {
    if (x.size === 0) return reference.l2NormForward(x, scale, eps);
    const shape = x.shape as unknown as readonly [number, number, number, number];
    const { y, norm } = await l2.l2NormForward(this.rt, shape, x.data as Float32Array, scale.data as Float32Array, eps);
    return { y: new Tensor(x.shape, y), norm: new Tensor([shape[0], 1, shape[2], shape[3]], norm) };
  }

  async l2NormBackward(dy: Tensor, x: Tensor, scale: Tensor, norm: Tensor): Promise<L2NormGrads> {
    const shape = x.shape as unknown as readonly [number, number, number, number];
    if (x.size === 0) return reference.l2NormBackward(dy, x, scale, norm);
    const { dx, dscale } = await l2.l2NormBackward(this.rt, shape, dy.data as Float32Array, x.data as Float32Array, scale.data as Float32Array, norm.data as Float32Array);
    return { dx: new Tensor(x.shape, dx), dscale: new Tensor(scale.shape, dscale) };
  }

  async reluForward(x: Tensor): Promise<Tensor> {
    if (x.size === 0) return reference.reluForward(x);
    return new Tensor(x.shape, await relu.reluForward(this.rt, x.shape, x.data as Float32Array));
  }

  async reluBackward(dy: Tensor, y: Tensor): Promise<Tensor> {
    if (dy.size === 0) return reference.reluBackward(dy, y);
    return new Tensor(dy.shape, await relu.reluBackward(this.rt, dy.shape, dy.data as Float32Array, y.data as Float32Array));
  }

  /** Destroys every compiled kernel and the GPU.js instance; the object is unusable afterwards. */
  async dispose(): Promise<void> {
    await this.rt.destroy();
  }
}

function containsNaN(data: ArrayLike<number>): boolean {
  for (let i = 0; i < data.length; i++) if (Number.isNaN(data[i])) return true;
  return false;
}
