// Seeded random numbers, so that every run (initial weights, synthetic data, tests) is reproducible.
//
// The generator is xoshiro128** (Blackman and Vigna), seeded through splitmix32. It is not the
// generator PyTorch uses: a seed here gives the same numbers on every machine and every run of
// this project, not the numbers torch.manual_seed would give.

import { DType, Shape, Tensor } from './tensor';
import { zeros } from './create';

/** Everything an Rng remembers (xoshiro128**'s four words and Box-Muller's spare normal). */
export interface RngState {
  s: number[];
  spareNormal: number | null;
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal: number | null = null;

  constructor(seed: number) {
    let x = seed >>> 0;
    const splitmix32 = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = splitmix32();
    this.s1 = splitmix32();
    this.s2 = splitmix32();
    this.s3 = splitmix32();
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Standard normal, by the Box-Muller transform (two numbers per pair of uniforms). */
  normal(): number {
    if (this.spareNormal !== null) {
      const z = this.spareNormal;
      this.spareNormal = null;
      return z;
    }
    const u1 = 1 - this.uniform(); // in (0, 1]: log(u1) is finite
    const u2 = this.uniform();
    const radius = Math.sqrt(-2 * Math.log(u1));
    this.spareNormal = radius * Math.sin(2 * Math.PI * u2);
    return radius * Math.cos(2 * Math.PI * u2);
  }

  /** The generator's whole state, to save in a checkpoint: the same numbers follow after setState. */
  getState(): RngState {
    return { s: [this.s0, this.s1, this.s2, this.s3], spareNormal: this.spareNormal };
  }

  setState(state: RngState): void {
    if (!Array.isArray(state.s) || state.s.length !== 4 || !state.s.every((v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32)) {
      throw new Error(`Rng.setState: expected four 32-bit unsigned integers, got ${JSON.stringify(state.s)}`);
    }
    [this.s0, this.s1, this.s2, this.s3] = state.s;
    this.spareNormal = state.spareNormal;
  }

  /** A uniformly chosen integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
}

/**
 * A seed for item `index` of a stream of items drawn from `seed` (e.g. the augmentation of the
 * image at position `index` of an epoch): a hash of the two (murmur3's finalizer), so that items
 * get unrelated generators (new Rng(deriveSeed(seed, i))) whatever the order they are made in,
 * on whichever thread.
 */
export function deriveSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Values drawn uniformly from [low, high). */
export function randUniform(shape: Shape, rng: Rng, low = 0, high = 1, dtype: DType = 'float32'): Tensor {
  const t = zeros(shape, dtype);
  for (let i = 0; i < t.size; i++) t.data[i] = low + (high - low) * rng.uniform();
  return t;
}

/** Values drawn from a normal distribution N(mean, std^2). */
export function randNormal(shape: Shape, rng: Rng, mean = 0, std = 1, dtype: DType = 'float32'): Tensor {
  const t = zeros(shape, dtype);
  for (let i = 0; i < t.size; i++) t.data[i] = mean + std * rng.normal();
  return t;
}
