// im2col: a convolution seen as a matrix product.
//
// For one image x (C_in, H, W) the "column matrix" has one row per filter tap and one column per
// output position:
//   col (K = C_in * kH * kW, P = H_out * W_out)
//   col[(ci * kH + ky) * kW + kx][oy * W_out + ox] = x[ci][iy][ix]   (0 in the zero padding)
//   with iy = oy * strideH - padH + ky * dilationH,  ix = ox * strideW - padW + kx * dilationW
// The row order is the memory order of a weight (C_out, C_in, kH, kW), so with W seen as a
// (C_out x K) matrix, for each image:
//   forward           y  (C_out x P) = W (C_out x K) * col (K x P)
//   backward input    dcol (K x P)   = W^T (K x C_out) * dy (C_out x P), then col2im adds each
//                                      dcol entry back onto the x element it was copied from
//   backward weight   dW (C_out x K) += dy (C_out x P) * col^T (P x K), summed over the images
//
// The column matrix is kH * kW times larger than the image (conv1_2: 576 x 90000 floats = 207 MB),
// so the fast kernels never build it: `packColumns` and `packColumnsTransposed` write the packed
// GEMM panels straight from the image, one KC x NC block at a time ("implicit im2col"), and
// `col2imAccumulate` scatters one block of dcol at a time. The explicit `im2col` / `col2im` below
// define the mapping plainly; the tests check that the implicit packers agree with them.

import { FloatArray } from '../../../tensor/tensor';
import { Conv2dGeometry } from '../../geometry';
import { NR, packB } from './gemm';

/** True when the image already is the column matrix: 1x1 kernel, stride 1, no padding. */
export function isPointwise(g: Conv2dGeometry): boolean {
  return g.kernelH === 1 && g.kernelW === 1 && g.strideH === 1 && g.strideW === 1 && g.padH === 0 && g.padW === 0;
}

/** The column matrix (K x P, row-major) of image n of x, in x's dtype. */
export function im2col(x: FloatArray, n: number, g: Conv2dGeometry): FloatArray {
  const K = g.inChannels * g.kernelH * g.kernelW;
  const P = g.outH * g.outW;
  const col = x instanceof Float64Array ? new Float64Array(K * P) : new Float32Array(K * P);
  const xOffset = n * g.inChannels * g.inH * g.inW;
  for (let ci = 0; ci < g.inChannels; ci++) {
    for (let ky = 0; ky < g.kernelH; ky++) {
      for (let kx = 0; kx < g.kernelW; kx++) {
        const row = (ci * g.kernelH + ky) * g.kernelW + kx;
        for (let oy = 0; oy < g.outH; oy++) {
          const iy = oy * g.strideH - g.padH + ky * g.dilationH;
          for (let ox = 0; ox < g.outW; ox++) {
            const ix = ox * g.strideW - g.padW + kx * g.dilationW;
            const inside = iy >= 0 && iy < g.inH && ix >= 0 && ix < g.inW;
            col[row * P + oy * g.outW + ox] = inside ? x[xOffset + (ci * g.inH + iy) * g.inW + ix] : 0;
          }
        }
      }
    }
  }
  return col;
}

/**
 * The adjoint of im2col: dx (C_in, H, W) of one image, where every dcol entry (K x P, row-major)
 * is added to the input element its im2col entry was copied from (padding entries are dropped).
 */
export function col2im(dcol: ArrayLike<number>, g: Conv2dGeometry): Float64Array {
  const P = g.outH * g.outW;
  const dx = new Float64Array(g.inChannels * g.inH * g.inW);
  for (let ci = 0; ci < g.inChannels; ci++) {
    for (let ky = 0; ky < g.kernelH; ky++) {
      for (let kx = 0; kx < g.kernelW; kx++) {
        const row = (ci * g.kernelH + ky) * g.kernelW + kx;
        for (let oy = 0; oy < g.outH; oy++) {
          const iy = oy * g.strideH - g.padH + ky * g.dilationH;
          for (let ox = 0; ox < g.outW; ox++) {
            const ix = ox * g.strideW - g.padW + kx * g.dilationW;
            if (iy >= 0 && iy < g.inH && ix >= 0 && ix < g.inW) dx[(ci * g.inH + iy) * g.inW + ix] += dcol[row * P + oy * g.outW + ox];
          }
        }
      }
    }
  }
  return dx;
}

/**
 * Along one axis, the output positions o whose tap k lands inside the input:
 *   0 <= o * stride - pad + k * dilation < inSize   <=>   lo[k] <= o < hi[k]
 * Inside that window of outputs no bounds test is needed; outside it every entry is padding.
 * Returns the tables lo and hi, indexed by the tap k.
 */
export function insideOutputs(kernel: number, stride: number, pad: number, dilation: number, inSize: number, outSize: number): [Int32Array, Int32Array] {
  const lo = new Int32Array(kernel);
  const hi = new Int32Array(kernel);
  for (let k = 0; k < kernel; k++) {
    const shift = k * dilation - pad; // input index = o * stride + shift
    lo[k] = Math.min(outSize, Math.max(0, Math.ceil(-shift / stride)));
    hi[k] = Math.max(lo[k], Math.min(outSize, Math.floor((inSize - 1 - shift) / stride) + 1));
  }
  return [lo, hi];
}

/**
 * Packs rows [k0, k0 + kc) and columns [p0, p0 + nc) of image n's column matrix into NR-column
 * panels, exactly as packB would pack the explicit im2col matrix, without building it.
 * x holds the whole batch; dst needs kc * roundUp(nc, NR) entries.
 */
export function packColumns(
  x: FloatArray,
  n: number,
  g: Conv2dGeometry,
  k0: number,
  kc: number,
  p0: number,
  nc: number,
  dst: Float64Array,
): void {
  const plane = g.inH * g.inW;
  const xOffset = n * g.inChannels * plane;
  if (isPointwise(g)) {
    packB({ data: x, offset: xOffset, rowStride: plane, colStride: 1 }, k0, kc, p0, nc, dst);
    return;
  }
  const taps = g.kernelH * g.kernelW;
  const { inW, outW, strideH, strideW, dilationH, dilationW, padH, padW } = g;
  const [oyLo, oyHi] = insideOutputs(g.kernelH, strideH, padH, dilationH, g.inH, g.outH);
  const [oxLo, oxHi] = insideOutputs(g.kernelW, strideW, padW, dilationW, inW, outW);
  // A panel's NR positions are consecutive: usually pixels of one output row, sometimes running
  // onto the next row (or several, when rows are shorter than NR). Each such row segment, read
  // through one tap, is a strided run of one input row, cut by the padding at most at its ends.
  const segStart = new Int32Array(NR + 1); // segment s covers panel columns [segStart[s], segStart[s + 1])
  const segOy = new Int32Array(NR);
  const segOx = new Int32Array(NR);
  for (let panel = 0; panel * NR < nc; panel++) {
    const width = Math.min(NR, nc - panel * NR); // columns past it are padding: zeros
    let segments = 0;
    for (let j = 0; j < width; segments++) {
      const p = p0 + panel * NR + j;
      segOy[segments] = Math.floor(p / outW);
      segOx[segments] = p - segOy[segments] * outW;
      segStart[segments] = j;
      j += Math.min(width - j, outW - segOx[segments]);
    }
    segStart[segments] = width;
    // Walk the rows k = (ci, ky, kx) from k0 on, stepping the three indices like an odometer.
    let ci = Math.floor(k0 / taps);
    let ky = Math.floor((k0 - ci * taps) / g.kernelW);
    let kx = k0 - ci * taps - ky * g.kernelW;
    let d = panel * kc * NR;
    for (let k = 0; k < kc; k++, d += NR) {
      const channel = xOffset + ci * plane;
      const rowShift = ky * dilationH - padH; // iy = oy * strideH + rowShift
      const colShift = kx * dilationW - padW; // ix = ox * strideW + colShift
      for (let s = 0; s < segments; s++) {
        const oy = segOy[s];
        const ox = segOx[s];
        let j = segStart[s];
        const end = segStart[s + 1];
        if (oy >= oyLo[ky] && oy < oyHi[ky]) {
          const jLo = Math.min(end, j + Math.max(0, oxLo[kx] - ox)); // [jLo, jHi) lands inside the input
          const jHi = Math.min(end, Math.max(jLo, j + oxHi[kx] - ox));
          let src = channel + (oy * strideH + rowShift) * inW + (ox + jLo - j) * strideW + colShift;
          for (; j < jLo; j++) dst[d + j] = 0;
          for (; j < jHi; j++, src += strideW) dst[d + j] = x[src];
        }
        for (; j < end; j++) dst[d + j] = 0;
      }
      for (let j = width; j < NR; j++) dst[d + j] = 0;
      if (++kx === g.kernelW) {
        kx = 0;
        if (++ky === g.kernelH) {
          ky = 0;
          ci++;
        }
      }
    }
  }
}

/**
 * Packs the transposed column matrix of image n (B = col^T, P x K): rows [p0, p0 + kc) (output
 * positions) and columns [c0, c0 + nc) (filter taps), into NR-column panels, as packB would.
 * This is the B operand of the weight gradient dW = dy * col^T.
 */
export function packColumnsTransposed(
  x: FloatArray,
  n: number,
  g: Conv2dGeometry,
  p0: number,
  kc: number,
  c0: number,
  nc: number,
  dst: Float64Array,
): void {
  const plane = g.inH * g.inW;
  const xOffset = n * g.inChannels * plane;
  if (isPointwise(g)) {
    // col^T (P x C_in) is x read with the strides swapped.
    packB({ data: x, offset: xOffset, rowStride: 1, colStride: plane }, p0, kc, c0, nc, dst);
    return;
  }
  const taps = g.kernelH * g.kernelW;
  const { outW, strideW } = g;
  const [oyLo, oyHi] = insideOutputs(g.kernelH, g.strideH, g.padH, g.dilationH, g.inH, g.outH);
  const [oxLo, oxHi] = insideOutputs(g.kernelW, strideW, g.padW, g.dilationW, g.inW, outW);
  for (let panel = 0; panel * NR < nc; panel++) {
    for (let j = 0; j < NR; j++) {
      let d = panel * kc * NR + j; // column j of the panel, advancing by NR per row
      const c = c0 + panel * NR + j;
      if (panel * NR + j >= nc) {
        for (let k = 0; k < kc; k++, d += NR) dst[d] = 0;
        continue;
      }
      // Column c is one filter tap (ci, ky, kx); its rows run over the output positions, which
      // are taken one output row at a time: within a row, the positions where the tap lands
      // inside the input are one interval [oxLo, oxHi), the rest is padding.
      const ci = Math.floor(c / taps);
      const ky = Math.floor((c - ci * taps) / g.kernelW);
      const kx = c - ci * taps - ky * g.kernelW;
      const channel = xOffset + ci * plane;
      const pEnd = p0 + kc;
      for (let p = p0; p < pEnd; ) {
        const oy = Math.floor(p / outW);
        const ox = p - oy * outW;
        const run = Math.min(outW - ox, pEnd - p); // positions left in this output row
        let t = 0;
        if (oy >= oyLo[ky] && oy < oyHi[ky]) {
          const tLo = Math.min(run, Math.max(0, oxLo[kx] - ox));
          const tHi = Math.min(run, Math.max(tLo, oxHi[kx] - ox));
          for (; t < tLo; t++, d += NR) dst[d] = 0;
          let src = channel + (oy * g.strideH - g.padH + ky * g.dilationH) * g.inW + (ox + t) * strideW - g.padW + kx * g.dilationW;
          for (; t < tHi; t++, d += NR, src += strideW) dst[d] = x[src];
        }
        for (; t < run; t++, d += NR) dst[d] = 0;
        p += run;
      }
    }
  }
}

/**
 * col2im for a block: rows [r0, r0 + rows) and columns [p0, p0 + nc) of dcol, stored in `dcol`
 * from `offset` with row stride `ld`, are added onto dx, which holds the input channels
 * ci0 = r0 / (kH * kW) onwards of one image (r0 must start a channel).
 */
export function col2imAccumulate(
  dcol: ArrayLike<number>,
  offset: number,
  ld: number,
  g: Conv2dGeometry,
  r0: number,
  rows: number,
  p0: number,
  nc: number,
  dx: Float64Array,
): void {
  const taps = g.kernelH * g.kernelW;
  const { outW, strideW } = g;
  const [oyLo, oyHi] = insideOutputs(g.kernelH, g.strideH, g.padH, g.dilationH, g.inH, g.outH);
  const [oxLo, oxHi] = insideOutputs(g.kernelW, strideW, g.padW, g.dilationW, g.inW, outW);
  const ciFirst = r0 / taps;
  for (let r = 0; r < rows; r++) {
    const row = r0 + r;
    const ci = Math.floor(row / taps);
    const ky = Math.floor((row - ci * taps) / g.kernelW);
    const kx = row - ci * taps - ky * g.kernelW;
    const channel = (ci - ciFirst) * g.inH * g.inW;
    // As in packColumnsTransposed: one output row at a time, padding entries skipped.
    const pEnd = p0 + nc;
    for (let p = p0; p < pEnd; ) {
      const oy = Math.floor(p / outW);
      const ox = p - oy * outW;
      const run = Math.min(outW - ox, pEnd - p);
      if (oy >= oyLo[ky] && oy < oyHi[ky]) {
        const tLo = Math.min(run, Math.max(0, oxLo[kx] - ox));
        const tHi = Math.min(run, Math.max(tLo, oxHi[kx] - ox));
        let s = offset + r * ld + (p - p0) + tLo;
        let target = channel + (oy * g.strideH - g.padH + ky * g.dilationH) * g.inW + (ox + tLo) * strideW - g.padW + kx * g.dilationW;
        for (let t = tLo; t < tHi; t++, s++, target += strideW) dx[target] += dcol[s];
      }
      p += run;
    }
  }
}
