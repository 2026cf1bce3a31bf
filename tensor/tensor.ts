// The Tensor: a shape and a flat typed array of numbers, stored row-major.
//
// Images and feature maps are NCHW: element (n, c, h, w) of a (N, C, H, W) tensor lives at
// ((n * C + c) * H + h) * W + w. Everything the network computes is float32, as in PyTorch;
// float64 tensors exist so that gradient checks by finite differences are not drowned in
// float32 rounding noise (the reference kernels accept both).

export type DType = 'float32' | 'float64';
export type FloatArray = Float32Array | Float64Array;
export type Shape = readonly number[];

/** Number of elements of a tensor of this shape (1 for a scalar shape []). */
export function sizeOf(shape: Shape): number {
  let size = 1;
  for (const d of shape) size *= d;
  return size;
}

/** "(2, 3, 300, 300)": how shapes are written in every error message. */
export function shapeToString(shape: Shape): string {
  return `(${shape.join(', ')})`;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function allocate(dtype: DType, size: number): FloatArray {
  return dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
}

export function dtypeOf(data: FloatArray): DType {
  return data instanceof Float64Array ? 'float64' : 'float32';
}

function checkShape(shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(`invalid shape ${shapeToString(shape)}: every dimension must be a non-negative integer`);
    }
  }
}

export class Tensor {
  readonly shape: Shape;
  readonly data: FloatArray;
  /**
   * Counts the changes made to the values in place (as PyTorch's tensor._version does): the
   * optimizer's step, loadStateDict, scaleInPlace. What a backend derives from a tensor's values
   * and keeps between calls (the wasm backend's Winograd filter transforms and packed weights) is
   * valid only for the version it was made from. Code that writes into `data` itself calls
   * changed() afterwards.
   */
  version = 0;

  constructor(shape: Shape, data?: FloatArray, dtype: DType = 'float32') {
    checkShape(shape);
    const size = sizeOf(shape);
    if (data === undefined) {
      data = allocate(dtype, size);
    } else if (data.length !== size) {
      throw new Error(
        `Tensor: data has ${data.length} elements but shape ${shapeToString(shape)} needs ${size}`,
      );
    }
    this.shape = Object.freeze([...shape]);
    this.data = data;
  }

  get dtype(): DType {
    return dtypeOf(this.data);
  }

  /** Says that the values were changed in place (see version). */
  changed(): void {
    this.version++;
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Same data, new shape; one dimension may be -1 and is then inferred. Shares memory. */
  reshape(shape: Shape): Tensor {
    const resolved = [...shape];
    const inferred = resolved.indexOf(-1);
    if (inferred !== -1) {
      let known = 1;
      resolved.forEach((d, i) => {
        if (i !== inferred) known *= d;
      });
      if (known === 0 || this.size % known !== 0) {
        throw new Error(`reshape: cannot reshape ${shapeToString(this.shape)} into ${shapeToString(shape)}`);
      }
      resolved[inferred] = this.size / known;
    }
    if (sizeOf(resolved) !== this.size) {
      throw new Error(
        `reshape: cannot reshape ${shapeToString(this.shape)} (${this.size} elements) into ${shapeToString(shape)}`,
      );
    }
    return new Tensor(resolved, this.data);
  }

  /** A copy with its own memory (optionally converted to another dtype). */
  clone(dtype: DType = this.dtype): Tensor {
    const data = allocate(dtype, this.size);
    data.set(this.data);
    return new Tensor(this.shape, data);
  }

  /** The element at a multi-index, e.g. t.get(n, c, h, w). For tests and debugging, not hot loops. */
  get(...index: number[]): number {
    return this.data[this.offset(index)];
  }

  set(value: number, ...index: number[]): void {
    this.data[this.offset(index)] = value;
  }

  private offset(index: number[]): number {
    if (index.length !== this.shape.length) {
      throw new Error(`index [${index.join(', ')}] has ${index.length} dimensions, tensor ${shapeToString(this.shape)} has ${this.shape.length}`);
    }
    let offset = 0;
    for (let i = 0; i < index.length; i++) {
      if (index[i] < 0 || index[i] >= this.shape[i]) {
        throw new Error(`index [${index.join(', ')}] is out of bounds for shape ${shapeToString(this.shape)}`);
      }
      offset = offset * this.shape[i] + index[i];
    }
    return offset;
  }

  /** Nested plain arrays, for printing and for small hand-worked tests. */
  toArray(): unknown {
    const build = (dim: number, offset: number): unknown => {
      if (dim === this.shape.length) return this.data[offset];
      const out: unknown[] = [];
      const stride = sizeOf(this.shape.slice(dim + 1));
      for (let i = 0; i < this.shape[dim]; i++) out.push(build(dim + 1, offset + i * stride));
      return out;
    };
    return build(0, 0);
  }

  toString(): string {
    return `Tensor${shapeToString(this.shape)} ${this.dtype}`;
  }
}

/**
 * Throw unless `t` has exactly `expected` shape. `what` names the tensor in the message,
 * e.g. "Conv2d conv1_1: input". A -1 in `expected` matches any size.
 */
export function assertShape(t: Tensor, expected: Shape, what: string): void {
  const ok =
    t.shape.length === expected.length && expected.every((d, i) => d === -1 || d === t.shape[i]);
  if (!ok) {
    const want = shapeToString(expected).replace(/-1/g, '*');
    throw new Error(`${what}: expected shape ${want}, got ${shapeToString(t.shape)}`);
  }
}

export function assertSameShape(a: Tensor, b: Tensor, what: string): void {
  if (!shapesEqual(a.shape, b.shape)) {
    throw new Error(`${what}: shapes differ, ${shapeToString(a.shape)} vs ${shapeToString(b.shape)}`);
  }
}

export function assertRank(t: Tensor, rank: number, what: string): void {
  if (t.shape.length !== rank) {
    throw new Error(`${what}: expected a ${rank}-d tensor, got shape ${shapeToString(t.shape)}`);
  }
}
