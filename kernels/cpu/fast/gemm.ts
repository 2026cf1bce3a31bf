// The matrix product at the heart of every fast convolution: C += A B.
//
//   A (M x K), B (K x N), C (M x N)
//
// It is organised as in GotoBLAS / BLIS, scaled down to what scalar JavaScript can use:
//
//   for each block of K (KC deep):
//     pack the A block (MC x KC) into MR-row panels      each block 504-512 KiB of doubles:
//     pack the B block (KC x NC) into NR-column panels   both stay in the 2 MiB L2
//     for each NR-wide B panel (KC x NR, 16 KiB):         it stays in the 48 KiB L1
//       for each MR-high A panel:                         while the A panels stream past it
//         micro-kernel: C tile (MR x NR) += A panel * B panel, in 48 local variables
//
// Why packing: the micro-kernel then reads both operands strictly sequentially, whatever the
// strides of the original matrices (a transposed weight, an image seen through im2col), and the
// panels are zero-padded to whole tiles, so the micro-kernel has no edge cases at all.
//
// Why float64 panels: the packed copies are converted once from float32, so the inner loop does
// no float32 -> float64 conversions (JavaScript arithmetic is in doubles anyway, and float32 loads
// measured ~10% slower); the sums are taken in double precision and rounded to float32 once, when
// the result is stored. Packing costs O(MK + KN) against the O(MNK) of the product.
//
// Why 6 x 8: JavaScript has no SIMD and V8 fuses no multiply-add, so each step of the micro-kernel
// is a scalar multiply and a scalar add, plus, for every typed-array load, an index computation
// and a bounds check. The larger the tile, the more multiply-adds per load (48 per 14 loads
// here), until the accumulators no longer fit in the 16 registers and are spilled to the stack.
// Measured on V8 (Node 20, a 2-core Xeon at ~3.7 GHz), tiles from 4x4 to 8x8 all run at 5-6
// GFLOP/s per core on packed operands, about 1.5 FLOPs per cycle; 6 x 8 was the fastest by a few
// percent (4 x 8: -7%, 8 x 8: about the same, with more zero padding for small M).

import { FloatArray } from '../../../tensor/tensor';

/** Rows of A (and of C) handled by one micro-kernel call. */
export const MR = 6;
/** Columns of B (and of C) handled by one micro-kernel call. */
export const NR = 8;
/** Depth of a K block: one packed B panel, KC x NR doubles = 16 KiB, sits in the 48 KiB L1. */
export const KC = 256;
/** Largest number of rows of C one A block covers (a multiple of MR): MC x KC doubles = 504 KiB, in the 2 MiB L2. */
export const MC = 252;
/** Largest number of columns of C one B block covers: KC x NC doubles = 512 KiB, also in L2. */
export const NC = 256;

export function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

/**
 * A matrix seen through strides: element (row, col) is data[offset + row * rowStride + col * colStride].
 * A row-major (R x C) matrix has rowStride C and colStride 1; its transpose swaps the two strides.
 */
export interface MatrixView {
  data: FloatArray;
  offset: number;
  rowStride: number;
  colStride: number;
}

/** A row-major matrix with `cols` columns, as a view. */
export function rowMajor(data: FloatArray, cols: number, offset = 0): MatrixView {
  return { data, offset, rowStride: cols, colStride: 1 };
}

/** The transpose of a row-major matrix with `cols` columns, as a view (no copy). */
export function transposed(data: FloatArray, cols: number, offset = 0): MatrixView {
  return { data, offset, rowStride: 1, colStride: cols };
}

// ---------------------------------------------------------------------------------------------
// Packing

/**
 * Packs rows [m0, m0 + mc) and columns [k0, k0 + kc) of A into MR-row panels:
 *   dst[(i / MR) * kc * MR + k * MR + i % MR] = A(m0 + i, k0 + k)
 * i.e. panel after panel, each holding for every k the MR values of one column, in the order
 * the micro-kernel reads them. Rows past mc are zero (the panel is padded to MR rows).
 * dst needs roundUp(mc, MR) * kc entries from dstOffset.
 */
export function packA(a: MatrixView, m0: number, mc: number, k0: number, kc: number, dst: Float64Array, dstOffset = 0): void {
  const { data, rowStride, colStride } = a;
  for (let panel = 0; panel * MR < mc; panel++) {
    const base = dstOffset + panel * kc * MR;
    for (let i = 0; i < MR; i++) {
      const row = panel * MR + i;
      let d = base + i;
      if (row >= mc) {
        for (let k = 0; k < kc; k++, d += MR) dst[d] = 0;
        continue;
      }
      let s = a.offset + (m0 + row) * rowStride + k0 * colStride;
      for (let k = 0; k < kc; k++, d += MR, s += colStride) dst[d] = data[s];
    }
  }
}

/**
 * Packs rows [k0, k0 + kc) and columns [n0, n0 + nc) of B into NR-column panels:
 *   dst[(j / NR) * kc * NR + k * NR + j % NR] = B(k0 + k, n0 + j)
 * Columns past nc are zero. dst needs kc * roundUp(nc, NR) entries from dstOffset.
 */
export function packB(b: MatrixView, k0: number, kc: number, n0: number, nc: number, dst: Float64Array, dstOffset = 0): void {
  const { data, rowStride, colStride } = b;
  for (let panel = 0; panel * NR < nc; panel++) {
    const base = dstOffset + panel * kc * NR;
    const width = Math.min(NR, nc - panel * NR); // the last panel may be narrower
    for (let k = 0; k < kc; k++) {
      const d = base + k * NR;
      const s = b.offset + (k0 + k) * rowStride + (n0 + panel * NR) * colStride;
      for (let j = 0; j < width; j++) dst[d + j] = data[s + j * colStride];
      for (let j = width; j < NR; j++) dst[d + j] = 0;
    }
  }
}

/**
 * Packs all of A (M x K) once, for several threads or tasks to share: K block after K block
 * (KC columns each), each block as packA lays it out. Rows from m0 (a multiple of MR) of the
 * block starting at column k0 then start at packedAOffset(M, k0, kc, m0).
 * dst needs roundUp(M, MR) * K entries from dstOffset.
 */
export function packWholeA(a: MatrixView, M: number, K: number, dst: Float64Array, dstOffset = 0): void {
  for (let k0 = 0; k0 < K; k0 += KC) packA(a, 0, M, k0, Math.min(KC, K - k0), dst, dstOffset + packedAOffset(M, k0, 0, 0));
}

export function packedAOffset(M: number, k0: number, kc: number, m0: number): number {
  return roundUp(M, MR) * k0 + (m0 / MR) * kc * MR;
}

/** The same for B (K x N): block k0, columns from n0 (a multiple of NR), at packedBOffset(N, k0, kc, n0). */
export function packWholeB(b: MatrixView, K: number, N: number, dst: Float64Array, dstOffset = 0): void {
  for (let k0 = 0; k0 < K; k0 += KC) packB(b, k0, Math.min(KC, K - k0), 0, N, dst, dstOffset + packedBOffset(N, k0, 0, 0));
}

export function packedBOffset(N: number, k0: number, kc: number, n0: number): number {
  return roundUp(N, NR) * k0 + (n0 / NR) * kc * NR;
}

// ---------------------------------------------------------------------------------------------
// The micro-kernel and the loops around it

/**
 * C tile (MR x NR) += A panel (kc x MR, packed) * B panel (kc x NR, packed).
 *
 * The tile lives in 48 local variables (cIJ: row I, column J) for the whole k loop: V8 keeps as
 * many as it can in registers, and each step loads 6 + 8 numbers for 48 multiply-adds. The tile
 * is added to C (row stride ldc) once at the end, so C must have room for the whole padded tile.
 */
export function microKernel(
  kc: number,
  a: Float64Array,
  aOffset: number,
  b: Float64Array,
  bOffset: number,
  c: Float64Array,
  cOffset: number,
  ldc: number,
): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
  let c40 = 0, c41 = 0, c42 = 0, c43 = 0, c44 = 0, c45 = 0, c46 = 0, c47 = 0;
  let c50 = 0, c51 = 0, c52 = 0, c53 = 0, c54 = 0, c55 = 0, c56 = 0, c57 = 0;
  let ai = aOffset;
  let bi = bOffset;
  const aEnd = aOffset + kc * MR;
  while (ai < aEnd) {
    // One step of k: column k of the A panel (6 values) times row k of the B panel (8 values).
    const a0 = a[ai], a1 = a[ai + 1], a2 = a[ai + 2], a3 = a[ai + 3], a4 = a[ai + 4], a5 = a[ai + 5];
    let bj = b[bi];
    c00 += a0 * bj; c10 += a1 * bj; c20 += a2 * bj; c30 += a3 * bj; c40 += a4 * bj; c50 += a5 * bj;
    bj = b[bi + 1];
    c01 += a0 * bj; c11 += a1 * bj; c21 += a2 * bj; c31 += a3 * bj; c41 += a4 * bj; c51 += a5 * bj;
    bj = b[bi + 2];
    c02 += a0 * bj; c12 += a1 * bj; c22 += a2 * bj; c32 += a3 * bj; c42 += a4 * bj; c52 += a5 * bj;
    bj = b[bi + 3];
    c03 += a0 * bj; c13 += a1 * bj; c23 += a2 * bj; c33 += a3 * bj; c43 += a4 * bj; c53 += a5 * bj;
    bj = b[bi + 4];
    c04 += a0 * bj; c14 += a1 * bj; c24 += a2 * bj; c34 += a3 * bj; c44 += a4 * bj; c54 += a5 * bj;
    bj = b[bi + 5];
    c05 += a0 * bj; c15 += a1 * bj; c25 += a2 * bj; c35 += a3 * bj; c45 += a4 * bj; c55 += a5 * bj;
    bj = b[bi + 6];
    c06 += a0 * bj; c16 += a1 * bj; c26 += a2 * bj; c36 += a3 * bj; c46 += a4 * bj; c56 += a5 * bj;
    bj = b[bi + 7];
    c07 += a0 * bj; c17 += a1 * bj; c27 += a2 * bj; c37 += a3 * bj; c47 += a4 * bj; c57 += a5 * bj;
    ai += MR;
    bi += NR;
  }
  let o = cOffset;
  c[o] += c00; c[o + 1] += c01; c[o + 2] += c02; c[o + 3] += c03; c[o + 4] += c04; c[o + 5] += c05; c[o + 6] += c06; c[o + 7] += c07;
  o += ldc;
  c[o] += c10; c[o + 1] += c11; c[o + 2] += c12; c[o + 3] += c13; c[o + 4] += c14; c[o + 5] += c15; c[o + 6] += c16; c[o + 7] += c17;
  o += ldc;
  c[o] += c20; c[o + 1] += c21; c[o + 2] += c22; c[o + 3] += c23; c[o + 4] += c24; c[o + 5] += c25; c[o + 6] += c26; c[o + 7] += c27;
  o += ldc;
  c[o] += c30; c[o + 1] += c31; c[o + 2] += c32; c[o + 3] += c33; c[o + 4] += c34; c[o + 5] += c35; c[o + 6] += c36; c[o + 7] += c37;
  o += ldc;
  c[o] += c40; c[o + 1] += c41; c[o + 2] += c42; c[o + 3] += c43; c[o + 4] += c44; c[o + 5] += c45; c[o + 6] += c46; c[o + 7] += c47;
  o += ldc;
  c[o] += c50; c[o + 1] += c51; c[o + 2] += c52; c[o + 3] += c53; c[o + 4] += c54; c[o + 5] += c55; c[o + 6] += c56; c[o + 7] += c57;
}

/**
 * C (mc x nc, padded to whole tiles, from cOffset with row stride ldc) += packed A block *
 * packed B block, the blocks starting at aOffset and bOffset of their arrays.
 * B panels outside, A panels inside: one B panel stays in L1 while every A panel passes by.
 */
export function macroKernel(
  mc: number,
  nc: number,
  kc: number,
  aPacked: Float64Array,
  aOffset: number,
  bPacked: Float64Array,
  bOffset: number,
  c: Float64Array,
  cOffset: number,
  ldc: number,
): void {
  for (let jp = 0; jp * NR < nc; jp++) {
    for (let ip = 0; ip * MR < mc; ip++) {
      microKernel(kc, aPacked, aOffset + ip * kc * MR, bPacked, bOffset + jp * kc * NR, c, cOffset + ip * MR * ldc + jp * NR, ldc);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Per-thread scratch memory

/**
 * Grow-only buffers, one set per thread (the main thread and each worker load this module on
 * their own). Reusing them keeps memory flat over thousands of calls; they grow to the largest
 * layer seen and stay there.
 */
const scratch = new Map<string, Float64Array>();

/** A Float64Array of at least `length` entries for `slot`. Its contents are left over: clear what you need. */
export function scratchF64(slot: string, length: number): Float64Array {
  let buffer = scratch.get(slot);
  if (buffer === undefined || buffer.length < length) {
    buffer = new Float64Array(Math.max(length, Math.ceil((buffer?.length ?? 0) * 1.25)));
    scratch.set(slot, buffer);
  }
  return buffer;
}

/** Total bytes of scratch this thread holds (for the memory tests). */
export function scratchBytes(): number {
  let bytes = 0;
  for (const b of scratch.values()) bytes += b.byteLength;
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// A complete single-threaded GEMM, for tests and for reading: the convolutions use the same
// pieces (packA, packB or an im2col packer, macroKernel) on their own blocks.

/**
 * c (M x N, row-major, overwritten) = a (M x K) * b (K x N), for any sizes and strides.
 * Sums are accumulated in float64 and rounded once when stored into c.
 */
export function gemm(M: number, N: number, K: number, a: MatrixView, b: MatrixView, c: FloatArray): void {
  if (c.length < M * N) throw new Error(`gemm: C has ${c.length} entries, needs ${M} x ${N}`);
  const aPacked = scratchF64('gemm.a', roundUp(Math.min(M, MC), MR) * KC);
  const bPacked = scratchF64('gemm.b', KC * roundUp(Math.min(N, NC), NR));
  for (let n0 = 0; n0 < N; n0 += NC) {
    const nc = Math.min(NC, N - n0);
    for (let m0 = 0; m0 < M; m0 += MC) {
      const mc = Math.min(MC, M - m0);
      // The C block, padded to whole tiles, accumulates over all K blocks before it is stored.
      // (B is packed again for every block of rows: simpler than the conv tasks, fine for tests.)
      const ldc = roundUp(nc, NR);
      const cBlock = scratchF64('gemm.c', roundUp(mc, MR) * ldc);
      cBlock.fill(0, 0, roundUp(mc, MR) * ldc);
      for (let k0 = 0; k0 < K; k0 += KC) {
        const kc = Math.min(KC, K - k0);
        packA(a, m0, mc, k0, kc, aPacked);
        packB(b, k0, kc, n0, nc, bPacked);
        macroKernel(mc, nc, kc, aPacked, 0, bPacked, 0, cBlock, 0, ldc);
      }
      for (let i = 0; i < mc; i++) {
        for (let j = 0; j < nc; j++) c[(m0 + i) * N + n0 + j] = cBlock[i * ldc + j];
      }
    }
  }
}
