// A test helper: kernels whose max pooling takes its maxima from another run.

import { Tensor } from '../../tensor/tensor';
import { Pool2dOptions } from '../../kernels/geometry';
import { Kernels, MaxPoolResult } from '../../kernels/kernels';

/**
 * `inner`, with max pooling's choice of maxima recorded (replay false) or replaced by recorded ones
 * (replay true), call by call. A near-tie in a pooling window (pool5 is 3x3 with stride 1) may
 * pick another element under float32 rounding than under the reference's float64, and the
 * gradient then flows through another pixel: a discrete difference, not an error of the kernels.
 * The whole-model comparison routes both runs through the same maxima, the reference run's.
 */
export function poolMaxima(inner: Kernels, maxima: Int32Array[], replay: boolean): Kernels {
  let call = 0;
  const maxPool2dForward = async (x: Tensor, options: Pool2dOptions): Promise<MaxPoolResult> => {
    const { y, argmax } = await inner.maxPool2dForward(x, options);
    if (!replay) {
      maxima.push(argmax);
      return { y, argmax };
    }
    return { y, argmax: maxima[call++] };
  };
  // every other kernel is inner's own, called on inner
  return new Proxy(inner, {
    get(target, property) {
      if (property === 'maxPool2dForward') return maxPool2dForward;
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
