// ReLU: y = max(x, 0). Backward lets the gradient through where the output was positive.

import { Tensor } from '../tensor/tensor';
import { Layer, LayerOptions } from './layer';

export class ReLU extends Layer {
  private output: Tensor | null = null;

  constructor(name: string, options: LayerOptions = {}) {
    super(name, options);
  }

  async forward(x: Tensor): Promise<Tensor> {
    this.output = await this.kernels.reluForward(x);
    return this.output;
  }

  async backward(dy: Tensor): Promise<Tensor> {
    return this.kernels.reluBackward(dy, this.cached(this.output, 'output'));
  }

  override clearCache(): void {
    this.output = null;
  }
}
