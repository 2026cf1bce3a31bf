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

import { DType, Shape, Tensor } from '../tensor/tensor';
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

/** Per-channel statistics of a batch, what batch norm normalizes with (float64, one per channel). */
export interface BatchNormStatistics {
  mean: Float64Array; // (C)
  /** Biased: the mean squared deviation over the N * H * W values of the channel. */
  variance: Float64Array; // (C)
}

/** The per-channel sums batch norm's backward pass needs (float64, one per channel). */
export interface BatchNormSums {
  sumDy: Float64Array; // (C): sum of dy
  sumDyCentered: Float64Array; // (C): sum of dy * (x - mean)
}

/** y = (x - mean[c]) * scale[c] + shift[c]: batch norm's forward pass, per channel (C each). */
export interface BatchNormAffine {
  mean: Float64Array;
  scale: Float64Array;
  shift: Float64Array;
}

/** dx = dyScale[c] * dy + xScale[c] * (x - mean[c]) + shift[c]: batch norm's input gradient (C each). */
export interface BatchNormInputGradient {
  mean: Float64Array;
  dyScale: Float64Array;
  xScale: Float64Array;
  shift: Float64Array;
}

/** Every prior's log-sum-exp of its scores and cross-entropy against its class (float64, N * n_priors each). */
export interface PriorCrossEntropy {
  logSum: Float64Array;
  ce: Float64Array;
}

/** One SGD step of one parameter (layers/sgd.ts says the arithmetic: PyTorch's, rounded where it rounds). */
export interface SgdStep {
  /** -lr * lrMult: the step goes down the gradient. */
  lr: number;
  weightDecay: number;
  momentum: number;
  /** 'none': no momentum buffer; 'first': buf = d (the first step); 'later': buf = momentum * buf + d. */
  phase: 'none' | 'first' | 'later';
}

export interface Kernels {
  /** The name users select it by, e.g. 'reference'. */
  readonly name: string;

  /**
   * y = conv(x, w) + b. With `relu`, the ReLU that follows is applied in the same call: max(0, y),
   * exactly as reluForward computes it (a backend may fuse it into the convolution's last pass).
   */
  conv2dForward(x: Tensor, w: Tensor, b: Tensor | null, options: Conv2dOptions, relu?: boolean): Promise<Tensor>;
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

  /**
   * Batch norm, in three pieces (layers/batchnorm2d.ts puts them together): the batch's
   * statistics, the per-channel affine map they give, and, backward, two per-channel sums and
   * the affine map of dy and x that is the input gradient. x and dy are (N, C, H, W).
   */
  batchNormStatistics(x: Tensor): Promise<BatchNormStatistics>;
  /** With `relu`, the ReLU that follows is applied in the same pass: max(0, y). */
  batchNormForward(x: Tensor, affine: BatchNormAffine, relu?: boolean): Promise<Tensor>;
  /**
   * With `reluOutput` (the forward's output, when a ReLU was fused into it), dy counts only where
   * that output is positive: the ReLU's gradient, applied in the same pass.
   */
  batchNormBackwardSums(dy: Tensor, x: Tensor, mean: Float64Array, reluOutput?: Tensor | null): Promise<BatchNormSums>;
  batchNormBackwardInput(dy: Tensor, x: Tensor, gradient: BatchNormInputGradient, reluOutput?: Tensor | null): Promise<Tensor>;

  /**
   * The optimizer's pieces: one SGD step of a parameter, in place (value, and buf, the momentum
   * buffer, null without momentum), and gradient clipping's two passes: the sum of the squares of
   * a tensor's elements (in float64), and scaling a tensor in place.
   */
  sgdStep(value: Tensor, grad: Tensor, buf: Tensor | null, step: SgdStep): Promise<void>;
  sumOfSquares(t: Tensor): Promise<number>;
  scaleInPlace(t: Tensor, s: number): Promise<void>;

  /**
   * The MultiBox loss's confidence term (kernels/cross_entropy.ts says the arithmetic; ssd/loss.ts
   * mines the negatives between the two calls): for scores (N, n_priors, n_classes) and each
   * prior's target class (N * n_priors), every prior's log-sum-exp and cross-entropy; then the
   * gradient (N, n_priors, n_classes), (softmax - onehot) / divisor on the priors where counted
   * is 1 and 0 elsewhere, in scores' dtype. The same bits on every backend.
   */
  priorCrossEntropy(scores: Tensor, classTargets: Int32Array): Promise<PriorCrossEntropy>;
  priorCrossEntropyGradient(scores: Tensor, classTargets: Int32Array, logSum: Float64Array, counted: Uint8Array, divisor: number): Promise<Tensor>;

  /**
   * A tensor of zeros that lives where this backend's kernels read it without a copy (wasm: a
   * block of its own memory, when it has room and dtype is float32; the other backends: ordinary
   * memory). What a model's parameters, their gradients and the optimizer's momentum buffers are
   * made of, so that every step reads them in place (Parameter.placeIn, layers/sgd.ts).
   */
  zeros(shape: Shape, dtype?: DType): Tensor;

  reluForward(x: Tensor): Promise<Tensor>;
  /** dL/dx = dL/dy where the output y was positive, 0 elsewhere. */
  reluBackward(dy: Tensor, y: Tensor): Promise<Tensor>;

  /**
   * Gives back a tensor (or max pooling's argmax) this backend returned, at once. A backend that keeps tensors in memory of
   * its own (wasm: see kernels/wasm/heap.ts) reuses the memory for its next output, so the tensor
   * must not be used afterwards; the others do nothing (the garbage collector frees the tensor).
   * Anything else (a tensor of another backend, one given back already) is ignored.
   */
  release(t: Tensor | Int32Array): void;

  /** Release what the backend holds (compiled kernels, workers, GPU memory). */
  dispose(): Promise<void>;
}
