// Stochastic gradient descent with momentum and weight decay, as torch.optim.SGD does it:
//   d   = grad + weightDecay * p
//   buf = d                       on the first step
//   buf = momentum * buf + d      afterwards
//   p   = p - lr * lrMult * buf
// lrMult is the parameter's own multiplier: the SSD paper trains biases at twice the rate.
// The arithmetic is a kernel (Kernels.sgdStep: kernels/cpu/reference.ts writes it out, rounded to
// float32 where PyTorch rounds, so that a trajectory matches PyTorch's to the last bit or so), run
// by the backend the optimizer is given, as every other part of a training step.

import { FloatArray, Tensor } from '../tensor/tensor';
import { Kernels } from '../kernels/kernels';
import { referenceKernels } from '../kernels/cpu/reference';
import { Parameter } from './layer';

export interface SGDOptions {
  lr: number;
  momentum?: number; // default 0
  weightDecay?: number; // default 0
  /** The kernels that do the arithmetic (the model's: model.kernels); the reference by default. */
  kernels?: Kernels;
}

export class SGD {
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly kernels: Kernels;
  /** The momentum buffers, in the parameter's dtype (float32 rounding is where PyTorch rounds, so float32 holds them exactly). */
  private readonly buffers = new Map<Parameter, Tensor>();

  constructor(
    readonly params: Parameter[],
    options: SGDOptions,
  ) {
    if (!(options.lr >= 0)) throw new Error(`SGD: learning rate must be >= 0, got ${options.lr}`);
    this.lr = options.lr;
    this.momentum = options.momentum ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    this.kernels = options.kernels ?? referenceKernels;
  }

  async step(): Promise<void> {
    for (const p of this.params) {
      let buf = this.buffers.get(p) ?? null;
      const firstStep = buf === null;
      if (buf === null && this.momentum !== 0) {
        buf = this.kernels.zeros(p.value.shape, p.value.dtype); // beside the parameter (wasm: in its memory)
        this.buffers.set(p, buf);
      }
      const phase = buf === null ? 'none' : firstStep ? 'first' : 'later';
      await this.kernels.sgdStep(p.value, p.grad, buf, { lr: -this.lr * p.lrMult, weightDecay: this.weightDecay, momentum: this.momentum, phase });
    }
  }

  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /** The momentum buffer of a parameter (undefined before its first step): saved in checkpoints. */
  momentumBuffer(p: Parameter): FloatArray | undefined {
    return this.buffers.get(p)?.data;
  }

  /** Restore a momentum buffer (from a checkpoint), so that training continues exactly. */
  setMomentumBuffer(p: Parameter, values: ArrayLike<number>): void {
    if (!this.params.includes(p)) throw new Error('SGD.setMomentumBuffer: not a parameter of this optimizer');
    if (values.length !== p.value.size) throw new Error(`SGD.setMomentumBuffer: ${values.length} values for a parameter of ${p.value.size}`);
    const buf = this.kernels.zeros(p.value.shape, p.value.dtype);
    buf.data.set(values);
    this.buffers.set(p, buf);
  }
}

/**
 * Scale all gradients down together so that their global L2 norm is at most maxNorm, as
 * torch.nn.utils.clip_grad_norm_ does. Returns the norm before clipping (worth logging: a norm
 * that explodes is the first sign of a loss about to become NaN).
 */
export async function clipGradNorm(params: Parameter[], maxNorm: number, kernels: Kernels = referenceKernels): Promise<number> {
  let sumSquares = 0;
  for (const p of params) sumSquares += await kernels.sumOfSquares(p.grad);
  const totalNorm = Math.sqrt(sumSquares);
  const coef = maxNorm / (totalNorm + 1e-6);
  if (coef < 1) {
    for (const p of params) await kernels.scaleInPlace(p.grad, coef);
  }
  return totalNorm;
}
