// Winograd convolutions for the 'wasm' backend: stride-1, dilation-1, 3x3 convolutions (any
// padding) by minimal filtering F(m x m, 3 x 3), m = 2, 4 or 6 (Lavin and Gray, "Fast Algorithms
// for Convolutional Neural Networks", arXiv 1509.09308). This file plans the work and runs its
// tasks, like conv.ts; the transforms are WebAssembly SIMD (winograd-2x2.wat, winograd-4x4.wat,
// winograd-6x6.wat: their headers write B^T, G and A^T out), the products the GEMM micro-kernel of
// gemm-4x8-*.wat, unchanged.
//
// The method. Cut the output into m x m tiles; tile d of the input ((m + 2) x (m + 2), overlapping
// its neighbours by 2) and filter g (3 x 3) give the tile's outputs as
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A
// with (m + 2)^2 element-wise products instead of 9 m^2 multiply-adds (F(2x2): 16 for 36, F(4x4):
// 36 for 144, F(6x6): 64 for 324). Summed over the input channels, the products at each position
// (xi, nu) of the (m + 2) x (m + 2) tile are one matrix product:
//   M_xinu (C_out x tiles) = U_xinu (C_out x C_in) * V_xinu (C_in x tiles),  U = G g G^T, V = B^T d B
// so a convolution is (m + 2)^2 GEMMs between a filter transform and an output transform.
//
// One call (what runs once, and what the tasks do):
//   1. pad x once (sweep.ts 'padPlanes': top = padH, left = padW, into planes paddedH x paddedW,
//      zeros below and right up to whole tiles), so every input tile lies in place;
//   2. the filter transform (a 'filter' job, tasks = ranges of 4-channel panels of C_out):
//      U for every (C_out, C_in), in the GEMM's packed A layout: uFloats floats, the one
//      full-size transformed tensor (the weights' (m + 2)^2 / 9 times over);
//   3. the convolution (a 'forward' job): task = (a run of tiles, a block of output channels).
//      A task transforms its tiles' input one K block of input channels at a time, straight into
//      B panels (V), runs the (m + 2)^2 GEMMs of that K block into M, and at the end transforms
//      M into y with the bias. V and M are the thread's scratch, sized to stay in L2 (the
//      blocking below): no full-size V or M is ever written. Tasks write disjoint parts of y.
// The input gradient of a stride-1 3x3 convolution is a forward convolution of dy with the
// flipped, transposed weights (index.ts, transposedAsForward); the filter transform reads them
// that way from w itself (flipped: true), so the same forward job computes dx.
//
// Memory (byte addresses in the shared memory, all 16-byte aligned):
//   x       the padded input: batch x C_in planes of paddedH x paddedW (plan.paddedFloats)
//   u       U: (m + 2)^2 matrices U_xinu, each roundUp(C_out, 4) x C_in floats in K blocks of
//           plan.blocking.depth input channels, 4-row panels (conv.ts, packOperandA's layout);
//           U_xinu at u + xinu * plan.uPositionBytes (a little more than the matrix: see
//           positionStride), plan.uFloats floats in all
//   scratch thread t's at scratch + t * plan.scratchBytes (plan.layout: the tile table, V, M,
//           the transforms' work area and the GEMM's edge tile)
//
// Numerics. ... (see WINOGRAD_ERROR below)

import { Conv2dGeometry } from '../geometry';
import { splitRange } from '../cpu/fast/conv';
import { WasmExports, WinogradFilterTransform, WinogradInputTransform, WinogradOutputTransform } from './runtime';
import { MR, NR, roundUp } from './conv';

/** The output tile sizes: F(2x2, 3x3), F(4x4, 3x3), F(6x6, 3x3). */
export type WinogradTile = 2 | 4 | 6;
export const WINOGRAD_TILES: readonly WinogradTile[] = [2, 4, 6];

/** Whether a convolution can run as a Winograd convolution: 3x3, stride 1, dilation 1 (any padding, any channels). */
export function winogradApplies(g: Conv2dGeometry): boolean {
  return g.kernelH === 3 && g.kernelW === 3 && g.strideH === 1 && g.strideW === 1 && g.dilationH === 1 && g.dilationW === 1;
}

/**
 * How a forward task's work is cut, so that its V (positions x depth x tiles floats) and M
 * (positions x outChannels x tiles) stay in L2 while the (m + 2)^2 GEMMs stream U past them.
 */
export interface WinogradBlocking {
  /** Tiles per task at most (a multiple of NR = 8: the GEMM's B panels; fewer where the layer is small). */
  tiles: number;
  /** Output channels per task at most (a multiple of MR = 4). */
  outChannels: number;
  /** Input channels per K block (U is packed in blocks of this depth). */
  depth: number;
}

/** Where each part of a thread's scratch lies, in bytes from its start. */
export interface WinogradScratch {
  /** The task's tile table (winograd.wat): 16 bytes per tile, blocking.tiles of them. */
  table: number;
  /** V of one K block: positions x depth x tiles floats. */
  v: number;
  /** M: positions x outChannels x tiles floats. */
  m: number;
  /** The transforms' work area (WORK_BYTES). */
  work: number;
  /** The GEMM's edge tile (MR x NR floats; unused when every tile is whole). */
  tmp: number;
  bytes: number;
}

/** One convolution planned: its geometry, tiles, the sizes of what it needs, and its tasks. */
export interface WinogradPlan {
  g: Conv2dGeometry;
  m: WinogradTile;
  /** m + 2: the input tile's side. */
  alpha: number;
  /** alpha^2: the GEMMs (one per position of the input tile). */
  positions: number;
  tilesH: number;
  tilesW: number;
  /** tilesH * tilesW * batch: tiles are numbered over the whole batch. */
  tiles: number;
  /** The padded copy of x: planes paddedH x paddedW, the convolution's padding at the top and left. */
  paddedH: number;
  paddedW: number;
  paddedFloats: number;
  /** U: positions matrices of roundUp(C_out, 4) x C_in floats. */
  uFloats: number;
  uPositionBytes: number;
  blocking: WinogradBlocking;
  layout: WinogradScratch;
  /** Bytes of scratch per thread. */
  scratchBytes: number;
  /** The filter transform's tasks: (first panel, end panel) of 4 output channels, FILTER_TASK_FIELDS ints each. */
  filterTasks: Int32Array;
  /** The forward tasks: (first tile, end tile, first output channel, end output channel), FORWARD_TASK_FIELDS ints each. */
  forwardTasks: Int32Array;
}

/**
 * The error bound (see Numerics at the top): every output of F(m x m, 3 x 3) lies within
 *   WINOGRAD_ERROR[m] * 2^-24 * sqrt(K) * max|y|
 * of the exact convolution, K the terms behind one output (C_in * 9), max|y| the largest output.
 */
export const WINOGRAD_ERROR: Readonly<Record<WinogradTile, number>> = { 2: 4, 4: 48, 6: 192 };

/** The bound above for `terms` terms per output and the largest |output| `maxAbs`. */
export function winogradTolerance(m: WinogradTile, terms: number, maxAbs: number): number {
  return WINOGRAD_ERROR[m] * 2 ** -24 * Math.sqrt(terms) * maxAbs;
}

export const FILTER_TASK_FIELDS = 2;
export const FORWARD_TASK_FIELDS = 4;

/** The transforms' work area: the largest is F(6x6)'s input transform, 64 vectors. */
const WORK_BYTES = 2048;

/**
 * Default blocking per tile size: V + M = positions x (depth + outChannels) x tiles x 4 bytes
 * (F(4x4): 36 x 256 x 32 x 4 = 1.2 MB) in this machine's 2 MB L2, with room for the U blocks
 * streaming past. (Measured: see bench/winograd.bench.ts and the notes at the top.)
 */
export function defaultBlocking(m: WinogradTile): WinogradBlocking {
  if (m === 2) return { tiles: 64, outChannels: 128, depth: 128 };
  if (m === 4) return { tiles: 32, outChannels: 128, depth: 128 };
  return { tiles: 32, outChannels: 64, depth: 128 };
}

/**
 * The bytes from one position's matrix (U_xinu, V_xinu or M_xinu) to the next: `bytes` rounded
 * up to an odd number of 64-byte cache lines. The transforms write (and read) all the positions'
 * matrices at once, 16 bytes in each; with strides that are multiples of 4 KiB (as 4 rows x C_in
 * x 4 bytes, or depth x tiles x 4, mostly are) those 36 or 64 lines would all fall in one set of
 * the 12-way L1 and evict each other at every store. An odd number of lines sends consecutive
 * positions to different sets. Measured on the filter transform of 256 x 256 channels, one
 * thread (under load, best of 7): the filter transform of F(4x4) 27 -> 10 ns per (co, ci), F(2x2)
 * 15 -> 5; the input transform of F(4x4) 25 -> 10 ns per (tile, channel), F(2x2) 12.7 -> 3.6.
 */
export function positionStride(bytes: number): number {
  const lines = Math.ceil(bytes / 64);
  return 64 * (lines % 2 === 0 ? lines + 1 : lines);
}

/** The scratch layout of one thread for a tile size and blocking. */
export function winogradScratch(m: WinogradTile, blocking: WinogradBlocking): WinogradScratch {
  const positions = (m + 2) * (m + 2);
  const tiles = roundUp(blocking.tiles, NR);
  const table = 0;
  const v = roundUp(table + 16 * tiles, 64);
  const mm = v + positions * positionStride(4 * blocking.depth * tiles);
  const work = mm + positions * positionStride(4 * roundUp(blocking.outChannels, MR) * tiles);
  const tmp = work + WORK_BYTES;
  return { table, v, m: mm, work, tmp, bytes: roundUp(tmp + 4 * MR * NR, 64) };
}

/**
 * Plans a Winograd convolution of geometry g (winogradApplies) with m x m output tiles for
 * `threads` threads. The blocking is defaultBlocking(m) unless given (the benchmark tries others).
 */
export function planWinograd(g: Conv2dGeometry, m: WinogradTile, threads: number, blocking: WinogradBlocking = defaultBlocking(m)): WinogradPlan {
  if (!winogradApplies(g)) throw new Error('winograd: only 3x3 convolutions with stride 1 and dilation 1');
  if (blocking.tiles % NR !== 0 || blocking.outChannels % MR !== 0 || blocking.depth < 1) {
    throw new Error(`winograd: blocking ${JSON.stringify(blocking)}: tiles must be a multiple of ${NR}, outChannels of ${MR}`);
  }
  const alpha = m + 2;
  const positions = alpha * alpha;
  const tilesH = Math.ceil(g.outH / m);
  const tilesW = Math.ceil(g.outW / m);
  const tiles = g.batch * tilesH * tilesW;
  const paddedH = tilesH * m + 2;
  const paddedW = tilesW * m + 2;
  const rowsPadded = roundUp(g.outChannels, MR);
  const layout = winogradScratch(m, blocking);

  // Forward tasks: runs of tiles by blocks of output channels. More tasks than threads where the
  // layer allows (8 per thread), so that a thread slowed down by another process holds the others
  // up only briefly; but every cut of the channels repeats the input transform of its tiles, and
  // every cut of the tiles reads all of U again, so neither goes below 32 (channels) or 8 (tiles).
  const wanted = threads > 1 ? 8 * threads : 1;
  const tileBounds = splitRange(tiles, blocking.tiles, NR, wanted, NR);
  const runs = tileBounds.length - 1;
  const channelBounds = splitRange(g.outChannels, blocking.outChannels, 32, Math.ceil(wanted / runs), MR);
  const forward: number[] = [];
  for (let c = 0; c + 1 < channelBounds.length; c++)
    for (let r = 0; r < runs; r++) forward.push(tileBounds[r], tileBounds[r + 1], channelBounds[c], channelBounds[c + 1]);

  // Filter tasks: ranges of 4-channel panels, about 4 per thread.
  const panels = rowsPadded / MR;
  const panelBounds = splitRange(panels, Infinity, 1, threads > 1 ? 4 * threads : 1, 1);
  const filter: number[] = [];
  for (let i = 0; i + 1 < panelBounds.length; i++) filter.push(panelBounds[i], panelBounds[i + 1]);

  return {
    g, m, alpha, positions, tilesH, tilesW, tiles, paddedH, paddedW,
    paddedFloats: g.batch * g.inChannels * paddedH * paddedW,
    uFloats: (positions * positionStride(4 * rowsPadded * g.inChannels)) / 4,
    uPositionBytes: positionStride(4 * rowsPadded * g.inChannels),
    blocking, layout, scratchBytes: layout.bytes,
    filterTasks: Int32Array.from(filter),
    forwardTasks: Int32Array.from(forward),
  };
}

/** The filter transform of one call: U from w (byte addresses in the shared memory). */
export interface WinogradFilterJob {
  winograd: 'filter';
  plan: WinogradPlan;
  /** The weights: C_out x C_in x 3 x 3 of plan.g, or with flipped, C_in x C_out x 3 x 3 (those of the convolution whose input gradient plan.g computes). */
  w: number;
  flipped: boolean;
  u: number;
  scratch: number;
  tasks: Int32Array;
}

/** The convolution of one call: y = bias + x * w through U. */
export interface WinogradForwardJob {
  winograd: 'forward';
  plan: WinogradPlan;
  /** The padded input (plan.paddedH x plan.paddedW planes). */
  x: number;
  u: number;
  /** C_out floats, or 0 for none. */
  bias: number;
  /** y: batch x C_out x outH x outW. */
  y: number;
  scratch: number;
  tasks: Int32Array;
}

export type WinogradJob = WinogradFilterJob | WinogradForwardJob;

/** The filter transform job of a call, its tasks from the plan. */
export function winogradFilterJob(plan: WinogradPlan, w: number, flipped: boolean, u: number, scratch: number): WinogradFilterJob {
  return { winograd: 'filter', plan, w, flipped, u, scratch, tasks: plan.filterTasks };
}

/** The convolution job of a call, its tasks from the plan. */
export function winogradForwardJob(plan: WinogradPlan, x: number, u: number, bias: number, y: number, scratch: number): WinogradForwardJob {
  return { winograd: 'forward', plan, x, u, bias, y, scratch, tasks: plan.forwardTasks };
}

/** Runs tasks until the shared counter (or, with none, the list) says there are none left. */
export function runWinogradTasks(job: WinogradJob, wasm: WasmExports, thread: number, counter: Int32Array | null): void {
  const fields = job.winograd === 'filter' ? FILTER_TASK_FIELDS : FORWARD_TASK_FIELDS;
  const count = job.tasks.length / fields;
  const run = (t: number): void => {
    const task = job.tasks.subarray(t * fields, (t + 1) * fields);
    const scratch = job.scratch + thread * job.plan.scratchBytes;
    if (job.winograd === 'filter') filterTask(job, wasm, scratch, task[0], task[1]);
    else forwardTask(job, wasm, scratch, task[0], task[1], task[2], task[3]);
  };
  if (counter === null) {
    for (let t = 0; t < count; t++) run(t);
    return;
  }
  for (;;) {
    const t = Atomics.add(counter, 0, 1);
    if (t >= count) return;
    run(t);
  }
}

function transforms(wasm: WasmExports, m: WinogradTile): { filter: WinogradFilterTransform; input: WinogradInputTransform; output: WinogradOutputTransform } {
  if (m === 2) return { filter: wasm.winograd2x2_filter, input: wasm.winograd2x2_input, output: wasm.winograd2x2_output };
  if (m === 4) return { filter: wasm.winograd4x4_filter, input: wasm.winograd4x4_input, output: wasm.winograd4x4_output };
  return { filter: wasm.winograd6x6_filter, input: wasm.winograd6x6_input, output: wasm.winograd6x6_output };
}

/**
 * U for output-channel panels [p0, p1) (4 channels each), every K block. Panel p, K block k0
 * (depth kc) is at u + 4 (roundUp(C_out, 4) k0 + 4 p kc) in every U_xinu: packOperandA's layout.
 */
function filterTask(job: WinogradFilterJob, wasm: WasmExports, scratch: number, p0: number, p1: number): void {
  const { plan } = job;
  const { g } = plan;
  const work = scratch + plan.layout.work;
  const filter = transforms(wasm, plan.m).filter;
  const rowsPadded = roundUp(g.outChannels, MR);
  const depth = plan.blocking.depth;
  // The 9 taps of lane l (output channel co), input channel k: forward w[co][k][0..8]; flipped
  // (w is the other convolution's, C_in x C_out x 3 x 3) w[k][co][8..0], read backwards.
  const laneStride = job.flipped ? 36 : 36 * g.inChannels;
  const kStride = job.flipped ? 36 * g.outChannels : 36;
  for (let p = p0; p < p1; p++) {
    const co = p * MR;
    const lanes = Math.min(MR, g.outChannels - co);
    const first = job.w + co * laneStride; // lane 0's taps for k = 0
    for (let k0 = 0; k0 < g.inChannels; k0 += depth) {
      const kc = Math.min(depth, g.inChannels - k0);
      filter(first + k0 * kStride, laneStride, kStride, job.flipped ? 1 : 0, lanes, kc, job.u + 4 * (rowsPadded * k0 + co * kc), plan.uPositionBytes, work);
    }
  }
}

/** y[tiles t0..t1, channels co0..co1] = bias + the Winograd convolution, K block by K block. */
function forwardTask(job: WinogradForwardJob, wasm: WasmExports, scratch: number, t0: number, t1: number, co0: number, co1: number): void {
  const { plan } = job;
  const { g, m, positions, layout } = plan;
  const { input, output } = transforms(wasm, m);
  const table = scratch + layout.table;
  const v = scratch + layout.v;
  const mm = scratch + layout.m;
  const work = scratch + layout.work;
  const tmp = scratch + layout.tmp;
  const count = t1 - t0;
  const columns = roundUp(count, NR); // the GEMMs' columns: whole panels
  const rows = roundUp(co1 - co0, MR); // and rows: whole panels of U (zero past C_out)
  const rowsPadded = roundUp(g.outChannels, MR);
  const inPlane = 4 * plan.paddedH * plan.paddedW;
  const outPlane = 4 * g.outH * g.outW;
  wasm.winograd_tiles(
    table, t0, count, columns, m, plan.tilesW, plan.tilesH * plan.tilesW, g.inChannels * inPlane, 4 * plan.paddedW,
    g.outChannels * outPlane, 4 * g.outW, g.outH, g.outW,
  );
  const mPositionBytes = positionStride(4 * rows * columns);
  wasm.fill_rows(mm, 0, 1, (positions * mPositionBytes) / 4, 0); // the GEMMs add to M
  const depth = plan.blocking.depth;
  for (let k0 = 0; k0 < g.inChannels; k0 += depth) {
    const kc = Math.min(depth, g.inChannels - k0);
    const vPositionBytes = positionStride(4 * kc * columns);
    input(job.x + k0 * inPlane, inPlane, 4 * plan.paddedW, table, columns / 4, kc, v, vPositionBytes, work);
    const a = job.u + 4 * (rowsPadded * k0 + co0 * kc); // rows co0.. of U_0's K block
    for (let p = 0; p < positions; p++) {
      wasm.gemm(rows, columns, kc, a + p * plan.uPositionBytes, v + p * vPositionBytes, mm + p * mPositionBytes, columns, tmp);
    }
  }
  output(
    mm, mPositionBytes, columns, table, Math.ceil(count / 4), co1 - co0, job.y + co0 * outPlane, outPlane, 4 * g.outW,
    job.bias === 0 ? 0 : job.bias + 4 * co0, work,
  );
}
