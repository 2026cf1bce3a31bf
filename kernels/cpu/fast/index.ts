// The fast CPU backend ('cpu'): plain TypeScript, all cores.
//
// Convolutions run as cache-blocked, register-tiled GEMMs fed by implicit im2col packing
// (gemm.ts, im2col.ts), cut into tasks (conv.ts) that a pool of worker threads and the main
// thread share (worker_pool.ts). Pooling, L2 norm and ReLU are single sweeps (memory_bound.ts).
//
// Arguments are checked, and float64 tensors (the gradient checks) sent to the reference, by
// kernels/checked.ts, which createKernels puts in front of this backend: it sees float32 only.

import * as os from 'os';
import { Shape, Tensor } from '../../../tensor/tensor';
import { Conv2dGeometry, Conv2dOptions, Pool2dOptions, conv2dGeometry, pool2dGeometry } from '../../geometry';
import { ConvParameterGrads, Kernels, L2NormGrads, L2NormResult, MaxPoolResult } from '../../kernels';
import { ConvJob, ConvPass, convFlops, planConvTasks, prepackConvJob, prepackedLength, runConvTasks } from './conv';
import { scratchF64 } from './gemm';
import * as ew from './memory_bound';
import * as reference from '../reference';
import { WorkerPool } from './worker_pool';

export interface CpuKernelsOptions {
  /** Threads in all, the main thread included (threads - 1 workers). Default: os.availableParallelism(). */
  threads?: number;
  /**
   * Convolutions below this many FLOPs run on the main thread alone: handing them to workers
   * would cost more than it saves. Default 4e6 (under a millisecond of work).
   */
  minParallelFlops?: number;
  /**
   * Bytes a convolution may copy its images into at once (x, dy, y or dx, and the pre-packed
   * operand); a bigger batch runs as several jobs of fewer images. Default 128 MiB.
   */
  maxSharedBytes?: number;
}

/** Puts one input array where a job can use it: itself, or a copy in shared memory. */
type Place = (slot: string, array: Float32Array | undefined) => Float32Array | null;

function f32(t: Tensor): Float32Array {
  return t.data as Float32Array;
}

export class CpuKernels extends reference.ReferencePasses implements Kernels {
  readonly name = 'cpu';
  readonly threads: number;
  readonly minParallelFlops: number;
  readonly maxSharedBytes: number;
  private pool: WorkerPool | null = null; // started on the first convolution big enough to share
  private disposed = false;

  constructor(options: CpuKernelsOptions = {}) {
    super();
    const threads = options.threads ?? os.availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`CpuKernels: threads must be a positive integer, got ${threads}`);
    this.threads = threads;
    this.minParallelFlops = options.minParallelFlops ?? 4e6;
    this.maxSharedBytes = options.maxSharedBytes ?? 128 * 1024 * 1024;
  }

  /** Worker threads running now (threads - 1 once a parallel convolution has run, 0 before). */
  get workerCount(): number {
    return this.pool?.size ?? 0;
  }

  /** The workers' thread ids, for tests that check the pool neither grows nor is replaced. */
  get workerThreadIds(): number[] {
    return this.pool?.threadIds ?? [];
  }

  /** Bytes of shared memory the pool holds: grown to the largest call so far, then reused. */
  get sharedMemoryBytes(): number {
    return this.pool?.sharedBytes ?? 0;
  }

  // -------------------------------------------------------------------------------------------
  // Convolution

  async conv2dForward(x: Tensor, w: Tensor, b: Tensor | null, options: Conv2dOptions, relu = false): Promise<Tensor> {
    const g = conv2dGeometry(x.shape, w.shape, options);
    const y = await this.convolve('forward', g, { x: f32(x), w: f32(w), bias: b === null ? null : f32(b) });
    const out = new Tensor([g.batch, g.outChannels, g.outH, g.outW], y);
    if (relu) reference.reluInPlace(out);
    return out;
  }

  async conv2dBackwardInput(dy: Tensor, w: Tensor, inputShape: Shape, options: Conv2dOptions): Promise<Tensor> {
    const g = conv2dGeometry(inputShape, w.shape, options);
    return new Tensor(inputShape, await this.convolve('backwardInput', g, { dy: f32(dy), w: f32(w) }));
  }

  async conv2dBackwardWeight(dy: Tensor, x: Tensor, weightShape: Shape, options: Conv2dOptions): Promise<Tensor> {
    const g = conv2dGeometry(x.shape, weightShape, options);
    return new Tensor(weightShape, await this.convolve('backwardWeight', g, { dy: f32(dy), x: f32(x) }));
  }

  async conv2dBackwardBias(dy: Tensor): Promise<Tensor> {
    const [batch, channels, h, w] = dy.shape;
    return new Tensor([channels], ew.biasGradient(f32(dy), batch, channels, h * w));
  }

  async conv2dBackwardWeightAndBias(dy: Tensor, x: Tensor, weightShape: Shape, options: Conv2dOptions): Promise<ConvParameterGrads> {
    return { dw: await this.conv2dBackwardWeight(dy, x, weightShape, options), db: await this.conv2dBackwardBias(dy) };
  }

  /**
   * Runs one convolution pass and returns its output (y, dx or dw) as a new Float32Array.
   * Small ones run here and now on the caller's arrays. Big ones are copied into the pool's
   * shared memory and shared out between the workers and this thread, a group of images at a
   * time so that the shared copies stay under maxSharedBytes whatever the batch size.
   */
  private async convolve(
    pass: ConvPass,
    g: Conv2dGeometry,
    inputs: { x?: Float32Array; w?: Float32Array; bias?: Float32Array | null; dy?: Float32Array },
  ): Promise<Float32Array> {
    if (this.disposed) throw new Error('CpuKernels: used after dispose()');
    const inSize = g.inChannels * g.inH * g.inW; // one image of x or dx
    const outSize = g.outChannels * g.outH * g.outW; // one image of y or dy
    const weightSize = g.outChannels * g.inChannels * g.kernelH * g.kernelW;
    // Shared memory per image: x and y, dy and dx, or x and dy; and in the backward passes the
    // pre-packed dy (the forward pass pre-packs W, once for all images).
    const imageBytes = 4 * (inSize + outSize) + (pass === 'forward' ? 0 : 8 * prepackedLength(pass, { ...g, batch: 1 }));
    const group = Math.max(1, Math.min(g.batch, Math.floor(this.maxSharedBytes / imageBytes)));
    const result = new Float32Array(pass === 'forward' ? g.batch * outSize : pass === 'backwardInput' ? g.batch * inSize : weightSize);

    // The job for images [n0, n1), its arrays made by `place` (views, or copies in shared memory).
    const jobFor = (n0: number, n1: number, threads: number, place: Place): ConvJob => {
      const gg = { ...g, batch: n1 - n0 };
      return {
        pass,
        g: gg,
        x: place('x', inputs.x?.subarray(n0 * inSize, n1 * inSize)),
        w: place('w', inputs.w),
        bias: place('bias', inputs.bias ?? undefined),
        dy: place('dy', inputs.dy?.subarray(n0 * outSize, n1 * outSize)),
        out: null!, // set by the caller
        packed: null,
        tasks: planConvTasks(pass, gg, threads),
      };
    };

    if (this.threads === 1 || convFlops(g) < this.minParallelFlops) {
      const dwSum = pass === 'backwardWeight' ? new Float64Array(weightSize) : null;
      for (let n0 = 0; n0 < g.batch; n0 += group) {
        const n1 = Math.min(g.batch, n0 + group);
        const job = jobFor(n0, n1, 1, (_, a) => a ?? null);
        job.out = dwSum ?? (pass === 'forward' ? result.subarray(n0 * outSize, n1 * outSize) : result.subarray(n0 * inSize, n1 * inSize));
        job.packed = scratchF64('conv.packed', prepackedLength(pass, job.g));
        prepackConvJob(job);
        runConvTasks(job, null);
      }
      if (dwSum !== null) result.set(dwSum);
      return result;
    }

    this.pool ??= new WorkerPool(this.threads - 1);
    const pool = this.pool;
    return pool.exclusive(async () => {
      const share: Place = (slot, a) => {
        if (a === undefined) return null;
        const s = pool.shared(slot, a.length, 'float32');
        s.set(a);
        return s;
      };
      // dW sums over all groups: one float64 accumulator in shared memory for the whole call.
      const dwSum = pass === 'backwardWeight' ? pool.shared('dw', weightSize, 'float64').fill(0) : null;
      for (let n0 = 0; n0 < g.batch; n0 += group) {
        const n1 = Math.min(g.batch, n0 + group);
        const job = jobFor(n0, n1, this.threads, share);
        const outLength = (n1 - n0) * (pass === 'forward' ? outSize : inSize);
        job.out = dwSum ?? pool.shared('out', outLength, 'float32'); // each task writes all its part: no clearing
        job.packed = pool.shared('packed', prepackedLength(pass, job.g), 'float64');
        prepackConvJob(job); // on this thread, before the workers start
        await pool.run(job);
        if (dwSum === null) result.set(job.out, n0 * (pass === 'forward' ? outSize : inSize));
      }
      if (dwSum !== null) result.set(dwSum);
      return result;
    });
  }

  // -------------------------------------------------------------------------------------------
  // Pooling, L2 norm, ReLU

  async maxPool2dForward(x: Tensor, options: Pool2dOptions): Promise<MaxPoolResult> {
    const g = pool2dGeometry(x.shape, options);
    const { y, argmax } = ew.maxPoolForward(f32(x), g);
    return { y: new Tensor([g.batch, g.channels, g.outH, g.outW], y), argmax };
  }

  async maxPool2dBackward(dy: Tensor, argmax: Int32Array, inputShape: Shape, options: Pool2dOptions): Promise<Tensor> {
    const g = pool2dGeometry(inputShape, options);
    return new Tensor(inputShape, ew.maxPoolBackward(f32(dy), argmax, g));
  }

  async l2NormForward(x: Tensor, scale: Tensor, eps: number): Promise<L2NormResult> {
    const [batch, , h, w] = x.shape;
    const { y, norm } = ew.l2NormForward(f32(x), f32(scale), x.shape, eps);
    return { y: new Tensor(x.shape, y), norm: new Tensor([batch, 1, h, w], norm) };
  }

  async l2NormBackward(dy: Tensor, x: Tensor, scale: Tensor, norm: Tensor): Promise<L2NormGrads> {
    const { dx, dscale } = ew.l2NormBackward(f32(dy), f32(x), f32(scale), f32(norm), x.shape);
    return { dx: new Tensor(x.shape, dx), dscale: new Tensor(scale.shape, dscale) };
  }

  async reluForward(x: Tensor): Promise<Tensor> {
    return new Tensor(x.shape, ew.reluForward(f32(x)));
  }

  async reluBackward(dy: Tensor, y: Tensor): Promise<Tensor> {
    return new Tensor(dy.shape, ew.reluBackward(f32(dy), f32(y)));
  }

  /** Terminates the worker threads. The kernels cannot be used afterwards. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const pool = this.pool;
    this.pool = null;
    if (pool !== null) await pool.dispose();
  }
}
