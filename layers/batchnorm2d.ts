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
  /**
   * The ReLU that follows, applied in the same passes over memory: the output is max(0, y), and
   * backward lets dy through where that output is positive. The same values as a ReLU layer after
   * the batch norm, with two fewer sweeps over the map each way (the batch-norm SSD300 fuses its
   * every ReLU so).
   */
  relu?: boolean;
}

/** What forward keeps for backward. */
interface BatchNormCache {
  x: Tensor; // (N, C, H, W): the input (backward recomputes x - mean from it)
  y: Tensor | null; // (N, C, H, W): the output, with a fused ReLU (its gradient is where y > 0)
  mean: Float64Array; // (C): of the batch (training) or the running mean (evaluation)
  invStd: Float64Array; // (C): 1 / sqrt(var + eps), likewise
  training: boolean;
}

export class BatchNorm2d extends Layer {
  readonly channels: number;
  readonly momentum: number;
  readonly eps: number;
  /** The ReLU after the batch norm is fused into it (see BatchNorm2dConfig.relu). */
  readonly relu: boolean;
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
    this.relu = config.relu ?? false;
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
    const count = n * h * w; // M: values per channel
    if (this.training && count <= 1) {
      // PyTorch refuses too: the variance of one value is 0 and the output would be just the bias.
      throw new Error(
        `BatchNorm2d ${this.name}: expected more than 1 value per channel when training, got input (${x.shape.join(', ')}); ` +
          'train with a batch of at least 2 (or switch the model to evaluation mode)',
      );
    }
    let mean: Float64Array;
    let variance: Float64Array;
    if (this.training) {
      // the batch's own statistics (sums in float64: a channel of conv1_1 at batch 8 has 720,000 values)
      ({ mean, variance } = await this.kernels.batchNormStatistics(x));
      const m = this.momentum;
      for (let ch = 0; ch < c; ch++) {
        this.runningMean.data[ch] = (1 - m) * this.runningMean.data[ch] + m * mean[ch];
        this.runningVar.data[ch] = (1 - m) * this.runningVar.data[ch] + m * ((variance[ch] * count) / (count - 1)); // unbiased
      }
      this.numBatchesTracked.data[0] += 1;
    } else {
      mean = Float64Array.from(this.runningMean.data);
      variance = Float64Array.from(this.runningVar.data);
    }
    // y = (x - mean) / sqrt(var + eps) * weight + bias, as one affine map per channel
    const invStd = new Float64Array(c);
    const scale = new Float64Array(c);
    const shift = new Float64Array(c);
    for (let ch = 0; ch < c; ch++) {
      invStd[ch] = 1 / Math.sqrt(variance[ch] + this.eps);
      scale[ch] = invStd[ch] * this.weight.value.data[ch];
      shift[ch] = this.bias.value.data[ch];
    }
    const y = await this.kernels.batchNormForward(x, { mean, scale, shift }, this.relu);
    this.cache = { x, y: this.relu ? y : null, mean, invStd, training: this.training };
    return y;
  }

  /**
   * dL/dy -> dL/dx; accumulates dL/dweight = sum(dy * xHat) and dL/dbias = sum(dy) per channel,
   * xHat = (x - mean) * invStd being the normalized input. In training mode the mean and the
   * variance depend on x too, which gives the familiar
   *   dx = weight * invStd * (dy - mean(dy) - xHat * mean(dy * xHat))
   *      = weight * invStd * dy  -  weight * invStd^3 * sum(dy * (x - mean)) / M * (x - mean)  -  weight * invStd * sum(dy) / M,
   * an affine map of dy and x - mean per channel (the kernels compute the two sums, then the map);
   * in evaluation mode they are constants and dx = weight * invStd * dy.
   */
  async backward(dy: Tensor): Promise<Tensor> {
    const { x, y, mean, invStd, training } = this.cached(this.cache, 'input');
    assertShape(dy, x.shape, `BatchNorm2d ${this.name}: output gradient`);
    const [n, c, h, w] = dy.shape;
    const count = n * h * w;
    // with the fused ReLU, dy is first the ReLU's gradient (dy where y > 0): the kernels apply it as they read dy
    const { sumDy, sumDyCentered } = await this.kernels.batchNormBackwardSums(dy, x, mean, y);
    const dyScale = new Float64Array(c);
    const xScale = new Float64Array(c);
    const shift = new Float64Array(c);
    for (let ch = 0; ch < c; ch++) {
      const gamma = this.weight.value.data[ch];
      const inv = invStd[ch];
      this.weight.grad.data[ch] += sumDyCentered[ch] * inv; // sum(dy * xHat)
      this.bias.grad.data[ch] += sumDy[ch];
      dyScale[ch] = gamma * inv;
      if (training) {
        xScale[ch] = (-gamma * inv * inv * inv * sumDyCentered[ch]) / count;
        shift[ch] = (-gamma * inv * sumDy[ch]) / count;
      }
    }
    return this.kernels.batchNormBackwardInput(dy, x, { mean, dyScale, xScale, shift }, y);
  }

  override clearCache(): void {
    this.cache = null;
  }
}
