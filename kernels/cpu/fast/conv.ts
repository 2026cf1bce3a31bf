// The three convolution passes as lists of independent tasks, run by whichever thread is free.
//
// A job is one call (say, the forward of conv3_1), or a group of its images when the batch is
// large. It is cut into tasks that write disjoint parts of the output, so threads need no locks:
// each thread (the main one and every worker) takes the next task number from a shared counter
// and runs it with this same code (the workers load this module too). Each task is a small GEMM:
//
//   forward           task = (image, block of output channels, block of output positions)
//                     its tile of y = W * im2col(x), + bias
//   backward input    task = (image, block of input channels): all the tap rows of those
//                     channels, so that col2im, which adds neighbouring positions onto the same
//                     pixel, stays inside one task; dcol = W^T * dy, one NC-column block at a time
//   backward weight   task = (block of output channels, block of filter taps): its tile of
//                     dW += sum over the job's images of dy * im2col(x)^T
//
// The operand that every task would otherwise pack again for itself (W in the forward pass, dy
// in both backward passes) is packed once per job, before the tasks start (prepackConvJob), and
// shared; each task packs only its own im2col block (or its rows of W^T).
//
// Every task accumulates in float64 (see gemm.ts) and rounds once when it stores its result.

import { Conv2dGeometry } from '../../geometry';
import {
  KC, MC, MR, NC, NR, macroKernel, packWholeA, packWholeB, packedAOffset, packedBOffset, roundUp, scratchF64,
} from './gemm';
import { col2imAccumulate, packColumns, packColumnsTransposed } from './im2col';
import { splitRange } from '../../split';

export type ConvPass = 'forward' | 'backwardInput' | 'backwardWeight';

/** One job. In a parallel job every array is a view on a SharedArrayBuffer. */
export interface ConvJob {
  pass: ConvPass;
  /** The geometry of this job's images only (g.batch may be a part of the call's batch). */
  g: Conv2dGeometry;
  /** forward: x; backwardWeight: x (the forward input). */
  x: Float32Array | null;
  /** forward and backwardInput: the weights (C_out, C_in, kH, kW). */
  w: Float32Array | null;
  /** forward only, may be null. */
  bias: Float32Array | null;
  /** backwardInput and backwardWeight: dL/dy. */
  dy: Float32Array | null;
  /**
   * forward: y; backwardInput: dx (both float32, overwritten).
   * backwardWeight: dW as float64, added to, so that jobs over groups of images accumulate.
   */
  out: Float32Array | Float64Array;
  /** The shared pre-packed operand (see prepackedLength). */
  packed: Float64Array | null;
  /** TASK_FIELDS ints per task, see planConvTasks. */
  tasks: Int32Array;
}

/** Each task is 5 ints: (image, row start, row end, column start, column end); meaning per pass above. */
export const TASK_FIELDS = 5;

/** Multiply-adds times 2: the same count for all three passes. */
export function convFlops(g: Conv2dGeometry): number {
  return 2 * g.batch * g.outChannels * g.outH * g.outW * g.inChannels * g.kernelH * g.kernelW;
}

/**
 * Float64 entries of the operand packed once per job: forward, W as the A operand
 * (roundUp(C_out, MR) x K); backward input, each image's dy as the B operand (C_out x
 * roundUp(P, NR)); backward weight, each image's dy as the A operand (roundUp(C_out, MR) x P).
 */
export function prepackedLength(pass: ConvPass, g: Conv2dGeometry): number {
  const K = g.inChannels * g.kernelH * g.kernelW;
  const P = g.outH * g.outW;
  if (pass === 'forward') return roundUp(g.outChannels, MR) * K;
  if (pass === 'backwardInput') return g.batch * g.outChannels * roundUp(P, NR);
  return g.batch * roundUp(g.outChannels, MR) * P;
}

/** Fills job.packed: run once per job, before its tasks. */
export function prepackConvJob(job: ConvJob): void {
  const { g } = job;
  const packed = job.packed!;
  const K = g.inChannels * g.kernelH * g.kernelW;
  const P = g.outH * g.outW;
  const Co = g.outChannels;
  if (job.pass === 'forward') {
    packWholeA({ data: job.w!, offset: 0, rowStride: K, colStride: 1 }, Co, K, packed); // W (C_out x K)
  } else if (job.pass === 'backwardInput') {
    for (let n = 0; n < g.batch; n++) {
      const dy = { data: job.dy!, offset: n * Co * P, rowStride: P, colStride: 1 }; // dy[n] (C_out x P)
      packWholeB(dy, Co, P, packed, n * Co * roundUp(P, NR));
    }
  } else {
    for (let n = 0; n < g.batch; n++) {
      const dy = { data: job.dy!, offset: n * Co * P, rowStride: P, colStride: 1 };
      packWholeA(dy, Co, P, packed, n * roundUp(Co, MR) * P);
    }
  }
}

/**
 * The task list of a job for `threads` threads. One thread gets the biggest tasks the cache
 * blocking allows. Several get ~16 tasks each where the layer is big enough, so that the last
 * task to finish (or a thread slowed down by another process) holds up the others only briefly.
 * Cutting the columns (positions, or taps) is cheap: each task packs only its own columns of the
 * im2col matrix, and reads the pre-packed other operand. Cutting the rows (output channels)
 * repeats that packing for every cut, so it is done only when the columns are too few (conv6:
 * 19 x 19 positions, 1024 channels).
 */
export function planConvTasks(pass: ConvPass, g: Conv2dGeometry, threads: number): Int32Array {
  const tasks: number[] = [];
  const wanted = threads > 1 ? 16 * threads : 1; // tasks we would like
  const enough = threads > 1 ? 6 * threads : 1; // tasks worth repeating some packing for
  const P = g.outH * g.outW;
  const taps = g.kernelH * g.kernelW;
  if (pass === 'forward') {
    // Cut the positions; cut the channels only when there are too few positions to share, since
    // every cut of the channels repeats the im2col packing of the positions.
    const cols = splitRange(P, NC, 32, Math.ceil(wanted / g.batch), NR);
    const rows = splitRange(g.outChannels, Infinity, 32, Math.ceil(enough / g.batch / (cols.length - 1)), MR);
    for (let n = 0; n < g.batch; n++)
      for (let r = 0; r + 1 < rows.length; r++)
        for (let c = 0; c + 1 < cols.length; c++) tasks.push(n, rows[r], rows[r + 1], cols[c], cols[c + 1]);
  } else if (pass === 'backwardInput') {
    // Whole input channels per task, about MC tap rows at most.
    const perImage = Math.ceil(wanted / g.batch);
    const channels = splitRange(g.inChannels, Math.max(1, Math.floor(MC / taps)), 1, perImage, 1);
    for (let n = 0; n < g.batch; n++)
      for (let r = 0; r + 1 < channels.length; r++) tasks.push(n, channels[r], channels[r + 1], 0, P);
  } else {
    // Cut the taps, and the channels only when there are too few taps (as in the forward pass).
    const K = g.inChannels * taps;
    const cols = splitRange(K, NC, 32, wanted, NR);
    const rows = splitRange(g.outChannels, Infinity, 32, Math.ceil(enough / (cols.length - 1)), MR);
    for (let r = 0; r + 1 < rows.length; r++)
      for (let c = 0; c + 1 < cols.length; c++) tasks.push(0, rows[r], rows[r + 1], cols[c], cols[c + 1]);
  }
  return Int32Array.from(tasks);
}

/** Runs tasks until the shared counter (or, with none, the list) says there are none left. */
export function runConvTasks(job: ConvJob, counter: Int32Array | null): void {
  const count = job.tasks.length / TASK_FIELDS;
  if (counter === null) {
    for (let t = 0; t < count; t++) runConvTask(job, t);
    return;
  }
  for (;;) {
    const t = Atomics.add(counter, 0, 1);
    if (t >= count) return;
    runConvTask(job, t);
  }
}

export function runConvTask(job: ConvJob, t: number): void {
  const task = job.tasks;
  const base = t * TASK_FIELDS;
  const n = task[base], r0 = task[base + 1], r1 = task[base + 2], c0 = task[base + 3], c1 = task[base + 4];
  if (job.pass === 'forward') forwardTask(job, n, r0, r1, c0, c1);
  else if (job.pass === 'backwardInput') backwardInputTask(job, n, r0, r1);
  else backwardWeightTask(job, r0, r1, c0, c1);
}

/** A zeroed C block of (rows x cols) padded to whole MR x NR tiles; returns it and its row stride. */
function cBlock(rows: number, cols: number): [Float64Array, number] {
  const ldc = roundUp(cols, NR);
  const size = roundUp(rows, MR) * ldc;
  const c = scratchF64('conv.c', size);
  c.fill(0, 0, size);
  return [c, ldc];
}

/**
 * C (rows [m0, m1) x nc, row stride ldc) += rows [m0, m1) of the K block [k0, k0 + kc) of a
 * pre-packed A (M rows, packed from aBase on) * a packed B block. MC rows at a time, so that the
 * A block in use (MC x KC) stays in L2 while the B panels pass by; the B block is packed once
 * for all of them.
 */
function multiplyRows(
  packed: Float64Array, aBase: number, M: number, k0: number, kc: number, m0: number, m1: number,
  bPacked: Float64Array, nc: number, c: Float64Array, ldc: number,
): void {
  for (let r = m0; r < m1; r += MC) {
    macroKernel(Math.min(MC, m1 - r), nc, kc, packed, aBase + packedAOffset(M, k0, kc, r), bPacked, 0, c, (r - m0) * ldc, ldc);
  }
}

/** y[n, co0..co1, p0..p1] = W[co0..co1, :] * col(x[n])[:, p0..p1] + bias. */
function forwardTask(job: ConvJob, n: number, co0: number, co1: number, p0: number, p1: number): void {
  const { g } = job;
  const K = g.inChannels * g.kernelH * g.kernelW;
  const P = g.outH * g.outW;
  const mc = co1 - co0;
  const nc = p1 - p0;
  const [c, ldc] = cBlock(mc, nc);
  const bPacked = scratchF64('conv.b', KC * roundUp(nc, NR));
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kc = Math.min(KC, K - k0);
    packColumns(job.x!, n, g, k0, kc, p0, nc, bPacked);
    multiplyRows(job.packed!, 0, g.outChannels, k0, kc, co0, co1, bPacked, nc, c, ldc);
  }
  const y = job.out;
  for (let i = 0; i < mc; i++) {
    const co = co0 + i;
    const b = job.bias === null ? 0 : job.bias[co];
    const yRow = (n * g.outChannels + co) * P + p0;
    for (let j = 0; j < nc; j++) y[yRow + j] = c[i * ldc + j] + b;
  }
}

/** dx[n, ci0..ci1] = col2im(W^T[tap rows of ci0..ci1, :] * dy[n]), one block of positions at a time. */
function backwardInputTask(job: ConvJob, n: number, ci0: number, ci1: number): void {
  const { g } = job;
  const taps = g.kernelH * g.kernelW;
  const K = g.inChannels * taps;
  const P = g.outH * g.outW;
  const Co = g.outChannels;
  const r0 = ci0 * taps; // this task's rows of W^T and of dcol: [r0, r0 + mc)
  const mc = (ci1 - ci0) * taps;
  const plane = g.inH * g.inW;
  const dx = scratchF64('conv.dx', (ci1 - ci0) * plane); // this task's channels, summed in float64
  dx.fill(0, 0, (ci1 - ci0) * plane);
  // This task's rows of W^T (element (r, co) = W[co][r0 + r]), packed once for all its blocks.
  const aPacked = scratchF64('conv.a', roundUp(mc, MR) * Co);
  packWholeA({ data: job.w!, offset: r0, rowStride: 1, colStride: K }, mc, Co, aPacked);
  const dyPacked = n * Co * roundUp(P, NR); // where image n's packed dy starts in job.packed
  for (let p0 = 0; p0 < P; p0 += NC) {
    const nc = Math.min(NC, P - p0);
    const [c, ldc] = cBlock(mc, nc);
    for (let k0 = 0; k0 < Co; k0 += KC) {
      const kc = Math.min(KC, Co - k0);
      macroKernel(mc, nc, kc, aPacked, packedAOffset(mc, k0, kc, 0), job.packed!, dyPacked + packedBOffset(P, k0, kc, p0), c, 0, ldc);
    }
    col2imAccumulate(c, 0, ldc, g, r0, mc, p0, nc, dx);
  }
  const out = job.out;
  const outOffset = (n * g.inChannels + ci0) * plane;
  for (let i = 0; i < (ci1 - ci0) * plane; i++) out[outOffset + i] = dx[i];
}

/** dW[co0..co1, c0..c1] += sum over the job's images n of dy[n][co0..co1, :] * col(x[n])^T[:, c0..c1]. */
function backwardWeightTask(job: ConvJob, co0: number, co1: number, c0: number, c1: number): void {
  const { g } = job;
  const K = g.inChannels * g.kernelH * g.kernelW;
  const P = g.outH * g.outW;
  const Co = g.outChannels;
  const mc = co1 - co0;
  const nc = c1 - c0;
  const [c, ldc] = cBlock(mc, nc);
  const bPacked = scratchF64('conv.b', KC * roundUp(nc, NR));
  for (let n = 0; n < g.batch; n++) {
    const dyPacked = n * roundUp(Co, MR) * P; // where image n's packed dy starts in job.packed
    // The sum runs over output positions: they are this GEMM's K dimension.
    for (let p0 = 0; p0 < P; p0 += KC) {
      const kc = Math.min(KC, P - p0);
      packColumnsTransposed(job.x!, n, g, p0, kc, c0, nc, bPacked);
      multiplyRows(job.packed!, dyPacked, Co, p0, kc, co0, co1, bPacked, nc, c, ldc);
    }
  }
  const dw = job.out;
  for (let i = 0; i < mc; i++) {
    for (let j = 0; j < nc; j++) dw[(co0 + i) * K + c0 + j] += c[i * ldc + j];
  }
}
