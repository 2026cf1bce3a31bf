// The memory-bound kernels of the 'wasm' backend (max pooling, the L2 norm, the bias gradient and
// ReLU) as tasks that any thread can run, like the convolutions of conv.ts: each kernel is one
// sweep over its tensors (sweep.wat, relu.wat), cut into ranges that write disjoint parts of the
// output.
//
//   max pooling       task = a range of (image, channel) planes
//   bias gradient     task = a range of channels (each sums over every image)
//   L2 norm           task = (image, range of positions): the sums run over the channels, so a
//                     position's channels stay in one task; backward writes each task's float64
//                     partial sum of dscale, which the caller adds up
//   batch norm        task = a range of channels (the per-channel sums: each runs over every
//                     image) or a range of (image, channel) planes (the element-wise maps)
//   ReLU              task = a range of elements
//   SGD step          task = a range of elements (value, gradient and momentum buffer in place)
//   sum of squares    task = a fixed range of SUM_CHUNK elements, whatever the threads: each
//                     writes its float64 partial sum, which the caller adds up in task order (so
//                     the total is the same on 1 thread or 2)
//   MultiBox loss     task = a range of priors (over the whole batch): the confidence term's two
//                     loops of kernels/cross_entropy.ts, in JavaScript on views of the memory
//                     (each prior alone: the same bits as the reference, on any threads)
//
// and two steps of a convolution's preparation (index.ts), which would otherwise run on the
// main thread alone while the workers wait:
//   padding x         task = a range of planes (pad_planes, for the implicit GEMM)
//   packing W or dy   task = (image, range of K blocks) of the GEMM's A operand: the forward's
//                     weights (flipped and transposed for an input gradient), the weight
//                     gradient's dy

import { Pool2dGeometry } from '../geometry';
import { splitRange } from '../split';
import { WasmExports } from './runtime';
import { packFlippedWeights, packOperandA, packedAFloats } from './conv';
import { priorCrossEntropyGradientRange, priorCrossEntropyRange } from '../cross_entropy';

/** One call as the threads see it: byte addresses in the shared memory, and the task list. */
export type SweepJob = { tasks: Int32Array } & (
  /** twoByTwo: 2x2 windows, stride 2, no padding (pool1 to pool4), which maxpool2x2_forward runs four at a time */
  | { kind: 'maxPoolForward'; x: number; y: number; argmax: number; geometry: number; twoByTwo: boolean }
  | { kind: 'maxPoolBackward'; dy: number; argmax: number; dx: number; geometry: number }
  | { kind: 'biasGradient'; dy: number; db: number; batch: number; channels: number; plane: number }
  | { kind: 'l2NormForward'; x: number; scale: number; y: number; norm: number; channels: number; plane: number; eps: number }
  | {
      kind: 'l2NormBackward'; dy: number; x: number; scale: number; norm: number; dx: number;
      /** Task t's float64 partial sums of dscale (channels doubles) start at dscale + 8 * t * channels. */
      dscale: number; channels: number; plane: number;
    }
  // Batch norm (batchnorm.wat): tasks over channels (the sums) or over planes (the element-wise maps)
  | { kind: 'batchNormStatistics'; x: number; stats: number; batch: number; channels: number; plane: number }
  | { kind: 'batchNormForward'; x: number; y: number; coefficients: number; channels: number; plane: number; relu: boolean }
  /** mask: the fused ReLU's output (dy counts where it is positive), or 0 without one */
  | { kind: 'batchNormBackwardSums'; dy: number; x: number; mask: number; means: number; sums: number; batch: number; channels: number; plane: number }
  | { kind: 'batchNormBackwardInput'; dy: number; x: number; mask: number; dx: number; coefficients: number; channels: number; plane: number }
  | { kind: 'reluForward'; x: number; y: number }
  /** sgd.wat's sgd_step over [start, end) of each array (buf unused in mode 0) */
  | { kind: 'sgdStep'; value: number; grad: number; buf: number; lr: number; weightDecay: number; momentum: number; mode: 0 | 1 | 2 }
  /** Task t's float64 partial sum at partials + 8 * t. */
  | { kind: 'sumOfSquares'; x: number; partials: number }
  /** scores: priors x classes float32; classTargets: priors int32; logSum, ce: priors float64 (8-byte aligned) */
  | { kind: 'priorCrossEntropy'; scores: number; classTargets: number; classes: number; priors: number; logSum: number; ce: number }
  /** counted: priors bytes; dScores: priors x classes float32 */
  | {
      kind: 'priorCrossEntropyGradient'; scores: number; classTargets: number; classes: number; priors: number; logSum: number;
      counted: number; divisor: number; dScores: number;
    }
  | { kind: 'reluBackward'; dy: number; y: number; dx: number }
  // A convolution's preparation, shared out too (conv.ts and index.ts use them):
  | { kind: 'padPlanes'; x: number; y: number; h: number; w: number; top: number; left: number; paddedH: number; paddedW: number }
  /** packOperandA of each image's rows x depth matrix at src, image n's panels at dst + 4 * n * packedAFloats(rows, depth) */
  | { kind: 'packOperandA'; src: number; dst: number; rows: number; depth: number }
  /** packFlippedWeights of the weights at w */
  | { kind: 'packFlippedWeights'; w: number; dst: number; outChannels: number; inChannels: number; taps: number }
);

export type SweepKind = SweepJob['kind'];

/** Ints per task: (image, start, end); the image is 0 where the ranges span images. */
export const SWEEP_TASK_FIELDS = 3;

/** The struct sweep.wat reads: 10 i32 in this order. */
export function writePoolGeometry(heap: Int32Array, address: number, g: Pool2dGeometry): void {
  const fields = [g.inH, g.inW, g.kernelH, g.kernelW, g.strideH, g.strideW, g.padH, g.padW, g.outH, g.outW];
  heap.set(fields, address / 4);
}

/**
 * Tasks cutting [0, total) of each of `images` images (1 where the ranges span the whole tensor)
 * for `threads` threads: about 4 per thread, none shorter than `minChunk`, starts multiples of
 * `align` (so four-wide loops stay aligned).
 */
export function planSweepTasks(images: number, total: number, threads: number, minChunk: number, align: number): Int32Array {
  const wanted = threads > 1 ? Math.ceil((4 * threads) / images) : 1;
  const bounds = splitRange(total, Infinity, minChunk, wanted, align);
  const tasks: number[] = [];
  for (let n = 0; n < images; n++) for (let i = 0; i + 1 < bounds.length; i++) tasks.push(n, bounds[i], bounds[i + 1]);
  return Int32Array.from(tasks);
}

/** Elements per task of a sum of squares (a fixed cut: see the top). */
export const SUM_CHUNK = 1 << 16;

/** The tasks of a sum of squares over `total` elements: SUM_CHUNK each, the last one shorter. */
export function planSumTasks(total: number): Int32Array {
  const tasks: number[] = [];
  for (let start = 0; start < total; start += SUM_CHUNK) tasks.push(0, start, Math.min(total, start + SUM_CHUNK));
  return Int32Array.from(tasks);
}

/** Runs tasks until the shared counter (or, with none, the list) says there are none left. */
export function runSweepTasks(job: SweepJob, wasm: WasmExports, counter: Int32Array | null): void {
  const count = job.tasks.length / SWEEP_TASK_FIELDS;
  if (counter === null) {
    for (let t = 0; t < count; t++) runSweepTask(job, wasm, t);
    return;
  }
  for (;;) {
    const t = Atomics.add(counter, 0, 1);
    if (t >= count) return;
    runSweepTask(job, wasm, t);
  }
}

function runSweepTask(job: SweepJob, wasm: WasmExports, t: number): void {
  const [n, start, end] = job.tasks.subarray(t * SWEEP_TASK_FIELDS, (t + 1) * SWEEP_TASK_FIELDS);
  switch (job.kind) {
    case 'maxPoolForward':
      if (job.twoByTwo) return wasm.maxpool2x2_forward(job.x, job.y, job.argmax, job.geometry, start, end);
      return wasm.maxpool_forward(job.x, job.y, job.argmax, job.geometry, start, end);
    case 'maxPoolBackward':
      return wasm.maxpool_backward(job.dy, job.argmax, job.dx, job.geometry, start, end);
    case 'biasGradient':
      return wasm.bias_gradient(job.dy, job.db, job.batch, job.channels, job.plane, start, end);
    case 'l2NormForward': {
      const image = 4 * n * job.channels * job.plane; // bytes to image n of x and y
      return wasm.l2norm_forward(job.x + image, job.scale, job.y + image, job.norm + 4 * n * job.plane, job.channels, job.plane, job.eps, start, end);
    }
    case 'l2NormBackward': {
      const image = 4 * n * job.channels * job.plane;
      return wasm.l2norm_backward(
        job.dy + image, job.x + image, job.scale, job.norm + 4 * n * job.plane, job.dx + image,
        job.dscale + 8 * t * job.channels, job.channels, job.plane, start, end,
      );
    }
    case 'batchNormStatistics': // channels [start, end)
      return wasm.bn_statistics(job.x, job.stats, job.batch, job.channels, job.plane, start, end);
    case 'batchNormForward': // planes [start, end)
      return wasm.bn_forward(job.x, job.y, job.coefficients, job.channels, job.plane, job.relu ? 1 : 0, start, end);
    case 'batchNormBackwardSums': // channels [start, end)
      return wasm.bn_backward_sums(job.dy, job.x, job.mask, job.means, job.sums, job.batch, job.channels, job.plane, start, end);
    case 'batchNormBackwardInput': // planes [start, end)
      return wasm.bn_backward_input(job.dy, job.x, job.mask, job.dx, job.coefficients, job.channels, job.plane, start, end);
    case 'reluForward':
      return wasm.relu_forward(job.x + 4 * start, job.y + 4 * start, end - start);
    case 'sgdStep': {
      const at = 4 * start;
      return wasm.sgd_step(job.value + at, job.grad + at, job.buf + at, end - start, job.lr, job.weightDecay, job.momentum, job.mode);
    }
    case 'sumOfSquares':
      return wasm.sum_squares(job.x + 4 * start, end - start, job.partials + 8 * t);
    case 'priorCrossEntropy': {
      const buffer = wasm.memory.buffer;
      const n = job.priors;
      priorCrossEntropyRange(
        new Float32Array(buffer, job.scores, n * job.classes), new Int32Array(buffer, job.classTargets, n), job.classes, start, end,
        new Float64Array(buffer, job.logSum, n), new Float64Array(buffer, job.ce, n),
      );
      return;
    }
    case 'priorCrossEntropyGradient': {
      const buffer = wasm.memory.buffer;
      const n = job.priors;
      priorCrossEntropyGradientRange(
        new Float32Array(buffer, job.scores, n * job.classes), new Int32Array(buffer, job.classTargets, n), job.classes,
        new Float64Array(buffer, job.logSum, n), new Uint8Array(buffer, job.counted, n), job.divisor, start, end,
        new Float32Array(buffer, job.dScores, n * job.classes),
      );
      return;
    }
    case 'reluBackward':
      return wasm.relu_backward(job.dy + 4 * start, job.y + 4 * start, job.dx + 4 * start, end - start);
    case 'padPlanes': // planes [start, end)
      return wasm.pad_planes(
        job.x + 4 * start * job.h * job.w, job.y + 4 * start * job.paddedH * job.paddedW, end - start,
        job.h, job.w, job.top, job.left, job.paddedH, job.paddedW,
      );
    case 'packOperandA': // image n's K blocks [start, end)
      return packOperandA(
        wasm, job.src + 4 * n * job.rows * job.depth, job.rows, job.depth, job.dst + 4 * n * packedAFloats(job.rows, job.depth), start, end,
      );
    case 'packFlippedWeights': // K blocks [start, end)
      return packFlippedWeights(wasm, job.w, job.outChannels, job.inChannels, job.taps, job.dst, start, end);
  }
}
