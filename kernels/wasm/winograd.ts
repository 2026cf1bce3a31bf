// Winograd convolutions for the 'wasm' backend: stride-1, dilation-1, 3x3 convolutions (any
// padding) by minimal filtering F(m x m, 3 x 3), m = 2, 4 or 6 (Lavin and Gray, "Fast Algorithms
// for Convolutional Neural Networks", arXiv 1509.09308). This file plans the work and runs its
// tasks, like conv.ts; the transforms are WebAssembly SIMD (winograd-2x2.wat, winograd-4x4.wat,
// winograd-6x6.wat: their headers write B^T, G and A^T out; winograd.wat has the tile tables), the
// products the GEMM micro-kernel of gemm-4x8.wat, unchanged.
//
// The method. Cut the output into m x m tiles; tile d of the input ((m + 2) x (m + 2), overlapping
// its neighbours by 2) and filter g (3 x 3) give the tile's outputs as
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A
// with (m + 2)^2 element-wise products instead of 9 m^2 multiply-adds (F(2x2): 16 for 36, F(4x4):
// 36 for 144, F(6x6): 64 for 324). Summed over the input channels, the products at each position
// (xi, nu) of the (m + 2) x (m + 2) tile are one matrix product:
//   M_xinu (C_out x tiles) = U_xinu (C_out x C_in) * V_xinu (C_in x tiles),  U = G g G^T, V = B^T d B
// so a convolution is (m + 2)^2 GEMMs between a filter transform and an output transform. The
// transforms write straight into the GEMM's packed panels (U its A operand, V its B operand) and
// read its C: nothing is packed or copied in between.
//
// The forward pass, one call (what runs once, and what the tasks do):
//   1. pad x once (sweep.ts 'padPlanes': top = padH, left = padW, into planes paddedH x paddedW,
//      zeros below and right up to whole tiles), so every input tile lies in place;
//   2. the filter transform (winogradFilterJob, tasks = ranges of 4-channel panels of C_out): U for
//      every (C_out, C_in), plan.uFloats floats: the one full-size transformed tensor (the
//      weights' (m + 2)^2 / 9 times over; 16 / 9, 4 and 7.1 times);
//   3. the convolution (winogradForwardJob): task = (a run of tiles, a block of output channels).
//      A task transforms its tiles' input one K block of input channels at a time, straight into
//      B panels (V), runs the (m + 2)^2 GEMMs of that K block into M, and at the end transforms M
//      into y, adding the bias. V and M are the thread's scratch, sized to stay in L2 (the
//      blocking): no full-size M is ever written. Tasks write disjoint parts of y.
//      Where the output channels are cut into 4 blocks or more (small maps: few tiles, many
//      channels), every block would transform the same tiles' input again: there V of every run
//      and K block is made once, by a job of its own before the tasks (winogradInputJob, plan.sharedV),
//      and the tasks read it.
// The input gradient of a stride-1 3x3 convolution is a forward convolution of dy with the
// flipped, transposed weights, padded by 2 - padding (index.ts, transposedAsForward); the filter
// transform reads them that way from w itself (flipped: true), so the same forward job gives dx.
//
// The weight gradient, one call. By the chain rule through Y = A^T M A and M = U (.) V, with
// Yhat = A dY A^T the gradient of the (m + 2)^2 products of a tile,
//   dU_xinu (C_out x C_in) = sum over the tiles of Yhat_xinu (C_out x tiles) * V_xinu^T (tiles x C_in)
//   dW = G^T dU G
// (m + 2)^2 GEMMs again, whose depth is the tiles:
//   1. pad x as in the forward pass, and dy with zeros to whole tiles (top = left = 0, planes
//      dyPaddedH x dyPaddedW), so that a tile at the edge reads zeros where it has no outputs;
//   2. winogradWeightJob: task = (a range of tiles, a block of output channels, a block of input
//      channels). A task runs through its tiles a chunk at a time: Yhat of the chunk into A panels
//      (winogradNxN_gradient), V^T into B panels (winogradNxN_input: the forward's input
//      transform, its rows the tiles and its lanes the channels), the (m + 2)^2 GEMMs into its
//      block of dU (in L2 throughout), and at the end dW = G^T dU G for its block
//      (winogradNxN_filter_gradient). Where the blocks are too few to keep every thread busy
//      (small layers), the tiles are cut into `parts` ranges too, each summing into its own copy
//      of dW, which the caller adds up (as conv.ts does its partial sums).
//
// Speed (bench/winograd.bench.ts, batch 1, 2 threads, medians of 5 alternating rounds, other
// processes using 0.00-0.17 of a core; GFLOP/s counted as direct convolution; GEMM = the backend's
// conv2dForward / conv2dBackwardInput / conv2dBackwardWeight, packed or implicit as convMethod picks):
//                                 forward              input gradient        weight gradient
//                              GEMM  F2  F4  F6       GEMM  F2  F4  F6      GEMM  F2  F4  F6
//   conv1_2   64 -> 64, 300      87 149 218 255         82 140 200 238        73 113 159 178
//   conv1_2/8  8 -> 8,  300      33  43  52  57         32  40  50  55        34  51  58  64
//   conv2_2  128 -> 128, 150     93 175 274 286         94 175 271 272        95 139 199 229
//   conv3_x  256 -> 256, 75      97 182 265 230         93 169 240 214        99 151 237 253
//   conv3_x/8 32 -> 32, 75       39  57  80  71         39  55  84  77        57  73  82  97
//   conv4_x  512 -> 512, 38      83 158 173 138         76 148 146 129        85 163 215 199
//   conv5_x  512 -> 512, 19      64 106  98  65         53  78  78  63        82 143 196 146
//   loc4_3   512 -> 16, 38       61  79  94  79         70  88 111  92        59  88 103  93
//   cl4_3    512 -> 84, 38       80 138 152 115         85 147 178 149        83 137 177 160
//   loc7    1024 -> 24, 19       47  68  67  43         53  80  70  53        34  47  64  51
//   cl7     1024 -> 126, 19      62  95  91  58         67  96  85  63        85 134 190 139
//   cl8_2    512 -> 126, 10      33  56  38  24         37  45  30  24        62  87  79  69
//   cl9_2    256 -> 126, 5       10  11   8   3          9  13   9   5        14  17  13  11
//   cl10_2   256 -> 84, 3 pad 1   5   7   4   2          5   6   4   2         9  10   8   6
//   conv10_2 128 -> 256, 5 valid  6   7   4   2          3   4   2   1        11  11  10   7
// (conv3_x: 68.5 ms with the GEMM, 25.1 ms with F(4x4).) Where the maps are small the filter
// transform dominates at batch 1 (U is (m + 2)^2 / 9 times the weights, written and read once per
// call: 38 MB for F(4x4) of 512 x 512 channels, 67 MB for F(6x6)), and below 10 x 10 the calls
// take under 2 ms whatever runs them. recommendedWinogradTile below turns the table into a rule.
// The blocking was tried at 2 threads on conv1_2, conv3_x, conv4_x and conv5_x (tiles 16 to 104,
// output channels 32 to 256, depth 64 and 128): the defaults are within 6% of the best each time.
//
// Memory (byte addresses in the shared memory, all 16-byte aligned):
//   x       the padded input: batch x C_in planes of paddedH x paddedW (plan.paddedFloats)
//   u       U: (m + 2)^2 matrices U_xinu, each roundUp(C_out, 4) x C_in floats in K blocks of
//           plan.blocking.depth input channels, 4-row panels (conv.ts, packOperandA's layout);
//           U_xinu at u + xinu * plan.uPositionBytes (a little more than the matrix: see
//           positionStride), plan.uFloats floats in all
//   dy      (weight gradient) padded: batch x C_out planes of dyPaddedH x dyPaddedW
//   dw      (weight gradient) parts x C_out x C_in x 3 x 3 floats
//   scratch thread t's at scratch + t * plan.scratchBytes (plan.layout says what lies where)
//
// Numerics. Winograd rounds differently from a direct sum: the transforms multiply by the
// matrices' entries (up to 8 in F(4x4)'s A^T, 32 and 21/4 in F(6x6)'s) before and after the
// products, and their roundings do not shrink as the channel sums grow. Measured against the
// float64 reference (kernels/cpu/reference.ts): random normal weights (std 1/sqrt(9 C_in)), ReLU'd
// normal inputs, normal dy; max |error| / (2^-24 sqrt(K) max|reference|), K the terms behind one
// output (9 C_in for y, 9 C_out for dx, batch x outH x outW for dW), over 8 channels of every
// layer of the table below (bench/winograd.bench.ts --error-only):
//                          GEMM       F(2x2)     F(4x4)     F(6x6)
//   forward                0.04-0.53  0.05-0.33  0.34-5.3   1.2-12
//   input gradient         0.03-0.66  0.08-0.35  0.28-7.5   1.4-17
//   weight gradient        0.03-0.65  0.03-1.6   0.29-5.3   0.28-55  (55: conv11_2, K = 1)
//   one input channel (K = 9), 300 x 300, 8 seeds:  1.0-1.4   13-22     24-62   (the spec's probe)
// In absolute terms on SSD300's layers (outputs up to 1.3-5): y and dx from the GEMM 1e-7 to
// 2.6e-6, F(2x2) 1.2e-7 to 2.1e-6, F(4x4) 6e-7 to 4.4e-5, F(6x6) 3e-6 to 5.3e-5. The error grows
// with K much more slowly than sqrt(K) (the transforms' roundings dominate, not the sums), so the
// ratio is largest for few channels. The bound stated and tested (winogradTolerance) is
//   |error| <= WINOGRAD_ERROR[m] * 2^-24 * sqrt(K) * max|y|,   WINOGRAD_ERROR = 4, 48, 192
// for all three passes: the GEMM's own bound (4: spec/kernels/backends.spec.ts) for F(2x2), about
// twice the worst ratio measured for F(4x4) and three times for F(6x6).

import { Conv2dGeometry } from '../geometry';
import { splitRange } from '../split';
import { WasmExports, WinogradFilterGradient, WinogradFilterTransform, WinogradInputTransform, WinogradOutputTransform } from './runtime';
import { MR, NR, roundUp } from './conv';

/** The output tile sizes: F(2x2, 3x3), F(4x4, 3x3), F(6x6, 3x3). */
export type WinogradTile = 2 | 4 | 6;
export const WINOGRAD_TILES: readonly WinogradTile[] = [2, 4, 6];

/** Whether a convolution can run as a Winograd convolution: 3x3, stride 1, dilation 1 (any padding, any channels). */
export function winogradApplies(g: Conv2dGeometry): boolean {
  return g.kernelH === 3 && g.kernelW === 3 && g.strideH === 1 && g.strideW === 1 && g.dilationH === 1 && g.dilationW === 1;
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

/**
 * The tile size the measurements above recommend for a pass of a convolution on this machine, or
 * null where the GEMM should stay. `pass` 'forward' serves the input gradient too (pass its
 * forward geometry, transposedAsForward's). The rule looks at the positions per call, P = batch x
 * outH x outW, so that a batch moves to larger tiles as the filter transform's share shrinks:
 *   forward:  P >= 40000 F(6x6) (300 x 300), P >= 1000 F(4x4) (150 down to 38), and down to
 *             P >= 300 (19) where C_in >= 256; P >= 100 F(2x2) (19 when narrower, and 10);
 *             below, the GEMM (5 x 5 and smaller: F(2x2) saves 0.1-0.4 ms there)
 *   weight:   P >= 20000 F(6x6), P >= 300 F(4x4) (75 down to 19), P >= 100 F(2x2)
 * At 19 x 19 (and conv6's 36 maps of 4 x 4) F(4x4) does 44% fewer multiplications than F(2x2) but
 * its U is 2.25 times larger; with U made at every call the two were even (the full SSD300's
 * forward 420 / 420 ms with F(4x4) there against 416 / 412), but inference keeps U between calls
 * (WasmKernels' keptFilterTransform), and then F(4x4) wins on SSD300's wide layers there (conv5_x,
 * conv6's maps, cl7 and loc7: 512 and 1024 input channels): forward 336 -> 318 ms, and the
 * training step, which makes U at every call, 1173 -> 1151 ms (batch 1, 2 threads, 7 December
 * 2026, medians alternating in one process). Narrower layers there take little time either way
 * and keep F(2x2)'s tighter error: with F(4x4) at 19 x 19, the PyTorch comparison of a training
 * step of the batch-norm model at width / 16 (spec/ssd/batchnorm_model.spec.ts) missed its
 * tolerance (conv1_1's weight gradient off by 9e-4 against 5e-4).
 * and never for fewer than 8 input channels (not measured: conv1_1's 3 channels stay on the GEMM).
 * `maxTile` caps it: 2 keeps every result within the GEMM's own error bound (see Numerics; the
 * PyTorch golden comparisons' atol 1e-5 on O(1) outputs holds for F(2x2), not always for F(4x4)).
 */
export function recommendedWinogradTile(g: Conv2dGeometry, pass: 'forward' | 'weight', maxTile: WinogradTile = 6): WinogradTile | null {
  if (!winogradApplies(g) || g.inChannels < 8) return null;
  const positions = g.batch * g.outH * g.outW;
  const [six, four] = pass === 'forward' ? [40000, g.inChannels >= 256 ? 300 : 1000] : [20000, 300];
  const tile: WinogradTile | null = positions >= six ? 6 : positions >= four ? 4 : positions >= 100 ? 2 : null;
  return tile === null ? null : (Math.min(tile, maxTile) as WinogradTile);
}

// ---------------------------------------------------------------------------------------------
// Memory layout helpers

/**
 * The bytes from one position's matrix (U_xinu, V_xinu, M_xinu, Yhat_xinu or dU_xinu) to the
 * next: `bytes` rounded up to an odd number of 64-byte cache lines. The transforms write (and
 * read) all the positions' matrices at once, 16 bytes in each; with strides that are multiples of
 * 4 KiB (as 4 rows x C_in x 4 bytes, or depth x tiles x 4, mostly are) those 36 or 64 lines would
 * all fall in one set of the 12-way L1 and evict each other at every store. An odd number of lines
 * sends consecutive positions to different sets. Measured on 256 x 256 channels, one thread (under
 * load, best of 7): the filter transform of F(4x4) 27 -> 10 ns per (co, ci), F(2x2) 15 -> 5; the
 * input transform of F(4x4) 25 -> 10 ns per (tile, channel), F(2x2) 12.7 -> 3.6.
 */
export function positionStride(bytes: number): number {
  const lines = Math.ceil(bytes / 64);
  return 64 * (lines % 2 === 0 ? lines + 1 : lines);
}

/** Allocates consecutive 64-byte aligned regions of a thread's scratch. */
class ScratchLayout {
  bytes = 0;
  take(bytes: number): number {
    const at = this.bytes;
    this.bytes = roundUp(at + bytes, 64);
    return at;
  }
}

/** The transforms' work area: the largest is F(6x6)'s input transform, 64 vectors. */
const WORK_BYTES = 1024 + 64;

function transforms(wasm: WasmExports, m: WinogradTile): {
  filter: WinogradFilterTransform; input: WinogradInputTransform; output: WinogradOutputTransform;
  gradient: WinogradInputTransform; filterGradient: WinogradFilterGradient;
} {
  if (m === 2) {
    return {
      filter: wasm.winograd2x2_filter, input: wasm.winograd2x2_input, output: wasm.winograd2x2_output,
      gradient: wasm.winograd2x2_gradient, filterGradient: wasm.winograd2x2_filter_gradient,
    };
  }
  if (m === 4) {
    return {
      filter: wasm.winograd4x4_filter, input: wasm.winograd4x4_input, output: wasm.winograd4x4_output,
      gradient: wasm.winograd4x4_gradient, filterGradient: wasm.winograd4x4_filter_gradient,
    };
  }
  return {
    filter: wasm.winograd6x6_filter, input: wasm.winograd6x6_input, output: wasm.winograd6x6_output,
    gradient: wasm.winograd6x6_gradient, filterGradient: wasm.winograd6x6_filter_gradient,
  };
}

/** The tiling shared by the passes. */
interface Tiling {
  m: WinogradTile;
  /** m + 2: the input tile's side. */
  alpha: number;
  /** alpha^2: the GEMMs (one per position of the input tile). */
  positions: number;
  tilesH: number;
  tilesW: number;
  /** tilesH * tilesW * batch: tiles are numbered over the whole batch (winograd.wat). */
  tiles: number;
  /** The padded copy of x: planes paddedH x paddedW, the convolution's padding at the top and left. */
  paddedH: number;
  paddedW: number;
  paddedFloats: number;
}

function tiling(g: Conv2dGeometry, m: WinogradTile): Tiling {
  if (!winogradApplies(g)) throw new Error('winograd: only 3x3 convolutions with stride 1 and dilation 1');
  const tilesH = Math.ceil(g.outH / m);
  const tilesW = Math.ceil(g.outW / m);
  const paddedH = tilesH * m + 2;
  const paddedW = tilesW * m + 2;
  return {
    m, alpha: m + 2, positions: (m + 2) * (m + 2), tilesH, tilesW, tiles: g.batch * tilesH * tilesW,
    paddedH, paddedW, paddedFloats: g.batch * g.inChannels * paddedH * paddedW,
  };
}

// ---------------------------------------------------------------------------------------------
// The forward pass (and the input gradient)

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

/** Where each part of a thread's scratch lies in a forward task, in bytes from its start. */
export interface WinogradScratch {
  /** The task's tile table (winograd.wat): 16 bytes per tile, blocking.tiles of them. */
  table: number;
  /** The byte offsets of a K block's channels in the padded input (blocking.depth i32). */
  channels: number;
  /** V of one K block: positions x depth x tiles floats. */
  v: number;
  /** M: positions x outChannels x tiles floats. */
  m: number;
  /** The transforms' work area. */
  work: number;
  /** The GEMM's edge tile (MR x NR floats; unused when every tile is whole). */
  tmp: number;
  /**
   * U of one K block of the task's output channels, where the tasks make U themselves (a plan
   * with one run of tiles): positions x roundUp(outChannels, 4) x depth floats, uBlockPositionBytes
   * from one position's matrix to the next; 0 bytes in other plans.
   */
  u: number;
  uBlockPositionBytes: number;
  bytes: number;
}

/** One forward convolution planned: its geometry, tiles, the sizes of what it needs, and its tasks. */
export interface WinogradPlan extends Tiling {
  g: Conv2dGeometry;
  /** U: positions matrices of roundUp(C_out, 4) x C_in floats. */
  uFloats: number;
  uPositionBytes: number;
  blocking: WinogradBlocking;
  layout: WinogradScratch;
  /** Bytes of scratch per thread. */
  scratchBytes: number;
  /** The filter transform's tasks: (first panel, end panel) of 4 output channels, FILTER_TASK_FIELDS ints each. */
  filterTasks: Int32Array;
  /**
   * The forward tasks: (first tile, end tile, first output channel, end output channel, the byte
   * offset of the run's V in the shared V or -1), FORWARD_TASK_FIELDS ints each.
   */
  forwardTasks: Int32Array;
  /** V made once for every block of output channels (see planWinograd), or null: each task makes its own. */
  sharedV: WinogradSharedV | null;
  /**
   * The runs of tiles the forward tasks are cut into. With one run, every row of U is read by one
   * task only, and the tasks can make their own rows of U (winogradForwardJob's makeU).
   */
  runs: number;
}

/**
 * V of every run of tiles and K block, made once by its own job (winogradInputJob) before the
 * forward tasks, which then read it instead of transforming their tiles' input themselves: run
 * r's K block k0 lies at its byte offset, in the layout of a task's scratch V (positions
 * matrices of kc x columns, positionStride apart).
 */
export interface WinogradSharedV {
  floats: number;
  /** (first tile, end tile, first input channel, byte offset), INPUT_TASK_FIELDS ints each. */
  tasks: Int32Array;
}

export const FILTER_TASK_FIELDS = 2;
export const FORWARD_TASK_FIELDS = 5;
export const INPUT_TASK_FIELDS = 4;

/**
 * Where a layer's output channels are cut into this many blocks or more, its input transform is
 * made once for them all (WinogradSharedV) rather than once per block, if V takes at most
 * SHARED_V_MAX_BYTES. The case is the small maps of batch 1 (19 x 19: 25 tiles, one run, the
 * channels cut 16 ways to give the threads work; 38 x 38: 2 runs, 8 ways), where the repeated
 * transforms cost more than writing V once and reading it back from the cache. Measured on the
 * full SSD300 (batch 1, 2 threads, U kept, 13 forward passes each, alternating in one process,
 * 7 December 2026): 367 -> 356 ms (medians), 347 -> 342 (best); a 512 -> 512 layer at 19 x 19
 * 18.9 -> 18.3 ms, its input gradient 22.5 -> 21.3.
 */
const SHARED_V_MIN_BLOCKS = 4;
const SHARED_V_MAX_BYTES = 8 << 20;

/**
 * Default forward blocking per tile size, for a layer of `tiles` tiles: V + M = positions x
 * (depth + outChannels) x tiles x 4 bytes (F(4x4): 36 x 256 x 32 x 4 = 1.2 MB) in this machine's
 * 2 MB L2, with room for the U blocks streaming past. F(4x4) on at most 128 tiles (38 x 38 and
 * smaller at batch 1) takes runs of up to 64 tiles instead of 32: there U is the largest operand
 * and every run of tiles streams all of it, so half the runs halve that traffic (the tasks' V then
 * comes from the shared V: see SHARED_V_MIN_BLOCKS). Measured (2 threads, batch 1, 7 December
 * 2026, medians of 21 calls alternating in one process, ms, 32 -> 64 tiles): 512 -> 512 at 38 x 38
 * with U kept 31.7 -> 28.0 (U made per call 38.1 -> 35.2), 256 -> 512 at 38 x 38 15.3 -> 14.0,
 * conv6 as 36 maps 30.2 -> 29.5; at 75 x 75 and 150 x 150 (361 and 1444 tiles) no gain (27.5 ->
 * 28.1, 29.1 -> 30.6), so they keep 32.
 */
export function defaultBlocking(m: WinogradTile, tiles = Infinity): WinogradBlocking {
  if (m === 2) return { tiles: 64, outChannels: 128, depth: 128 };
  if (m === 4) return { tiles: tiles <= 128 ? 64 : 32, outChannels: 128, depth: 128 };
  return { tiles: 32, outChannels: 64, depth: 128 };
}

/**
 * The plan of all the tiles in one run (planWinograd's oneRun) for a forward pass whose U is made
 * at the call (not kept: training), so that its tasks make U themselves in their scratch, where
 * that pays, else null: where the layer has at most 128 tiles, and its blocks of channels are
 * more than the threads.
 * Measured (the weights changed before every call, 2 threads, batch 1, alternating in one process,
 * ms, forward / input gradient, runs of 64 tiles with U made by a filter job -> one run, U made
 * in the tasks): 512 -> 512 at 38 x 38 (100 tiles of F(4x4)) 37.1 / 38.2 -> 34.2 / 33.9 and
 * 28.8 / 29.9 -> 27.5 / 26.1; 1024 -> 126 at 19 x 19 (25 tiles, cut into runs of 8 for the
 * tasks) 8.6 / 6.9 -> 7.7 / 6.3 and 11.3 / 11.0 -> 9.4 / 8.5. Where the plan has one run anyway,
 * U made in the tasks instead of by a filter job first: 512 -> 512 at 19 x 19 15.5 / 17.0 ->
 * 11.4 / 11.8; conv6 as 36 maps of 4 x 4 43.0 / 44.5 -> 35.7 / 36.0 (8 December 2026).
 */
export function oneRunPlan(g: Conv2dGeometry, m: WinogradTile, threads: number): WinogradPlan | null {
  if (tiling(g, m).tiles > 128) return null;
  const plan = planWinograd(g, m, threads, undefined, true);
  return plan.forwardTasks.length / FORWARD_TASK_FIELDS > threads ? plan : null;
}

/** The forward scratch layout of one thread for a tile size and blocking (uBlock: room for U of one K block, see WinogradScratch.u). */
export function winogradScratch(m: WinogradTile, blocking: WinogradBlocking, uBlock = false): WinogradScratch {
  const positions = (m + 2) * (m + 2);
  const tiles = roundUp(blocking.tiles, NR);
  const s = new ScratchLayout();
  const table = s.take(16 * tiles);
  const channels = s.take(4 * blocking.depth);
  const v = s.take(positions * positionStride(4 * blocking.depth * tiles));
  const mm = s.take(positions * positionStride(4 * roundUp(blocking.outChannels, MR) * tiles));
  const work = s.take(WORK_BYTES);
  const tmp = s.take(4 * MR * NR);
  const uBlockPositionBytes = uBlock ? positionStride(4 * roundUp(blocking.outChannels, MR) * blocking.depth) : 0;
  const u = s.take(positions * uBlockPositionBytes);
  return { table, channels, v, m: mm, work, tmp, u, uBlockPositionBytes, bytes: s.bytes };
}

/**
 * Plans a Winograd convolution of geometry g (winogradApplies) with m x m output tiles for
 * `threads` threads. The blocking is defaultBlocking's unless given (the benchmark tries others).
 */
export function planWinograd(
  g: Conv2dGeometry, m: WinogradTile, threads: number, blocking: WinogradBlocking = defaultBlocking(m, tiling(g, m).tiles), oneRun = false,
): WinogradPlan {
  // oneRun: all the tiles in one run (only the channels cut), so that the tasks can make U themselves
  if (oneRun) blocking = { ...blocking, tiles: roundUp(tiling(g, m).tiles, NR) };
  if (blocking.tiles % NR !== 0 || blocking.outChannels % MR !== 0 || blocking.depth < 1) {
    throw new Error(`winograd: blocking ${JSON.stringify(blocking)}: tiles must be a multiple of ${NR}, outChannels of ${MR}`);
  }
  const t = tiling(g, m);
  const rowsPadded = roundUp(g.outChannels, MR);

  // Forward tasks: runs of tiles by blocks of output channels. More tasks than threads where the
  // layer allows (8 per thread), so that a thread slowed down by another process holds the others
  // up only briefly; but every cut of the channels repeats the input transform of its tiles, and
  // every cut of the tiles reads all of U again, so neither goes below 32 (channels) or 8 (tiles).
  // Which to cut first: the channels. With the fewest runs of tiles the blocking allows, the
  // channel blocks are cut to give the tasks wanted, and only then the tiles, if still too few.
  // Where a layer has few tiles and many channels (batch 1, 38 x 38 and smaller) U is the largest
  // operand (38 MB for F(4x4) of 512 x 512 channels) and each run of tiles streams all of it
  // again; the input transform it saves is small beside it. Measured (2 threads, batch 1, ms,
  // tiles first -> channels first): 512 -> 512 at 38 x 38 F(4x4) 41.7 -> 36.6; conv6 as 36 maps of
  // 4 x 4 (see dilatedAsBatch) 40.3 -> 34.9; 1024 -> 126 at 19 x 19 F(2x2) 8.9 -> 8.1; no change
  // where the tiles are many (256 -> 256 at 75 x 75: 28.2 -> 27.6).
  const wanted = threads > 1 ? 8 * threads : 1;
  const fewestRuns = Math.ceil(t.tiles / blocking.tiles);
  const channelBounds = splitRange(g.outChannels, blocking.outChannels, 32, Math.ceil(wanted / fewestRuns), MR);
  const tileBounds = oneRun ? [0, t.tiles] : splitRange(t.tiles, blocking.tiles, NR, Math.ceil(wanted / (channelBounds.length - 1)), NR);
  const runs = tileBounds.length - 1;
  // V made once: each run's K blocks one after the other, each as a task's scratch V holds it
  const runOffsets: number[] = [];
  const input: number[] = [];
  let vBytes = 0;
  for (let r = 0; r < runs; r++) {
    runOffsets.push(vBytes);
    const columns = roundUp(tileBounds[r + 1] - tileBounds[r], NR);
    for (let k0 = 0; k0 < g.inChannels; k0 += blocking.depth) {
      input.push(tileBounds[r], tileBounds[r + 1], k0, vBytes);
      vBytes += t.positions * positionStride(4 * Math.min(blocking.depth, g.inChannels - k0) * columns);
    }
  }
  const shared = channelBounds.length - 1 >= SHARED_V_MIN_BLOCKS && vBytes <= SHARED_V_MAX_BYTES;
  const layout = winogradScratch(m, blocking, runs === 1);
  const forward: number[] = [];
  for (let c = 0; c + 1 < channelBounds.length; c++)
    for (let r = 0; r < runs; r++) forward.push(tileBounds[r], tileBounds[r + 1], channelBounds[c], channelBounds[c + 1], shared ? runOffsets[r] : -1);

  // Filter tasks: ranges of 4-channel panels, about 4 per thread.
  const panels = rowsPadded / MR;
  const panelBounds = splitRange(panels, Infinity, 1, threads > 1 ? 4 * threads : 1, 1);
  const filter: number[] = [];
  for (let i = 0; i + 1 < panelBounds.length; i++) filter.push(panelBounds[i], panelBounds[i + 1]);

  const uPositionBytes = positionStride(4 * rowsPadded * g.inChannels);
  return {
    ...t, g, uFloats: (t.positions * uPositionBytes) / 4, uPositionBytes,
    blocking, layout, scratchBytes: layout.bytes,
    filterTasks: Int32Array.from(filter),
    forwardTasks: Int32Array.from(forward),
    sharedV: shared ? { floats: vBytes / 4, tasks: Int32Array.from(input) } : null,
    runs,
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
  /** Apply the ReLU that follows the convolution to y (fused: y is written once). */
  relu: boolean;
  /** y: batch x C_out x outH x outW. */
  y: number;
  /** The shared V that winogradInputJob made (plan.sharedV), or 0: each task transforms its own tiles' input. */
  v: number;
  /**
   * The weights (as WinogradFilterJob's w and flipped) when each task makes its own rows of U, K
   * block by K block, into its scratch right before its GEMMs read them (plan.runs must be 1; u
   * is then not read); null when U is made by a filter job first (or kept from an earlier call).
   */
  makeU: { w: number; flipped: boolean } | null;
  scratch: number;
  tasks: Int32Array;
}

/** The input transform of one call, made once for all the forward tasks (plan.sharedV). */
export interface WinogradInputJob {
  winograd: 'input';
  plan: WinogradPlan;
  /** The padded input (plan.paddedH x plan.paddedW planes). */
  x: number;
  /** The shared V: plan.sharedV.floats floats. */
  v: number;
  scratch: number;
  tasks: Int32Array;
}

/** The filter transform job of a call, its tasks from the plan. */
export function winogradFilterJob(plan: WinogradPlan, w: number, flipped: boolean, u: number, scratch: number): WinogradFilterJob {
  return { winograd: 'filter', plan, w, flipped, u, scratch, tasks: plan.filterTasks };
}

/**
 * The convolution job of a call, its tasks from the plan. v: the shared V made by the call's
 * winogradInputJob (where plan.sharedV is not null), or 0 (each task makes its own). makeU: the
 * weights, where the tasks make U themselves instead of a winogradFilterJob before them (plan.runs
 * must be 1); the same bits either way.
 */
export function winogradForwardJob(
  plan: WinogradPlan, x: number, u: number, bias: number, y: number, scratch: number, relu = false, v = 0,
  makeU: { w: number; flipped: boolean } | null = null,
): WinogradForwardJob {
  if (v !== 0 && plan.sharedV === null) throw new Error('winograd: a shared V given to a plan that has none');
  if (makeU !== null && plan.runs !== 1) throw new Error(`winograd: the forward tasks make U only with one run of tiles (the plan has ${plan.runs})`);
  return { winograd: 'forward', plan, x, u, bias, relu, y, v, makeU, scratch, tasks: plan.forwardTasks };
}

/** The input transform job of a call whose plan shares V (plan.sharedV), into v. */
export function winogradInputJob(plan: WinogradPlan, x: number, v: number, scratch: number): WinogradInputJob {
  if (plan.sharedV === null) throw new Error('winograd: this plan makes V in its forward tasks (plan.sharedV is null)');
  return { winograd: 'input', plan, x, v, scratch, tasks: plan.sharedV.tasks };
}

/**
 * The tables a forward task's transforms read, in its thread's scratch (winograd.wat): the tile
 * table of tiles t0 .. t0 + count, padded to `columns` (whole panels), each tile's input offset in
 * the padded x and output offset in y; and the offsets of a K block's channels in the padded x.
 */
function forwardTileTable(plan: WinogradPlan, wasm: WasmExports, scratch: number, t0: number, count: number, columns: number): void {
  const { g, layout } = plan;
  const inPlane = 4 * plan.paddedH * plan.paddedW;
  const outPlane = 4 * g.outH * g.outW;
  wasm.winograd_tiles(
    scratch + layout.table, t0, count, columns, plan.m, plan.tilesW, plan.tilesH * plan.tilesW, g.inChannels * inPlane, 4 * plan.paddedW,
    g.outChannels * outPlane, 4 * g.outW, g.outH, g.outW,
  );
  wasm.winograd_channels(scratch + layout.channels, plan.blocking.depth, plan.blocking.depth, inPlane);
}

/**
 * V of one K block (kc input channels from k0) of the tiles in the scratch's tables
 * (forwardTileTable) into v, positions matrices vPositionBytes apart: V's rows are the K block's
 * channels, its lanes the tiles.
 */
function inputBlock(
  plan: WinogradPlan, wasm: WasmExports, x: number, scratch: number, k0: number, kc: number, columns: number, v: number, vPositionBytes: number,
): void {
  const { layout } = plan;
  const inPlane = 4 * plan.paddedH * plan.paddedW;
  transforms(wasm, plan.m).input(
    x + k0 * inPlane, 4 * plan.paddedW, scratch + layout.channels, 4, kc, scratch + layout.table, 16, columns / 4, v, vPositionBytes, scratch + layout.work,
  );
}

/** V of tiles t0..t1 (one run), K block k0, into the shared V at byte offset `at`: what forwardTask would make. */
function inputTask(job: WinogradInputJob, wasm: WasmExports, scratch: number, t0: number, t1: number, k0: number, at: number): void {
  const { plan } = job;
  const columns = roundUp(t1 - t0, NR);
  const kc = Math.min(plan.blocking.depth, plan.g.inChannels - k0);
  forwardTileTable(plan, wasm, scratch, t0, t1 - t0, columns);
  inputBlock(plan, wasm, job.x, scratch, k0, kc, columns, job.v + at, positionStride(4 * kc * columns));
}

/**
 * U for output-channel panels [p0, p1) (4 channels each), every K block. Panel p, K block k0
 * (depth kc) is at u + 4 (roundUp(C_out, 4) k0 + 4 p kc) in every U_xinu: packOperandA's layout.
 */
function filterTask(job: WinogradFilterJob, wasm: WasmExports, scratch: number, p0: number, p1: number): void {
  const { plan } = job;
  const into = { u: job.u, rows: roundUp(plan.g.outChannels, MR), positionBytes: plan.uPositionBytes, co0: 0 };
  filterPanels(plan, wasm, job.w, job.flipped, into, scratch, p0, p1, 0, plan.g.inChannels);
}

/**
 * Where filterPanels writes: panel p (channels from co = 4 p), K block k0 (depth kc) at
 *   u + 4 (rows k0 + (co - co0) kc)
 * in every U_xinu, positionBytes apart: all of U (rows = roundUp(C_out, 4), co0 = 0), or one K
 * block of a forward task's channels from co0 in its scratch (rows = 0).
 */
interface UDestination {
  u: number;
  rows: number;
  positionBytes: number;
  co0: number;
}

/** U for output-channel panels [p0, p1), the K blocks from k0 up to k1 (whole blocks): filterTask's work, or part of it. */
function filterPanels(
  plan: WinogradPlan, wasm: WasmExports, w: number, flipped: boolean, into: UDestination, scratch: number, p0: number, p1: number, k0: number, k1: number,
): void {
  const { g } = plan;
  const work = scratch + plan.layout.work;
  const filter = transforms(wasm, plan.m).filter;
  const depth = plan.blocking.depth;
  // The 9 taps of lane l (output channel co), input channel k: forward w[co][k][0..8]; flipped
  // (w is the other convolution's, C_in x C_out x 3 x 3) w[k][co][8..0], read backwards.
  const laneStride = flipped ? 36 : 36 * g.inChannels;
  const kStride = flipped ? 36 * g.outChannels : 36;
  for (let p = p0; p < p1; p++) {
    const co = p * MR;
    const lanes = Math.min(MR, g.outChannels - co);
    const first = w + co * laneStride; // lane 0's taps for k = 0
    for (let kb = k0; kb < k1; kb += depth) {
      const kc = Math.min(depth, g.inChannels - kb);
      const at = into.u + 4 * (into.rows * kb + (co - into.co0) * kc);
      filter(first + kb * kStride, laneStride, kStride, flipped ? 1 : 0, lanes, kc, at, into.positionBytes, work);
    }
  }
}

/**
 * y[tiles t0..t1, channels co0..co1] = bias + the Winograd convolution, K block by K block; V
 * from the shared V at byte offset vAt (job.v given), else made here.
 */
function forwardTask(job: WinogradForwardJob, wasm: WasmExports, scratch: number, t0: number, t1: number, co0: number, co1: number, vAt: number): void {
  const { plan } = job;
  const { g, m, positions, layout } = plan;
  const { output } = transforms(wasm, m);
  const table = scratch + layout.table;
  const v = scratch + layout.v;
  const mm = scratch + layout.m;
  const work = scratch + layout.work;
  const tmp = scratch + layout.tmp;
  const count = t1 - t0;
  const columns = roundUp(count, NR); // the GEMMs' columns: whole panels
  const rows = roundUp(co1 - co0, MR); // and rows: whole panels of U (zero past C_out)
  const rowsPadded = roundUp(g.outChannels, MR);
  const outPlane = 4 * g.outH * g.outW;
  const depth = plan.blocking.depth;
  forwardTileTable(plan, wasm, scratch, t0, count, columns);
  const mPositionBytes = positionStride(4 * rows * columns);
  wasm.fill_rows(mm, 0, 1, (positions * mPositionBytes) / 4, 0); // the GEMMs add to M
  const shared = job.v !== 0 && vAt >= 0;
  let vShared = job.v + vAt; // this run's K blocks, one after the other
  for (let k0 = 0; k0 < g.inChannels; k0 += depth) {
    const kc = Math.min(depth, g.inChannels - k0);
    const vPositionBytes = positionStride(4 * kc * columns);
    let vk = v;
    if (shared) {
      vk = vShared;
      vShared += positions * vPositionBytes;
    } else {
      inputBlock(plan, wasm, job.x, scratch, k0, kc, columns, v, vPositionBytes);
    }
    // rows co0.. of U_0's K block: from U, or made here into the scratch (one run of tiles: no
    // other task reads them), where the GEMMs below find them in the cache
    let a = job.u + 4 * (rowsPadded * k0 + co0 * kc);
    let uPositionBytes = plan.uPositionBytes;
    if (job.makeU !== null) {
      a = scratch + layout.u;
      uPositionBytes = layout.uBlockPositionBytes;
      const into = { u: a, rows: 0, positionBytes: uPositionBytes, co0 };
      filterPanels(plan, wasm, job.makeU.w, job.makeU.flipped, into, scratch, co0 / MR, Math.ceil(co1 / MR), k0, k0 + kc);
    }
    for (let p = 0; p < positions; p++) {
      wasm.gemm(rows, columns, kc, a + p * uPositionBytes, vk + p * vPositionBytes, mm + p * mPositionBytes, columns, tmp);
    }
  }
  output(
    mm, mPositionBytes, columns, table, Math.ceil(count / 4), co1 - co0, job.y + co0 * outPlane, outPlane, 4 * g.outW,
    job.bias === 0 ? 0 : job.bias + 4 * co0, job.relu ? 1 : 0, work,
  );
}

// ---------------------------------------------------------------------------------------------
// The weight gradient

/**
 * How a weight-gradient task's work is cut: its dU block (positions x outChannels x inChannels
 * floats) stays in L2 throughout, Yhat and V of a chunk of tiles (positions x (outChannels +
 * inChannels) x tiles) pass through it.
 */
export interface WinogradWeightBlocking {
  /** Tiles per chunk: the depth of the GEMMs. */
  tiles: number;
  /** Output channels per task at most (a multiple of MR = 4). */
  outChannels: number;
  /** Input channels per task at most (a multiple of NR = 8). */
  inChannels: number;
}

/** Where each part of a thread's scratch lies in a weight-gradient task, in bytes from its start. */
export interface WinogradWeightScratch {
  table: number;
  /** The byte offsets of the task's channels in the padded x (inChannels i32) and in the padded dy (outChannels i32). */
  xChannels: number;
  dyChannels: number;
  /** Yhat of a chunk: positions x outChannels x tiles floats (A panels). */
  a: number;
  /** V^T of a chunk: positions x tiles x inChannels floats (B panels). */
  b: number;
  /** dU: positions x outChannels x inChannels floats. */
  du: number;
  work: number;
  tmp: number;
  bytes: number;
}

/** One weight gradient planned. */
export interface WinogradWeightPlan extends Tiling {
  g: Conv2dGeometry;
  /** dy padded with zeros to whole tiles: planes dyPaddedH x dyPaddedW (top = left = 0). */
  dyPaddedH: number;
  dyPaddedW: number;
  dyPaddedFloats: number;
  /** Partial sums of dW, one after the other (C_out x C_in x 9 floats each); the caller adds them up. */
  parts: number;
  blocking: WinogradWeightBlocking;
  layout: WinogradWeightScratch;
  scratchBytes: number;
  /** (part, first tile, end tile, first output channel, end, first input channel, end), WEIGHT_TASK_FIELDS ints each. */
  tasks: Int32Array;
}

export const WEIGHT_TASK_FIELDS = 7;

/**
 * Default weight-gradient blocking: dU (F(4x4): 36 x 64 x 64 x 4 bytes = 590 KB) and a chunk's
 * Yhat and V^T (36 x (64 + 64) x 64 x 4 = 1.2 MB) in this machine's 2 MB L2.
 */
export function defaultWeightBlocking(m: WinogradTile): WinogradWeightBlocking {
  if (m === 2) return { tiles: 128, outChannels: 64, inChannels: 64 };
  if (m === 4) return { tiles: 64, outChannels: 64, inChannels: 64 };
  return { tiles: 32, outChannels: 64, inChannels: 64 };
}

export function winogradWeightScratch(m: WinogradTile, blocking: WinogradWeightBlocking): WinogradWeightScratch {
  const positions = (m + 2) * (m + 2);
  const rows = roundUp(blocking.outChannels, MR);
  const cols = roundUp(blocking.inChannels, NR);
  const s = new ScratchLayout();
  const table = s.take(16 * blocking.tiles);
  const xChannels = s.take(4 * cols);
  const dyChannels = s.take(4 * rows);
  const a = s.take(positions * positionStride(4 * rows * blocking.tiles));
  const b = s.take(positions * positionStride(4 * blocking.tiles * cols));
  const du = s.take(positions * positionStride(4 * rows * cols));
  const work = s.take(WORK_BYTES);
  const tmp = s.take(4 * MR * NR);
  return { table, xChannels, dyChannels, a, b, du, work, tmp, bytes: s.bytes };
}

/** Plans the weight gradient of a Winograd convolution of geometry g for `threads` threads. */
export function planWinogradWeight(
  g: Conv2dGeometry, m: WinogradTile, threads: number, blocking: WinogradWeightBlocking = defaultWeightBlocking(m),
): WinogradWeightPlan {
  if (blocking.tiles < 1 || blocking.outChannels % MR !== 0 || blocking.inChannels % NR !== 0) {
    throw new Error(`winograd: weight blocking ${JSON.stringify(blocking)}: outChannels must be a multiple of ${MR}, inChannels of ${NR}`);
  }
  const t = tiling(g, m);
  const dyPaddedH = t.tilesH * m;
  const dyPaddedW = t.tilesW * m;
  const layout = winogradWeightScratch(m, blocking);
  // Blocks of (C_out, C_in); where they are fewer than 4 per thread, the tiles are cut into parts
  // too (each at least 64 tiles), each part summing into its own copy of dW.
  const outBounds = splitRange(g.outChannels, blocking.outChannels, MR, 1, MR);
  const inBounds = splitRange(g.inChannels, blocking.inChannels, NR, 1, NR);
  const blocks = (outBounds.length - 1) * (inBounds.length - 1);
  const wanted = threads > 1 ? 4 * threads : 1;
  const parts = blocks >= wanted ? 1 : Math.max(1, Math.min(Math.ceil(wanted / blocks), Math.floor(t.tiles / 64)));
  const partBounds = splitRange(t.tiles, Infinity, 1, parts, 1);
  const tasks: number[] = [];
  for (let p = 0; p + 1 < partBounds.length; p++)
    for (let o = 0; o + 1 < outBounds.length; o++)
      for (let i = 0; i + 1 < inBounds.length; i++) tasks.push(p, partBounds[p], partBounds[p + 1], outBounds[o], outBounds[o + 1], inBounds[i], inBounds[i + 1]);
  return {
    ...t, g, dyPaddedH, dyPaddedW, dyPaddedFloats: g.batch * g.outChannels * dyPaddedH * dyPaddedW,
    parts: partBounds.length - 1, blocking, layout, scratchBytes: layout.bytes, tasks: Int32Array.from(tasks),
  };
}

/** The weight gradient of one call: dW (plan.parts partial sums) from the padded x and dy. */
export interface WinogradWeightJob {
  winograd: 'weight';
  plan: WinogradWeightPlan;
  /** x padded as for the forward pass (plan.paddedH x plan.paddedW planes). */
  x: number;
  /** dy padded to whole tiles (plan.dyPaddedH x plan.dyPaddedW planes). */
  dy: number;
  /** plan.parts x C_out x C_in x 9 floats. */
  dw: number;
  scratch: number;
  tasks: Int32Array;
}

export function winogradWeightJob(plan: WinogradWeightPlan, x: number, dy: number, dw: number, scratch: number): WinogradWeightJob {
  return { winograd: 'weight', plan, x, dy, dw, scratch, tasks: plan.tasks };
}

/** Part `part` of dW[co0..co1, ci0..ci1] = G^T (sum over tiles t0..t1 of Yhat V^T) G, a chunk of tiles at a time. */
function weightTask(
  job: WinogradWeightJob, wasm: WasmExports, scratch: number, part: number, t0: number, t1: number, co0: number, co1: number, ci0: number, ci1: number,
): void {
  const { plan } = job;
  const { g, m, positions, layout } = plan;
  const { input, gradient, filterGradient } = transforms(wasm, m);
  const table = scratch + layout.table;
  const xChannels = scratch + layout.xChannels;
  const dyChannels = scratch + layout.dyChannels;
  const a = scratch + layout.a;
  const b = scratch + layout.b;
  const du = scratch + layout.du;
  const work = scratch + layout.work;
  const tmp = scratch + layout.tmp;
  const rows = roundUp(co1 - co0, MR); // dU's rows (output channels) and columns (input channels): whole panels
  const cols = roundUp(ci1 - ci0, NR);
  const xPlane = 4 * plan.paddedH * plan.paddedW;
  const dyPlane = 4 * plan.dyPaddedH * plan.dyPaddedW;
  wasm.winograd_channels(xChannels, ci1 - ci0, cols, xPlane);
  wasm.winograd_channels(dyChannels, co1 - co0, rows, dyPlane);
  const duPositionBytes = positionStride(4 * rows * cols);
  wasm.fill_rows(du, 0, 1, (positions * duPositionBytes) / 4, 0); // the GEMMs add to dU
  for (let c0 = t0; c0 < t1; c0 += plan.blocking.tiles) {
    const count = Math.min(plan.blocking.tiles, t1 - c0);
    // the chunk's tiles: input offsets in the padded x, "output" offsets in the padded dy
    wasm.winograd_tiles(
      table, c0, count, count, m, plan.tilesW, plan.tilesH * plan.tilesW, g.inChannels * xPlane, 4 * plan.paddedW,
      g.outChannels * dyPlane, 4 * plan.dyPaddedW, g.outH, g.outW,
    );
    const aPositionBytes = positionStride(4 * rows * count);
    const bPositionBytes = positionStride(4 * count * cols);
    // Yhat: rows = tiles (the table's dy offsets, at +4), lanes = output channels
    gradient(job.dy + co0 * dyPlane, 4 * plan.dyPaddedW, table + 4, 16, count, dyChannels, 4, rows / 4, a, aPositionBytes, work);
    // V^T: rows = tiles (the table's x offsets), lanes = input channels
    input(job.x + ci0 * xPlane, 4 * plan.paddedW, table, 16, count, xChannels, 4, cols / 4, b, bPositionBytes, work);
    for (let p = 0; p < positions; p++) {
      wasm.gemm(rows, cols, count, a + p * aPositionBytes, b + p * bPositionBytes, du + p * duPositionBytes, cols, tmp);
    }
  }
  const dwPart = job.dw + 4 * part * g.outChannels * g.inChannels * 9;
  filterGradient(du, duPositionBytes, cols, co1 - co0, ci1 - ci0, dwPart + 36 * (co0 * g.inChannels + ci0), 36 * g.inChannels, work);
}

// ---------------------------------------------------------------------------------------------
// Running tasks

export type WinogradJob = WinogradFilterJob | WinogradInputJob | WinogradForwardJob | WinogradWeightJob;

function taskFields(job: WinogradJob): number {
  if (job.winograd === 'filter') return FILTER_TASK_FIELDS;
  if (job.winograd === 'input') return INPUT_TASK_FIELDS;
  return job.winograd === 'forward' ? FORWARD_TASK_FIELDS : WEIGHT_TASK_FIELDS;
}

/** Runs tasks until the shared counter (or, with none, the list) says there are none left. */
export function runWinogradTasks(job: WinogradJob, wasm: WasmExports, thread: number, counter: Int32Array | null): void {
  const fields = taskFields(job);
  const count = job.tasks.length / fields;
  const scratch = job.scratch + thread * job.plan.scratchBytes;
  const run = (t: number): void => {
    const task = job.tasks.subarray(t * fields, (t + 1) * fields);
    if (job.winograd === 'filter') filterTask(job, wasm, scratch, task[0], task[1]);
    else if (job.winograd === 'input') inputTask(job, wasm, scratch, task[0], task[1], task[2], task[3]);
    else if (job.winograd === 'forward') forwardTask(job, wasm, scratch, task[0], task[1], task[2], task[3], task[4]);
    else weightTask(job, wasm, scratch, task[0], task[1], task[2], task[3], task[4], task[5], task[6]);
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

/** Ints per task of a job (FILTER_TASK_FIELDS, FORWARD_TASK_FIELDS or WEIGHT_TASK_FIELDS). */
export function winogradTaskFields(job: WinogradJob): number {
  return taskFields(job);
}
