// PyTorch's default initialisation of Conv2d, so that a fresh model starts where a fresh
// PyTorch model would (in distribution; the random numbers themselves differ).
//
// nn.Conv2d.reset_parameters uses kaiming_uniform_(a = sqrt(5)) for the weight, whose bound
// works out to gain * sqrt(3 / fan_in) with gain = sqrt(2 / (1 + 5)), i.e. 1 / sqrt(fan_in),
// and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias. fan_in = C_in * kH * kW.

import { DType, Shape, Tensor } from '../tensor/tensor';
import { Rng, randUniform } from '../tensor/random';

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
