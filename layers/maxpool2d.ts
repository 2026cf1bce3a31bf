// Max pooling. Forward records where each maximum came from (argmax), so backward is a scatter
// of the output gradient to those positions.
//   x (N, C, H, W) -> y (N, C, H_out, W_out)
// SSD uses 2x2 stride 2; 2x2 stride 2 in ceil mode for pool3 (75 -> 38, where floor would give 37
// and lose the last row and column); and 3x3 stride 1 padding 1 for pool5 (19 -> 19).

import { Shape, Tensor } from '../tensor/tensor';
import { Pool2dOptions, pool2dGeometry } from '../kernels/geometry';
import { Layer, LayerOptions } from './layer';

export interface MaxPool2dConfig extends LayerOptions, Pool2dOptions {}

export class MaxPool2d extends Layer {
  readonly options: Pool2dOptions;
  private saved: { inputShape: Shape; argmax: Int32Array } | null = null;

  constructor(name: string, config: MaxPool2dConfig) {
    super(name, config);
    this.options = { kernelSize: config.kernelSize, stride: config.stride, padding: config.padding, ceilMode: config.ceilMode };
  }

  outputShape(inputShape: Shape): number[] {
    const g = pool2dGeometry(inputShape, this.options, `MaxPool2d ${this.name}`);
    return [g.batch, g.channels, g.outH, g.outW];
  }

  async forward(x: Tensor): Promise<Tensor> {
    this.outputShape(x.shape); // names this layer if x does not fit
    const { y, argmax } = await this.kernels.maxPool2dForward(x, this.options);
    this.saved = { inputShape: x.shape, argmax };
    return y;
  }

  async backward(dy: Tensor): Promise<Tensor> {
    const { inputShape, argmax } = this.cached(this.saved, 'argmax');
    return this.kernels.maxPool2dBackward(dy, argmax, inputShape, this.options);
  }

  override clearCache(): void {
    if (this.saved !== null) this.kernels.release(this.saved.argmax); // its own (the backend's memory, with wasm)
    this.saved = null;
  }
}
