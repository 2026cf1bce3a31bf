// Creating tensors: filled with a constant, or from plain (possibly nested) arrays.

import { DType, Shape, Tensor, allocate, shapeToString, sizeOf } from './tensor';

export function zeros(shape: Shape, dtype: DType = 'float32'): Tensor {
  return new Tensor(shape, undefined, dtype);
}

export function full(shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
  const t = zeros(shape, dtype);
  t.data.fill(value);
  return t;
}

export function ones(shape: Shape, dtype: DType = 'float32'): Tensor {
  return full(shape, 1, dtype);
}

export function zerosLike(t: Tensor): Tensor {
  return zeros(t.shape, t.dtype);
}

/** A tensor of the given shape holding `values` (a flat list, in row-major order). */
export function fromFlat(values: ArrayLike<number>, shape: Shape, dtype: DType = 'float32'): Tensor {
  if (values.length !== sizeOf(shape)) {
    throw new Error(`fromFlat: ${values.length} values cannot fill shape ${shapeToString(shape)} (${sizeOf(shape)} elements)`);
  }
  const data = allocate(dtype, values.length);
  for (let i = 0; i < values.length; i++) data[i] = values[i];
  return new Tensor(shape, data);
}

export type NestedArray = number | NestedArray[];

/** A tensor from a nested array such as [[1, 2], [3, 4]]; the shape is read off the nesting. */
export function fromArray(values: NestedArray, dtype: DType = 'float32'): Tensor {
  const shape: number[] = [];
  let probe: NestedArray = values;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0];
  }
  const flat: number[] = [];
  const walk = (v: NestedArray, dim: number): void => {
    if (dim === shape.length) {
      if (typeof v !== 'number') throw new Error(`fromArray: ragged array, expected a number at depth ${dim}`);
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[dim]) {
      throw new Error(`fromArray: ragged array, expected ${shape[dim]} entries at depth ${dim}`);
    }
    for (const e of v) walk(e, dim + 1);
  };
  walk(values, 0);
  return fromFlat(flat, shape, dtype);
}
