// The interface every numeric backend implements.
//
// Every method returns a Promise. The plain-TypeScript reference answers at once, but a backend
// may finish later: GPU.js in its async mode, or work split over worker_threads. Layers and the
// model `await` each kernel, so any backend can be dropped in without changing them.
//
// Shapes (NCHW):
//   x  (N, C_in, H, W)          input                 y  (N, C_out, H_out, W_out) output
//   w  (C_out, C_in, kH, kW)    convolution weights   b  (C_out)                  bias
//   dy has y's shape, dx has x's shape, dw has w's shape, db has b's shape.

import { Shape, Tensor } from '../tensor/tensor';
import { Conv2dOptions, Pool2dOptions } from './geometry';

export interface MaxPoolResult {
  y: Tensor; // (N, C, H_out, W_out)
  /** For each output element, the index h * W + w of its maximum within its input plane. */
  argmax: Int32Array;
}

/** A convolution's parameter gradients, from conv2dBackwardWeightAndBias. */
export interface ConvParameterGrads {
  dw: Tensor; // (C_out, C_in, kH, kW)
  db: Tensor; // (C_out)
}

export interface L2NormResult {
  y: Tensor; // (N, C, H, W): scale[c] * x / norm
  norm: Tensor; // (N, 1, H, W): sqrt(sum over channels of x^2 + eps), kept for backward
}

export interface L2NormGrads {
  dx: Tensor; // (N, C, H, W)
  dscale: Tensor; // (C)
}

export interface Kernels {
  /** The name users select it by, e.g. 'reference'. */
  readonly name: string;

  conv2dForward(x: Tensor, w: Tensor, b: Tensor | null, options: Conv2dOptions): Promise<Tensor>;
  /** dL/dx from dL/dy. `inputShape` is needed because a strided conv maps several sizes to one. */
  conv2dBackwardInput(dy: Tensor, w: Tensor, inputShape: Shape, options: Conv2dOptions): Promise<Tensor>;
  /** dL/dw from dL/dy and the forward input, summed over the batch. */
  conv2dBackwardWeight(dy: Tensor, x: Tensor, weightShape: Shape, options: Conv2dOptions): Promise<Tensor>;
  /** dL/db: dL/dy summed over the batch and every position. */
  conv2dBackwardBias(dy: Tensor): Promise<Tensor>;
  /**
   * Both of the above at once (what a layer with a bias needs), with the same values: a backend
   * may share its pass over dy (wasm copies dy into its memory once for the two).
   */
  conv2dBackwardWeightAndBias(dy: Tensor, x: Tensor, weightShape: Shape, options: Conv2dOptions): Promise<ConvParameterGrads>;

  maxPool2dForward(x: Tensor, options: Pool2dOptions): Promise<MaxPoolResult>;
  /** Routes each output gradient to the input element that was the maximum. */
  maxPool2dBackward(dy: Tensor, argmax: Int32Array, inputShape: Shape, options: Pool2dOptions): Promise<Tensor>;

  /** Channel-wise L2 normalization with a learned per-channel scale (SSD's conv4_3 rescaling). */
  l2NormForward(x: Tensor, scale: Tensor, eps: number): Promise<L2NormResult>;
  l2NormBackward(dy: Tensor, x: Tensor, scale: Tensor, norm: Tensor): Promise<L2NormGrads>;

  reluForward(x: Tensor): Promise<Tensor>;
  /** dL/dx = dL/dy where the output y was positive, 0 elsewhere. */
  reluBackward(dy: Tensor, y: Tensor): Promise<Tensor>;

  /** Release what the backend holds (compiled kernels, workers, GPU memory). */
  dispose(): Promise<void>;
}
