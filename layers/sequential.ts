// Layers run one after another. Backward runs them in reverse, each passing the gradient of its
// input to the layer before it. Parameter names are prefixed with the child's name, so a
// Sequential named 'base' holding 'conv1_1' yields 'conv1_1.weight' (and 'base.conv1_1.weight'
// one level up), exactly as PyTorch's state_dict names them.

import { Tensor } from '../tensor/tensor';
import { Layer, LayerOptions } from './layer';

export class Sequential extends Layer {
  readonly layers: Layer[];

  constructor(name: string, layers: Layer[], options: LayerOptions = {}) {
    super(name, options);
    const names = new Set<string>();
    for (const layer of layers) {
      if (names.has(layer.name)) throw new Error(`Sequential ${name}: two layers are named '${layer.name}'`);
      names.add(layer.name);
    }
    this.layers = layers;
  }

  async forward(x: Tensor): Promise<Tensor> {
    for (const layer of this.layers) x = await layer.forward(x);
    return x;
  }

  async backward(dy: Tensor): Promise<Tensor> {
    for (let i = this.layers.length - 1; i >= 0; i--) dy = await this.layers[i].backward(dy);
    return dy;
  }

  override children(): Layer[] {
    return this.layers;
  }
}
