// Operations on whole tensors: element-wise arithmetic, reductions, permute, concat, slicing
// along the batch, and (log-)softmax. Every binary op checks shapes first and says which differ.

import { Shape, Tensor, allocate, assertSameShape, shapeToString, sizeOf } from './tensor';

function binary(a: Tensor, b: Tensor, what: string, f: (x: number, y: number) => number): Tensor {
  assertSameShape(a, b, what);
  const out = new Tensor(a.shape, allocate(a.dtype, a.size));
  for (let i = 0; i < a.size; i++) out.data[i] = f(a.data[i], b.data[i]);
  return out;
}

export function add(a: Tensor, b: Tensor): Tensor {
  return binary(a, b, 'add', (x, y) => x + y);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  return binary(a, b, 'sub', (x, y) => x - y);
}

export function mul(a: Tensor, b: Tensor): Tensor {
  return binary(a, b, 'mul', (x, y) => x * y);
}

export function div(a: Tensor, b: Tensor): Tensor {
  return binary(a, b, 'div', (x, y) => x / y);
}

export function map(a: Tensor, f: (x: number) => number): Tensor {
  const out = new Tensor(a.shape, allocate(a.dtype, a.size));
  for (let i = 0; i < a.size; i++) out.data[i] = f(a.data[i]);
  return out;
}

export function scale(a: Tensor, s: number): Tensor {
  return map(a, (x) => x * s);
}

/** target += alpha * x, in place (how gradients are accumulated). */
export function addInPlace(target: Tensor, x: Tensor, alpha = 1): void {
  assertSameShape(target, x, 'addInPlace');
  for (let i = 0; i < target.size; i++) target.data[i] += alpha * x.data[i];
}

export function sum(a: Tensor): number {
  let s = 0;
  for (let i = 0; i < a.size; i++) s += a.data[i];
  return s;
}

/** Sum of a[i] * b[i]: the loss L = sum(y * r) has gradient r, which gradient checks use. */
export function dot(a: Tensor, b: Tensor): number {
  assertSameShape(a, b, 'dot');
  let s = 0;
  for (let i = 0; i < a.size; i++) s += a.data[i] * b.data[i];
  return s;
}

export function maxAbsDiff(a: Tensor, b: Tensor): number {
  assertSameShape(a, b, 'maxAbsDiff');
  let m = 0;
  for (let i = 0; i < a.size; i++) m = Math.max(m, Math.abs(a.data[i] - b.data[i]));
  return m;
}

export function allFinite(a: Tensor): boolean {
  for (let i = 0; i < a.size; i++) if (!Number.isFinite(a.data[i])) return false;
  return true;
}

function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

/**
 * Reorder the dimensions: output dimension d is input dimension `order[d]`.
 * permute(x, [0, 2, 3, 1]) turns NCHW into NHWC, which is how SSD lays out its predictions.
 */
export function permute(a: Tensor, order: readonly number[]): Tensor {
  const rank = a.shape.length;
  const seen = new Set(order);
  if (order.length !== rank || seen.size !== rank || order.some((d) => d < 0 || d >= rank)) {
    throw new Error(`permute: order [${order.join(', ')}] is not a permutation of the ${rank} dimensions of ${shapeToString(a.shape)}`);
  }
  const outShape = order.map((d) => a.shape[d]);
  const inStrides = stridesOf(a.shape);
  const out = new Tensor(outShape, allocate(a.dtype, a.size));
  const index = new Array<number>(rank).fill(0); // running multi-index into the output
  for (let o = 0; o < out.size; o++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += index[d] * inStrides[order[d]];
    out.data[o] = a.data[src];
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d] < outShape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

/** Join tensors along `axis`; all other dimensions must agree. */
export function concat(tensors: readonly Tensor[], axis: number): Tensor {
  if (tensors.length === 0) throw new Error('concat: no tensors given');
  const first = tensors[0];
  const rank = first.shape.length;
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) throw new Error(`concat: axis ${axis} is out of range for rank ${rank}`);
  let axisTotal = 0;
  tensors.forEach((t, k) => {
    const ok = t.shape.length === rank && t.shape.every((d, i) => i === axis || d === first.shape[i]);
    if (!ok) {
      throw new Error(`concat along axis ${axis}: tensor ${k} has shape ${shapeToString(t.shape)}, incompatible with ${shapeToString(first.shape)}`);
    }
    if (t.dtype !== first.dtype) throw new Error(`concat: tensor ${k} is ${t.dtype}, tensor 0 is ${first.dtype}`);
    axisTotal += t.shape[axis];
  });
  const outShape = [...first.shape];
  outShape[axis] = axisTotal;
  const outer = sizeOf(first.shape.slice(0, axis)); // product of dims before the axis
  const inner = sizeOf(first.shape.slice(axis + 1)); // product of dims after it
  const out = new Tensor(outShape, allocate(first.dtype, sizeOf(outShape)));
  let axisOffset = 0;
  for (const t of tensors) {
    const block = t.shape[axis] * inner; // contiguous run of t per outer index
    for (let o = 0; o < outer; o++) {
      out.data.set(t.data.subarray(o * block, (o + 1) * block), (o * axisTotal + axisOffset) * inner);
    }
    axisOffset += t.shape[axis];
  }
  return out;
}

/** Split a tensor along `axis` into pieces of the given sizes: the inverse of concat. */
export function split(a: Tensor, sizes: readonly number[], axis: number): Tensor[] {
  const rank = a.shape.length;
  if (axis < 0) axis += rank;
  const total = sizes.reduce((s, x) => s + x, 0);
  if (total !== a.shape[axis]) {
    throw new Error(`split: sizes [${sizes.join(', ')}] add up to ${total}, but axis ${axis} of ${shapeToString(a.shape)} has ${a.shape[axis]}`);
  }
  const outer = sizeOf(a.shape.slice(0, axis));
  const inner = sizeOf(a.shape.slice(axis + 1));
  const pieces: Tensor[] = [];
  let axisOffset = 0;
  for (const size of sizes) {
    const shape = [...a.shape];
    shape[axis] = size;
    const piece = new Tensor(shape, allocate(a.dtype, sizeOf(shape)));
    for (let o = 0; o < outer; o++) {
      const start = (o * a.shape[axis] + axisOffset) * inner;
      piece.data.set(a.data.subarray(start, start + size * inner), o * size * inner);
    }
    pieces.push(piece);
    axisOffset += size;
  }
  return pieces;
}

/** Images [start, end) of a batch (a copy). */
export function sliceBatch(a: Tensor, start: number, end: number): Tensor {
  const n = a.shape[0];
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= n)) {
    throw new Error(`sliceBatch: range [${start}, ${end}) is not inside a batch of ${n} (shape ${shapeToString(a.shape)})`);
  }
  const per = sizeOf(a.shape.slice(1));
  const shape = [end - start, ...a.shape.slice(1)];
  const data = allocate(a.dtype, (end - start) * per);
  data.set(a.data.subarray(start * per, end * per));
  return new Tensor(shape, data);
}

/** Visit every 1-d line of `a` along `axis`: calls f(offset, stride, length) for each line. */
function forEachLine(a: Tensor, axis: number, f: (offset: number, stride: number, length: number) => void): void {
  const rank = a.shape.length;
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) throw new Error(`axis ${axis} is out of range for shape ${shapeToString(a.shape)}`);
  const outer = sizeOf(a.shape.slice(0, axis));
  const inner = sizeOf(a.shape.slice(axis + 1));
  const length = a.shape[axis];
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) f(o * length * inner + i, inner, length);
  }
}

/**
 * log(softmax(x)) along `axis` (default: the last), computed as x - max - log(sum(exp(x - max)))
 * so that large scores neither overflow nor lose precision.
 */
export function logSoftmax(a: Tensor, axis = -1): Tensor {
  const out = new Tensor(a.shape, allocate(a.dtype, a.size));
  forEachLine(a, axis, (offset, stride, length) => {
    let max = -Infinity;
    for (let k = 0; k < length; k++) max = Math.max(max, a.data[offset + k * stride]);
    let sumExp = 0;
    for (let k = 0; k < length; k++) sumExp += Math.exp(a.data[offset + k * stride] - max);
    const logSum = max + Math.log(sumExp);
    for (let k = 0; k < length; k++) out.data[offset + k * stride] = a.data[offset + k * stride] - logSum;
  });
  return out;
}

/** softmax(x) along `axis` (default: the last); each line sums to 1. */
export function softmax(a: Tensor, axis = -1): Tensor {
  const out = new Tensor(a.shape, allocate(a.dtype, a.size));
  forEachLine(a, axis, (offset, stride, length) => {
    let max = -Infinity;
    for (let k = 0; k < length; k++) max = Math.max(max, a.data[offset + k * stride]);
    let sumExp = 0;
    for (let k = 0; k < length; k++) {
      const e = Math.exp(a.data[offset + k * stride] - max);
      out.data[offset + k * stride] = e;
      sumExp += e;
    }
    for (let k = 0; k < length; k++) out.data[offset + k * stride] /= sumExp;
  });
  return out;
}
