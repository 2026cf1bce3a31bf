// Stochastic gradient descent with momentum and weight decay, as torch.optim.SGD does it:
//   d   = grad + weightDecay * p
//   buf = d                       on the first step
//   buf = momentum * buf + d      afterwards
//   p   = p - lr * lrMult * buf
// lrMult is the parameter's own multiplier: the SSD paper trains biases at twice the rate.
// For float32 parameters every step is rounded to float32 where PyTorch rounds (its CPU kernels
// fuse `a + alpha * b` into one rounding), so a trajectory matches PyTorch's to the last bit or so.

import { FloatArray, Tensor, allocate } from '../tensor/tensor';
import { Parameter } from './layer';
import { WasmSgd } from '../kernels/wasm/sgd';
import { simdSupported } from '../kernels/wasm/runtime';

export interface SGDOptions {
  lr: number;
  momentum?: number; // default 0
  weightDecay?: number; // default 0
  /**
   * Run the float32 steps in WebAssembly SIMD (kernels/wasm/sgd.ts): the same arithmetic to the
   * bit, a quarter faster on the full SSD300. Default: where the engine validates SIMD128; false
   * runs the plain loops below.
   */
  wasm?: boolean;
}

export class SGD {
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  /** The momentum buffers, in the parameter's dtype (float32 rounding is where PyTorch rounds, so float32 holds them exactly). */
  private readonly buffers = new Map<Parameter, FloatArray>();
  private readonly wasm: WasmSgd | null;

  constructor(
    readonly params: Parameter[],
    options: SGDOptions,
  ) {
    if (!(options.lr >= 0)) throw new Error(`SGD: learning rate must be >= 0, got ${options.lr}`);
    this.lr = options.lr;
    this.momentum = options.momentum ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    this.wasm = (options.wasm ?? simdSupported()) ? new WasmSgd() : null;
  }

  step(): void {
    for (const p of this.params) {
      let buf = this.buffers.get(p);
      const firstStep = buf === undefined;
      if (buf === undefined && this.momentum !== 0) {
        buf = allocate(p.value.dtype, p.value.size);
        this.buffers.set(p, buf);
      }
      const rates = { lr: -this.lr * p.lrMult, weightDecay: this.weightDecay, momentum: this.momentum };
      if (p.value.dtype === 'float32' && this.wasm !== null) stepFloat32Wasm(this.wasm, p.value.data, p.grad.data, buf, firstStep, rates);
      else if (p.value.dtype === 'float32') stepFloat32(p.value.data, p.grad.data, buf, firstStep, rates);
      else stepFloat64(p.value.data, p.grad.data, buf, firstStep, rates);
    }
  }

  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /** The momentum buffer of a parameter (undefined before its first step): saved in checkpoints. */
  momentumBuffer(p: Parameter): FloatArray | undefined {
    return this.buffers.get(p);
  }

  /** Restore a momentum buffer (from a checkpoint), so that training continues exactly. */
  setMomentumBuffer(p: Parameter, values: ArrayLike<number>): void {
    if (!this.params.includes(p)) throw new Error('SGD.setMomentumBuffer: not a parameter of this optimizer');
    if (values.length !== p.value.size) throw new Error(`SGD.setMomentumBuffer: ${values.length} values for a parameter of ${p.value.size}`);
    this.buffers.set(p, p.value.dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values));
  }
}

interface Rates {
  lr: number; // -lr * lrMult: the step goes down the gradient
  weightDecay: number;
  momentum: number;
}

/**
 * One step of a float32 parameter, rounding to float32 where PyTorch's kernels do: the decayed
 * gradient, momentum * buf, the new buf, and the new value (each `a + alpha * b` is one rounding).
 * Storing into a Float32Array rounds too. One plain loop per case keeps the hot loop free of
 * branches: the 26 million parameters of the full SSD300 take 60-70 ms here.
 */
function stepFloat32(value: FloatArray, grad: FloatArray, buf: FloatArray | undefined, firstStep: boolean, rates: Rates): void {
  const fround = Math.fround;
  const lr = fround(rates.lr);
  const wd = fround(rates.weightDecay);
  const momentum = fround(rates.momentum);
  if (buf === undefined) {
    for (let i = 0; i < value.length; i++) value[i] = value[i] + lr * fround(grad[i] + wd * value[i]);
  } else if (firstStep) {
    for (let i = 0; i < value.length; i++) {
      const d = fround(grad[i] + wd * value[i]);
      buf[i] = d;
      value[i] = value[i] + lr * d;
    }
  } else {
    for (let i = 0; i < value.length; i++) {
      const d = fround(fround(momentum * buf[i]) + fround(grad[i] + wd * value[i]));
      buf[i] = d;
      value[i] = value[i] + lr * d;
    }
  }
}

/** stepFloat32 in WebAssembly SIMD: the same roundings (kernels/wasm/sgd.wat). */
function stepFloat32Wasm(wasm: WasmSgd, value: FloatArray, grad: FloatArray, buf: FloatArray | undefined, firstStep: boolean, rates: Rates): void {
  const mode = buf === undefined ? 0 : firstStep ? 1 : 2;
  const fround = Math.fround;
  wasm.step(value as Float32Array, grad as Float32Array, buf as Float32Array | undefined, mode, fround(rates.lr), fround(rates.weightDecay), fround(rates.momentum));
}

/** The same step in float64 (the gradient checks' models): no rounding but the arithmetic's own. */
function stepFloat64(value: FloatArray, grad: FloatArray, buf: FloatArray | undefined, firstStep: boolean, rates: Rates): void {
  const { lr, weightDecay: wd, momentum } = rates;
  for (let i = 0; i < value.length; i++) {
    let d = grad[i] + wd * value[i];
    if (buf !== undefined) {
      buf[i] = firstStep ? d : momentum * buf[i] + d;
      d = buf[i];
    }
    value[i] = value[i] + lr * d;
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
