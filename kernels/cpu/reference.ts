// The reference kernels: plain loops, written to be read, kept forever.
//
// Every faster kernel (multi-core CPU, GPU.js) is tested against these on the same inputs.
// They work in the dtype of their inputs (float32, or float64 for gradient checks) and sum in
// JavaScript doubles, rounding once when the result is stored.
//
// The convolution loops share one structure: for every output element (n, co, oy, ox) and every
// filter tap (ci, ky, kx), the input element it touches is
//   iy = oy * strideH - padH + ky * dilationH,   ix = ox * strideW - padW + kx * dilationW
// (skipped when it falls in the zero padding). Forward gathers x * w into y; backward runs the
// same loops and scatters dy * w into dx and dy * x into dw: each backward is visibly the dual
// of its forward.

import { DType, FloatArray, Shape, Tensor, allocate } from '../../tensor/tensor';
import { Conv2dOptions, Pool2dGeometry, Pool2dOptions } from '../geometry';
import {
  BatchNormAffine, BatchNormInputGradient, BatchNormStatistics, BatchNormSums, ConvParameterGrads, Kernels, L2NormGrads, L2NormResult,
  MaxPoolResult, PriorCrossEntropy, SgdStep,
} from '../kernels';
import { priorCrossEntropyGradientRange, priorCrossEntropyRange } from '../cross_entropy';
import {
  checkBatchNormAffine, checkBatchNormBackward, checkBatchNormCoefficients, checkBatchNormInput, checkConv2dBackwardBias,
  checkConv2dBackwardInput, checkConv2dBackwardWeight, checkConv2dForward, checkL2NormBackward, checkL2NormForward,
  checkMaxPool2dBackward, checkMaxPool2dForward, checkReluBackward, checkSgdStep,
} from '../checked';

/** Copy a float64 accumulator into a new tensor of the given dtype. */
function store(shape: Shape, acc: Float64Array, like: Tensor): Tensor {
  const data = allocate(like.dtype, acc.length);
  data.set(acc);
  return new Tensor(shape, data);
}

// ---------------------------------------------------------------------------------------------
// Convolution

export function conv2dForward(x: Tensor, w: Tensor, b: Tensor | null, options: Conv2dOptions): Tensor {
  const g = checkConv2dForward(x, w, b, options);
  const y = new Tensor([g.batch, g.outChannels, g.outH, g.outW], allocate(x.dtype, g.batch * g.outChannels * g.outH * g.outW));
  for (let n = 0; n < g.batch; n++) {
    for (let co = 0; co < g.outChannels; co++) {
      for (let oy = 0; oy < g.outH; oy++) {
        for (let ox = 0; ox < g.outW; ox++) {
          let acc = b === null ? 0 : b.data[co];
          for (let ci = 0; ci < g.inChannels; ci++) {
            for (let ky = 0; ky < g.kernelH; ky++) {
              const iy = oy * g.strideH - g.padH + ky * g.dilationH;
              if (iy < 0 || iy >= g.inH) continue; // zero padding
              for (let kx = 0; kx < g.kernelW; kx++) {
                const ix = ox * g.strideW - g.padW + kx * g.dilationW;
                if (ix < 0 || ix >= g.inW) continue;
                acc +=
                  x.data[((n * g.inChannels + ci) * g.inH + iy) * g.inW + ix] *
                  w.data[((co * g.inChannels + ci) * g.kernelH + ky) * g.kernelW + kx];
              }
            }
          }
          y.data[((n * g.outChannels + co) * g.outH + oy) * g.outW + ox] = acc;
        }
      }
    }
  }
  return y;
}

export function conv2dBackwardInput(dy: Tensor, w: Tensor, inputShape: Shape, options: Conv2dOptions): Tensor {
  const g = checkConv2dBackwardInput(dy, w, inputShape, options);
  const dx = new Float64Array(g.batch * g.inChannels * g.inH * g.inW);
  for (let n = 0; n < g.batch; n++) {
    for (let co = 0; co < g.outChannels; co++) {
      for (let oy = 0; oy < g.outH; oy++) {
        for (let ox = 0; ox < g.outW; ox++) {
          const grad = dy.data[((n * g.outChannels + co) * g.outH + oy) * g.outW + ox];
          for (let ci = 0; ci < g.inChannels; ci++) {
            for (let ky = 0; ky < g.kernelH; ky++) {
              const iy = oy * g.strideH - g.padH + ky * g.dilationH;
              if (iy < 0 || iy >= g.inH) continue;
              for (let kx = 0; kx < g.kernelW; kx++) {
                const ix = ox * g.strideW - g.padW + kx * g.dilationW;
                if (ix < 0 || ix >= g.inW) continue;
                dx[((n * g.inChannels + ci) * g.inH + iy) * g.inW + ix] +=
                  grad * w.data[((co * g.inChannels + ci) * g.kernelH + ky) * g.kernelW + kx];
              }
            }
          }
        }
      }
    }
  }
  return store(inputShape, dx, dy);
}

export function conv2dBackwardWeight(dy: Tensor, x: Tensor, weightShape: Shape, options: Conv2dOptions): Tensor {
  const g = checkConv2dBackwardWeight(dy, x, weightShape, options);
  const dw = new Float64Array(g.outChannels * g.inChannels * g.kernelH * g.kernelW);
  for (let n = 0; n < g.batch; n++) {
    for (let co = 0; co < g.outChannels; co++) {
      for (let oy = 0; oy < g.outH; oy++) {
        for (let ox = 0; ox < g.outW; ox++) {
          const grad = dy.data[((n * g.outChannels + co) * g.outH + oy) * g.outW + ox];
          for (let ci = 0; ci < g.inChannels; ci++) {
            for (let ky = 0; ky < g.kernelH; ky++) {
              const iy = oy * g.strideH - g.padH + ky * g.dilationH;
              if (iy < 0 || iy >= g.inH) continue;
              for (let kx = 0; kx < g.kernelW; kx++) {
                const ix = ox * g.strideW - g.padW + kx * g.dilationW;
                if (ix < 0 || ix >= g.inW) continue;
                dw[((co * g.inChannels + ci) * g.kernelH + ky) * g.kernelW + kx] +=
                  grad * x.data[((n * g.inChannels + ci) * g.inH + iy) * g.inW + ix];
              }
            }
          }
        }
      }
    }
  }
  return store(weightShape, dw, dy);
}

export function conv2dBackwardBias(dy: Tensor): Tensor {
  checkConv2dBackwardBias(dy);
  const [batch, channels, h, w] = dy.shape;
  const db = new Float64Array(channels);
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      for (let i = 0; i < h * w; i++) db[c] += dy.data[(n * channels + c) * h * w + i];
    }
  }
  return store([channels], db, dy);
}

// ---------------------------------------------------------------------------------------------
// Max pooling

export function maxPool2dForward(x: Tensor, options: Pool2dOptions): MaxPoolResult {
  const g = checkMaxPool2dForward(x, options);
  const planes = g.batch * g.channels; // each (n, c) plane is pooled on its own
  const y = new Tensor([g.batch, g.channels, g.outH, g.outW], allocate(x.dtype, planes * g.outH * g.outW));
  const argmax = new Int32Array(planes * g.outH * g.outW);
  for (let p = 0; p < planes; p++) {
    const inBase = p * g.inH * g.inW;
    for (let oy = 0; oy < g.outH; oy++) {
      for (let ox = 0; ox < g.outW; ox++) {
        // Padding acts as -Infinity: it never wins. Ties go to the first maximum in scan order,
        // and a NaN wins (it propagates), both as in PyTorch.
        let best = -Infinity;
        let bestIndex = -1;
        for (let ky = 0; ky < g.kernelH; ky++) {
          const iy = oy * g.strideH - g.padH + ky;
          if (iy < 0 || iy >= g.inH) continue;
          for (let kx = 0; kx < g.kernelW; kx++) {
            const ix = ox * g.strideW - g.padW + kx;
            if (ix < 0 || ix >= g.inW) continue;
            const v = x.data[inBase + iy * g.inW + ix];
            if (bestIndex === -1 || v > best || Number.isNaN(v)) {
              best = v;
              bestIndex = iy * g.inW + ix;
              if (Number.isNaN(v)) break;
            }
          }
          if (Number.isNaN(best)) break;
        }
        const o = (p * g.outH + oy) * g.outW + ox;
        y.data[o] = best;
        argmax[o] = bestIndex;
      }
    }
  }
  return { y, argmax };
}

export function maxPool2dBackward(dy: Tensor, argmax: Int32Array, inputShape: Shape, options: Pool2dOptions): Tensor {
  const g: Pool2dGeometry = checkMaxPool2dBackward(dy, argmax, inputShape, options);
  const planes = g.batch * g.channels;
  const dx = new Float64Array(planes * g.inH * g.inW);
  for (let p = 0; p < planes; p++) {
    for (let o = p * g.outH * g.outW; o < (p + 1) * g.outH * g.outW; o++) {
      // Overlapping windows (3x3 stride 1) may route several gradients to one input: sum them.
      dx[p * g.inH * g.inW + argmax[o]] += dy.data[o];
    }
  }
  return store(inputShape, dx, dy);
}

// ---------------------------------------------------------------------------------------------
// L2 normalization across channels, with a learned scale per channel:
//   norm(n, h, w) = sqrt(sum_c x(n, c, h, w)^2 + eps)
//   y(n, c, h, w) = scale(c) * x(n, c, h, w) / norm(n, h, w)
// eps sits inside the square root, so an all-zero position (common after ReLU) gives y = 0 and a
// finite gradient instead of 0/0.

export function l2NormForward(x: Tensor, scale: Tensor, eps: number): L2NormResult {
  checkL2NormForward(x, scale);
  const [batch, channels, h, w] = x.shape;
  const plane = h * w;
  const y = new Tensor(x.shape, allocate(x.dtype, x.size));
  const norm = new Tensor([batch, 1, h, w], allocate(x.dtype, batch * plane));
  for (let n = 0; n < batch; n++) {
    for (let i = 0; i < plane; i++) {
      let sumSquares = 0;
      for (let c = 0; c < channels; c++) {
        const v = x.data[(n * channels + c) * plane + i];
        sumSquares += v * v;
      }
      const nrm = Math.sqrt(sumSquares + eps);
      norm.data[n * plane + i] = nrm;
      for (let c = 0; c < channels; c++) {
        const k = (n * channels + c) * plane + i;
        y.data[k] = (scale.data[c] * x.data[k]) / nrm;
      }
    }
  }
  return { y, norm };
}

// With u = x / norm (so y_c = scale_c * u_c) and d norm / d x_k = x_k / norm:
//   dx_k     = scale_k * dy_k / norm - x_k / norm^3 * sum_c(scale_c * dy_c * x_c)
//   dscale_c = sum over n, h, w of dy_c * x_c / norm
export function l2NormBackward(dy: Tensor, x: Tensor, scale: Tensor, norm: Tensor): L2NormGrads {
  checkL2NormBackward(dy, x, scale, norm);
  const [batch, channels, h, w] = x.shape;
  const plane = h * w;
  const dx = new Float64Array(x.size);
  const dscale = new Float64Array(channels);
  for (let n = 0; n < batch; n++) {
    for (let i = 0; i < plane; i++) {
      const nrm = norm.data[n * plane + i];
      let weighted = 0; // sum_c scale_c * dy_c * x_c
      for (let c = 0; c < channels; c++) {
        const k = (n * channels + c) * plane + i;
        weighted += scale.data[c] * dy.data[k] * x.data[k];
        dscale[c] += (dy.data[k] * x.data[k]) / nrm;
      }
      for (let c = 0; c < channels; c++) {
        const k = (n * channels + c) * plane + i;
        dx[k] = (scale.data[c] * dy.data[k]) / nrm - (x.data[k] * weighted) / (nrm * nrm * nrm);
      }
    }
  }
  return { dx: store(x.shape, dx, dy), dscale: store(scale.shape, dscale, dy) };
}

// ---------------------------------------------------------------------------------------------
// Batch normalization (layers/batchnorm2d.ts puts these together). Each channel c of x (N, C, H, W)
// holds M = N * H * W values; the sums run in float64.

/** Per channel: mean = sum(x) / M, variance = sum((x - mean)^2) / M (biased), two passes. */
export function batchNormStatistics(x: Tensor): BatchNormStatistics {
  checkBatchNormInput(x, 'batch norm statistics: x');
  const [batch, channels, h, w] = x.shape;
  const plane = h * w;
  const count = batch * plane;
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    for (let n = 0; n < batch; n++) for (let i = 0; i < plane; i++) sum += x.data[(n * channels + c) * plane + i];
    mean[c] = sum / count;
    let squares = 0;
    for (let n = 0; n < batch; n++) {
      for (let i = 0; i < plane; i++) {
        const d = x.data[(n * channels + c) * plane + i] - mean[c];
        squares += d * d;
      }
    }
    variance[c] = squares / count;
  }
  return { mean, variance };
}

/** y = (x - mean[c]) * scale[c] + shift[c]; with relu, max(0, that) (a NaN or -0 gives +0, as reluForward). */
export function batchNormForward(x: Tensor, affine: BatchNormAffine, relu = false): Tensor {
  checkBatchNormAffine(x, affine, 'batch norm forward');
  const [batch, channels, h, w] = x.shape;
  const plane = h * w;
  const y = new Tensor(x.shape, allocate(x.dtype, x.size));
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      for (let i = 0; i < plane; i++) {
        const k = (n * channels + c) * plane + i;
        y.data[k] = (x.data[k] - affine.mean[c]) * affine.scale[c] + affine.shift[c];
        if (relu) y.data[k] = y.data[k] > 0 ? y.data[k] : 0; // rounded first, as the ReLU of a separate pass sees it
      }
    }
  }
  return y;
}

/** dy where the fused ReLU's output is positive, 0 elsewhere (or dy as it is, without one). */
function reluGradient(dy: Tensor, reluOutput: Tensor | null | undefined, k: number): number {
  return reluOutput === null || reluOutput === undefined || reluOutput.data[k] > 0 ? dy.data[k] : 0;
}

/** Per channel: sum(dy) and sum(dy * (x - mean[c])); dy through the fused ReLU's gradient when there is one. */
export function batchNormBackwardSums(dy: Tensor, x: Tensor, mean: Float64Array, reluOutput: Tensor | null = null): BatchNormSums {
  checkBatchNormBackward(dy, x, mean, 'batch norm backward sums', reluOutput);
  const [batch, channels, h, w] = x.shape;
  const plane = h * w;
  const sumDy = new Float64Array(channels);
  const sumDyCentered = new Float64Array(channels);
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      for (let i = 0; i < plane; i++) {
        const k = (n * channels + c) * plane + i;
        const g = reluGradient(dy, reluOutput, k);
        sumDy[c] += g;
        sumDyCentered[c] += g * (x.data[k] - mean[c]);
      }
    }
  }
  return { sumDy, sumDyCentered };
}

/** dx = dyScale[c] * dy + xScale[c] * (x - mean[c]) + shift[c]; dy through the fused ReLU's gradient when there is one. */
export function batchNormBackwardInput(dy: Tensor, x: Tensor, gradient: BatchNormInputGradient, reluOutput: Tensor | null = null): Tensor {
  checkBatchNormBackward(dy, x, gradient.mean, 'batch norm backward input', reluOutput);
  checkBatchNormCoefficients(x, gradient, 'batch norm backward input');
  const [batch, channels, h, w] = x.shape;
  const plane = h * w;
  const dx = new Tensor(x.shape, allocate(dy.dtype, x.size));
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      for (let i = 0; i < plane; i++) {
        const k = (n * channels + c) * plane + i;
        dx.data[k] = gradient.dyScale[c] * reluGradient(dy, reluOutput, k) + gradient.xScale[c] * (x.data[k] - gradient.mean[c]) + gradient.shift[c];
      }
    }
  }
  return dx;
}

// ---------------------------------------------------------------------------------------------
// The optimizer: SGD with momentum and weight decay, as torch.optim.SGD does it:
//   d   = grad + weightDecay * p
//   buf = d                       on the first step
//   buf = momentum * buf + d      afterwards
//   p   = p + lr * buf            (lr = -lr * lrMult: down the gradient)
// For float32 parameters every step is rounded to float32 where PyTorch rounds (its CPU kernels
// fuse `a + alpha * b` into one rounding), so a trajectory matches PyTorch's to the last bit or so.

/** One SGD step of a parameter, in place (buf: the momentum buffer, null without momentum). */
export function sgdStep(value: Tensor, grad: Tensor, buf: Tensor | null, step: SgdStep): void {
  checkSgdStep(value, grad, buf, step);
  if (value.dtype === 'float32') stepFloat32(value.data, grad.data, buf?.data, step);
  else stepFloat64(value.data, grad.data, buf?.data, step);
  value.changed();
  buf?.changed();
}

/**
 * One step of a float32 parameter, rounding to float32 where PyTorch's kernels do: the decayed
 * gradient, momentum * buf, the new buf, and the new value (each `a + alpha * b` is one rounding).
 * Storing into a Float32Array rounds too. One plain loop per case keeps the hot loop free of
 * branches: the 26 million parameters of the full SSD300 take 60-70 ms here.
 */
function stepFloat32(value: FloatArray, grad: FloatArray, buf: FloatArray | undefined, step: SgdStep): void {
  const fround = Math.fround;
  const lr = fround(step.lr);
  const wd = fround(step.weightDecay);
  const momentum = fround(step.momentum);
  if (buf === undefined) {
    for (let i = 0; i < value.length; i++) value[i] = value[i] + lr * fround(grad[i] + wd * value[i]);
  } else if (step.phase === 'first') {
    for (let i = 0; i < value.length; i++) {
      const d = fround(grad[i] + wd * value[i]);
      buf[i] = d;
      value[i] = value[i] + lr * d;
    }
  } else {
    for (let i = 0; i < value.length; i++) {
      const d = fround(fround(momentum * buf[i]) + fround(grad[i] + wd * value[i]));
      buf[i] = d;
      value[i] = value[i] + lr * d;
    }
  }
}

/** The same step in float64 (the gradient checks' models): no rounding but the arithmetic's own. */
function stepFloat64(value: FloatArray, grad: FloatArray, buf: FloatArray | undefined, step: SgdStep): void {
  const { lr, weightDecay: wd, momentum } = step;
  for (let i = 0; i < value.length; i++) {
    let d = grad[i] + wd * value[i];
    if (buf !== undefined) {
      buf[i] = step.phase === 'first' ? d : momentum * buf[i] + d;
      d = buf[i];
    }
    value[i] = value[i] + lr * d;
  }
}

/** The sum of the squares of t's elements, in float64 (gradient clipping's norm, squared). */
export function sumOfSquares(t: Tensor): number {
  let sum = 0;
  for (let i = 0; i < t.size; i++) sum += t.data[i] * t.data[i];
  return sum;
}

/** t = t * s, in place (rounded to t's dtype). */
export function scaleInPlace(t: Tensor, s: number): void {
  for (let i = 0; i < t.size; i++) t.data[i] *= s;
  t.changed();
}

// ---------------------------------------------------------------------------------------------
// ReLU

export function reluForward(x: Tensor): Tensor {
  const y = new Tensor(x.shape, allocate(x.dtype, x.size));
  for (let i = 0; i < x.size; i++) y.data[i] = x.data[i] > 0 ? x.data[i] : 0;
  return y;
}

/** y = max(y, 0) in place, as reluForward computes it (a convolution's fused ReLU: Kernels.conv2dForward). */
export function reluInPlace(y: Tensor): void {
  for (let i = 0; i < y.size; i++) y.data[i] = y.data[i] > 0 ? y.data[i] : 0;
}

export function reluBackward(dy: Tensor, y: Tensor): Tensor {
  checkReluBackward(dy, y);
  const dx = new Tensor(dy.shape, allocate(dy.dtype, dy.size));
  for (let i = 0; i < dy.size; i++) dx.data[i] = y.data[i] > 0 ? dy.data[i] : 0;
  return dx;
}

// ---------------------------------------------------------------------------------------------

/**
 * Batch norm and the optimizer's passes as the reference's loops, for a backend that has no
 * kernels of its own for them (cpu, GPU.js): it extends this class and adds the rest. These
 * passes are a few sweeps over memory; the cpu backend's tensors and every backend's parameters
 * are ordinary memory, and a pass in JavaScript over them costs about what copying them
 * elsewhere would. Ordinary memory is the garbage collector's: release does nothing.
 */
export abstract class ReferencePasses {
  async batchNormStatistics(x: Tensor): Promise<BatchNormStatistics> {
    return batchNormStatistics(x);
  }
  async batchNormForward(x: Tensor, affine: BatchNormAffine, relu = false): Promise<Tensor> {
    return batchNormForward(x, affine, relu);
  }
  async batchNormBackwardSums(dy: Tensor, x: Tensor, mean: Float64Array, reluOutput: Tensor | null = null): Promise<BatchNormSums> {
    return batchNormBackwardSums(dy, x, mean, reluOutput);
  }
  async batchNormBackwardInput(dy: Tensor, x: Tensor, gradient: BatchNormInputGradient, reluOutput: Tensor | null = null): Promise<Tensor> {
    return batchNormBackwardInput(dy, x, gradient, reluOutput);
  }
  async sgdStep(value: Tensor, grad: Tensor, buf: Tensor | null, step: SgdStep): Promise<void> {
    sgdStep(value, grad, buf, step);
  }
  async sumOfSquares(t: Tensor): Promise<number> {
    return sumOfSquares(t);
  }
  async scaleInPlace(t: Tensor, s: number): Promise<void> {
    scaleInPlace(t, s);
  }
  zeros(shape: Shape, dtype: DType = 'float32'): Tensor {
    return new Tensor(shape, undefined, dtype);
  }
  async priorCrossEntropy(scores: Tensor, classTargets: Int32Array): Promise<PriorCrossEntropy> {
    const priors = classTargets.length;
    const result = { logSum: new Float64Array(priors), ce: new Float64Array(priors) };
    priorCrossEntropyRange(scores.data, classTargets, scores.shape[2], 0, priors, result.logSum, result.ce);
    return result;
  }
  async priorCrossEntropyGradient(scores: Tensor, classTargets: Int32Array, logSum: Float64Array, counted: Uint8Array, divisor: number): Promise<Tensor> {
    const dScores = new Tensor(scores.shape, undefined, scores.dtype);
    priorCrossEntropyGradientRange(scores.data, classTargets, scores.shape[2], logSum, counted, divisor, 0, classTargets.length, dScores.data);
    return dScores;
  }
  release(): void {}
}

/** The reference kernels behind the Kernels interface. */
export class ReferenceKernels extends ReferencePasses implements Kernels {
  readonly name = 'reference';
  async conv2dForward(x: Tensor, w: Tensor, b: Tensor | null, options: Conv2dOptions, relu = false): Promise<Tensor> {
    const y = conv2dForward(x, w, b, options);
    if (relu) reluInPlace(y);
    return y;
  }
  async conv2dBackwardInput(dy: Tensor, w: Tensor, inputShape: Shape, options: Conv2dOptions): Promise<Tensor> {
    return conv2dBackwardInput(dy, w, inputShape, options);
  }
  async conv2dBackwardWeight(dy: Tensor, x: Tensor, weightShape: Shape, options: Conv2dOptions): Promise<Tensor> {
    return conv2dBackwardWeight(dy, x, weightShape, options);
  }
  async conv2dBackwardBias(dy: Tensor): Promise<Tensor> {
    return conv2dBackwardBias(dy);
  }
  async conv2dBackwardWeightAndBias(dy: Tensor, x: Tensor, weightShape: Shape, options: Conv2dOptions): Promise<ConvParameterGrads> {
    return { dw: conv2dBackwardWeight(dy, x, weightShape, options), db: conv2dBackwardBias(dy) };
  }
  async maxPool2dForward(x: Tensor, options: Pool2dOptions): Promise<MaxPoolResult> {
    return maxPool2dForward(x, options);
  }
  async maxPool2dBackward(dy: Tensor, argmax: Int32Array, inputShape: Shape, options: Pool2dOptions): Promise<Tensor> {
    return maxPool2dBackward(dy, argmax, inputShape, options);
  }
  async l2NormForward(x: Tensor, scale: Tensor, eps: number): Promise<L2NormResult> {
    return l2NormForward(x, scale, eps);
  }
  async l2NormBackward(dy: Tensor, x: Tensor, scale: Tensor, norm: Tensor): Promise<L2NormGrads> {
    return l2NormBackward(dy, x, scale, norm);
  }
  async reluForward(x: Tensor): Promise<Tensor> {
    return reluForward(x);
  }
  async reluBackward(dy: Tensor, y: Tensor): Promise<Tensor> {
    return reluBackward(dy, y);
  }
  async dispose(): Promise<void> {}
}

export const referenceKernels: Kernels = new ReferenceKernels();
