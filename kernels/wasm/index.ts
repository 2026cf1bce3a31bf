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
import { DType, Shape, Tensor, sizeOf } from '../../tensor/tensor';
import { Conv2dGeometry, Conv2dOptions, Pool2dOptions, conv2dGeometry, pool2dGeometry } from '../geometry';
import {
  BatchNormAffine, BatchNormInputGradient, BatchNormStatistics, BatchNormSums, ConvParameterGrads, Kernels, L2NormGrads, L2NormResult,
  MaxPoolResult, PriorCrossEntropy, SgdStep,
} from '../kernels';
import {
  ConvJob, ConvPass, convFlops, convMethod, kBlocks, packedAFloats, planConvTasks, roundUp, rowOffsets,
  scratchLayout, writeGeometry,
} from './conv';
import { MAX_PAGES, MicroKernel, PAGE_BYTES, WasmExports, WasmModules, compileModules, pickMicroKernel, instantiate } from './runtime';
import { SWEEP_TASK_FIELDS, planSumTasks, planSweepTasks, writePoolGeometry } from './sweep';
import { WasmThreads } from './threads';
import { Job, runJobTasks } from './jobs';
import { BLOCK_ALIGN, WasmHeap } from './heap';
import { SGD_CHUNK, sgdArguments, sgdChunks } from './sgd';
import { dilatedAsBatch, dilatedAsBatchApplies, dilatedAsBatchPays, mapDilated } from './dilated';
import {
  WINOGRAD_TILES, WinogradPlan, WinogradTile, oneRunPlan, planWinograd, planWinogradWeight, recommendedWinogradTile, winogradApplies, winogradFilterJob,
  winogradForwardJob, winogradInputJob, winogradWeightJob,
} from './winograd';
import * as reference from '../cpu/reference';

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
  /**
   * Fill the data of a released tensor with NaN (see release): a use after release then shows
   * up as a NaN instead of silently reading the next tensor's values. For tests; default false.
   */
  poisonReleased?: boolean;
  /** The resident tensors' blocks end below this byte address (default: the 4 GiB memory's end). */
  maxHeapBytes?: number;
  /**
   * How stride-1 3x3 convolutions run (winograd.ts): 'auto' (default) picks per layer and pass,
   * Winograd's tile size where recommendedWinogradTile's measured rule says it pays, the GEMM
   * elsewhere; 'winograd' runs every layer it applies to through Winograd (the recommended tile,
   * else F(2x2)); 'gemm' never. Other convolutions always run the GEMM.
   */
  convAlgorithm?: ConvAlgorithm;
  /** The largest Winograd tile 'auto' and 'winograd' use: 2, 4 or 6 (default 6); 2 keeps the GEMM's error bound. */
  maxWinogradTile?: WinogradTile;
  /**
   * Bytes of the weights' transforms kept between calls (see keptFilterTransform): Winograd's
   * filter transforms and the GEMM's packed weights. Default 1 GiB (the full SSD300's come to
   * 363 MB); 0 keeps none.
   */
  keptTransformBytes?: number;
}

/**
 * A Winograd filter transform U (or the GEMM's packed panels) of one weight tensor, kept between
 * calls for one version of its values: `calls` made with that version so far, `address` its block
 * (null until it is kept).
 */
interface KeptTransform {
  version: number;
  calls: number;
  address: number | null;
  bytes: number;
}

/** The calls with the same weights after which their filter transform is kept (see keptFilterTransform). */
const KEEP_FROM_CALL = 3;

/** How the backend runs a stride-1 3x3 convolution (WasmKernelsOptions.convAlgorithm). */
export type ConvAlgorithm = 'gemm' | 'winograd' | 'auto';
export const CONV_ALGORITHMS: readonly ConvAlgorithm[] = ['gemm', 'winograd', 'auto'];

function f32(t: Tensor): Float32Array {
  return t.data as Float32Array;
}

/**
 * An operand of a call (see place): an input tensor or Int32Array (max pooling's argmax), copied
 * into the call's scratch unless it is resident; { out } the space for an output, in place when
 * resident; a number, that many floats of scratch; null, undefined or 0, none.
 */
type Operand = Tensor | Int32Array | { out: Tensor } | number | null | undefined;

/** What a convolution call reads (each pass has some of them). */
interface ConvInputs {
  x?: Tensor;
  w?: Tensor;
  bias?: Tensor | null;
  dy?: Tensor;
  /**
   * w holds the weights of the convolution whose input gradient this forward pass computes
   * (C_in' = this pass's C_out, C_out' = its C_in): use them flipped and transposed (transposedAsForward).
   */
  flipWeights?: boolean;
  /** Backward weight: also sum dy into dL/db, from the same copy of dy. */
  biasGradient?: boolean;
  /** Forward: apply the ReLU that follows to y (in the Winograd output transform, else a pass over y in place). */
  relu?: boolean;
}

/** What a convolution call returns: y, dx or dW, and dL/db when it was asked for. */
interface ConvOutputs {
  out: Tensor;
  db: Tensor | null;
}

/** Where the fixed parts of the shared memory lie (byte addresses); the heap's blocks come after them. */
const GEOMETRY_ADDRESS = 64;
const HEAP_START = 1024;

export class WasmKernels implements Kernels {
  readonly name = 'wasm';
  readonly threads: number;
  readonly microKernel: MicroKernel;
  readonly minParallelFlops: number;
  readonly minParallelElements: number;
  readonly minParallelPrep: number;
  readonly directMaxChannels: number;
  readonly implicitGemm: 'auto' | 'never' | 'always';
  readonly poisonReleased: boolean;
  readonly convAlgorithm: ConvAlgorithm;
  readonly maxWinogradTile: WinogradTile;
  private readonly modules: WasmModules;
  private readonly memory: WebAssembly.Memory;
  private readonly wasm: WasmExports; // this thread's instances
  private workers: WasmThreads | null = null; // started on the first convolution big enough to share
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;
  /** The blocks of the memory: resident tensors, and each call's scratch. */
  private readonly heap: WasmHeap;
  /** The data of every resident tensor (see heap.ts), and max pooling's argmax -> its block. Views only: the memory is the heap's. */
  private readonly resident = new WeakMap<Float32Array | Int32Array, number>();
  /** A resident tensor dropped without release() gives its block back when it is garbage-collected. */
  private readonly finalizer = new FinalizationRegistry<number>((address) => this.heap.release(address));
  /** The scratch block of the calls (copies of operands from ordinary memory, packed panels, per-thread scratch): grown, then reused. */
  private scratch: { address: number; bytes: number } | null = null;
  /** The kept filter transforms of each weight tensor, by tile size, depth, direction and shape (keptFilterTransform). */
  private readonly keptTransforms = new WeakMap<Tensor, Map<string, KeptTransform>>();
  /** Bytes in kept filter transforms now, and at most. */
  private keptBytes = 0;
  readonly keptTransformBytes: number;
  /** A weight tensor dropped gives its kept transforms' blocks back when it is garbage-collected. */
  private readonly keptFinalizer = new FinalizationRegistry<KeptTransform>((kept) => this.dropKept(kept));

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
    this.poisonReleased = options.poisonReleased ?? false;
    this.convAlgorithm = options.convAlgorithm ?? 'auto';
    if (!CONV_ALGORITHMS.includes(this.convAlgorithm)) throw new Error(`WasmKernels: convAlgorithm must be one of ${CONV_ALGORITHMS.join(', ')}, got '${this.convAlgorithm}'`);
    this.keptTransformBytes = options.keptTransformBytes ?? 2 ** 30;
    if (!(this.keptTransformBytes >= 0)) throw new Error(`WasmKernels: keptTransformBytes must be >= 0, got ${this.keptTransformBytes}`);
    this.maxWinogradTile = options.maxWinogradTile ?? 6;
    if (!WINOGRAD_TILES.includes(this.maxWinogradTile)) throw new Error(`WasmKernels: maxWinogradTile must be 2, 4 or 6, got ${this.maxWinogradTile}`);
    this.modules = compileModules(this.microKernel);
    this.memory = new WebAssembly.Memory({ initial: 256, maximum: MAX_PAGES, shared: true });
    this.wasm = instantiate(this.modules, this.memory);
    this.heap = new WasmHeap(this.memory, HEAP_START, options.maxHeapBytes ?? MAX_PAGES * PAGE_BYTES);
  }

  /** Worker threads running now (threads - 1 once a parallel convolution has run, 0 before). */
  get workerCount(): number {
    return this.workers?.size ?? 0;
  }

  get workerThreadIds(): number[] {
    return this.workers?.threadIds ?? [];
  }

  /** Bytes of WebAssembly memory: grown to what the resident tensors and the largest call need, never shrunk. */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** Bytes held by resident tensors and the calls' scratch block now. */
  get heapBytesInUse(): number {
    return this.heap.bytesInUse;
  }

  /** Whether a tensor's data lives in this backend's memory (a kernel then reads it in place). */
  isResident(t: Tensor): boolean {
    return t.data instanceof Float32Array && this.resident.has(t.data);
  }

  /**
   * Gives a tensor this backend returned back to it, at once: its block may hold the next
   * output. The tensor must not be used afterwards (with `poisonReleased`, its data reads NaN).
   * Tensors in ordinary memory, and a second release, are ignored.
   */
  release(t: Tensor | Int32Array): void {
    const data = t instanceof Tensor ? t.data : t;
    if (!(data instanceof Float32Array || data instanceof Int32Array)) return;
    const address = this.resident.get(data);
    if (address === undefined) return;
    this.resident.delete(data);
    this.finalizer.unregister(data);
    if (this.poisonReleased) data.fill(NaN);
    this.heap.release(address);
  }

  /**
   * A new tensor in this backend's memory (its contents are whatever the block held). Where the
   * memory cannot grow any more, an ordinary one: everything still works, with copies.
   */
  private output(shape: Shape): Tensor {
    const size = sizeOf(shape);
    const address = this.heap.alloc(4 * size);
    if (address === null) return new Tensor(shape);
    const data = new Float32Array(this.memory.buffer, address, size);
    this.resident.set(data, address);
    this.finalizer.register(data, address, data);
    return new Tensor(shape, data);
  }

  /** A new Int32Array in this backend's memory (max pooling's argmax), or an ordinary one. */
  private outputIndices(length: number): Int32Array {
    const address = this.heap.alloc(4 * length);
    if (address === null) return new Int32Array(length);
    const data = new Int32Array(this.memory.buffer, address, length);
    this.resident.set(data, address);
    this.finalizer.register(data, address, data);
    return data;
  }

  /** The byte address of a resident tensor's data, or null. */
  private addressOf(t: Tensor): number | null {
    return t.data instanceof Float32Array ? (this.resident.get(t.data) ?? null) : null;
  }

  // -------------------------------------------------------------------------------------------
  // Convolution

  async conv2dForward(x: Tensor, w: Tensor, b: Tensor | null, options: Conv2dOptions, relu = false): Promise<Tensor> {
    const g = conv2dGeometry(x.shape, w.shape, options);
    const sub = this.dilatedRoute('forward', g);
    if (sub !== null) {
      // a dilated layer (conv6) as Winograd on its sub-sampled maps (dilated.ts)
      const ySub = await this.withSubMaps([x], g, async ([xSub]) => (await this.convolve('forward', sub, { x: xSub, w, bias: b, relu })).out);
      return this.fromSubMaps(ySub, g, g.outChannels);
    }
    return (await this.convolve('forward', g, { x, w, bias: b, relu })).out;
  }

  async conv2dBackwardInput(dy: Tensor, w: Tensor, inputShape: Shape, options: Conv2dOptions): Promise<Tensor> {
    const g = conv2dGeometry(inputShape, w.shape, options);
    const sub = this.dilatedRoute('backwardInput', g);
    if (sub !== null) {
      const dxSub = await this.withSubMaps([dy], g, ([dySub]) => this.conv2dBackwardInput(dySub, w, [sub.batch, sub.inChannels, sub.inH, sub.inW], { padding: 1 }));
      return this.fromSubMaps(dxSub, g, g.inChannels);
    }
    const transposed = transposedAsForward(g);
    if (transposed !== null) {
      // stride 1: dx is a forward convolution of dy with the weights flipped and transposed
      // (see transposedAsForward), no col2im needed
      return (await this.convolve('forward', transposed, { x: dy, w, bias: null, flipWeights: true })).out;
    }
    return (await this.convolve('backwardInput', g, { dy, w })).out;
  }

  async conv2dBackwardWeight(dy: Tensor, x: Tensor, weightShape: Shape, options: Conv2dOptions): Promise<Tensor> {
    const g = conv2dGeometry(x.shape, weightShape, options);
    return (await this.weightGradient(g, dy, x, false)).out;
  }

  conv2dBackwardBias(dy: Tensor): Promise<Tensor> {
    const [, channels] = dy.shape;
    return this.exclusive(async () => {
      const db = this.output([channels]);
      const [gradient, sums] = this.place([dy, { out: db }]);
      await this.sumBiasGradient(gradient, sums, dy.shape);
      this.collect(db, sums);
      return db;
    });
  }

  /** The weight-gradient pass (and db with biasGradient), on a dilated layer's sub-sampled maps where dilatedRoute says so. */
  private weightGradient(g: Conv2dGeometry, dy: Tensor, x: Tensor, biasGradient: boolean): Promise<ConvOutputs> {
    const sub = this.dilatedRoute('backwardWeight', g);
    if (sub === null) return this.convolve('backwardWeight', g, { dy, x, biasGradient });
    // dW of the maps sums over all of them: the layer's dW (the gathered dy is 0 past the edge)
    return this.withSubMaps([dy, x], g, ([dySub, xSub]) => this.convolve('backwardWeight', sub, { dy: dySub, x: xSub, biasGradient }));
  }

  /**
   * The undilated convolution on sub-sampled maps that runs a dilated one's pass (dilated.ts),
   * or null where the pass stays on the GEMM: the algorithm is 'gemm', the layer is not of that
   * form, or Winograd would not run the sub-maps' pass (then the GEMM on the dilated layer
   * itself, which computes no positions past the edge, does better).
   */
  dilatedRoute(pass: ConvPass, g: Conv2dGeometry): Conv2dGeometry | null {
    if (this.convAlgorithm === 'gemm' || !dilatedAsBatchApplies(g)) return null;
    if (this.convAlgorithm === 'auto' && !dilatedAsBatchPays(pass, g)) return null;
    const sub = dilatedAsBatch(g);
    const decides = pass === 'backwardInput' ? transposedAsForward(sub) : sub; // the input gradient runs as a forward pass
    if (decides === null || this.winogradTile(pass === 'backwardWeight' ? 'backwardWeight' : 'forward', decides) === null) return null;
    return sub;
  }

  /**
   * Runs fn on the sub-sampled maps of each tensor (N, C, H, W of g's map size: x or dy), gathered
   * into tensors of this backend's memory that are given back after it.
   */
  private async withSubMaps<T>(tensors: Tensor[], g: Conv2dGeometry, fn: (subMaps: Tensor[]) => Promise<T>): Promise<T> {
    const [sh, sw] = [Math.ceil(g.inH / g.dilationH), Math.ceil(g.inW / g.dilationW)];
    const subMaps = tensors.map((t) => {
      const [batch, channels, h, w] = t.shape;
      const sub = this.output([batch * g.dilationH * g.dilationW, channels, sh, sw]);
      mapDilated(t.data, sub.data, batch, channels, h, w, g.dilationH, g.dilationW, true);
      return sub;
    });
    try {
      return await fn(subMaps);
    } finally {
      for (const sub of subMaps) this.release(sub);
    }
  }

  /** The (N, channels, H, W) tensor of g's map size whose sub-sampled maps are `sub` (given back). */
  private fromSubMaps(sub: Tensor, g: Conv2dGeometry, channels: number): Tensor {
    const full = this.output([g.batch, channels, g.inH, g.inW]);
    mapDilated(full.data, sub.data, g.batch, channels, g.inH, g.inW, g.dilationH, g.dilationW, false);
    this.release(sub);
    return full;
  }

  /** dL/dw and dL/db with dy read once: the bias sums the weight gradient's dy. */
  async conv2dBackwardWeightAndBias(dy: Tensor, x: Tensor, weightShape: Shape, options: Conv2dOptions): Promise<ConvParameterGrads> {
    const g = conv2dGeometry(x.shape, weightShape, options);
    const { out, db } = await this.weightGradient(g, dy, x, true);
    if (db === null) throw new Error('wasm backend: the weight gradient returned no bias gradient');
    return { dw: out, db };
  }

  /** db[c] = the sum of dy[:, c] (dy at byte address `dy`, of shape dyShape), at byte address `db`. */
  private async sumBiasGradient(dy: number, db: number, dyShape: Shape): Promise<void> {
    const [batch, channels, h, w] = dyShape;
    const threads = this.sweepThreads(batch * channels * h * w);
    await this.run({ kind: 'biasGradient', dy, db, batch, channels, plane: h * w, tasks: planSweepTasks(1, channels, threads, 1, 1) }, threads);
  }

  /**
   * Runs one convolution pass on the tensors where they live (or copies of those in ordinary
   * memory), and returns its output (y, dx or dW) and dL/db if asked, as resident tensors.
   */
  private convolve(pass: ConvPass, g: Conv2dGeometry, inputs: ConvInputs): Promise<ConvOutputs> {
    return this.exclusive(() => this.convolveNow(pass, g, inputs));
  }

  private async convolveNow(pass: ConvPass, g: Conv2dGeometry, inputs: ConvInputs): Promise<ConvOutputs> {
    const parallel = this.threads > 1 && convFlops(g) >= this.minParallelFlops;
    const threads = parallel ? this.threads : 1;
    const outShape =
      pass === 'forward' ? [g.batch, g.outChannels, g.outH, g.outW]
      : pass === 'backwardInput' ? [g.batch, g.inChannels, g.inH, g.inW]
      : [g.outChannels, g.inChannels, g.kernelH, g.kernelW];
    const out = this.output(outShape);
    const db = inputs.biasGradient ? this.output([g.outChannels]) : null;
    const tile = this.winogradTile(pass, g);
    try {
      if (tile !== null && pass === 'forward') await this.winogradForwardInto(g, inputs, tile, threads, out);
      else if (tile !== null) await this.winogradWeightInto(g, inputs, tile, threads, out, db);
      else {
        await this.convolveInto(pass, g, inputs, threads, out, db);
        if (inputs.relu === true) await this.reluInPlace(out);
      }
    } catch (error) {
      this.release(out);
      if (db !== null) this.release(db);
      throw error;
    }
    return { out, db };
  }

  /**
   * The Winograd tile size a pass runs with, or null for the GEMM (convAlgorithm). The forward
   * pass's choice serves the input gradient too (run as a forward pass: transposedAsForward).
   */
  winogradTile(pass: ConvPass, g: Conv2dGeometry): WinogradTile | null {
    if (this.convAlgorithm === 'gemm' || pass === 'backwardInput' || !winogradApplies(g)) return null;
    const tile = recommendedWinogradTile(g, pass === 'forward' ? 'forward' : 'weight', this.maxWinogradTile);
    return this.convAlgorithm === 'winograd' ? (tile ?? 2) : tile;
  }

  /**
   * A forward pass (or a stride-1 input gradient, inputs.flipWeights) by Winograd F(m x m, 3 x 3)
   * (winograd.ts): x padded to whole tiles, U from the weights once, then the tasks write y in place.
   */
  private async winogradForwardInto(g: Conv2dGeometry, inputs: ConvInputs, m: WinogradTile, threads: number, output: Tensor): Promise<void> {
    let plan = planWinograd(g, m, threads);
    const flipped = inputs.flipWeights === true;
    const kept = inputs.w === undefined ? null : this.keptFilterTransform(inputs.w, plan, flipped);
    // U made at this call and not kept (training changes the weights at every step): with one run
    // of tiles each forward task makes its own rows of U, K block by K block, in its scratch, and
    // reads them at once from the cache; else a filter job makes all of U first (also where this
    // call makes the U that is kept). Layers of few tiles take one run where that still gives
    // the threads enough tasks (oneRunPlan).
    if (kept === null && plan.runs > 1) plan = oneRunPlan(g, m, threads) ?? plan;
    const inTasks = kept === null && plan.runs === 1;
    const [x, w, bias, y, xPadded, u, v, scratch] = this.place([
      inputs.x, kept?.ready ? null : inputs.w, inputs.bias, { out: output }, plan.paddedFloats, kept === null && !inTasks ? plan.uFloats : 0,
      plan.sharedV?.floats ?? 0, (plan.scratchBytes / 4) * threads,
    ]);
    const uAddress = kept === null ? u : kept.address;
    await this.pad(x, xPadded, g.batch * g.inChannels, g.inH, g.inW, g.padH, g.padW, plan.paddedH, plan.paddedW);
    if (!inTasks && (kept === null || !kept.ready)) await this.run(winogradFilterJob(plan, w, flipped, uAddress, scratch), threads);
    if (plan.sharedV !== null) await this.run(winogradInputJob(plan, xPadded, v, scratch), threads);
    await this.run(winogradForwardJob(plan, xPadded, uAddress, bias, y, scratch, inputs.relu === true, v, inTasks ? { w, flipped } : null), threads);
    this.collect(output, y);
  }

  /**
   * Where the filter transform U of a call lies when it is kept between calls: U depends on the
   * weights alone, so inference, which runs the same weights again and again, transforms them once
   * instead of at every call (U is 1.8 to 7 times the weights: 20-25 ms of every forward pass of
   * the full SSD300 here). Returns a kept U (ready), a block to make it in and keep (not ready), or
   * null: make it in the call's scratch as usual. A U is kept for one version of the weights'
   * values (Tensor.version: the optimizer's step and loadStateDict count a change), and only
   * from the third call with the same version on: training changes the weights between one
   * forward pass and the next, and a step's forward pass may follow one other pass with the same
   * weights (an evaluation, a test's forward pass); keeping U from the second call would allocate
   * its block in the middle of the step's activations for that one step (the memory then grew by
   * 3 times the block, measured on the batch-norm model at width / 32). The blocks go back when
   * the version changes, when the weight tensor is garbage-collected, or past keptTransformBytes
   * (then U is made per call again).
   */
  private keptFilterTransform(w: Tensor, plan: WinogradPlan, flipped: boolean): { address: number; ready: boolean } | null {
    const key = `winograd ${plan.m} ${plan.blocking.depth} ${flipped ? 'flipped' : 'as is'} ${plan.g.outChannels}x${plan.g.inChannels}`;
    return this.keptWeightTransform(w, key, 4 * plan.uFloats);
  }

  /**
   * keptFilterTransform for any array made from the weights alone: `key` names what it is (its
   * kind and everything its layout depends on), `bytes` its size. The GEMM's packed weights
   * (convolveInto) are kept the same way.
   */
  private keptWeightTransform(w: Tensor, key: string, bytes: number): { address: number; ready: boolean } | null {
    if (this.keptTransformBytes === 0) return null;
    let transforms = this.keptTransforms.get(w);
    if (transforms === undefined) {
      transforms = new Map();
      this.keptTransforms.set(w, transforms);
    }
    const kept = transforms.get(key);
    if (kept === undefined || kept.version !== w.version) {
      if (kept !== undefined) this.dropKept(kept);
      transforms.set(key, { version: w.version, calls: 1, address: null, bytes: 0 });
      return null;
    }
    if (kept.address !== null) return { address: kept.address, ready: true };
    kept.calls++;
    if (kept.calls < KEEP_FROM_CALL) return null;
    if (this.keptBytes + bytes > this.keptTransformBytes) return null;
    const address = this.heap.alloc(bytes);
    if (address === null) return null;
    kept.address = address;
    kept.bytes = bytes;
    this.keptBytes += bytes;
    this.keptFinalizer.register(w, kept, kept);
    return { address, ready: false };
  }

  /** Gives a kept filter transform's block back. */
  private dropKept(kept: KeptTransform): void {
    if (kept.address === null) return;
    this.keptFinalizer.unregister(kept);
    this.heap.release(kept.address);
    this.keptBytes -= kept.bytes;
    kept.address = null;
    kept.bytes = 0;
  }

  /** Bytes of weight transforms (Winograd's U, the GEMM's packed weights) kept between calls now (see keptFilterTransform). */
  get keptTransformBytesInUse(): number {
    return this.keptBytes;
  }

  /** dW (and db) by Winograd (winograd.ts): x and dy padded to whole tiles, the tasks' partial sums of dW added up. */
  private async winogradWeightInto(g: Conv2dGeometry, inputs: ConvInputs, m: WinogradTile, threads: number, output: Tensor, dbOutput: Tensor | null): Promise<void> {
    const plan = planWinogradWeight(g, m, threads);
    const inPlace = plan.parts === 1 && this.addressOf(output) !== null;
    const [x, dy, db, xPadded, dyPadded, dw, scratch] = this.place([
      inputs.x, inputs.dy, dbOutput === null ? null : { out: dbOutput }, plan.paddedFloats, plan.dyPaddedFloats,
      inPlace ? { out: output } : plan.parts * output.size, (plan.scratchBytes / 4) * threads,
    ]);
    if (dbOutput !== null) {
      await this.sumBiasGradient(dy, db, [g.batch, g.outChannels, g.outH, g.outW]);
      this.collect(dbOutput, db);
    }
    await this.pad(x, xPadded, g.batch * g.inChannels, g.inH, g.inW, g.padH, g.padW, plan.paddedH, plan.paddedW);
    await this.pad(dy, dyPadded, g.batch * g.outChannels, g.outH, g.outW, 0, 0, plan.dyPaddedH, plan.dyPaddedW);
    await this.run(winogradWeightJob(plan, xPadded, dyPadded, dw, scratch), threads);
    if (inPlace) return;
    const result = output.data;
    result.set(this.view(dw, output.size));
    for (let part = 1; part < plan.parts; part++) {
      const partial = this.view(dw + 4 * part * output.size, output.size);
      for (let i = 0; i < result.length; i++) result[i] += partial[i];
    }
  }

  /** `planes` planes of h x w at x, into planes of paddedH x paddedW at y from (top, left), zeros around (sweep.ts 'padPlanes'). */
  private async pad(x: number, y: number, planes: number, h: number, w: number, top: number, left: number, paddedH: number, paddedW: number): Promise<void> {
    const threads = this.prepThreads(planes * paddedH * paddedW);
    await this.run({ kind: 'padPlanes', x, y, h, w, top, left, paddedH, paddedW, tasks: planSweepTasks(1, planes, threads, 1, 1) }, threads);
  }

  private async convolveInto(pass: ConvPass, g: Conv2dGeometry, inputs: ConvInputs, threads: number, output: Tensor, dbOutput: Tensor | null): Promise<void> {
    const outLength = output.size;
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
    // The output is written in place, but for the implicit forward (y on padded rows, then
    // compacted) and a weight gradient cut into partial sums (added up at the end).
    const outAddress = this.addressOf(output);
    const tempFloats = implicit && pass === 'forward' ? g.batch * g.outChannels * Q : parts > 1 || outAddress === null ? outLength * parts : 0;
    // The operand packed once for all tasks: W (forward) or each image's dy (backward weight), as
    // A panels.
    const packedFloats =
      pass === 'forward' && method !== 'direct' ? packedAFloats(g.outChannels, K)
      : pass === 'backwardWeight' ? g.batch * packedAFloats(g.outChannels, P)
      : 0;
    const direct = inputs.flipWeights && method === 'direct';
    const taps = g.kernelH * g.kernelW;
    // The forward's packed W depends on the weights alone: kept between calls as a Winograd U is
    // (keptWeightTransform), so that inference packs each layer's weights once.
    const keptPacked = pass === 'forward' && method !== 'direct' && inputs.w !== undefined
      ? this.keptWeightTransform(inputs.w, `gemm ${inputs.flipWeights ? 'flipped' : 'as is'} ${g.outChannels}x${g.inChannels}x${taps}`, 4 * packedFloats)
      : null;
    // The scratch: copies of the inputs that are not resident, the implicit GEMM's operands, the
    // packed operand, the temporary output, then each thread's scratch.
    const [x, w, bias, dy, db, xPadded, rowsAt, flipped, packedHere, temp, scratch] = this.place([
      inputs.x, keptPacked?.ready ? null : inputs.w, inputs.bias, inputs.dy, dbOutput === null ? null : { out: dbOutput },
      paddedFloats, implicit ? K : 0, direct ? g.outChannels * K : 0, keptPacked === null ? packedFloats : 0, tempFloats, (layout.bytes / 4) * threads,
    ]);
    const packed = keptPacked === null ? packedHere : keptPacked.address;
    const out = tempFloats > 0 ? temp : (outAddress as number);
    if (implicit) {
      await this.pad(x, xPadded, g.batch * g.inChannels, g.inH, g.inW, g.padH, g.padW, paddedH, paddedW);
      const slack = g.batch * g.inChannels * paddedH * paddedW;
      this.view(xPadded + 4 * slack, paddedFloats - slack).fill(0);
      new Int32Array(this.memory.buffer).set(rowOffsets(g, paddedH, paddedW), rowsAt / 4);
    }
    if (dbOutput !== null) {
      await this.sumBiasGradient(dy, db, [g.batch, g.outChannels, g.outH, g.outW]);
      this.collect(dbOutput, db);
    }
    writeGeometry(new Int32Array(this.memory.buffer), GEOMETRY_ADDRESS, g);
    // The GEMM packs the flipped weights straight from w; the direct convolution reads them flipped.
    if (direct) this.wasm.flip_transpose(w, flipped, g.inChannels, g.outChannels, taps);
    const weights = direct ? flipped : w;
    if (pass === 'forward' && method !== 'direct' && keptPacked?.ready !== true) {
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
      pass, g, geometry: GEOMETRY_ADDRESS, x: implicit ? xPadded : x, w: weights, bias, dy, packed, out, // bias 0: none
      scratch, scratchBytes: layout.bytes, method, paddedH, paddedW, rowsAt, tasks,
    };
    await this.run(job, threads);
    if (implicit && pass === 'forward') {
      // y on padded rows -> y: keep the first outW columns of each row
      if (outAddress !== null) this.wasm.compact_rows(temp, paddedW, outAddress, g.batch * g.outChannels * g.outH, g.outW);
      else {
        this.wasm.compact_rows(temp, paddedW, temp, g.batch * g.outChannels * g.outH, g.outW);
        output.data.set(this.view(temp, outLength));
      }
    } else if (tempFloats > 0) {
      // the partial sums of dW (or an output that is not resident)
      const result = output.data;
      result.set(this.view(temp, outLength));
      for (let part = 1; part < parts; part++) {
        const partial = this.view(temp + 4 * part * outLength, outLength);
        for (let i = 0; i < outLength; i++) result[i] += partial[i];
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // The sweeps: max pooling, L2 norm, ReLU (sweep.ts). Their cost is a few passes over memory:
  // they read resident tensors in place and write resident outputs.

  maxPool2dForward(x: Tensor, options: Pool2dOptions): Promise<MaxPoolResult> {
    const g = pool2dGeometry(x.shape, options);
    const outLength = g.batch * g.channels * g.outH * g.outW;
    const twoByTwo = g.kernelH === 2 && g.kernelW === 2 && g.strideH === 2 && g.strideW === 2 && g.padH === 0 && g.padW === 0;
    return this.exclusive(async () => {
      const y = this.output([g.batch, g.channels, g.outH, g.outW]);
      const argmax = this.outputIndices(outLength);
      const argmaxAddress = this.resident.get(argmax) ?? null;
      const [input, output, indices] = this.place([x, { out: y }, argmaxAddress === null ? outLength : 0]);
      const argmaxAt = argmaxAddress ?? indices;
      writePoolGeometry(new Int32Array(this.memory.buffer), GEOMETRY_ADDRESS, g);
      const threads = this.sweepThreads(x.size);
      const tasks = planSweepTasks(1, g.batch * g.channels, threads, 1, 1);
      await this.run({ kind: 'maxPoolForward', x: input, y: output, argmax: argmaxAt, geometry: GEOMETRY_ADDRESS, twoByTwo, tasks }, threads);
      this.collect(y, output);
      if (argmaxAddress === null) argmax.set(new Int32Array(this.memory.buffer, argmaxAt, outLength));
      return { y, argmax };
    });
  }

  maxPool2dBackward(dy: Tensor, argmax: Int32Array, inputShape: Shape, options: Pool2dOptions): Promise<Tensor> {
    const g = pool2dGeometry(inputShape, options);
    return this.exclusive(async () => {
      const dx = this.output(inputShape);
      const [gradient, maxima, output] = this.place([dy, argmax, { out: dx }]);
      writePoolGeometry(new Int32Array(this.memory.buffer), GEOMETRY_ADDRESS, g);
      const threads = this.sweepThreads(dx.size);
      const tasks = planSweepTasks(1, g.batch * g.channels, threads, 1, 1);
      await this.run({ kind: 'maxPoolBackward', dy: gradient, argmax: maxima, dx: output, geometry: GEOMETRY_ADDRESS, tasks }, threads);
      this.collect(dx, output);
      return dx;
    });
  }

  l2NormForward(x: Tensor, scale: Tensor, eps: number): Promise<L2NormResult> {
    const [batch, channels, h, w] = x.shape;
    const plane = h * w;
    return this.exclusive(async () => {
      const y = this.output(x.shape);
      const norm = this.output([batch, 1, h, w]);
      const [input, scales, output, norms] = this.place([x, scale, { out: y }, { out: norm }]);
      const threads = this.sweepThreads(x.size);
      const tasks = planSweepTasks(batch, plane, threads, 16, 4);
      await this.run({ kind: 'l2NormForward', x: input, scale: scales, y: output, norm: norms, channels, plane, eps, tasks }, threads);
      this.collect(y, output);
      this.collect(norm, norms);
      return { y, norm };
    });
  }

  l2NormBackward(dy: Tensor, x: Tensor, scale: Tensor, norm: Tensor): Promise<L2NormGrads> {
    const [batch, channels, h, w] = x.shape;
    const plane = h * w;
    const threads = this.sweepThreads(x.size);
    const tasks = planSweepTasks(batch, plane, threads, 16, 2);
    const parts = tasks.length / SWEEP_TASK_FIELDS; // each task writes its own float64 partial sums of dscale
    return this.exclusive(async () => {
      const dx = this.output(x.shape);
      const [gradient, input, scales, norms, output, partials] = this.place([dy, x, scale, norm, { out: dx }, 2 * channels * parts]);
      await this.run({ kind: 'l2NormBackward', dy: gradient, x: input, scale: scales, norm: norms, dx: output, dscale: partials, channels, plane, tasks }, threads);
      this.collect(dx, output);
      const sums = new Float64Array(this.memory.buffer, partials, channels * parts);
      const dscale = new Float64Array(channels);
      for (let part = 0; part < parts; part++) for (let c = 0; c < channels; c++) dscale[c] += sums[part * channels + c];
      return { dx, dscale: new Tensor(scale.shape, Float32Array.from(dscale)) };
    });
  }

  // Batch norm (batchnorm.wat): the per-channel sums in float64, shared out by channels; the
  // element-wise maps in float32, shared out by planes. The per-channel numbers travel through the
  // scratch block: float64 pairs out of the sums, float32 quadruples into the maps.

  batchNormStatistics(x: Tensor): Promise<BatchNormStatistics> {
    const [batch, channels, h, w] = x.shape;
    return this.exclusive(async () => {
      const [input, stats] = this.place([x, 4 * channels]); // (mean, variance) as float64 pairs
      const threads = this.sweepThreads(x.size);
      const tasks = planSweepTasks(1, channels, threads, 1, 1);
      await this.run({ kind: 'batchNormStatistics', x: input, stats, batch, channels, plane: h * w, tasks }, threads);
      const pairs = new Float64Array(this.memory.buffer, stats, 2 * channels);
      const mean = new Float64Array(channels);
      const variance = new Float64Array(channels);
      for (let c = 0; c < channels; c++) {
        mean[c] = pairs[2 * c];
        variance[c] = pairs[2 * c + 1];
      }
      return { mean, variance };
    });
  }

  batchNormForward(x: Tensor, affine: BatchNormAffine, relu = false): Promise<Tensor> {
    const [, channels, h, w] = x.shape;
    return this.exclusive(async () => {
      const y = this.output(x.shape);
      const [input, output, coefficients] = this.place([x, { out: y }, 4 * channels]);
      this.writeCoefficients(coefficients, affine.mean, affine.scale, affine.shift, null);
      const threads = this.sweepThreads(x.size);
      const tasks = planSweepTasks(1, x.shape[0] * channels, threads, 1, 1);
      await this.run({ kind: 'batchNormForward', x: input, y: output, coefficients, channels, plane: h * w, relu, tasks }, threads);
      this.collect(y, output);
      return y;
    });
  }

  batchNormBackwardSums(dy: Tensor, x: Tensor, mean: Float64Array, reluOutput: Tensor | null = null): Promise<BatchNormSums> {
    const [batch, channels, h, w] = x.shape;
    return this.exclusive(async () => {
      const [gradient, input, mask, means, sums] = this.place([dy, x, reluOutput, 2 * channels, 4 * channels]);
      new Float64Array(this.memory.buffer, means, channels).set(mean);
      const threads = this.sweepThreads(x.size);
      const tasks = planSweepTasks(1, channels, threads, 1, 1);
      await this.run({ kind: 'batchNormBackwardSums', dy: gradient, x: input, mask, means, sums, batch, channels, plane: h * w, tasks }, threads);
      const pairs = new Float64Array(this.memory.buffer, sums, 2 * channels);
      const sumDy = new Float64Array(channels);
      const sumDyCentered = new Float64Array(channels);
      for (let c = 0; c < channels; c++) {
        sumDy[c] = pairs[2 * c];
        sumDyCentered[c] = pairs[2 * c + 1];
      }
      return { sumDy, sumDyCentered };
    });
  }

  batchNormBackwardInput(dy: Tensor, x: Tensor, gradient: BatchNormInputGradient, reluOutput: Tensor | null = null): Promise<Tensor> {
    const [, channels, h, w] = x.shape;
    return this.exclusive(async () => {
      const dx = this.output(x.shape);
      const [gradientIn, input, mask, output, coefficients] = this.place([dy, x, reluOutput, { out: dx }, 4 * channels]);
      this.writeCoefficients(coefficients, gradient.mean, gradient.dyScale, gradient.xScale, gradient.shift);
      const threads = this.sweepThreads(x.size);
      const tasks = planSweepTasks(1, x.shape[0] * channels, threads, 1, 1);
      await this.run({ kind: 'batchNormBackwardInput', dy: gradientIn, x: input, mask, dx: output, coefficients, channels, plane: h * w, tasks }, threads);
      this.collect(dx, output);
      return dx;
    });
  }

  /**
   * batchnorm.wat's coefficients: per channel c, four float32 at address + 16 c. Forward
   * (d null): the affine map (x - mean) * scale + shift as (mean, scale, shift, 0); backward:
   * dyScale * dy + xScale * (x - mean) + shift as (mean, dyScale, xScale, shift). The mean is
   * rounded to float32 (hi), and what that loses (lo = mean - hi) goes into the shift, in float64:
   * (x - mean) * s + t = (x - hi) * s + (t - s * lo). Otherwise a channel whose mean is large
   * next to its spread would lose digits (x ~ 100 +- 0.1: hi is 100 +- 4e-6, which the scale of
   * 10 would turn into an error of 4e-5 in y).
   */
  private writeCoefficients(address: number, mean: Float64Array, a: Float64Array, b: Float64Array, d: Float64Array | null): void {
    const quadruples = new Float32Array(this.memory.buffer, address, 4 * mean.length);
    for (let c = 0; c < mean.length; c++) {
      const hi = Math.fround(mean[c]);
      const lo = mean[c] - hi;
      quadruples[4 * c] = hi;
      if (d === null) {
        quadruples[4 * c + 1] = a[c]; // scale
        quadruples[4 * c + 2] = b[c] - a[c] * lo; // shift
        quadruples[4 * c + 3] = 0;
      } else {
        quadruples[4 * c + 1] = a[c]; // dyScale
        quadruples[4 * c + 2] = b[c]; // xScale
        quadruples[4 * c + 3] = d[c] - b[c] * lo; // shift
      }
    }
  }

  // The optimizer. SGD's float32 step in WebAssembly SIMD (sgd.ts): in place, on every thread,
  // where the parameter, its gradient and its momentum buffer are resident (a model's are: see
  // zeros below), else through the scratch in chunks. Gradient clipping's sum of squares in SIMD
  // on resident gradients (partial sums over fixed chunks, added in order: the same total on any
  // number of threads), else the reference's loop; its scaling is the reference's loop (rare).
  // Measured on the full SSD300's 26 million parameters (a batch-1 training step, 2 threads,
  // parameters moved into this memory against left in ordinary memory): the SGD step 117 -> 44 ms
  // (its float64 arithmetic, not the memory, is the limit), the sum of squares 57 -> 15 ms.

  sgdStep(value: Tensor, grad: Tensor, buf: Tensor | null, step: SgdStep): Promise<void> {
    return this.exclusive(async () => {
      const [v, g, b] = [this.addressOf(value), this.addressOf(grad), buf === null ? 0 : this.addressOf(buf)];
      if (v === null || g === null || b === null) {
        const [scratch] = this.arena([3 * SGD_CHUNK]);
        sgdChunks(this.wasm, this.memory, scratch, f32(value), f32(grad), buf === null ? null : f32(buf), step);
      } else {
        // Whole vectors: the lanes past the end lie in the blocks' own padding (heap.ts: 64-byte blocks).
        const length = Math.ceil(value.size / 4) * 4;
        const threads = this.sweepThreads(length);
        await this.run({ kind: 'sgdStep', value: v, grad: g, buf: b, ...sgdArguments(step), tasks: planSweepTasks(1, length, threads, 4096, 4) }, threads);
      }
      value.changed(); // the kept filter transforms of these weights are out of date (keptFilterTransform)
      buf?.changed();
    });
  }

  sumOfSquares(t: Tensor): Promise<number> {
    return this.exclusive(async () => {
      const x = this.addressOf(t);
      if (x === null) return reference.sumOfSquares(t);
      const tasks = planSumTasks(t.size);
      const count = tasks.length / SWEEP_TASK_FIELDS;
      const [partials] = this.arena([2 * count]); // count float64s
      const threads = this.sweepThreads(t.size);
      await this.run({ kind: 'sumOfSquares', x, partials, tasks }, threads);
      const sums = new Float64Array(this.memory.buffer, partials, count);
      let total = 0;
      for (let i = 0; i < count; i++) total += sums[i];
      return total;
    });
  }

  async scaleInPlace(t: Tensor, s: number): Promise<void> {
    reference.scaleInPlace(t, s);
  }

  // The MultiBox loss's confidence term (kernels/cross_entropy.ts's loops, in JavaScript on every
  // thread over ranges of priors: the reference's bits, its exp and log being exact_math's). The
  // whole loss (ssd/loss.ts, multiboxLossOn against multiboxLoss; 2 threads, medians of 9, one
  // process): 16 images x 6 classes (the trainer's batch) 51.7 -> 33.4 ms; 1 image x 21 classes
  // 7.8 -> 4.8 ms. The rest is the checks, matching's leftovers, mining and the sums: one thread.

  priorCrossEntropy(scores: Tensor, classTargets: Int32Array): Promise<PriorCrossEntropy> {
    return this.exclusive(async () => {
      const [, , classes] = scores.shape;
      const priors = classTargets.length;
      // logSum and ce: 2 * priors floats each (float64), 64-byte aligned by the arena
      const [s, t, logSum, ce] = this.place([scores, classTargets, 2 * priors, 2 * priors]);
      const threads = this.sweepThreads(priors * classes * 8); // exp and log cost far more than a copy per element
      await this.run({ kind: 'priorCrossEntropy', scores: s, classTargets: t, classes, priors, logSum, ce, tasks: planSweepTasks(1, priors, threads, 256, 1) }, threads);
      return { logSum: new Float64Array(this.memory.buffer, logSum, priors).slice(), ce: new Float64Array(this.memory.buffer, ce, priors).slice() };
    });
  }

  priorCrossEntropyGradient(scores: Tensor, classTargets: Int32Array, logSum: Float64Array, counted: Uint8Array, divisor: number): Promise<Tensor> {
    return this.exclusive(async () => {
      const [, , classes] = scores.shape;
      const priors = classTargets.length;
      const dScores = this.output(scores.shape);
      const [s, t, sums, mask, out] = this.place([scores, classTargets, 2 * priors, Math.ceil(priors / 4), { out: dScores }]);
      new Float64Array(this.memory.buffer, sums, priors).set(logSum);
      new Uint8Array(this.memory.buffer, mask, priors).set(counted);
      const threads = this.sweepThreads(priors * classes * 8);
      await this.run({
        kind: 'priorCrossEntropyGradient', scores: s, classTargets: t, classes, priors, logSum: sums, counted: mask, divisor, dScores: out,
        tasks: planSweepTasks(1, priors, threads, 256, 1),
      }, threads);
      this.collect(dScores, out);
      return dScores;
    });
  }

  /** Zeros in this backend's memory (resident: every kernel reads them in place), or ordinary ones. */
  zeros(shape: Shape, dtype: DType = 'float32'): Tensor {
    if (dtype !== 'float32' || this.disposed) return new Tensor(shape, undefined, dtype);
    const t = this.output(shape);
    t.data.fill(0); // a reused block holds what its last tensor left
    return t;
  }

  // ReLU runs in WebAssembly (relu.wat): branch-free, on resident tensors in place.

  /** y = max(y, 0) in place (a convolution's output, the ReLU that follows it: see conv2dForward). */
  private async reluInPlace(y: Tensor): Promise<void> {
    const address = this.addressOf(y);
    if (address === null) {
      reference.reluInPlace(y); // y in ordinary memory (this memory was full)
      return;
    }
    const threads = this.sweepThreads(y.size);
    await this.run({ kind: 'reluForward', x: address, y: address, tasks: planSweepTasks(1, y.size, threads, 4096, 4) }, threads);
  }

  reluForward(x: Tensor): Promise<Tensor> {
    return this.exclusive(async () => {
      const y = this.output(x.shape);
      const [input, output] = this.place([x, { out: y }]);
      const threads = this.sweepThreads(x.size);
      await this.run({ kind: 'reluForward', x: input, y: output, tasks: planSweepTasks(1, x.size, threads, 4096, 4) }, threads);
      this.collect(y, output);
      return y;
    });
  }

  reluBackward(dy: Tensor, y: Tensor): Promise<Tensor> {
    return this.exclusive(async () => {
      const dx = this.output(dy.shape);
      const [gradient, output, result] = this.place([dy, y, { out: dx }]);
      const threads = this.sweepThreads(dy.size);
      await this.run({ kind: 'reluBackward', dy: gradient, y: output, dx: result, tasks: planSweepTasks(1, dy.size, threads, 4096, 4) }, threads);
      this.collect(dx, result);
      return dx;
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

  /** A view of `length` floats of the shared memory at byte address `address` (valid until the memory grows). */
  private view(address: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, address, length);
  }

  /** Copies an output that the kernel wrote into the scratch (it is not resident) into its tensor. */
  private collect(t: Tensor, address: number): void {
    if (this.addressOf(t) !== address) t.data.set(this.view(address, t.size));
  }

  /** Runs fn alone: calls share the scratch block, and a caller may start several without awaiting each. */
  private exclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new Error('WasmKernels: used after dispose()'));
    const result = this.queue.then(fn);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * The byte addresses of a call's operands (see Operand): a resident tensor's own; an input in
   * ordinary memory, or an Int32Array, copied into the scratch block, and an output there waiting
   * for collect(); a number, that many floats of the scratch; 0 for null, undefined or 0 floats
   * (an operand the call does not have).
   */
  private place(operands: Operand[]): number[] {
    const tensorOf = (o: Operand): Tensor | null => (o instanceof Tensor ? o : typeof o === 'object' && o !== null && 'out' in o ? o.out : null);
    const floats = operands.map((o) => {
      if (typeof o === 'number') return o;
      if (o === null || o === undefined) return 0;
      const t = tensorOf(o);
      if (t === null) return this.resident.has(o as Int32Array) ? 0 : (o as Int32Array).length;
      return this.addressOf(t) === null ? t.size : 0;
    });
    const addresses = this.arena(floats);
    return operands.map((o, i) => {
      if (o === null || o === undefined || o === 0) return 0;
      if (typeof o === 'number') return addresses[i];
      const t = tensorOf(o);
      if (t === null) {
        const own = this.resident.get(o as Int32Array);
        if (own !== undefined) return own;
        new Int32Array(this.memory.buffer, addresses[i], (o as Int32Array).length).set(o as Int32Array);
        return addresses[i];
      }
      const own = this.addressOf(t);
      if (own !== null) return own;
      if (o instanceof Tensor) this.view(addresses[i], t.size).set(t.data); // an input: its values
      return addresses[i];
    });
  }

  /** Places arrays of these many floats in the scratch block (64-byte aligned), growing it to hold them. */
  private arena(floats: number[]): number[] {
    const offsets: number[] = [];
    let bytes = 0;
    for (const n of floats) {
      offsets.push(bytes);
      bytes = roundUp(bytes + 4 * n, BLOCK_ALIGN);
    }
    if (this.scratch === null || this.scratch.bytes < bytes) {
      if (this.scratch !== null) this.heap.release(this.scratch.address);
      this.scratch = null;
      const size = roundUp(bytes + (bytes >> 3), BLOCK_ALIGN); // some room, so that a slightly larger call does not move it
      const address = this.heap.alloc(size);
      if (address === null) throw new Error(`wasm backend: a call needs ${bytes} bytes of scratch, more than the 4 GiB WebAssembly memory has left`);
      this.scratch = { address, bytes: size };
    }
    const base = this.scratch.address;
    return offsets.map((offset) => base + offset);
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
export function transposedAsForward(g: Conv2dGeometry): Conv2dGeometry | null {
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
