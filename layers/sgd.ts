// Stochastic gradient descent with momentum and weight decay, as torch.optim.SGD does it:
//   d   = grad + weightDecay * p
//   buf = d                       on the first step
//   buf = momentum * buf + d      afterwards
//   p   = p - lr * lrMult * buf
// lrMult is the parameter's own multiplier: the SSD paper trains biases at twice the rate.
// For float32 parameters every step is rounded to float32 where PyTorch rounds (its CPU kernels
// fuse `a + alpha * b` into one rounding), so a trajectory matches PyTorch's to the last bit or so.

import { Tensor } from '../tensor/tensor';
import { Parameter } from './layer';

export interface SGDOptions {
  lr: number;
  momentum?: number; // default 0
  weightDecay?: number; // default 0
}

const identity = (v: number): number => v;

export class SGD {
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  private readonly buffers = new Map<Parameter, Float64Array>();

  constructor(
    readonly params: Parameter[],
    options: SGDOptions,
  ) {
    if (!(options.lr >= 0)) throw new Error(`SGD: learning rate must be >= 0, got ${options.lr}`);
    this.lr = options.lr;
    this.momentum = options.momentum ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
  }

  step(): void {
    for (const p of this.params) {
      const round = p.value.dtype === 'float32' ? Math.fround : identity;
      const lr = round(-this.lr * p.lrMult);
      const wd = round(this.weightDecay);
      const momentum = round(this.momentum);
      const value = p.value.data;
      const grad = p.grad.data;
      let buf = this.buffers.get(p);
      const firstStep = buf === undefined;
      if (buf === undefined && this.momentum !== 0) {
        buf = new Float64Array(value.length);
        this.buffers.set(p, buf);
      }
      for (let i = 0; i < value.length; i++) {
        let d = round(grad[i] + wd * value[i]);
        if (buf !== undefined) {
          buf[i] = firstStep ? d : round(round(momentum * buf[i]) + d);
          d = buf[i];
        }
        value[i] = round(value[i] + lr * d);
      }
    }
  }

  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /** The momentum buffer of a parameter (undefined before its first step): saved in checkpoints. */
  momentumBuffer(p: Parameter): Float64Array | undefined {
    return this.buffers.get(p);
  }

  /** Restore a momentum buffer (from a checkpoint), so that training continues exactly. */
  setMomentumBuffer(p: Parameter, values: ArrayLike<number>): void {
    if (!this.params.includes(p)) throw new Error('SGD.setMomentumBuffer: not a parameter of this optimizer');
    if (values.length !== p.value.size) throw new Error(`SGD.setMomentumBuffer: ${values.length} values for a parameter of ${p.value.size}`);
    this.buffers.set(p, Float64Array.from(values));
  }
}

/**
 * Scale all gradients down together so that their global L2 norm is at most maxNorm, as
 * torch.nn.utils.clip_grad_norm_ does. Returns the norm before clipping (worth logging: a norm
 * that explodes is the first sign of a loss about to become NaN).
 */
export function clipGradNorm(params: Parameter[], maxNorm: number): number {
  let sumSquares = 0;
  for (const p of params) {
    for (let i = 0; i < p.grad.size; i++) sumSquares += p.grad.data[i] * p.grad.data[i];
  }
  const totalNorm = Math.sqrt(sumSquares);
  const coef = maxNorm / (totalNorm + 1e-6);
  if (coef < 1) {
    for (const p of params) scaleInPlace(p.grad, coef);
  }
  return totalNorm;
}

function scaleInPlace(t: Tensor, s: number): void {
  for (let i = 0; i < t.size; i++) t.data[i] *= s;
}
