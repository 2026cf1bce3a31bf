// PyTorch's default initialisation of Conv2d, so that a fresh model starts where a fresh
// PyTorch model would (in distribution; the random numbers themselves differ).
//
// nn.Conv2d.reset_parameters uses kaiming_uniform_(a = sqrt(5)) for the weight, whose bound
// works out to gain * sqrt(3 / fan_in) with gain = sqrt(2 / (1 + 5)), i.e. 1 / sqrt(fan_in),
// and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias. fan_in = C_in * kH * kW.

import { DType, Shape, Tensor } from '../tensor/tensor';
import { Rng, randNormal, randUniform } from '../tensor/random';

export function convFanIn(weightShape: Shape): number {
  const [, inChannels, kh, kw] = weightShape;
  return inChannels * kh * kw;
}

export function pytorchConvWeightInit(weightShape: Shape, rng: Rng, dtype: DType = 'float32'): Tensor {
  const bound = 1 / Math.sqrt(convFanIn(weightShape));
  return randUniform(weightShape, rng, -bound, bound, dtype);
}

export function pytorchConvBiasInit(weightShape: Shape, rng: Rng, dtype: DType = 'float32'): Tensor {
  const bound = 1 / Math.sqrt(convFanIn(weightShape));
  return randUniform([weightShape[0]], rng, -bound, bound, dtype);
}

/** Xavier (Glorot) uniform, which the SSD tutorial uses for its auxiliary and prediction convs. */
export function xavierUniform(weightShape: Shape, rng: Rng, dtype: DType = 'float32'): Tensor {
  const [outChannels, inChannels, kh, kw] = weightShape;
  const fanIn = inChannels * kh * kw;
  const fanOut = outChannels * kh * kw;
  const bound = Math.sqrt(6 / (fanIn + fanOut));
  return randUniform(weightShape, rng, -bound, bound, dtype);
}

/**
 * Kaiming (He) normal, fan-out mode, as torchvision initialises VGG: std = sqrt(2 / (C_out * kH * kW)).
 * The factor 2 makes up for ReLU zeroing half of each layer's inputs, so that the signal keeps
 * its size through a deep stack of conv + ReLU layers. PyTorch's default (std about
 * 1 / sqrt(3 fan_in)) shrinks it at every layer: through VGG's 15 convs an untrained network's
 * output hardly depends on its input, and it cannot learn from scratch.
 */
export function kaimingNormalFanOut(weightShape: Shape, rng: Rng, dtype: DType = 'float32'): Tensor {
  const [outChannels, , kh, kw] = weightShape;
  return randNormal(weightShape, rng, 0, Math.sqrt(2 / (outChannels * kh * kw)), dtype);
}
