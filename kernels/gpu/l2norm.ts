// L2 normalization across channels (SSD's conv4_3 rescaling) on GPU.js.
//
//   norm(n, h, w) = sqrt(sum_c x(n, c, h, w)^2 + eps)
//   y(n, c, h, w) = scale(c) * x(n, c, h, w) / norm(n, h, w)
// and backward, with weighted(n, h, w) = sum_c scale_c * dy_c * x_c:
//   dx_c     = scale_c * dy_c / norm - x_c * weighted / norm^3
//   dscale_c = sum over n, h, w of dy_c * x_c / norm
//
// A GPU.js kernel returns one number per thread, so each line above is its own kernel: the
// per-position reductions over channels (norm, weighted) first, then the element-wise kernels that
// read them back in. Tensors are 3-D arrays [W, H, N * C]; per-position values are [W, H, N].

import { ElementFunction, GpuJsRuntime, KernelThis, as3D, flattenRows } from './runtime';

interface L2Constants {
  batch: number;
  channels: number;
  height: number;
  width: number;
  eps: number; // a float constant
}

type L2This = KernelThis<L2Constants>;

/** norm(n, h, w); output [W (padded), H, N]. */
function l2NormElement(this: L2This, x: number[][][]): number {
  const w = this.thread.x;
  const h = this.thread.y;
  const n = this.thread.z;
  let sumSquares = 0;
  if (w < this.constants.width) {
    for (let c = 0; c < this.constants.channels; c++) {
      const v = x[n * this.constants.channels + c][h][w];
      sumSquares += v * v;
    }
  }
  return Math.sqrt(sumSquares + this.constants.eps);
}

/** y(n, c, h, w); output [W (padded), H, N * C]. */
function l2NormScaleElement(this: L2This, x: number[][][], norm: number[][][], scale: number[]): number {
  const w = this.thread.x;
  const h = this.thread.y;
  let n = 0; // thread.z = n * C + c; counted, not divided (see conv.ts)
  for (let i = 1; i < this.constants.batch; i++) {
    if (this.thread.z >= i * this.constants.channels) n = i;
  }
  const c = this.thread.z - n * this.constants.channels;
  if (w < this.constants.width) return (scale[c] * x[this.thread.z][h][w]) / norm[n][h][w];
  return 0;
}

/** weighted(n, h, w) = sum_c scale_c * dy_c * x_c; output [W (padded), H, N]. */
function l2NormWeightedElement(this: L2This, dy: number[][][], x: number[][][], scale: number[]): number {
  const w = this.thread.x;
  const h = this.thread.y;
  const n = this.thread.z;
  let acc = 0;
  if (w < this.constants.width) {
    for (let c = 0; c < this.constants.channels; c++) {
      const z = n * this.constants.channels + c;
      acc += scale[c] * dy[z][h][w] * x[z][h][w];
    }
  }
  return acc;
}

/** dscale(c) = sum over n, h, w of dy_c * x_c / norm; output [C (padded), 1, 1]. */
function l2NormScaleGradElement(this: L2This, dy: number[][][], x: number[][][], norm: number[][][]): number {
  const c = this.thread.x;
  let acc = 0;
  if (c < this.constants.channels) {
    for (let n = 0; n < this.constants.batch; n++) {
      const z = n * this.constants.channels + c;
      for (let h = 0; h < this.constants.height; h++) {
        let row = 0; // rows summed apart keep the float32 sum accurate
        for (let w = 0; w < this.constants.width; w++) {
          row += (dy[z][h][w] * x[z][h][w]) / norm[n][h][w];
        }
        acc += row;
      }
    }
  }
  return acc;
}

/** dx(n, c, h, w); output [W (padded), H, N * C]. */
function l2NormInputGradElement(this: L2This, dy: number[][][], x: number[][][], scale: number[], norm: number[][][], weighted: number[][][]): number {
  const w = this.thread.x;
  const h = this.thread.y;
  const z = this.thread.z;
  let n = 0; // z = n * C + c; counted, not divided (see conv.ts)
  for (let i = 1; i < this.constants.batch; i++) {
    if (z >= i * this.constants.channels) n = i;
  }
  const c = z - n * this.constants.channels;
  if (w < this.constants.width) {
    const nrm = norm[n][h][w];
    return (scale[c] * dy[z][h][w]) / nrm - (x[z][h][w] * weighted[n][h][w]) / (nrm * nrm * nrm);
  }
  return 0;
}

type Shape4 = readonly [number, number, number, number];

function constantsOf(shape: Shape4, eps: number): L2Constants {
  const [batch, channels, height, width] = shape;
  return { batch, channels, height, width, eps };
}

function makeKernel(rt: GpuJsRuntime, kind: string, c: L2Constants, fn: ElementFunction, output: [number, number, number]) {
  const key = `l2norm.${kind}:${c.batch},${c.channels},${c.height},${c.width},${c.eps}`;
  return rt.kernel(key, () => ({ fn, output, constants: { ...c }, floatConstants: ['eps'] }));
}

export async function l2NormForward(rt: GpuJsRuntime, shape: Shape4, x: Float32Array, scale: Float32Array, eps: number): Promise<{ y: Float32Array; norm: Float32Array }> {
  const c = constantsOf(shape, eps);
  const xs = as3D(x, [c.width, c.height, c.batch * c.channels]);
  const padded = rt.paddedWidth(c.width);
  const normKernel = makeKernel(rt, 'norm', c, l2NormElement, [padded, c.height, c.batch]);
  const norm = flattenRows(await rt.run(normKernel, [xs]), c.width);
  const scaleKernel = makeKernel(rt, 'scale', c, l2NormScaleElement, [padded, c.height, c.batch * c.channels]);
  const y = flattenRows(await rt.run(scaleKernel, [xs, as3D(norm, [c.width, c.height, c.batch]), scale]), c.width);
  return { y, norm };
}

export async function l2NormBackward(rt: GpuJsRuntime, shape: Shape4, dy: Float32Array, x: Float32Array, scale: Float32Array, norm: Float32Array): Promise<{ dx: Float32Array; dscale: Float32Array }> {
  // eps is only used by the forward; the backward kernels get 0 so that their keys do not vary.
  const c = constantsOf(shape, 0);
  const planes: [number, number, number] = [c.width, c.height, c.batch * c.channels];
  const dys = as3D(dy, planes);
  const xs = as3D(x, planes);
  const norms = as3D(norm, [c.width, c.height, c.batch]);
  const padded = rt.paddedWidth(c.width);

  const weightedKernel = makeKernel(rt, 'weighted', c, l2NormWeightedElement, [padded, c.height, c.batch]);
  const weighted = flattenRows(await rt.run(weightedKernel, [dys, xs, scale]), c.width);

  const dscaleKernel = makeKernel(rt, 'dscale', c, l2NormScaleGradElement, [rt.paddedWidth(c.channels), 1, 1]);
  const dscale = flattenRows(await rt.run(dscaleKernel, [dys, xs, norms]), c.channels);

  const dxKernel = makeKernel(rt, 'dx', c, l2NormInputGradElement, [padded, c.height, c.batch * c.channels]);
  const dx = flattenRows(await rt.run(dxKernel, [dys, xs, scale, norms, as3D(weighted, [c.width, c.height, c.batch])]), c.width);
  return { dx, dscale };
}
