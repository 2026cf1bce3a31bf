// Batch normalization over the channels of an NCHW map (Ioffe & Szegedy, 2015), with the
// semantics of PyTorch's nn.BatchNorm2d:
//
//   training:   mean_c, var_c over the batch and every position (M = N * H * W values per channel;
//               the variance is biased, divided by M)
//               y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c
//               running_mean = (1 - momentum) * running_mean + momentum * mean_c
//               running_var  = (1 - momentum) * running_var  + momentum * var_c * M / (M - 1)
//                              (the running estimate is unbiased, as in PyTorch)
//   evaluation: the same with running_mean and running_var in place of the batch statistics.
//
// Why SSD needs it here: trained from scratch (no ImageNet weights), a plain VGG's activations
// drift in scale from layer to layer and the detector's output barely depends on the image.
// Normalizing each conv's output keeps every layer's input at unit scale whatever the weights
// do, which is what lets SSD train from scratch (ScratchDet, arXiv 1810.08425).
//
//   x (N, C, H, W) -> y (N, C, H, W); weight, bias, running_mean, running_var (C)

import { Tensor, assertShape } from '../tensor/tensor';
import { fromArray, ones, zeros } from '../tensor/create';
import { Layer, LayerOptions, NamedBuffer, NamedParameter, Parameter } from './layer';

export interface BatchNorm2dConfig extends LayerOptions {
  channels: number;
  /** Weight of the newest batch in the running statistics (PyTorch's default 0.1). */
  momentum?: number;
  /** Added to the variance before the square root (PyTorch's default 1e-5). */
  eps?: number;
}

/** What training-mode forward keeps for backward. */
interface BatchNormCache {
  xHat: Tensor; // (N, C, H, W): (x - mean) / sqrt(var + eps)
  invStd: Float64Array; // (C): 1 / sqrt(var + eps), of the batch (training) or the running variance (evaluation)
  training: boolean;
}

export class BatchNorm2d extends Layer {
  readonly channels: number;
  readonly momentum: number;
  readonly eps: number;
  readonly weight: Parameter; // gamma (C), initialised to 1
  readonly bias: Parameter; // beta (C), initialised to 0
  readonly runningMean: Tensor; // (C), initialised to 0
  readonly runningVar: Tensor; // (C), initialised to 1
  /** How many training batches have updated the running statistics (PyTorch keeps it too). */
  readonly numBatchesTracked: Tensor; // shape [] (a scalar)
  private cache: BatchNormCache | null = null;

  constructor(name: string, config: BatchNorm2dConfig) {
    super(name, config);
    if (!(Number.isInteger(config.channels) && config.channels >= 1)) {
      throw new Error(`BatchNorm2d ${name}: channels must be a positive integer, got ${config.channels}`);
    }
    this.channels = config.channels;
    this.momentum = config.momentum ?? 0.1;
    this.eps = config.eps ?? 1e-5;
    this.weight = new Parameter(ones([this.channels], this.dtype));
    this.bias = new Parameter(zeros([this.channels], this.dtype));
    this.runningMean = zeros([this.channels], this.dtype);
    this.runningVar = ones([this.channels], this.dtype);
    this.numBatchesTracked = fromArray(0, this.dtype);
  }

  override namedParameters(): NamedParameter[] {
    return [
      ['weight', this.weight],
      ['bias', this.bias],
    ];
  }

  /** The running statistics: saved and loaded with the weights, never touched by the optimizer. */
  override namedBuffers(): NamedBuffer[] {
    return [
      ['running_mean', this.runningMean],
      ['running_var', this.runningVar],
      ['num_batches_tracked', this.numBatchesTracked],
    ];
  }

  async forward(x: Tensor): Promise<Tensor> {
    assertShape(x, [-1, this.channels, -1, -1], `BatchNorm2d ${this.name}: input`);
    const [n, c, h, w] = x.shape;
    const plane = h * w;
    const count = n * plane; // M: values per channel
    if (this.training && count <= 1) {
      // PyTorch refuses too: the variance of one value is 0 and the output would be just the bias.
      throw new Error(
        `BatchNorm2d ${this.name}: expected more than 1 value per channel when training, got input (${x.shape.join(', ')}); ` +
          'train with a batch of at least 2 (or switch the model to evaluation mode)',
      );
    }
    const y = new Tensor(x.shape, undefined, x.dtype);
    const xHat = new Tensor(x.shape, undefined, x.dtype);
    const invStd = new Float64Array(c);
    // the arrays in locals: the loops below then index them without reloading the tensors' fields
    const xs = x.data;
    const ys = y.data;
    const xHats = xHat.data;
    for (let ch = 0; ch < c; ch++) {
      let mean: number;
      let variance: number;
      if (this.training) {
        // Sums in float64: a channel of conv1_1 at batch 8 has 720,000 values.
        let sum = 0;
        for (let b = 0; b < n; b++) {
          const offset = (b * c + ch) * plane;
          for (let i = 0; i < plane; i++) sum += xs[offset + i];
        }
        mean = sum / count;
        let squares = 0;
        for (let b = 0; b < n; b++) {
          const offset = (b * c + ch) * plane;
          for (let i = 0; i < plane; i++) {
            const d = xs[offset + i] - mean;
            squares += d * d;
          }
        }
        variance = squares / count; // biased: what normalizes this batch
        const m = this.momentum;
        this.runningMean.data[ch] = (1 - m) * this.runningMean.data[ch] + m * mean;
        this.runningVar.data[ch] = (1 - m) * this.runningVar.data[ch] + (m * (squares / (count - 1))); // unbiased
      } else {
        mean = this.runningMean.data[ch];
        variance = this.runningVar.data[ch];
      }
      const inv = 1 / Math.sqrt(variance + this.eps);
      invStd[ch] = inv;
      const gamma = this.weight.value.data[ch];
      const beta = this.bias.value.data[ch];
      for (let b = 0; b < n; b++) {
        const offset = (b * c + ch) * plane;
        for (let i = 0; i < plane; i++) {
          const normalized = (xs[offset + i] - mean) * inv;
          xHats[offset + i] = normalized;
          ys[offset + i] = normalized * gamma + beta;
        }
      }
    }
    if (this.training) this.numBatchesTracked.data[0] += 1;
    this.cache = { xHat, invStd, training: this.training };
    return y;
  }

  /**
   * dL/dy -> dL/dx; accumulates dL/dweight = sum(dy * xHat) and dL/dbias = sum(dy) per channel.
   * In training mode the mean and variance depend on x too, which gives the familiar
   *   dx = weight * invStd / M * (M * dy - sum(dy) - xHat * sum(dy * xHat));
   * in evaluation mode they are constants and dx = dy * weight * invStd.
   */
  async backward(dy: Tensor): Promise<Tensor> {
    const { xHat, invStd, training } = this.cached(this.cache, 'normalized input');
    assertShape(dy, xHat.shape, `BatchNorm2d ${this.name}: output gradient`);
    const [n, c, h, w] = dy.shape;
    const plane = h * w;
    const count = n * plane;
    const dx = new Tensor(dy.shape, undefined, dy.dtype);
    const dys = dy.data;
    const xHats = xHat.data;
    const dxs = dx.data;
    for (let ch = 0; ch < c; ch++) {
      let sumDy = 0;
      let sumDyXHat = 0;
      for (let b = 0; b < n; b++) {
        const offset = (b * c + ch) * plane;
        for (let i = 0; i < plane; i++) {
          sumDy += dys[offset + i];
          sumDyXHat += dys[offset + i] * xHats[offset + i];
        }
      }
      this.weight.grad.data[ch] += sumDyXHat;
      this.bias.grad.data[ch] += sumDy;
      const scale = this.weight.value.data[ch] * invStd[ch];
      if (training) {
        const meanDy = sumDy / count;
        const meanDyXHat = sumDyXHat / count;
        for (let b = 0; b < n; b++) {
          const offset = (b * c + ch) * plane;
          for (let i = 0; i < plane; i++) {
            dxs[offset + i] = scale * (dys[offset + i] - meanDy - xHats[offset + i] * meanDyXHat);
          }
        }
      } else {
        for (let b = 0; b < n; b++) {
          const offset = (b * c + ch) * plane;
          for (let i = 0; i < plane; i++) dxs[offset + i] = scale * dys[offset + i];
        }
      }
    }
    return dx;
  }

  override clearCache(): void {
    this.cache = null;
  }
}
