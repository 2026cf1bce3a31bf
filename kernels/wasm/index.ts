// The WebAssembly SIMD backend ('wasm'): convolutions as packed, register-tiled float32 GEMMs in
// hand-written WebAssembly (kernels/wasm/*.wat), on all cores through worker threads that share
// one WebAssembly.Memory.
//
// A call copies its inputs into the shared memory (an arena reset at every call, grown to the
// largest call and then reused, so memory stays flat), runs its tasks (conv.ts for convolutions,
// sweep.ts for max pooling, the L2 norm, the bias gradient and ReLU) on this thread and the
// workers, and copies the result out. Small calls run on this thread alone: handing them to the
// workers costs more than it saves.
//
// Arguments are checked, and float64 tensors (the gradient checks) sent to the reference, by
// kernels/checked.ts, which createKernels puts in front of this backend: it sees float32 only.

import * as os from 'os';
import { Shape, Tensor } from '../../tensor/tensor';
import { Conv2dGeometry, Conv2dOptions, Pool2dOptions, conv2dGeometry, pool2dGeometry } from '../geometry';
import { ConvParameterGrads, Kernels, L2NormGrads, L2NormResult, MaxPoolResult } from '../kernels';
import {
  ConvJob, ConvPass, convFlops, convMethod, kBlocks, packedAFloats, planConvTasks, roundUp, rowOffsets,
  scratchLayout, writeGeometry,
} from './conv';
import { MAX_PAGES, MicroKernel, PAGE_BYTES, WasmExports, WasmModules, compileModules, pickMicroKernel, instantiate } from './runtime';
import { SWEEP_TASK_FIELDS, planSweepTasks, writePoolGeometry } from './sweep';
import { Job, WasmThreads, runJobTasks } from './threads';

export interface WasmKernelsOptions {
  /** Threads in all, the main thread included (threads - 1 workers). Default: os.availableParallelism(). */
  threads?: number;
  /** The GEMM micro-kernel. Default: 'relaxed' where the engine validates relaxed SIMD, else 'simd'. */
  microKernel?: MicroKernel;
  /**
   * Convolutions below this many FLOPs run on the main thread alone: handing them to the workers
   * costs more than it saves. Default 2e6.
   */
  minParallelFlops?: number;
  /**
   * Stride-1 convolutions (and stride-1 input gradients) with at most this many output channels
   * run the direct convolution instead of the GEMM (conv.ts, useDirect). Default 8; 0 turns it off.
   */
  directMaxChannels?: number;
  /**
   * Stride-1 forward passes (and stride-1 input gradients) read im2col in place from a padded
   * copy of x where that does less work than packing it, and stride-1 weight gradients pack
   * im2col^T from that padded copy (conv.ts, convMethod): 'auto' (default); 'never' or 'always'
   * (forward and weight gradient, wherever the stride allows) force one way, for the tests.
   */
  implicitGemm?: 'auto' | 'never' | 'always';
  /** Sweeps (pooling, L2 norm, bias gradient, ReLU) over fewer elements run on the main thread alone. Default 65536. */
  minParallelElements?: number;
  /**
   * A convolution's padding of x and packing of W or dy over fewer elements run on the main
   * thread alone. Default 2^20 (4 MB): handing a job to the workers costs about 0.25 ms here,
   * and these are mostly copies (measured: ReLU over 70,000 floats took 0.33 ms shared and 0.08
   * on this thread alone; over 1.2 million, 1.38 against 1.14).
   */
  minParallelPrep?: number;
}

function f32(t: Tensor): Float32Array {
  return t.data as Float32Array;
}

/** What a convolution call copies into the arena (each pass has some of them). */
interface ConvInputs {
  x?: Float32Array;
  w?: Float32Array;
  bias?: Float32Array | null;
  dy?: Float32Array;
  /**
   * w holds the weights of the convolution whose input gradient this forward pass computes
   * (C_in' = this pass's C_out, C_out' = its C_in): use them flipped and transposed (transposedAsForward).
   */
  flipWeights?: boolean;
  /** Backward weight: also sum dy into dL/db, from the same copy of dy. */
  biasGradient?: boolean;
}

/** What a convolution call returns: y, dx or dW, and dL/db when it was asked for. */
interface ConvOutputs {
  out: Float32Array;
  db: Float32Array | null;
}

/** Where the fixed parts of the shared memory lie (byte addresses); calls use the arena after them. */
const GEOMETRY_ADDRESS = 64;
const ARENA_START = 1024;

export class WasmKernels implements Kernels {
  readonly name = 'wasm';
  readonly threads: number;
  readonly microKernel: MicroKernel;
  readonly minParallelFlops: number;
  readonly minParallelElements: number;
  readonly minParallelPrep: number;
  readonly directMaxChannels: number;
  readonly implicitGemm: 'auto' | 'never' | 'always';
  private readonly modules: WasmModules;
  private readonly memory: WebAssembly.Memory;
  private readonly wasm: WasmExports; // this thread's instances
  private workers: WasmThreads | null = null; // started on the first convolution big enough to share
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(options: WasmKernelsOptions = {}) {
    const threads = options.threads ?? os.availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`WasmKernels: threads must be a positive integer, got ${threads}`);
    this.threads = threads;
    this.microKernel = options.microKernel ?? pickMicroKernel();
    this.minParallelFlops = options.minParallelFlops ?? 2e6;
    this.minParallelElements = options.minParallelElements ?? 65536;
    this.minParallelPrep = options.minParallelPrep ?? 1 << 20;
    this.directMaxChannels = options.directMaxChannels ?? 8;
    this.implicitGemm = options.implicitGemm ?? 'auto';
    this.modules = compileModules(this.microKernel);
    this.memory = new WebAssembly.Memory({ initial: 256, maximum: MAX_PAGES, shared: true });
    this.wasm = instantiate(this.modules, this.memory);
  }

  /** Worker threads running now (threads - 1 once a parallel convolution has run, 0 before). */
  get workerCount(): number {
    return this.workers?.size ?? 0;
  }

  get workerThreadIds(): number[] {
    return this.workers?.threadIds ?? [];
  }

  /** Bytes of WebAssembly memory: grown to the largest call so far, then reused. */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  // -------------------------------------------------------------------------------------------
  // Convolution

  async conv2dForward(x: Tensor, w: Tensor, b: Tensor | null, options: Conv2dOptions): Promise<Tensor> {
    const g = conv2dGeometry(x.shape, w.shape, options);
    const { out: y } = await this.convolve('forward', g, { x: f32(x), w: f32(w), bias: b === null ? null : f32(b) });
    return new Tensor([g.batch, g.outChannels, g.outH, g.outW], y);
  }

  async conv2dBackwardInput(dy: Tensor, w: Tensor, inputShape: Shape, options: Conv2dOptions): Promise<Tensor> {
    const g = conv2dGeometry(inputShape, w.shape, options);
    const transposed = transposedAsForward(g);
    if (transposed !== null) {
      // stride 1: dx is a forward convolution of dy with the weights flipped and transposed
      // (see transposedAsForward), no col2im needed
      return new Tensor(inputShape, (await this.convolve('forward', transposed, { x: f32(dy), w: f32(w), bias: null, flipWeights: true })).out);
    }
    return new Tensor(inputShape, (await this.convolve('backwardInput', g, { dy: f32(dy), w: f32(w) })).out);
  }

  async conv2dBackwardWeight(dy: Tensor, x: Tensor, weightShape: Shape, options: Conv2dOptions): Promise<Tensor> {
    const g = conv2dGeometry(x.shape, weightShape, options);
    return new Tensor(weightShape, (await this.convolve('backwardWeight', g, { dy: f32(dy), x: f32(x) })).out);
  }

  conv2dBackwardBias(dy: Tensor): Promise<Tensor> {
    const [, channels] = dy.shape;
    return this.exclusive(async () => {
      const [gradient, db] = this.arena([dy.size, channels]);
      new Float32Array(this.memory.buffer).set(f32(dy), gradient / 4);
      await this.sumBiasGradient(gradient, db, dy.shape);
      return new Tensor([channels], this.read(db, channels));
    });
  }

  /** dL/dw and dL/db with dy copied into the arena once: the bias sums the weight gradient's copy. */
  async conv2dBackwardWeightAndBias(dy: Tensor, x: Tensor, weightShape: Shape, options: Conv2dOptions): Promise<ConvParameterGrads> {
    const g = conv2dGeometry(x.shape, weightShape, options);
    const { out, db } = await this.convolve('backwardWeight', g, { dy: f32(dy), x: f32(x), biasGradient: true });
    if (db === null) throw new Error('wasm backend: the weight gradient returned no bias gradient');
    return { dw: new Tensor(weightShape, out), db: new Tensor([g.outChannels], db) };
  }

  /** db[c] = the sum of dy[:, c] (dy at byte address `dy` in the arena, of shape dyShape), into the arena at `db`. */
  private async sumBiasGradient(dy: number, db: number, dyShape: Shape): Promise<void> {
    const [batch, channels, h, w] = dyShape;
    const threads = this.sweepThreads(batch * channels * h * w);
    await this.run({ kind: 'biasGradient', dy, db, batch, channels, plane: h * w, tasks: planSweepTasks(1, channels, threads, 1, 1) }, threads);
  }

  /**
   * Runs one convolution pass: copies the inputs into the arena, runs the tasks (here, or here
   * and on the workers), and returns a copy of the output (y, dx or dW), and of dL/db if asked.
   */
  private convolve(
    pass: ConvPass,
    g: Conv2dGeometry,
    inputs: ConvInputs,
  ): Promise<ConvOutputs> {
    return this.exclusive(() => this.convolveNow(pass, g, inputs));
  }

  private async convolveNow(
    pass: ConvPass,
    g: Conv2dGeometry,
    inputs: ConvInputs,
  ): Promise<ConvOutputs> {
    const parallel = this.threads > 1 && convFlops(g) >= this.minParallelFlops;
    const threads = parallel ? this.threads : 1;
    const outLength =
      pass === 'forward' ? g.batch * g.outChannels * g.outH * g.outW
      : pass === 'backwardInput' ? g.batch * g.inChannels * g.inH * g.inW
      : g.outChannels * g.inChannels * g.kernelH * g.kernelW;
    const method = convMethod(pass, g, this.directMaxChannels, this.implicitGemm);
    const { tasks, parts } = planConvTasks(pass, g, threads, method);
    const layout = scratchLayout(pass, g);
    const K = g.inChannels * g.kernelH * g.kernelW;
    const P = g.outH * g.outW;
    // The implicit GEMM's padded copy of x (its reads run up to (kW - 1) * dilation + 7 floats
    // past the last plane: slack), the offsets of im2col's rows in it, and the forward's y on
    // padded rows. (The weight gradient packs im2col^T from the padded copy: pack_rows_transposed.)
    const implicit = method === 'implicit';
    const paddedH = implicit ? g.inH + 2 * g.padH : 0;
    const paddedW = implicit ? g.inW + 2 * g.padW : 0;
    const paddedFloats = implicit ? g.batch * g.inChannels * paddedH * paddedW + (g.kernelW - 1) * g.dilationW + 8 : 0;
    const Q = g.outH * paddedW; // positions on padded rows
    const outFloats = implicit && pass === 'forward' ? g.batch * g.outChannels * Q : outLength * parts;
    // The operand packed once for all tasks: W (forward) or each image's dy (backward weight), as
    // A panels.
    const packedFloats =
      pass === 'forward' && method !== 'direct' ? packedAFloats(g.outChannels, K)
      : pass === 'backwardWeight' ? g.batch * packedAFloats(g.outChannels, P)
      : 0;
    // The arena: the inputs (0 floats for those this pass has not), the implicit GEMM's operands,
    // the packed operand, the output (dW as `parts` partial sums), then each thread's scratch.
    const [x, xPadded, rowsAt, w, flipped, bias, dy, db, packed, out, scratch] = this.arena([
      inputs.x?.length ?? 0, paddedFloats, implicit ? K : 0, inputs.w?.length ?? 0, inputs.flipWeights && method === 'direct' ? g.outChannels * K : 0,
      inputs.bias?.length ?? 0, inputs.dy?.length ?? 0, inputs.biasGradient ? g.outChannels : 0, packedFloats, outFloats, (layout.bytes / 4) * threads,
    ]);
    const heap = new Float32Array(this.memory.buffer);
    if (inputs.x !== undefined) heap.set(inputs.x, x / 4);
    if (implicit) {
      const planes = g.batch * g.inChannels;
      const padThreads = this.prepThreads(planes * paddedH * paddedW);
      await this.run({
        kind: 'padPlanes', x, y: xPadded, h: g.inH, w: g.inW, top: g.padH, left: g.padW, paddedH, paddedW,
        tasks: planSweepTasks(1, planes, padThreads, 1, 1),
      }, padThreads);
      heap.fill(0, xPadded / 4 + g.batch * g.inChannels * paddedH * paddedW, xPadded / 4 + paddedFloats); // the slack
      new Int32Array(this.memory.buffer).set(rowOffsets(g, paddedH, paddedW), rowsAt / 4);
    }
    if (inputs.w !== undefined) heap.set(inputs.w, w / 4);
    if (inputs.bias) heap.set(inputs.bias, bias / 4);
    if (inputs.dy !== undefined) heap.set(inputs.dy, dy / 4);
    if (inputs.biasGradient) await this.sumBiasGradient(dy, db, [g.batch, g.outChannels, g.outH, g.outW]);
    writeGeometry(new Int32Array(this.memory.buffer), GEOMETRY_ADDRESS, g);
    // The GEMM packs the flipped weights straight from w; the direct convolution reads them flipped.
    const taps = g.kernelH * g.kernelW;
    if (inputs.flipWeights && method === 'direct') this.wasm.flip_transpose(w, flipped, g.inChannels, g.outChannels, taps);
    const weights = inputs.flipWeights && method === 'direct' ? flipped : w;
    if (pass === 'forward' && method !== 'direct') {
      // W, packed by K blocks on every thread
      const packThreads = this.prepThreads(g.outChannels * K);
      const packTasks = planSweepTasks(1, kBlocks(K), packThreads, 1, 1);
      if (inputs.flipWeights) {
        await this.run({ kind: 'packFlippedWeights', w, dst: packed, outChannels: g.inChannels, inChannels: g.outChannels, taps, tasks: packTasks }, packThreads);
      } else {
        await this.run({ kind: 'packOperandA', src: w, dst: packed, rows: g.outChannels, depth: K, tasks: packTasks }, packThreads);
      }
    }
    if (pass === 'backwardWeight') {
      // each image's dy, packed by K blocks (of positions) on every thread
      const packThreads = this.prepThreads(g.batch * g.outChannels * P);
      const packTasks = planSweepTasks(g.batch, kBlocks(P), packThreads, 1, 1);
      await this.run({ kind: 'packOperandA', src: dy, dst: packed, rows: g.outChannels, depth: P, tasks: packTasks }, packThreads);
    }

    const job: ConvJob = {
      pass, g, geometry: GEOMETRY_ADDRESS, x: implicit ? xPadded : x, w: weights, bias: inputs.bias ? bias : 0, dy, packed, out, // bias 0: none
      scratch, scratchBytes: layout.bytes, method, paddedH, paddedW, rowsAt, tasks,
    };
    await this.run(job, threads);
    // y on padded rows -> y: keep the first outW columns of each row
    if (implicit && pass === 'forward') this.wasm.compact_rows(out, paddedW, out, g.batch * g.outChannels * g.outH, g.outW);
    const result = heap.slice(out / 4, out / 4 + outLength);
    for (let part = 1; part < parts; part++) {
      const partial = out / 4 + part * outLength;
      for (let i = 0; i < outLength; i++) result[i] += heap[partial + i];
    }
    return { out: result, db: inputs.biasGradient ? this.read(db, g.outChannels) : null };
  }

  /** Grows the shared memory to hold `bytes` (never shrinks: the next calls reuse it). */
  private reserve(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return;
    const pages = Math.ceil((bytes - have) / PAGE_BYTES);
    if (have / PAGE_BYTES + pages > MAX_PAGES) throw new Error(`wasm backend: a call needs ${bytes} bytes, more than the 4 GiB WebAssembly memory`);
    this.memory.grow(pages);
  }

  // -------------------------------------------------------------------------------------------
  // The sweeps: max pooling, L2 norm, ReLU (sweep.ts). Their cost is a few passes over memory, so
  // the copies into the arena and out count: each tensor is copied once each way.

  maxPool2dForward(x: Tensor, options: Pool2dOptions): Promise<MaxPoolResult> {
    const g = pool2dGeometry(x.shape, options);
    const outLength = g.batch * g.channels * g.outH * g.outW;
    return this.exclusive(async () => {
      const [input, y, argmax] = this.arena([x.size, outLength, outLength]);
      new Float32Array(this.memory.buffer).set(f32(x), input / 4);
      writePoolGeometry(new Int32Array(this.memory.buffer), GEOMETRY_ADDRESS, g);
      const threads = this.sweepThreads(x.size);
      const tasks = planSweepTasks(1, g.batch * g.channels, threads, 1, 1);
      await this.run({ kind: 'maxPoolForward', x: input, y, argmax, geometry: GEOMETRY_ADDRESS, tasks }, threads);
      return {
        y: new Tensor([g.batch, g.channels, g.outH, g.outW], this.read(y, outLength)),
        argmax: new Int32Array(this.memory.buffer).slice(argmax / 4, argmax / 4 + outLength),
      };
    });
  }

  maxPool2dBackward(dy: Tensor, argmax: Int32Array, inputShape: Shape, options: Pool2dOptions): Promise<Tensor> {
    const g = pool2dGeometry(inputShape, options);
    const inLength = g.batch * g.channels * g.inH * g.inW;
    return this.exclusive(async () => {
      const [gradient, maxima, dx] = this.arena([dy.size, argmax.length, inLength]);
      new Float32Array(this.memory.buffer).set(f32(dy), gradient / 4);
      new Int32Array(this.memory.buffer).set(argmax, maxima / 4);
      writePoolGeometry(new Int32Array(this.memory.buffer), GEOMETRY_ADDRESS, g);
      const threads = this.sweepThreads(inLength);
      const tasks = planSweepTasks(1, g.batch * g.channels, threads, 1, 1);
      await this.run({ kind: 'maxPoolBackward', dy: gradient, argmax: maxima, dx, geometry: GEOMETRY_ADDRESS, tasks }, threads);
      return new Tensor(inputShape, this.read(dx, inLength));
    });
  }

  l2NormForward(x: Tensor, scale: Tensor, eps: number): Promise<L2NormResult> {
    const [batch, channels, h, w] = x.shape;
    const plane = h * w;
    return this.exclusive(async () => {
      const [input, scales, y, norm] = this.arena([x.size, channels, x.size, batch * plane]);
      const heap = new Float32Array(this.memory.buffer);
      heap.set(f32(x), input / 4);
      heap.set(f32(scale), scales / 4);
      const threads = this.sweepThreads(x.size);
      const tasks = planSweepTasks(batch, plane, threads, 16, 4);
      await this.run({ kind: 'l2NormForward', x: input, scale: scales, y, norm, channels, plane, eps, tasks }, threads);
      return { y: new Tensor(x.shape, this.read(y, x.size)), norm: new Tensor([batch, 1, h, w], this.read(norm, batch * plane)) };
    });
  }

  l2NormBackward(dy: Tensor, x: Tensor, scale: Tensor, norm: Tensor): Promise<L2NormGrads> {
    const [batch, channels, h, w] = x.shape;
    const plane = h * w;
    const threads = this.sweepThreads(x.size);
    const tasks = planSweepTasks(batch, plane, threads, 16, 2);
    const parts = tasks.length / SWEEP_TASK_FIELDS; // each task writes its own float64 partial sums of dscale
    return this.exclusive(async () => {
      const [gradient, input, scales, norms, dx, partials] = this.arena([dy.size, x.size, channels, norm.size, x.size, 2 * channels * parts]);
      const heap = new Float32Array(this.memory.buffer);
      heap.set(f32(dy), gradient / 4);
      heap.set(f32(x), input / 4);
      heap.set(f32(scale), scales / 4);
      heap.set(f32(norm), norms / 4);
      await this.run({ kind: 'l2NormBackward', dy: gradient, x: input, scale: scales, norm: norms, dx, dscale: partials, channels, plane, tasks }, threads);
      const sums = new Float64Array(this.memory.buffer, partials, channels * parts);
      const dscale = new Float64Array(channels);
      for (let part = 0; part < parts; part++) for (let c = 0; c < channels; c++) dscale[c] += sums[part * channels + c];
      return { dx: new Tensor(x.shape, this.read(dx, x.size)), dscale: new Tensor(scale.shape, Float32Array.from(dscale)) };
    });
  }

  // ReLU runs in WebAssembly (relu.wat): the copy into the arena and out costs less than the
  // branchy JavaScript loop on activations that are positive half the time.

  reluForward(x: Tensor): Promise<Tensor> {
    return this.exclusive(async () => {
      const [input, output] = this.arena([x.size, x.size]);
      new Float32Array(this.memory.buffer).set(f32(x), input / 4);
      const threads = this.sweepThreads(x.size);
      await this.run({ kind: 'reluForward', x: input, y: output, tasks: planSweepTasks(1, x.size, threads, 4096, 4) }, threads);
      return new Tensor(x.shape, this.read(output, x.size));
    });
  }

  reluBackward(dy: Tensor, y: Tensor): Promise<Tensor> {
    return this.exclusive(async () => {
      const [gradient, output, dx] = this.arena([dy.size, y.size, dy.size]);
      const heap = new Float32Array(this.memory.buffer);
      heap.set(f32(dy), gradient / 4);
      heap.set(f32(y), output / 4);
      const threads = this.sweepThreads(dy.size);
      await this.run({ kind: 'reluBackward', dy: gradient, y: output, dx, tasks: planSweepTasks(1, dy.size, threads, 4096, 4) }, threads);
      return new Tensor(dy.shape, this.read(dx, dy.size));
    });
  }

  /** Threads for a sweep over `elements` elements: all of them for big tensors, else this one. */
  private sweepThreads(elements: number): number {
    return elements >= this.minParallelElements ? this.threads : 1;
  }

  /** Threads for a convolution's padding or packing of `elements` elements (minParallelPrep). */
  private prepThreads(elements: number): number {
    return elements >= this.minParallelPrep ? this.threads : 1;
  }

  /** Runs a job's tasks here (one thread) or here and on the workers, started on first need. */
  private async run(job: Job, threads: number): Promise<void> {
    if (threads === 1) {
      runJobTasks(job, this.wasm, 0, null);
      return;
    }
    this.workers ??= new WasmThreads(this.threads - 1, this.modules, this.memory);
    await this.workers.run(job, this.wasm);
  }

  /** A copy of `length` floats of the shared memory at byte address `address`. */
  private read(address: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer).slice(address / 4, address / 4 + length);
  }

  /** Runs fn alone: calls share the arena, and a caller may start several without awaiting each. */
  private exclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new Error('WasmKernels: used after dispose()'));
    const result = this.queue.then(fn);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Places arrays of these many floats in the arena (64-byte aligned), growing the memory to hold them. */
  private arena(floats: number[]): number[] {
    let top = ARENA_START;
    const addresses = floats.map((n) => {
      const address = top;
      top = roundUp(top + 4 * n, 64);
      return address;
    });
    this.reserve(top);
    return addresses;
  }

  /** Terminates the worker threads. The kernels cannot be used afterwards. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await this.queue;
    const workers = this.workers;
    this.workers = null;
    if (workers !== null) await workers.dispose();
  }
}

/**
 * With stride 1, the input gradient is itself a forward convolution: of dy, padded by
 * dilation * (k - 1) - pad, with the weights flipped in space and input and output channels
 * swapped:
 *   dx[ci, iy, ix] = sum over (co, ky, kx) of dy[co, iy + pad - ky * dilation, ...] * w[co, ci, ky, kx]
 * and with ky' = kH - 1 - ky that is a correlation of dy with w[co, ci, kH - 1 - ky', ...] at
 * offsets ky' * dilation - (dilation * (kH - 1) - pad). Running it as a forward pass saves the
 * scattered col2im sweep, which costs more than the multiply when channels are few. The
 * geometry of that forward pass, or null when it does not apply (a stride, or a padding larger
 * than the kernel's reach).
 */
function transposedAsForward(g: Conv2dGeometry): Conv2dGeometry | null {
  if (g.strideH !== 1 || g.strideW !== 1) return null;
  const padH = g.dilationH * (g.kernelH - 1) - g.padH;
  const padW = g.dilationW * (g.kernelW - 1) - g.padW;
  if (padH < 0 || padW < 0) return null;
  const t = conv2dGeometry(
    [g.batch, g.outChannels, g.outH, g.outW],
    [g.inChannels, g.outChannels, g.kernelH, g.kernelW],
    { padding: [padH, padW], dilation: [g.dilationH, g.dilationW] },
  );
  if (t.outH !== g.inH || t.outW !== g.inW) throw new Error(`wasm backend: transposed convolution gives ${t.outH}x${t.outW}, expected ${g.inH}x${g.inW}`);
  return t;
}
