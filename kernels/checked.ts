// Checking once: the arguments of every kernel are validated here, in one place, and float64
// tensors (the finite-difference gradient checks) are sent to the reference kernels. A backend
// then keeps only its arithmetic: it may assume float32 tensors of consistent shapes.
//
//   const kernels = checked(new WasmKernels(), referenceKernels);   // what createKernels returns
//
// The check functions are also what the reference kernels call (they are used on their own, in
// tests and gradient checks), so the error messages are the same whichever backend runs.

import { DType, Shape, Tensor, assertShape, shapeToString, shapesEqual } from '../tensor/tensor';
import { Conv2dGeometry, Conv2dOptions, Pool2dGeometry, Pool2dOptions, conv2dGeometry, pool2dGeometry } from './geometry';
import {
  BatchNormAffine, BatchNormInputGradient, BatchNormStatistics, BatchNormSums, ConvParameterGrads, Kernels, L2NormGrads, L2NormResult,
  MaxPoolResult, PriorCrossEntropy, SgdStep,
} from './kernels';

// ---------------------------------------------------------------------------------------------
// The checks: each throws with a message naming the kernel, the tensor and both shapes.

export function checkConv2dForward(x: Tensor, w: Tensor, b: Tensor | null, options: Conv2dOptions): Conv2dGeometry {
  const g = conv2dGeometry(x.shape, w.shape, options);
  if (b !== null) assertShape(b, [g.outChannels], 'conv2d forward: bias');
  return g;
}

export function checkConv2dBackwardInput(dy: Tensor, w: Tensor, inputShape: Shape, options: Conv2dOptions): Conv2dGeometry {
  const g = conv2dGeometry(inputShape, w.shape, options);
  assertShape(dy, [g.batch, g.outChannels, g.outH, g.outW], 'conv2d backward (input): dy');
  return g;
}

export function checkConv2dBackwardWeight(dy: Tensor, x: Tensor, weightShape: Shape, options: Conv2dOptions): Conv2dGeometry {
  const g = conv2dGeometry(x.shape, weightShape, options);
  assertShape(dy, [g.batch, g.outChannels, g.outH, g.outW], 'conv2d backward (weight): dy');
  return g;
}

export function checkConv2dBackwardBias(dy: Tensor): void {
  if (dy.rank !== 4) throw new Error(`conv2d backward (bias): dy must be (N, C_out, H_out, W_out), got ${shapeToString(dy.shape)}`);
}

export function checkMaxPool2dForward(x: Tensor, options: Pool2dOptions): Pool2dGeometry {
  return pool2dGeometry(x.shape, options);
}

export function checkMaxPool2dBackward(dy: Tensor, argmax: Int32Array, inputShape: Shape, options: Pool2dOptions): Pool2dGeometry {
  const g = pool2dGeometry(inputShape, options);
  assertShape(dy, [g.batch, g.channels, g.outH, g.outW], 'maxpool2d backward: dy');
  if (argmax.length !== dy.size) throw new Error(`maxpool2d backward: argmax has ${argmax.length} entries, dy has ${dy.size}`);
  return g;
}

function checkScale(x: Tensor, scale: Tensor, what: string): void {
  if (scale.size !== x.shape[1]) {
    throw new Error(`${what}: scale ${shapeToString(scale.shape)} must have one entry per channel of x ${shapeToString(x.shape)}`);
  }
}

export function checkL2NormForward(x: Tensor, scale: Tensor): void {
  if (x.rank !== 4) throw new Error(`l2norm forward: x must be (N, C, H, W), got ${shapeToString(x.shape)}`);
  checkScale(x, scale, 'l2norm forward');
}

export function checkL2NormBackward(dy: Tensor, x: Tensor, scale: Tensor, norm: Tensor): void {
  if (x.rank !== 4) throw new Error(`l2norm backward: x must be (N, C, H, W), got ${shapeToString(x.shape)}`);
  if (!shapesEqual(dy.shape, x.shape)) throw new Error(`l2norm backward: dy ${shapeToString(dy.shape)} must have x's shape ${shapeToString(x.shape)}`);
  checkScale(x, scale, 'l2norm backward');
  const [batch, , h, w] = x.shape;
  assertShape(norm, [batch, 1, h, w], 'l2norm backward: norm');
}

export function checkBatchNormInput(x: Tensor, what: string): void {
  if (x.rank !== 4) throw new Error(`${what} must be (N, C, H, W), got ${shapeToString(x.shape)}`);
}

/** Every per-channel array of a batch-norm call has one entry per channel of x. */
export function checkBatchNormCoefficients(x: Tensor, coefficients: object, what: string): void {
  for (const [name, values] of Object.entries(coefficients)) {
    if (!(values instanceof Float64Array) || values.length !== x.shape[1]) {
      const got = values instanceof Float64Array ? `${values.length} values` : 'not a Float64Array';
      throw new Error(`${what}: ${name} must be a Float64Array with one value per channel of x ${shapeToString(x.shape)}, got ${got}`);
    }
  }
}

export function checkBatchNormAffine(x: Tensor, affine: BatchNormAffine, what: string): void {
  checkBatchNormInput(x, `${what}: x`);
  checkBatchNormCoefficients(x, affine, what);
}

export function checkBatchNormBackward(dy: Tensor, x: Tensor, mean: Float64Array, what: string, reluOutput: Tensor | null = null): void {
  checkBatchNormInput(x, `${what}: x`);
  if (!shapesEqual(dy.shape, x.shape)) throw new Error(`${what}: dy ${shapeToString(dy.shape)} must have x's shape ${shapeToString(x.shape)}`);
  if (reluOutput !== null && !shapesEqual(reluOutput.shape, x.shape)) {
    throw new Error(`${what}: the ReLU's output ${shapeToString(reluOutput.shape)} must have x's shape ${shapeToString(x.shape)}`);
  }
  checkBatchNormCoefficients(x, { mean }, what);
}

export function checkSgdStep(value: Tensor, grad: Tensor, buf: Tensor | null, step: SgdStep): void {
  if (!shapesEqual(grad.shape, value.shape)) throw new Error(`sgd step: gradient ${shapeToString(grad.shape)} for a parameter of shape ${shapeToString(value.shape)}`);
  if (buf !== null && !shapesEqual(buf.shape, value.shape)) throw new Error(`sgd step: momentum buffer ${shapeToString(buf.shape)} for a parameter of shape ${shapeToString(value.shape)}`);
  if ((buf === null) !== (step.phase === 'none')) throw new Error(`sgd step: phase '${step.phase}' ${buf === null ? 'without' : 'with'} a momentum buffer`);
  if (grad.dtype !== value.dtype || (buf !== null && buf.dtype !== value.dtype)) throw new Error('sgd step: the parameter, its gradient and its momentum buffer must have one dtype');
}

export function checkReluBackward(dy: Tensor, y: Tensor): void {
  if (!shapesEqual(dy.shape, y.shape)) throw new Error(`relu backward: dy ${shapeToString(dy.shape)} must have y's shape ${shapeToString(y.shape)}`);
}

/** scores (N, n_priors, n_classes) with N * n_priors class targets, each a class of scores. */
export function checkPriorCrossEntropy(scores: Tensor, classTargets: Int32Array, what: string): void {
  if (scores.rank !== 3) throw new Error(`${what}: scores must be (N, n_priors, n_classes), got ${shapeToString(scores.shape)}`);
  const [batch, priors, classes] = scores.shape;
  if (classTargets.length !== batch * priors) {
    throw new Error(`${what}: ${classTargets.length} class targets for scores ${shapeToString(scores.shape)} (expected ${batch * priors})`);
  }
  for (let p = 0; p < classTargets.length; p++) {
    if (!(classTargets[p] >= 0 && classTargets[p] < classes)) throw new Error(`${what}: prior ${p}'s class target is ${classTargets[p]}, not a class of ${classes}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The wrapper

function allFloat32(...tensors: (Tensor | null)[]): boolean {
  return tensors.every((t) => t === null || t.dtype === 'float32');
}

/**
 * A backend behind the checks: float32 calls go to `fast`, anything else to `float64` (the
 * reference). The methods are async so that a failed check is a rejected promise, as it is from
 * every backend.
 */
export class CheckedKernels implements Kernels {
  constructor(
    readonly fast: Kernels,
    private readonly float64: Kernels,
  ) {}

  get name(): string {
    return this.fast.name;
  }

  async conv2dForward(x: Tensor, w: Tensor, b: Tensor | null, options: Conv2dOptions, relu = false): Promise<Tensor> {
    checkConv2dForward(x, w, b, options);
    return (allFloat32(x, w, b) ? this.fast : this.float64).conv2dForward(x, w, b, options, relu);
  }

  async conv2dBackwardInput(dy: Tensor, w: Tensor, inputShape: Shape, options: Conv2dOptions): Promise<Tensor> {
    checkConv2dBackwardInput(dy, w, inputShape, options);
    return (allFloat32(dy, w) ? this.fast : this.float64).conv2dBackwardInput(dy, w, inputShape, options);
  }

  async conv2dBackwardWeight(dy: Tensor, x: Tensor, weightShape: Shape, options: Conv2dOptions): Promise<Tensor> {
    checkConv2dBackwardWeight(dy, x, weightShape, options);
    return (allFloat32(dy, x) ? this.fast : this.float64).conv2dBackwardWeight(dy, x, weightShape, options);
  }

  async conv2dBackwardBias(dy: Tensor): Promise<Tensor> {
    checkConv2dBackwardBias(dy);
    return (allFloat32(dy) ? this.fast : this.float64).conv2dBackwardBias(dy);
  }

  async conv2dBackwardWeightAndBias(dy: Tensor, x: Tensor, weightShape: Shape, options: Conv2dOptions): Promise<ConvParameterGrads> {
    checkConv2dBackwardWeight(dy, x, weightShape, options); // dy's shape too, which covers the bias's check
    return (allFloat32(dy, x) ? this.fast : this.float64).conv2dBackwardWeightAndBias(dy, x, weightShape, options);
  }

  async maxPool2dForward(x: Tensor, options: Pool2dOptions): Promise<MaxPoolResult> {
    checkMaxPool2dForward(x, options);
    return (allFloat32(x) ? this.fast : this.float64).maxPool2dForward(x, options);
  }

  async maxPool2dBackward(dy: Tensor, argmax: Int32Array, inputShape: Shape, options: Pool2dOptions): Promise<Tensor> {
    checkMaxPool2dBackward(dy, argmax, inputShape, options);
    return (allFloat32(dy) ? this.fast : this.float64).maxPool2dBackward(dy, argmax, inputShape, options);
  }

  async l2NormForward(x: Tensor, scale: Tensor, eps: number): Promise<L2NormResult> {
    checkL2NormForward(x, scale);
    return (allFloat32(x, scale) ? this.fast : this.float64).l2NormForward(x, scale, eps);
  }

  async l2NormBackward(dy: Tensor, x: Tensor, scale: Tensor, norm: Tensor): Promise<L2NormGrads> {
    checkL2NormBackward(dy, x, scale, norm);
    return (allFloat32(dy, x, scale, norm) ? this.fast : this.float64).l2NormBackward(dy, x, scale, norm);
  }

  async batchNormStatistics(x: Tensor): Promise<BatchNormStatistics> {
    checkBatchNormInput(x, 'batch norm statistics: x');
    return (allFloat32(x) ? this.fast : this.float64).batchNormStatistics(x);
  }

  async batchNormForward(x: Tensor, affine: BatchNormAffine, relu = false): Promise<Tensor> {
    checkBatchNormAffine(x, affine, 'batch norm forward');
    return (allFloat32(x) ? this.fast : this.float64).batchNormForward(x, affine, relu);
  }

  async batchNormBackwardSums(dy: Tensor, x: Tensor, mean: Float64Array, reluOutput: Tensor | null = null): Promise<BatchNormSums> {
    checkBatchNormBackward(dy, x, mean, 'batch norm backward sums', reluOutput);
    return (allFloat32(dy, x, reluOutput) ? this.fast : this.float64).batchNormBackwardSums(dy, x, mean, reluOutput);
  }

  async batchNormBackwardInput(dy: Tensor, x: Tensor, gradient: BatchNormInputGradient, reluOutput: Tensor | null = null): Promise<Tensor> {
    checkBatchNormBackward(dy, x, gradient.mean, 'batch norm backward input', reluOutput);
    checkBatchNormCoefficients(x, gradient, 'batch norm backward input');
    return (allFloat32(dy, x, reluOutput) ? this.fast : this.float64).batchNormBackwardInput(dy, x, gradient, reluOutput);
  }

  async sgdStep(value: Tensor, grad: Tensor, buf: Tensor | null, step: SgdStep): Promise<void> {
    checkSgdStep(value, grad, buf, step);
    return (allFloat32(value, grad, buf) ? this.fast : this.float64).sgdStep(value, grad, buf, step);
  }

  async sumOfSquares(t: Tensor): Promise<number> {
    return (allFloat32(t) ? this.fast : this.float64).sumOfSquares(t);
  }

  async scaleInPlace(t: Tensor, s: number): Promise<void> {
    return (allFloat32(t) ? this.fast : this.float64).scaleInPlace(t, s);
  }

  async priorCrossEntropy(scores: Tensor, classTargets: Int32Array): Promise<PriorCrossEntropy> {
    checkPriorCrossEntropy(scores, classTargets, 'priorCrossEntropy');
    return (allFloat32(scores) ? this.fast : this.float64).priorCrossEntropy(scores, classTargets);
  }

  async priorCrossEntropyGradient(scores: Tensor, classTargets: Int32Array, logSum: Float64Array, counted: Uint8Array, divisor: number): Promise<Tensor> {
    checkPriorCrossEntropy(scores, classTargets, 'priorCrossEntropyGradient');
    const priors = classTargets.length;
    if (logSum.length !== priors || counted.length !== priors) {
      throw new Error(`priorCrossEntropyGradient: logSum has ${logSum.length} and counted ${counted.length} values for ${priors} priors`);
    }
    return (allFloat32(scores) ? this.fast : this.float64).priorCrossEntropyGradient(scores, classTargets, logSum, counted, divisor);
  }

  zeros(shape: Shape, dtype: DType = 'float32'): Tensor {
    // the float64 kernels' tensors (gradient checks) are ordinary memory; float32 ones the backend's
    return dtype === 'float32' ? this.fast.zeros(shape, dtype) : this.float64.zeros(shape, dtype);
  }

  async reluForward(x: Tensor): Promise<Tensor> {
    return (allFloat32(x) ? this.fast : this.float64).reluForward(x);
  }

  async reluBackward(dy: Tensor, y: Tensor): Promise<Tensor> {
    checkReluBackward(dy, y);
    return (allFloat32(dy, y) ? this.fast : this.float64).reluBackward(dy, y);
  }

  /** Float64 tensors came from the reference, which ignores release; the fast backend decides for the rest. */
  release(t: Tensor | Int32Array): void {
    this.fast.release(t);
  }

  dispose(): Promise<void> {
    return this.fast.dispose();
  }
}

/** `fast` behind the checks, with float64 calls sent to `float64` (pass the reference kernels). */
export function checked(fast: Kernels, float64: Kernels): CheckedKernels {
  return new CheckedKernels(fast, float64);
}
