// A test helper: two results that must agree bit for bit (the same kernel on other threads, a kept
// transform against a fresh one, a fused ReLU against a separate one).

import { expect } from 'chai';
import { Tensor } from '../../tensor/tensor';

/** Throws at the first element whose bits differ (Object.is: -0 against 0 and NaN count too). */
export function expectSameBits(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, `${what}: length`).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) throw new Error(`${what}: element ${i} is ${show(actual[i])}, expected ${show(expected[i])}`);
  }
}

/** A number as the message must show it: String(-0) is '0'. */
function show(v: number): string {
  return Object.is(v, -0) ? '-0' : String(v);
}

/** expectSameBits for tensors, their shapes first. */
export function expectSameTensor(actual: Tensor, expected: Tensor, what: string): void {
  expect(actual.shape, `${what}: shape`).to.deep.equal(expected.shape);
  expectSameBits(actual.data, expected.data, what);
}
