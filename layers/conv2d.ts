// A 2-d convolution: y = conv(x, weight) + bias, and with `relu` the ReLU that follows it,
// y = max(0, conv(x, weight) + bias), in the same call (a backend writes y once instead of twice).
//   x (N, C_in, H, W) -> y (N, C_out, H_out, W_out), weight (C_out, C_in, k, k), bias (C_out)

import { Tensor, assertShape } from '../tensor/tensor';
import { Rng, randNormal } from '../tensor/random';
import { Conv2dOptions, conv2dGeometry, pair, Pair } from '../kernels/geometry';
import { Layer, LayerOptions, NamedParameter, Parameter } from './layer';
import { kaimingNormalFanOut, pytorchConvBiasInit, pytorchConvWeightInit, xavierUniform } from './init';
import { zeros } from '../tensor/create';

export interface Conv2dConfig extends LayerOptions {
  inChannels: number;
  outChannels: number;
  kernelSize: Pair;
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  bias?: boolean; // default true
  /** Random generator for the initial weights (PyTorch's default init); seed 0 if not given. */
  rng?: Rng;
  /** Learning-rate multiplier of the bias (the SSD paper uses 2). */
  biasLrMult?: number;
  /**
   * 'pytorch' (default): what nn.Conv2d does on creation. 'xavier': Xavier-uniform weights and
   * zero biases, which the reference SSD uses for the layers it adds to VGG. 'kaiming': He-normal
   * (fan out) weights and zero biases, torchvision's VGG init, for training VGG from scratch.
   * 'normal': weights of std 0.01 and zero biases (torchvision's SSD heads, Caffe's SSD): a
   * prediction conv that starts near 0 scores every class alike, where Xavier's larger weights
   * start it with confident, arbitrary scores and a first loss three times larger.
   */
  init?: 'pytorch' | 'xavier' | 'kaiming' | 'normal';
  /**
   * The ReLU after this conv, fused into it (default false): the same values as a ReLU layer
   * after it, forward and backward, with one pass less over the output (the wasm backend applies
   * it in the Winograd output transform, as y is stored).
   */
  relu?: boolean;
}

export class Conv2d extends Layer {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly options: Conv2dOptions;
  /** The ReLU after the conv is fused into it (see Conv2dConfig.relu). */
  readonly relu: boolean;
  private input: Tensor | null = null; // kept by forward for the weight gradient
  private output: Tensor | null = null; // kept with relu: where it is positive, the gradient passes

  constructor(name: string, config: Conv2dConfig) {
    super(name, config);
    const [kh, kw] = pair(config.kernelSize);
    const weightShape = [config.outChannels, config.inChannels, kh, kw];
    const rng = config.rng ?? new Rng(0);
    const init = config.init ?? 'pytorch';
    let weight: Tensor;
    if (init === 'xavier') weight = xavierUniform(weightShape, rng, this.dtype);
    else if (init === 'kaiming') weight = kaimingNormalFanOut(weightShape, rng, this.dtype);
    else if (init === 'normal') weight = randNormal(weightShape, rng, 0, 0.01, this.dtype);
    else weight = pytorchConvWeightInit(weightShape, rng, this.dtype);
    this.weight = new Parameter(weight);
    const bias = init === 'pytorch' ? pytorchConvBiasInit(weightShape, rng, this.dtype) : zeros([config.outChannels], this.dtype);
    this.bias = config.bias === false ? null : new Parameter(bias, { lrMult: config.biasLrMult ?? 1 });
    this.options = { stride: config.stride ?? 1, padding: config.padding ?? 0, dilation: config.dilation ?? 1 };
    this.relu = config.relu ?? false;
  }

  override namedParameters(): NamedParameter[] {
    const params: NamedParameter[] = [['weight', this.weight]];
    if (this.bias !== null) params.push(['bias', this.bias]);
    return params;
  }

  /** The output shape for an input shape, without running anything (used by the model summary). */
  outputShape(inputShape: readonly number[]): number[] {
    const g = conv2dGeometry(inputShape, this.weight.value.shape, this.options, `Conv2d ${this.name}`);
    return [g.batch, g.outChannels, g.outH, g.outW];
  }

  async forward(x: Tensor): Promise<Tensor> {
    this.outputShape(x.shape); // checks x against the weight and names this layer if it does not fit
    this.input = x;
    const y = await this.kernels.conv2dForward(x, this.weight.value, this.bias?.value ?? null, this.options, this.relu);
    if (this.relu) this.output = y;
    return y;
  }

  async backward(dy: Tensor): Promise<Tensor> {
    const x = this.cached(this.input, 'input');
    const dz = await this.beforeRelu(dy);
    await this.accumulateParameterGradients(dz);
    const dx = await this.kernels.conv2dBackwardInput(dz, this.weight.value, x.shape, this.options);
    if (dz !== dy) this.kernels.release(dz);
    return dx;
  }

  /**
   * dL/dz, z = conv(x, weight) + bias, from dL/dy: with the ReLU fused, dy where the output is
   * positive (the ReLU's backward), else dy itself.
   */
  private async beforeRelu(dy: Tensor): Promise<Tensor> {
    const x = this.cached(this.input, 'input');
    assertShape(dy, this.outputShape(x.shape), `Conv2d ${this.name}: output gradient`);
    return this.relu ? this.kernels.reluBackward(dy, this.cached(this.output, 'output')) : dy;
  }

  /**
   * Half of backward: adds dL/dW and dL/db to the gradients, and stops there. The network's first
   * conv needs no more in training: the gradient of the image would be thrown away.
   */
  async parameterGradients(dy: Tensor): Promise<void> {
    const dz = await this.beforeRelu(dy);
    await this.accumulateParameterGradients(dz);
    if (dz !== dy) this.kernels.release(dz);
  }

  /** dL/dW and dL/db from dL/dz (the gradient before the fused ReLU, if any), added to the gradients. */
  private async accumulateParameterGradients(dy: Tensor): Promise<void> {
    const x = this.cached(this.input, 'input');
    if (this.bias === null) {
      const dw = await this.kernels.conv2dBackwardWeight(dy, x, this.weight.value.shape, this.options);
      this.weight.accumulateGrad(dw);
      this.kernels.release(dw);
      return;
    }
    // both from one call: a backend may read dy once for the two
    const { dw, db } = await this.kernels.conv2dBackwardWeightAndBias(dy, x, this.weight.value.shape, this.options);
    this.weight.accumulateGrad(dw);
    this.bias.accumulateGrad(db);
    this.kernels.release(dw); // added into the gradients: the backend may reuse their memory
    this.kernels.release(db);
  }

  override clearCache(): void {
    this.input = null;
    this.output = null;
  }
}
