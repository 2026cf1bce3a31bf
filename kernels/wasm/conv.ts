// The three convolution passes of the 'wasm' backend, as tasks that any thread can run.
//
// The same plan as the cpu backend (kernels/cpu/fast/conv.ts): each pass is a GEMM per image on
// the im2col matrix, cut into tasks that write disjoint parts of the output; every thread takes
// task numbers from one atomic counter. What differs: all operands live in one shared
// WebAssembly.Memory, the packing and the multiply run in WebAssembly (pack.wat, gemm-4x8.wat),
// and everything is float32, as in PyTorch's own CPU kernels.
//
//   forward           task = (image, block of output channels, block of positions)
//                     y tile = bias, then += W (rows) * im2col(x) (columns), K in KC blocks;
//                     W is packed once per call (packOperandA), every task reads it.
//                     Three ways to get im2col(x) (convMethod picks one per call):
//                       'packed'    im2col_pack copies each block of it into B panels
//                       'implicit'  stride 1: none; gemm_rows reads it in place from a zero-padded
//                                   copy of x, on padded rows (positions oy * paddedW + ox: the
//                                   columns past outW are computed, then dropped)
//                       'direct'    stride 1, few output channels: no GEMM; task = (image, block of
//                                   output rows), direct.wat reads x's rows in place
//   backward input    task = (image, block of input channels): dcol rows of those channels =
//                     W^T * dy, one NC block of positions at a time, then col2im onto dx
//                     (neighbouring positions add onto the same pixel, so a task keeps whole channels)
//   backward weight   task = (block of output channels, block of taps): dW tile +=
//                     dy * im2col(x)^T over every image, the positions being the GEMM's K;
//                     dy is packed once per call (packOperandA), every task reads it.
//                     im2col(x)^T's panels are gathered from x with bounds checks
//                     (im2col_pack_transposed, method 'packed') or, with stride 1, copied from
//                     the zero-padded x by rows, eight taps transposed at a time
//                     (pack_rows_transposed, method 'implicit': the same panels, faster)
//
// This file runs on the main thread and in the workers (worker.ts), with each thread's own
// instances of the modules (WasmExports) and its own scratch memory.

import { Conv2dGeometry } from '../geometry';
import { splitRange } from '../split';
import { WasmExports } from './runtime';

export type ConvPass = 'forward' | 'backwardInput' | 'backwardWeight';

/** How a pass gets its im2col matrix (see the top of this file and convMethod). */
export type ConvMethod = 'packed' | 'implicit' | 'direct';

/** Rows of A (and C) per micro-kernel tile, and columns of B (and C): see gemm-4x8.wat. */
export const MR = 4;
export const NR = 8;
/** Depth of a K block: a B panel (KC x NR floats = 8 KiB) and an A panel (4 KiB) sit in L1. */
export const KC = 256;
/** Rows of an A block (MC x KC floats = 128 KiB, in L2). */
export const MC = 128;
/** Columns of a B block (KC x NC floats = 512 KiB, in L2). */
export const NC = 512;

/** One convolution call (or group of images) as the threads see it: byte addresses in the shared memory. */
export interface ConvJob {
  pass: ConvPass;
  g: Conv2dGeometry;
  /** The geometry struct read by pack.wat (see writeGeometry). */
  geometry: number;
  x: number; // forward, backwardWeight (the zero-padded copy with method 'implicit')
  w: number; // forward, backwardInput
  bias: number; // forward; 0 when there is none
  dy: number; // backwardInput, backwardWeight
  /**
   * The operand packed once for every task: W in the forward pass, each image's dy in backward
   * weight, as A panels (packOperandA); 0 in backward input (whose tasks pack their own rows of W^T).
   */
  packed: number;
  /**
   * y, dx, or dW. The weight gradient is `parts` partial sums, one after the other (each over a
   * range of images, so that small layers still give every thread work); each task zeroes its
   * tile of its partial sum first, and the caller adds them up.
   */
  out: number;
  /** Thread t's scratch starts at scratch + t * scratchBytes (layout: scratchLayout). */
  scratch: number;
  scratchBytes: number;
  /** How im2col(x) is formed ('direct', forward only: no GEMM, direct.wat on w as it is). */
  method: ConvMethod;
  /**
   * Method 'implicit': x's padded plane is paddedH x paddedW, and rowsAt holds the K byte
   * offsets of im2col's rows in it (rowOffsets); 0 otherwise.
   */
  paddedH: number;
  paddedW: number;
  rowsAt: number;
  /** TASK_FIELDS ints per task: (part, first image, end image, row start, row end, column start, column end). */
  tasks: Int32Array;
}

export const TASK_FIELDS = 7;

export function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

/** Multiply-adds times 2: the same count for all three passes. */
export function convFlops(g: Conv2dGeometry): number {
  return 2 * g.batch * g.outChannels * g.outH * g.outW * g.inChannels * g.kernelH * g.kernelW;
}

/** The struct pack.wat reads: 11 i32 in this order. */
export function writeGeometry(heap: Int32Array, address: number, g: Conv2dGeometry): void {
  const fields = [g.inH, g.inW, g.kernelH, g.kernelW, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.outW];
  heap.set(fields, address / 4);
}

/**
 * The A operand of a pass, packed once per call so that no task repeats it (tasks cut the
 * columns, and each would otherwise pack all of A again): a matrix of `rows` x `depth`, row-major
 * with row stride `depth` at `src`, as KC blocks of MR-row panels, zero-padded to whole panels:
 *   K block k0 starts at dst + 4 * roundUp(rows, MR) * k0, and its rows from m0 (a multiple of MR)
 *   at + 4 * m0 * kc: the layout gemm reads (see packedABlock).
 * Forward: W (C_out x C_in kH kW). Backward weight: each image's dy (C_out x positions), one after
 * the other (image n at dst + 4 * packedAFloats(rows, depth) * n).
 */
export function packedAFloats(rows: number, depth: number): number {
  return roundUp(rows, MR) * depth;
}

/** The K blocks of an operand of this depth. */
export function kBlocks(depth: number): number {
  return Math.ceil(depth / KC);
}

/**
 * Packs K blocks [kb0, kb1) (of kBlocks(depth)) of the A operand in the layout above: blocks
 * write disjoint panels, so the threads share them out (sweep.ts, 'packOperandA').
 */
export function packOperandA(wasm: WasmExports, src: number, rows: number, depth: number, dst: number, kb0: number, kb1: number): void {
  const rowsPadded = roundUp(rows, MR);
  for (let k0 = kb0 * KC; k0 < Math.min(depth, kb1 * KC); k0 += KC) {
    const kc = Math.min(KC, depth - k0);
    const block = dst + 4 * rowsPadded * k0;
    zeroLastPanel(wasm, block, rows, MR, kc);
    for (let m0 = 0; m0 < rows; m0 += MC) wasm.pack_a(src + 4 * (m0 * depth + k0), depth, 1, Math.min(MC, rows - m0), kc, block + 4 * m0 * kc);
  }
}

/**
 * packOperandA of flip_transpose(w) without writing it out: w (C_out x C_in x taps) is the
 * weights of the convolution whose input gradient a forward pass computes, and A is C_in x
 * (C_out taps), A(ci, co * taps + t) = w[co][ci][taps - 1 - t] (pack.wat, pack_a_flipped).
 * K blocks [kb0, kb1), as packOperandA.
 */
export function packFlippedWeights(
  wasm: WasmExports, w: number, outChannels: number, inChannels: number, taps: number, dst: number, kb0: number, kb1: number,
): void {
  const rows = inChannels;
  const depth = outChannels * taps;
  const rowsPadded = roundUp(rows, MR);
  for (let k0 = kb0 * KC; k0 < Math.min(depth, kb1 * KC); k0 += KC) {
    const kc = Math.min(KC, depth - k0);
    const block = dst + 4 * rowsPadded * k0;
    zeroLastPanel(wasm, block, rows, MR, kc);
    for (let m0 = 0; m0 < rows; m0 += MC) wasm.pack_a_flipped(w, outChannels, inChannels, taps, m0, Math.min(MC, rows - m0), k0, kc, block + 4 * m0 * kc);
  }
}

/** Where rows [m0, ...) of K block k0 (depth kc) of an operand packed by packOperandA start. */
function packedABlock(packed: number, rows: number, k0: number, kc: number, m0: number): number {
  return packed + 4 * (roundUp(rows, MR) * k0 + m0 * kc);
}

/**
 * Whether a forward pass runs the direct convolution: stride 1 and at most `maxChannels` output
 * channels, where packing the im2col matrix for the GEMM costs as much as the multiply (each
 * packed element serves only 2 x C_out FLOPs). Measured on the channels / 16 model at batch 8
 * (ssd bench, quiet machine, 2 threads, GEMM then direct): conv1_2 (4 channels) forward 38.6 ->
 * 17.7 ms, backward 67.7 -> 41.9 ms (its input gradient runs as a forward pass with 4 output
 * channels); conv1_1 8.7 / 27.5 ms from 20.9 / 53.3; the training step 0.67 -> 0.46 s. A limit of
 * 16 or 32 (conv3_x, conv4_x there) measured no better within the machine's noise: 8 it is.
 */
export function useDirect(g: Conv2dGeometry, maxChannels: number): boolean {
  return g.strideH === 1 && g.strideW === 1 && g.outChannels <= maxChannels;
}

/**
 * Packing one element of im2col's B panels costs about what this many rows of A cost it in the
 * GEMM (one thread, this machine: packing 0.76 ns per element; the GEMM at 44 GFLOP/s, 0.045 ns
 * per element and row).
 */
export const PACKING_COST_ROWS = 16;

/**
 * How a forward or weight-gradient pass forms im2col (backward input, run as a forward pass with
 * stride 1, packs its own). Both ways need stride 1 for 'implicit'.
 *
 * Forward: 'implicit' saves packing im2col but computes paddedW columns for every outW real ones;
 * 'packed' packs every element once. Per element of im2col that is C_out * paddedW / outW rows of
 * work against C_out + PACKING_COST_ROWS. The implicit GEMM wins where the padding is thin next to
 * the rows (conv1_x to conv3_x) or the output channels are few (the prediction convs), and loses
 * on conv5_x (19 + 2 for 19 columns, 512 channels) and on conv6 (19 + 12 for 19). Its output on
 * padded rows is then compacted, one copy per output: C_out / K copies per element of im2col,
 * which decides conv1_1 (K = 27): packed 7.6 ms, implicit 10.3 ms (2 threads, batch 1). Measured on one
 * thread, 3x3 pad 1, ms (packed -> implicit): 64 -> 64 channels at 300x300 200 -> 155; 128 -> 128
 * at 150x150 181 -> 159; 256 -> 256 at 75x75 157 -> 156; 512 -> 512 at 38x38 156 -> 161 and at
 * 19x19 41 -> 43; 512 -> 84 at 38x38 32 -> 28; 512 -> 16 at 38x38 12.3 -> 6.5.
 *
 * Weight gradient: 'implicit' whenever the stride is 1. Its B panels (im2col^T) are the same
 * values in the same places either way, so dW is bit for bit the same; 'implicit' copies them from
 * the zero-padded x by rows, four positions of eight taps transposed at a time
 * (pack_rows_transposed), where 'packed' gathers each element with bounds checks
 * (im2col_pack_transposed). Measured on 2 threads, batch 1, SSD300's 3x3 layers, ms (packed ->
 * implicit, the two side by side in one process): 3 -> 64 channels at 300x300 17.4 -> 15.6;
 * 64 -> 64 at 300x300 118.9 -> 108.0; 64 -> 128 at 150x150 50.3 -> 46.6; 128 -> 128 95.8 -> 90.2;
 * 128 -> 256 at 75x75 48.8 -> 46.3; 256 -> 256 87.4 -> 83.1; 256 -> 512 at 38x38 43.7 -> 42.1;
 * 512 -> 512 84.3 -> 83.2, at 19x19 24.6 -> 23.3; conv6 (dilation 6) 51.9 -> 49.2: 623 -> 588 in all.
 *
 * `implicit` 'never' or 'always' overrides the choice (the tests run both ways for both passes).
 */
export function convMethod(
  pass: ConvPass, g: Conv2dGeometry, maxDirectChannels: number, implicit: 'auto' | 'never' | 'always' = 'auto',
): ConvMethod {
  if (pass === 'backwardInput' || g.strideH !== 1 || g.strideW !== 1) return 'packed';
  if (pass === 'forward' && useDirect(g, maxDirectChannels)) return 'direct';
  if (implicit !== 'auto') return implicit === 'always' ? 'implicit' : 'packed';
  if (pass === 'backwardWeight') return 'implicit';
  const paddedW = g.inW + 2 * g.padW;
  // y on padded rows is compacted afterwards: one copy per output, C_out / K of them per element
  // of im2col, each costing about what packing one does
  const K = g.inChannels * g.kernelH * g.kernelW;
  const compaction = paddedW === g.outW ? 0 : (PACKING_COST_ROWS * g.outChannels) / K;
  return (g.outChannels * paddedW) / g.outW + compaction <= g.outChannels + PACKING_COST_ROWS ? 'implicit' : 'packed';
}

/**
 * The byte offsets in a zero-padded image (planes paddedH x paddedW) of im2col's rows for the
 * implicit GEMM: row (ci, ky, kx) holds, at position oy * paddedW + ox, the padded input at
 * (ci, oy + ky * dilationH, ox + kx * dilationW) (stride 1), so it starts at that offset.
 */
export function rowOffsets(g: Conv2dGeometry, paddedH: number, paddedW: number): Int32Array {
  const offsets = new Int32Array(g.inChannels * g.kernelH * g.kernelW);
  let k = 0;
  for (let ci = 0; ci < g.inChannels; ci++)
    for (let ky = 0; ky < g.kernelH; ky++)
      for (let kx = 0; kx < g.kernelW; kx++) offsets[k++] = 4 * (ci * paddedH * paddedW + ky * g.dilationH * paddedW + kx * g.dilationW);
  return offsets;
}

/** Largest number of dcol rows a backward-input task holds: whole channels, about MC rows. */
function inputRowsPerTask(g: Conv2dGeometry): number {
  const taps = g.kernelH * g.kernelW;
  return Math.max(1, Math.floor(MC / taps)) * taps;
}

/** Where each part of a thread's scratch lies, in bytes from its start. */
export function scratchLayout(pass: ConvPass, g: Conv2dGeometry): { a: number; b: number; dcol: number; tmp: number; bytes: number } {
  // A: in backward input all of a task's rows of W^T (rows x C_out); the other passes read A
  // packed once per call (packOperandA).
  const aFloats = pass === 'backwardInput' ? roundUp(inputRowsPerTask(g), MR) * g.outChannels : 0;
  const bFloats = KC * NC;
  const dcolFloats = pass === 'backwardInput' ? inputRowsPerTask(g) * NC : 0;
  const a = 0;
  const b = a + 4 * aFloats;
  const dcol = b + 4 * bFloats;
  const tmp = dcol + 4 * dcolFloats;
  return { a, b, dcol, tmp, bytes: roundUp(tmp + 4 * MR * NR, 64) };
}

/**
 * The tasks of a job for `threads` threads, and how many partial sums of dW they write. One
 * thread gets the biggest tasks the blocking allows; several get ~8 tasks each where the layer is
 * big enough, so that a thread slowed down by another process holds the others up only briefly.
 */
export function planConvTasks(pass: ConvPass, g: Conv2dGeometry, threads: number, method: ConvMethod = 'packed'): { tasks: Int32Array; parts: number } {
  const tasks: number[] = [];
  const wanted = threads > 1 ? 8 * threads : 1;
  const enough = threads > 1 ? 4 * threads : 1;
  // the implicit GEMM's columns are the positions on padded rows
  const P = g.outH * (method === 'implicit' ? g.inW + 2 * g.padW : g.outW);
  const taps = g.kernelH * g.kernelW;
  if (pass === 'forward' && method === 'direct') {
    // Direct convolution: blocks of output rows, every output channel in each task.
    const rows = splitRange(g.outH, Infinity, 1, Math.ceil(wanted / g.batch), 1);
    for (let n = 0; n < g.batch; n++)
      for (let r = 0; r + 1 < rows.length; r++) tasks.push(0, n, n + 1, 0, g.outChannels, rows[r], rows[r + 1]);
    return { tasks: Int32Array.from(tasks), parts: 1 };
  }
  if (pass === 'forward') {
    // Cut the positions; cut the channels only when the positions are too few to share (each
    // cut of the channels repeats the im2col packing).
    const cols = splitRange(P, NC, 32, Math.ceil(wanted / g.batch), NR);
    const rows = splitRange(g.outChannels, Infinity, 32, Math.ceil(enough / g.batch / (cols.length - 1)), MR);
    for (let n = 0; n < g.batch; n++)
      for (let r = 0; r + 1 < rows.length; r++)
        for (let c = 0; c + 1 < cols.length; c++) tasks.push(0, n, n + 1, rows[r], rows[r + 1], cols[c], cols[c + 1]);
    return { tasks: Int32Array.from(tasks), parts: 1 };
  }
  if (pass === 'backwardInput') {
    const channels = splitRange(g.inChannels, inputRowsPerTask(g) / taps, 1, Math.ceil(wanted / g.batch), 1);
    for (let n = 0; n < g.batch; n++)
      for (let r = 0; r + 1 < channels.length; r++) tasks.push(0, n, n + 1, channels[r], channels[r + 1], 0, P);
    return { tasks: Int32Array.from(tasks), parts: 1 };
  }
  // Backward weight: tiles of dW, and when the tiles are too few to share (a small layer: conv1_1
  // of the channels / 16 model has one 4 x 27 tile), the images too, each range into its own
  // partial sum.
  const K = g.inChannels * taps;
  const cols = splitRange(K, NC, 32, wanted, NR);
  const rows = splitRange(g.outChannels, Infinity, 32, Math.ceil(enough / (cols.length - 1)), MR);
  const tiles = (rows.length - 1) * (cols.length - 1);
  const parts = tiles >= enough ? 1 : Math.min(g.batch, Math.ceil(wanted / tiles));
  const images = splitRange(g.batch, Infinity, 1, parts, 1);
  for (let part = 0; part + 1 < images.length; part++)
    for (let r = 0; r + 1 < rows.length; r++)
      for (let c = 0; c + 1 < cols.length; c++) tasks.push(part, images[part], images[part + 1], rows[r], rows[r + 1], cols[c], cols[c + 1]);
  return { tasks: Int32Array.from(tasks), parts: images.length - 1 };
}

/** Runs tasks until the shared counter (or, with none, the list) says there are none left. */
export function runConvTasks(job: ConvJob, wasm: WasmExports, thread: number, counter: Int32Array | null): void {
  const count = job.tasks.length / TASK_FIELDS;
  if (counter === null) {
    for (let t = 0; t < count; t++) runConvTask(job, wasm, thread, t);
    return;
  }
  for (;;) {
    const t = Atomics.add(counter, 0, 1);
    if (t >= count) return;
    runConvTask(job, wasm, thread, t);
  }
}

function runConvTask(job: ConvJob, wasm: WasmExports, thread: number, t: number): void {
  const [part, n0, n1, r0, r1, c0, c1] = job.tasks.subarray(t * TASK_FIELDS, (t + 1) * TASK_FIELDS);
  const scratch = job.scratch + thread * job.scratchBytes;
  if (job.pass === 'forward' && job.method === 'direct') directTask(job, wasm, scratch, n0, c0, c1);
  else if (job.pass === 'forward') forwardTask(job, wasm, scratch, n0, r0, r1, c0, c1);
  else if (job.pass === 'backwardInput') backwardInputTask(job, wasm, scratch, n0, r0, r1);
  else backwardWeightTask(job, wasm, scratch, part, n0, n1, r0, r1, c0, c1);
}

/** Zeroes the padding of the last, partly filled panel of a packed operand (rows or columns past `used`). */
function zeroLastPanel(wasm: WasmExports, packed: number, used: number, tile: number, depth: number): void {
  if (used % tile === 0) return;
  const panelFloats = depth * tile;
  wasm.fill_rows(packed + 4 * Math.floor(used / tile) * panelFloats, panelFloats, 1, panelFloats, 0);
}

/**
 * y[n, co0..co1, p0..p1] = bias + W[co0..co1, :] * col(x[n])[:, p0..p1]. Method 'packed': each K
 * block of col is packed into B panels (im2col_pack). Method 'implicit': x is the zero-padded copy,
 * the positions lie on padded rows (p = oy * paddedW + ox), and gemm_rows reads col's row k in
 * place at rowsAt[k] + 4 p.
 */
function forwardTask(job: ConvJob, wasm: WasmExports, scratch: number, n: number, co0: number, co1: number, p0: number, p1: number): void {
  const { g } = job;
  const implicit = job.method === 'implicit';
  const layout = scratchLayout('forward', g);
  const bPacked = scratch + layout.b;
  const tmp = scratch + layout.tmp;
  const K = g.inChannels * g.kernelH * g.kernelW;
  const P = g.outH * (implicit ? job.paddedW : g.outW);
  const nc = p1 - p0;
  const xImage = job.x + 4 * n * g.inChannels * (implicit ? job.paddedH * job.paddedW : g.inH * g.inW);
  const yTile = (co: number): number => job.out + 4 * ((n * g.outChannels + co) * P + p0); // row co of this tile
  wasm.fill_rows(yTile(co0), P, co1 - co0, nc, job.bias === 0 ? 0 : job.bias + 4 * co0);
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kc = Math.min(KC, K - k0);
    if (!implicit) wasm.im2col_pack(xImage, job.geometry, k0, kc, p0, nc, bPacked); // pads the last panel with zeros itself
    for (let m0 = co0; m0 < co1; m0 += MC) {
      const mc = Math.min(MC, co1 - m0);
      const a = packedABlock(job.packed, g.outChannels, k0, kc, m0);
      if (implicit) wasm.gemm_rows(mc, nc, kc, a, xImage + 4 * p0, job.rowsAt + 4 * k0, yTile(m0), P, tmp);
      else wasm.gemm(mc, nc, kc, a, bPacked, yTile(m0), P, tmp);
    }
  }
}

/** y[n, :, oy0..oy1, :] by the direct convolution, four output channels at a time. */
function directTask(job: ConvJob, wasm: WasmExports, scratch: number, n: number, oy0: number, oy1: number): void {
  const { g } = job;
  const tmp = scratch + scratchLayout('forward', g).tmp;
  const K = g.inChannels * g.kernelH * g.kernelW;
  const P = g.outH * g.outW;
  const xImage = job.x + 4 * n * g.inChannels * g.inH * g.inW;
  const yImage = job.out + 4 * n * g.outChannels * P;
  for (let co = 0; co < g.outChannels; co += MR) {
    const bias = job.bias === 0 ? 0 : job.bias + 4 * co;
    wasm.conv_direct(xImage, job.w + 4 * co * K, bias, yImage + 4 * co * P, job.geometry, g.inChannels, Math.min(MR, g.outChannels - co), K, P, oy0, oy1, tmp);
  }
}

/** dx[n, ci0..ci1] = col2im(W^T[tap rows of ci0..ci1, :] * dy[n]), one NC block of positions at a time. */
function backwardInputTask(job: ConvJob, wasm: WasmExports, scratch: number, n: number, ci0: number, ci1: number): void {
  const { g } = job;
  const layout = scratchLayout('backwardInput', g);
  const aPacked = scratch + layout.a;
  const bPacked = scratch + layout.b;
  const dcol = scratch + layout.dcol;
  const tmp = scratch + layout.tmp;
  const taps = g.kernelH * g.kernelW;
  const K = g.inChannels * taps;
  const P = g.outH * g.outW;
  const Co = g.outChannels;
  const r0 = ci0 * taps; // this task's rows of W^T and of dcol: [r0, r0 + rows)
  const rows = (ci1 - ci0) * taps;
  const plane = g.inH * g.inW;
  const dxImage = job.out + 4 * n * g.inChannels * plane;
  const dyImage = job.dy + 4 * n * Co * P;
  wasm.fill_rows(dxImage + 4 * ci0 * plane, 0, 1, rows / taps * plane, 0);
  // This task's rows of W^T (element (r, co) = W[co][r0 + r]), packed once for all its blocks:
  // K block k0 at aPacked + 4 * roundUp(rows, MR) * k0, its rows from m0 at + 4 * m0 * kc.
  const rowsPadded = roundUp(rows, MR);
  wasm.fill_rows(aPacked, 0, 1, rowsPadded * Co, 0);
  for (let k0 = 0; k0 < Co; k0 += KC) {
    const kc = Math.min(KC, Co - k0);
    for (let m0 = 0; m0 < rows; m0 += MC) {
      wasm.pack_a(job.w + 4 * (k0 * K + r0 + m0), 1, K, Math.min(MC, rows - m0), kc, aPacked + 4 * (rowsPadded * k0 + m0 * kc));
    }
  }
  for (let p0 = 0; p0 < P; p0 += NC) {
    const nc = Math.min(NC, P - p0);
    wasm.fill_rows(dcol, nc, rows, nc, 0);
    for (let k0 = 0; k0 < Co; k0 += KC) {
      const kc = Math.min(KC, Co - k0);
      zeroLastPanel(wasm, bPacked, nc, NR, kc);
      wasm.pack_b(dyImage + 4 * (k0 * P + p0), P, 1, kc, nc, bPacked);
      for (let m0 = 0; m0 < rows; m0 += MC) {
        const mc = Math.min(MC, rows - m0);
        wasm.gemm(mc, nc, kc, aPacked + 4 * (rowsPadded * k0 + m0 * kc), bPacked, dcol + 4 * m0 * nc, nc, tmp);
      }
    }
    wasm.col2im_add(dcol, nc, job.geometry, r0, rows, p0, nc, dxImage);
  }
}

/** Partial sum `part` of dW[co0..co1, c0..c1] = sum over images n0..n1 of dy[n][co0..co1, :] * col(x[n])^T[:, c0..c1] */
function backwardWeightTask(
  job: ConvJob, wasm: WasmExports, scratch: number, part: number, n0: number, n1: number, co0: number, co1: number, c0: number, c1: number,
): void {
  const { g } = job;
  const layout = scratchLayout('backwardWeight', g);
  const bPacked = scratch + layout.b;
  const tmp = scratch + layout.tmp;
  const K = g.inChannels * g.kernelH * g.kernelW;
  const P = g.outH * g.outW;
  const Co = g.outChannels;
  const nc = c1 - c0;
  const dw = job.out + 4 * part * Co * K; // this part's partial sum
  const implicit = job.method === 'implicit';
  wasm.fill_rows(dw + 4 * (co0 * K + c0), K, co1 - co0, nc, 0); // this task's tile of it, to be added to
  for (let n = n0; n < n1; n++) {
    const xImage = job.x + 4 * n * g.inChannels * (implicit ? job.paddedH * job.paddedW : g.inH * g.inW);
    const dyImage = job.packed + 4 * n * packedAFloats(Co, P); // this image's dy, packed
    // The sum runs over output positions: they are this GEMM's K dimension.
    for (let p0 = 0; p0 < P; p0 += KC) {
      const kc = Math.min(KC, P - p0);
      zeroLastPanel(wasm, bPacked, nc, NR, kc);
      if (implicit) wasm.pack_rows_transposed(xImage, job.rowsAt + 4 * c0, nc, job.paddedW, g.outW, p0, kc, bPacked);
      else wasm.im2col_pack_transposed(xImage, job.geometry, c0, nc, p0, kc, bPacked);
      for (let m0 = co0; m0 < co1; m0 += MC) {
        const mc = Math.min(MC, co1 - m0);
        wasm.gemm(mc, nc, kc, packedABlock(dyImage, Co, p0, kc, m0), bPacked, dw + 4 * (m0 * K + c0), K, tmp);
      }
    }
  }
}
