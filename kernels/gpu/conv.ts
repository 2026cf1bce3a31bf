// Convolution on GPU.js: forward, and the three backward kernels, each in "gather" form.
//
// A GPU.js kernel computes ONE output element per thread and cannot scatter, so each backward is
// written from the point of view of the element it produces:
//   forward      y(n, co, oy, ox)  = b(co) + sum over (ci, ky, kx) of x(n, ci, iy, ix) * w(co, ci, ky, kx)
//   to input     dx(n, ci, iy, ix) = sum over (co, ky, kx) of dy(n, co, oy, ox) * w(co, ci, ky, kx)
//                  over the output positions (oy, ox) whose tap (ky, kx) touched (iy, ix)
//   to weights   dw(co, ci, ky, kx) = sum over (n, oy, ox) of dy(n, co, oy, ox) * x(n, ci, iy, ix)
//   to bias      db(co)            = sum over (n, oy, ox) of dy(n, co, oy, ox)
// with, as in the reference, iy = oy * strideH - padH + ky * dilationH (and the same for x).
//
// The geometry (from kernels/geometry.ts, never recomputed here) is baked into each kernel as
// integer constants: `this.constants` is the Conv2dGeometry itself. Tensors are 3-D arrays
// [x, y, z] (see runtime.ts): x (N, C, H, W) is x[n * C + c][h][w], w (C_out, C_in, kH, kW) is
// w[co][ci][ky * kW + kx].
//
// Sums are float32, in a different order from the reference (which sums in doubles), so results
// agree to about 1e-5 relative, not bit for bit.

import { Conv2dGeometry } from '../geometry';
import { CachedKernel, ElementFunction, GpuJsRuntime, KernelThis, as3D, flattenRows } from './runtime';

type ConvThis = KernelThis<Conv2dGeometry>;

// ---------------------------------------------------------------------------------------------
// The per-element functions. GPU.js translates them (to WebAssembly, GLSL or plain JS): only
// numbers, loops over constants, `if`, Math.floor; no closures, no helpers from outside.
//
// The image n of a thread (thread.z = n * C + c) is found by counting, not by a division: on
// 'webasm' floor(z / C) is a float, and so is then every index built from it, converted back to
// an integer at each load of the inner loop (measured 40% slower), and a float division is not
// exact on every GL driver. The batch is small, so counting costs nothing.

/** y(n, co, oy, ox); output [W_out (padded), H_out, N * C_out]. */
function conv2dForwardElement(this: ConvThis, x: number[][][], w: number[][][], b: number[]): number {
  const ox = this.thread.x;
  const oy = this.thread.y;
  let n = 0; // thread.z = n * C_out + co
  for (let i = 1; i < this.constants.batch; i++) {
    if (this.thread.z >= i * this.constants.outChannels) n = i;
  }
  const co = this.thread.z - n * this.constants.outChannels;
  let acc = b[co];
  for (let ky = 0; ky < this.constants.kernelH; ky++) {
    const iy = oy * this.constants.strideH - this.constants.padH + ky * this.constants.dilationH;
    for (let kx = 0; kx < this.constants.kernelW; kx++) {
      const ix = ox * this.constants.strideW - this.constants.padW + kx * this.constants.dilationW;
      // Taps in the zero padding add nothing. Padded columns (ox >= W_out) stay in bounds too.
      if (iy >= 0 && iy < this.constants.inH && ix >= 0 && ix < this.constants.inW) {
        const k = ky * this.constants.kernelW + kx;
        for (let ci = 0; ci < this.constants.inChannels; ci++) {
          acc += x[n * this.constants.inChannels + ci][iy][ix] * w[co][ci][k];
        }
      }
    }
  }
  return acc;
}

/** dx(n, ci, iy, ix); output [W (padded), H, N * C_in]. */
function conv2dBackwardInputElement(this: ConvThis, dy: number[][][], w: number[][][]): number {
  const ix = this.thread.x;
  const iy = this.thread.y;
  let n = 0; // thread.z = n * C_in + ci
  for (let i = 1; i < this.constants.batch; i++) {
    if (this.thread.z >= i * this.constants.inChannels) n = i;
  }
  const ci = this.thread.z - n * this.constants.inChannels;
  let acc = 0;
  for (let ky = 0; ky < this.constants.kernelH; ky++) {
    // Tap ky of output row oy touches iy when oy * strideH = iy + padH - ky * dilationH = ty.
    const ty = iy + this.constants.padH - ky * this.constants.dilationH;
    // The candidate row (+0.5: floor stays exact however the division rounds); checked below.
    const oy = Math.floor((ty + 0.5) / this.constants.strideH);
    for (let kx = 0; kx < this.constants.kernelW; kx++) {
      const tx = ix + this.constants.padW - kx * this.constants.dilationW;
      const ox = Math.floor((tx + 0.5) / this.constants.strideW);
      if (
        ty >= 0 && tx >= 0 &&
        oy * this.constants.strideH === ty && ox * this.constants.strideW === tx &&
        oy < this.constants.outH && ox < this.constants.outW
      ) {
        const k = ky * this.constants.kernelW + kx;
        for (let co = 0; co < this.constants.outChannels; co++) {
          acc += dy[n * this.constants.outChannels + co][oy][ox] * w[co][ci][k];
        }
      }
    }
  }
  return acc;
}

// The reductions over every image and position (the weight and bias gradients) are split into
// chunks, each summed by a thread of its own, and the chunks added on the host: Mesa's llvmpipe
// (the software GL that headless-gl runs on under Xvfb) stops EVERY loop of a shader once the
// loops of one invocation have run 65,535 iterations in all (LP_MAX_TGSI_LOOP_ITERATIONS in
// gallivm, "shared between every loop"), silently, keeping the partial sum. One thread summing
// the 90,000 positions of a 300 x 300 plane was cut off there: the weight and bias gradients of
// conv1_x were wrong from batch x H x W = 65,536 on. MAX_LOOP_ITERATIONS keeps each thread's
// loops, counting loops included, well under that limit.
export const MAX_LOOP_ITERATIONS = 60000;

/** The constants of the weight-gradient kernel: the geometry and its chunks of (image, row) pairs. */
interface WeightGradGeometry extends Conv2dGeometry {
  /** Rows (n, oy) per chunk: the batch's N * H_out rows are cut into `chunks` of these. */
  rowsPerChunk: number;
  chunks: number;
}

/**
 * Partial dw(co, ci, ky, kx) over one chunk of output rows; output [C_in (padded), kH * kW,
 * chunks * C_out] (thread.z = chunk * C_out + co): C_in along x, where SIMD pays.
 */
function conv2dBackwardWeightElement(this: KernelThis<WeightGradGeometry>, dy: number[][][], x: number[][][]): number {
  const ci = this.thread.x;
  const k = this.thread.y;
  let chunk = 0; // thread.z = chunk * C_out + co, counted like n in the forward
  for (let i = 1; i < this.constants.chunks; i++) {
    if (this.thread.z >= i * this.constants.outChannels) chunk = i;
  }
  const co = this.thread.z - chunk * this.constants.outChannels;
  let ky = 0; // k = ky * kW + kx
  for (let i = 1; i < this.constants.kernelH; i++) {
    if (k >= i * this.constants.kernelW) ky = i;
  }
  const kx = k - ky * this.constants.kernelW;
  // The chunk's first row, row0 = chunk * rowsPerChunk, as (n, oy) with row0 = n * H_out + oy.
  const row0 = chunk * this.constants.rowsPerChunk;
  let n = 0;
  for (let i = 1; i < this.constants.batch; i++) {
    if (row0 >= i * this.constants.outH) n = i;
  }
  let oy = row0 - n * this.constants.outH;
  let acc = 0;
  if (ci < this.constants.inChannels) {
    for (let r = 0; r < this.constants.rowsPerChunk; r++) {
      const iy = oy * this.constants.strideH - this.constants.padH + ky * this.constants.dilationH;
      if (n < this.constants.batch && iy >= 0 && iy < this.constants.inH) {
        // Sum each row apart, then add the rows: float32 sums of up to N*H*W terms stay accurate.
        let row = 0;
        for (let ox = 0; ox < this.constants.outW; ox++) {
          const ix = ox * this.constants.strideW - this.constants.padW + kx * this.constants.dilationW;
          if (ix >= 0 && ix < this.constants.inW) {
            row += dy[n * this.constants.outChannels + co][oy][ox] * x[n * this.constants.inChannels + ci][iy][ix];
          }
        }
        acc += row;
      }
      oy = oy + 1; // the next row, moving on to the next image at the end of this one
      if (oy === this.constants.outH) {
        oy = 0;
        n = n + 1;
      }
    }
  }
  return acc;
}

/** The sizes the bias gradient needs: dy is (batch, channels, H, W) with plane = H * W, in chunks of positions. */
interface BiasGeometry {
  batch: number;
  channels: number;
  plane: number;
  positionsPerChunk: number;
}

/** Partial db(co) over one chunk of positions of every image; output [C_out (padded), chunks, 1]. dy is seen as [H_out * W_out, N * C_out, 1]. */
function conv2dBackwardBiasElement(this: KernelThis<BiasGeometry>, dy: number[][][]): number {
  const co = this.thread.x;
  const start = this.thread.y * this.constants.positionsPerChunk;
  let acc = 0;
  if (co < this.constants.channels) {
    for (let n = 0; n < this.constants.batch; n++) {
      // Sum each plane's chunk apart, then add them (float32 sums stay accurate).
      let plane = 0;
      for (let i = 0; i < this.constants.positionsPerChunk; i++) {
        if (start + i < this.constants.plane) plane += dy[0][n * this.constants.channels + co][start + i];
      }
      acc += plane;
    }
  }
  return acc;
}

// ---------------------------------------------------------------------------------------------
// Host side: build (or find) the kernel for this geometry, lay the tensors out, run, copy back.

/** The cache key of a kernel: its kind and every number of its geometry. */
function convKey(kind: string, g: Conv2dGeometry): string {
  return `${kind}:${Object.values(g).join(',')}`;
}

function kernelFor(rt: GpuJsRuntime, kind: string, g: Conv2dGeometry, fn: ElementFunction, output: [number, number, number]): CachedKernel {
  return rt.kernel(convKey(kind, g), () => ({ fn, output, constants: { ...g } }));
}


export async function conv2dForward(rt: GpuJsRuntime, g: Conv2dGeometry, x: Float32Array, w: Float32Array, b: Float32Array | null): Promise<Float32Array> {
  const planes = g.batch * g.outChannels;
  const kernel = kernelFor(rt, 'conv2d.forward', g, conv2dForwardElement, [rt.paddedWidth(g.outW), g.outH, planes]);
  const rows = await rt.run(kernel, [
    as3D(x, [g.inW, g.inH, g.batch * g.inChannels]),
    as3D(w, [g.kernelH * g.kernelW, g.inChannels, g.outChannels]),
    b ?? new Float32Array(g.outChannels),
  ]);
  return flattenRows(rows, g.outW);
}

export async function conv2dBackwardInput(rt: GpuJsRuntime, g: Conv2dGeometry, dy: Float32Array, w: Float32Array): Promise<Float32Array> {
  const kernel = kernelFor(rt, 'conv2d.backward_input', g, conv2dBackwardInputElement, [rt.paddedWidth(g.inW), g.inH, g.batch * g.inChannels]);
  const rows = await rt.run(kernel, [
    as3D(dy, [g.outW, g.outH, g.batch * g.outChannels]),
    as3D(w, [g.kernelH * g.kernelW, g.inChannels, g.outChannels]),
  ]);
  return flattenRows(rows, g.inW);
}

export async function conv2dBackwardWeight(rt: GpuJsRuntime, g: Conv2dGeometry, dy: Float32Array, x: Float32Array): Promise<Float32Array> {
  const taps = g.kernelH * g.kernelW;
  // Each thread's loops: the counting ones (chunks + kH + batch), then (1 + W_out) per row.
  const rows = g.batch * g.outH;
  const rowsPerChunk = Math.max(1, Math.min(rows, Math.floor((MAX_LOOP_ITERATIONS - 2 * g.batch - g.kernelH - 64) / (g.outW + 1))));
  const chunks = Math.ceil(rows / rowsPerChunk);
  const wg: WeightGradGeometry = { ...g, rowsPerChunk, chunks };
  const kernel = rt.kernel(convKey('conv2d.backward_weight', wg), () => ({
    fn: conv2dBackwardWeightElement,
    output: [rt.paddedWidth(g.inChannels), taps, chunks * g.outChannels],
    constants: { ...wg },
  }));
  const out = await rt.run(kernel, [
    as3D(dy, [g.outW, g.outH, g.batch * g.outChannels]),
    as3D(x, [g.inW, g.inH, g.batch * g.inChannels]),
  ]);
  // out[chunk * C_out + co][k][ci] -> dw(co, ci, k), the chunks summed in float64
  const sum = new Float64Array(g.outChannels * g.inChannels * taps);
  for (let chunk = 0; chunk < chunks; chunk++) {
    for (let co = 0; co < g.outChannels; co++) {
      for (let k = 0; k < taps; k++) {
        const row = out[chunk * g.outChannels + co][k];
        for (let ci = 0; ci < g.inChannels; ci++) sum[(co * g.inChannels + ci) * taps + k] += row[ci];
      }
    }
  }
  return Float32Array.from(sum);
}

export async function conv2dBackwardBias(rt: GpuJsRuntime, dyShape: readonly number[], dy: Float32Array): Promise<Float32Array> {
  const [batch, channels, h, w] = dyShape;
  const plane = h * w;
  // Each thread's loops: batch * (1 + positionsPerChunk) iterations.
  const positionsPerChunk = Math.max(1, Math.min(plane, Math.floor(MAX_LOOP_ITERATIONS / batch) - 1));
  const chunks = Math.ceil(plane / positionsPerChunk);
  const g: BiasGeometry = { batch, channels, plane, positionsPerChunk };
  const kernel = rt.kernel(`conv2d.backward_bias:${batch},${channels},${h},${w}`, () => ({
    fn: conv2dBackwardBiasElement,
    output: [rt.paddedWidth(channels), chunks, 1],
    constants: { ...g },
  }));
  const rows = await rt.run(kernel, [as3D(dy, [plane, batch * channels, 1])]);
  const sum = new Float64Array(channels);
  for (let chunk = 0; chunk < chunks; chunk++) {
    for (let c = 0; c < channels; c++) sum[c] += rows[0][chunk][c];
  }
  return Float32Array.from(sum);
}
