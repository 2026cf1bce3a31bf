// L2 normalization across channels with a learned per-channel scale, applied by SSD to conv4_3:
// its activations are much larger than those of the deeper maps, so each position's feature
// vector is normalized to unit length and then rescaled by a factor learned per channel
// (initialised to 20, as in ParseNet and the SSD paper).
//   x (N, C, H, W) -> y (N, C, H, W), parameter rescale_factors (1, C, 1, 1)

import { Tensor, assertRank } from '../tensor/tensor';
import { full } from '../tensor/create';
import { Layer, LayerOptions, NamedParameter, Parameter } from './layer';

export interface L2NormConfig extends LayerOptions {
  channels: number;
  initialScale?: number; // default 20
  eps?: number; // default 1e-10, inside the square root
}

export class L2Norm extends Layer {
  readonly scale: Parameter;
  readonly eps: number;
  private saved: { x: Tensor; norm: Tensor } | null = null;

  constructor(name: string, config: L2NormConfig) {
    super(name, config);
    this.scale = new Parameter(full([1, config.channels, 1, 1], config.initialScale ?? 20, this.dtype));
    this.eps = config.eps ?? 1e-10;
  }

  /** Named 'rescale_factors', as in the reference PyTorch SSD300's state_dict. */
  override namedParameters(): NamedParameter[] {
    return [['rescale_factors', this.scale]];
  }

  async forward(x: Tensor): Promise<Tensor> {
    assertRank(x, 4, `L2Norm ${this.name}: input`);
    if (x.shape[1] !== this.scale.value.size) {
      throw new Error(`L2Norm ${this.name}: input has ${x.shape[1]} channels, expected ${this.scale.value.size}`);
    }
    const { y, norm } = await this.kernels.l2NormForward(x, this.scale.value, this.eps);
    this.saved = { x, norm };
    return y;
  }

  async backward(dy: Tensor): Promise<Tensor> {
    const { x, norm } = this.cached(this.saved, 'input');
    const { dx, dscale } = await this.kernels.l2NormBackward(dy, x, this.scale.value, norm);
    for (let c = 0; c < dscale.size; c++) this.scale.grad.data[c] += dscale.data[c];
    return dx;
  }

  override clearCache(): void {
    if (this.saved !== null) this.kernels.release(this.saved.norm); // its own: the input is the caller's
    this.saved = null;
  }
}
