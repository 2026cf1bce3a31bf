// The plumbing between our tensors and GPU.js: one GPU instance, a cache of compiled kernels,
// the layout of tensors as GPU.js arrays, and the check that the backend we asked for is the one
// that ran.
//
// GPU.js kernels compute one output element per thread (this.thread.x, .y, .z). Every tensor goes
// in and comes out as a 3-D array [x, y, z] (x fastest), e.g. an NCHW tensor as [W, H, N*C]. Three
// reasons not to use flat 1-D arrays:
//  - on 'webasm' a flat index kept in a local variable is an f32 and reads the wrong element past
//    2^24 (16.7M elements: a batch of conv1 activations). A subscript x[z][y][x] is turned into a
//    flat index by GPU.js itself, in i32; each of our own subscripts stays far below 2^24.
//  - h and w come straight from thread.y and thread.x: no integer division (slow on 'webasm',
//    inexact on some GL drivers) to take a flat index apart. Only n is recovered from z = n*C + c,
//    by counting (see conv.ts).
//  - 'webasm' computes four x-neighbours per SIMD step: rows are what it vectorizes.
//
// Traps of GPU.js 2.24 handled here, each with a regression test in spec/kernels/gpujs.spec.ts:
//  - `setConstants` after the first call is ignored, and a loop bound passed as an argument is
//    silently capped at `loopMaxIterations`: every kernel is compiled for one geometry, with all
//    sizes baked in as integer constants, and cached under a key naming that geometry.
//  - kernels created again and again without `destroy()` leak: the cache compiles each geometry
//    once, destroys the least recently used kernels beyond `maxKernels` (each 'webasm' kernel owns
//    its wasm memory and its own worker threads), and `destroy()` releases every kernel and the
//    GPU instance.
//  - `pipeline: true` with `immutable: false` hands back the same buffer on the next call (GL, cpu):
//    pipeline is never used; every result is copied into a tensor of its own.
//  - GPU.js silently falls back to another backend: `run` checks, on every call, which kernel class
//    actually ran, and throws if it is not the one asked for.
//  - 'webasm' workers use SIMD only when the output width is a multiple of 4: `paddedWidth` pads x.
//  - (in pool.ts) GL turns Infinity into 3.4e38: max pooling never starts from -Infinity.

// gpu.js's own type definitions need the DOM library (WebGLRenderingContext, HTMLImageElement...),
// which this Node project does not compile with, so we load it untyped and declare what we use.

/** `this` inside an element function: the thread's output position and the baked-in constants. */
export interface KernelThis<C> {
  readonly thread: { readonly x: number; readonly y: number; readonly z: number };
  readonly constants: C;
}

/** An element function: `this` is a KernelThis, the arguments are numbers or 1-3-D arrays. */
export type ElementFunction = (...args: never[]) => number;

export interface GpuJsKernel {
  constructor: { name: string };
  fallbackReason?: string | null;
}
interface GpuJsShortcut {
  (...args: unknown[]): Promise<unknown>;
  kernel: GpuJsKernel;
  destroy(): void;
}
interface GpuJsInstance {
  Kernel: { name: string } | null;
  createKernel(fn: ElementFunction, settings: object): GpuJsShortcut;
  destroy(): Promise<void>;
}
/** A flat array passed to a kernel as a 1-3-D array. */
export interface GpuJsInput {
  value: Float32Array;
  size: number[];
}
interface GpuJsModule {
  GPU: new (settings: { mode: string }) => GpuJsInstance;
  Input: new (value: Float32Array, size: number[]) => GpuJsInput;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const gpujs = require('gpu.js') as GpuJsModule;

export type GpuJsMode = 'webasm' | 'headlessgl' | 'cpu' | 'webgl2' | 'webgl';

/** The modes that run in Node. */
export const GPUJS_MODES: readonly GpuJsMode[] = ['webasm', 'headlessgl', 'cpu'];
/** The modes that run only in a browser (web/): the same kernels as WebGL shaders. */
export const GPUJS_BROWSER_MODES: readonly GpuJsMode[] = ['webgl2', 'webgl'];

/** The GPU.js kernel class that runs each mode; anything else means GPU.js fell back silently. */
const KERNEL_CLASS: Record<GpuJsMode, string> = {
  webasm: 'WebAssemblyKernel',
  headlessgl: 'HeadlessGLKernel',
  cpu: 'CPUKernel',
  webgl2: 'WebGL2Kernel',
  webgl: 'WebGLKernel',
};

/** The mode name of each GPU.js kernel class (HeadlessGLKernel.mode itself just says 'gpu'). */
const MODE_OF_CLASS: Record<string, string> = {
  WebAssemblyKernel: 'webasm',
  HeadlessGLKernel: 'headlessgl',
  WebGLKernel: 'webgl',
  WebGL2Kernel: 'webgl2',
  WebGPUKernel: 'webgpu',
  CPUKernel: 'cpu',
};

/** A 3-D result of GPU.js: result[z][y] is one row of x values. */
type Rows3D = Float32Array[][];

/** The size of a GPU.js 3-D array or output, x fastest. */
export type Dims3 = [number, number, number];

/** What one kernel needs to be compiled: its function, output size and baked-in constants. */
export interface KernelSpec {
  /** The per-element function; it reads `this.thread` and `this.constants`. */
  fn: ElementFunction;
  /** Output [x, y, z]; x may be padded beyond the useful width (see `paddedWidth`). */
  output: Dims3;
  /** Integer sizes baked into the kernel (loop bounds, strides...). */
  constants: Record<string, number>;
  /** Names of constants that are not integers (e.g. an epsilon). */
  floatConstants?: readonly string[];
}

/** A compiled kernel and what we know about it. */
export interface CachedKernel {
  readonly key: string;
  readonly shortcut: GpuJsShortcut;
  readonly output: Dims3;
  /** Calls in flight: a kernel is never destroyed while it runs. */
  running: number;
}

/**
 * How many compiled kernels to keep by default. Each one holds what it was built for: on 'webasm'
 * its own WebAssembly memory (inputs and output) and its own pool of worker threads (measured:
 * 40 kernels, 80 workers, +660 MB resident); on GL its shader and textures. SSD300 training
 * uses about 150 kernel geometries, so an unbounded cache would hold gigabytes; the least
 * recently used kernels beyond this bound are destroyed, and compiled again when needed.
 */
export const DEFAULT_MAX_KERNELS = 32;

export class GpuJsRuntime {
  readonly mode: GpuJsMode;
  private gpu: GpuJsInstance | null;
  /** Least recently used first (a Map keeps insertion order; a used kernel is moved to the end). */
  private readonly kernels = new Map<string, CachedKernel>();
  private readonly maxKernels: number;
  /** How many kernels were destroyed to respect `maxKernels`. */
  evictions = 0;
  /** The mode that actually ran the kernels, known after the first kernel call. */
  actualMode: string | null = null;

  constructor(mode: GpuJsMode, maxKernels = DEFAULT_MAX_KERNELS) {
    if (!GPUJS_MODES.includes(mode) && !GPUJS_BROWSER_MODES.includes(mode)) {
      throw new Error(`gpu.js: unknown mode '${mode}' (expected one of ${[...GPUJS_MODES, ...GPUJS_BROWSER_MODES].join(', ')})`);
    }
    // A host function may fetch two kernels before running them (max pooling: values and argmax).
    if (!Number.isInteger(maxKernels) || maxKernels < 4) throw new Error(`gpu.js: maxKernels must be an integer >= 4, got ${maxKernels}`);
    this.mode = mode;
    this.maxKernels = maxKernels;
    // GPU.js throws here when the mode is not supported at all (e.g. 'headlessgl' without an X
    // server): we let that error through rather than pick another backend.
    try {
      this.gpu = new gpujs.GPU({ mode });
    } catch (e) {
      const hint = mode === 'headlessgl' ? ' (headlessgl needs an X server: run under `xvfb-run -a`, and the `gl` package built)' : '';
      throw new Error(`gpu.js: mode '${mode}' is not available here${hint}: ${(e as Error).message}`);
    }
    const chosen = this.gpu.Kernel;
    if (!chosen || chosen.name !== KERNEL_CLASS[mode]) {
      throw new Error(`gpu.js: asked for mode '${mode}' but GPU.js chose ${chosen ? chosen.name : 'no kernel class'}`);
    }
  }

  /** Number of compiled kernels held (one per kernel kind and geometry). */
  get cacheSize(): number {
    return this.kernels.size;
  }

  /** The key and output size of every compiled kernel, for tests and debugging. */
  kernelOutputs(): { key: string; output: Dims3 }[] {
    return [...this.kernels.values()].map((k) => ({ key: k.key, output: k.output }));
  }

  /**
   * The output width to compute for `width` useful columns. On 'webasm' the worker threads only
   * use SIMD when the output width is a multiple of 4, so we pad and crop afterwards. Measured on
   * a conv 256 -> 256 3x3, batch 8: width 19 -> 20 ran 2.6x faster, 10 -> 12 2.5x, 3 -> 4 1.4x;
   * 1 -> 4 was 15% slower, so widths below 3 are left alone. Kernels must guard the padded
   * columns: they may not read past the end of their inputs.
   */
  paddedWidth(width: number): number {
    if (this.mode !== 'webasm' || width < 3) return width;
    return Math.ceil(width / 4) * 4;
  }

  /** The compiled kernel for `key`, compiling it on first use. */
  kernel(key: string, spec: () => KernelSpec): CachedKernel {
    const cached = this.kernels.get(key);
    if (cached) {
      this.kernels.delete(key); // now the most recently used
      this.kernels.set(key, cached);
      return cached;
    }
    const gpu = this.live();
    const s = spec();
    const constantTypes: Record<string, 'Integer' | 'Float'> = {};
    for (const [name, value] of Object.entries(s.constants)) {
      const isFloat = s.floatConstants?.includes(name) ?? false;
      if (!isFloat && !Number.isInteger(value)) throw new Error(`gpu.js kernel ${key}: constant ${name} = ${value} is not an integer`);
      constantTypes[name] = isFloat ? 'Float' : 'Integer';
    }
    // Loop bounds are constants, which GPU.js treats as safe (uncapped) loops; loopMaxIterations
    // still caps any loop it does not recognise, so make it larger than every size we baked in.
    const largest = Math.max(1000, ...Object.values(s.constants).map((v) => Math.abs(v)));
    const shortcut = gpu.createKernel(s.fn, {
      output: s.output,
      constants: s.constants,
      constantTypes,
      loopMaxIterations: 2 * largest + 1,
      // Every call returns a Promise; on 'webasm' this is what lets GPU.js split the work over its
      // worker threads.
      asyncMode: true,
      // No pipeline: results come back as arrays and are copied at once (with `pipeline: true`
      // and `immutable: false`, GL and cpu would hand back the same buffer on the next call).
      pipeline: false,
      precision: 'single',
      tactic: 'precision', // highp floats on GL
      dynamicOutput: false,
      dynamicArguments: false,
    });
    const entry: CachedKernel = { key, shortcut, output: s.output, running: 0 };
    this.kernels.set(key, entry);
    this.evict();
    return entry;
  }

  /** Destroys the least recently used idle kernels while there are more than `maxKernels`. */
  private evict(): void {
    for (const [key, entry] of this.kernels) {
      if (this.kernels.size <= this.maxKernels) return;
      if (entry.running > 0) continue;
      this.kernels.delete(key);
      entry.shortcut.destroy();
      this.evictions++;
    }
  }

  /** Runs a kernel with a 3-D output and returns its rows; throws if another backend ran it. */
  async run(kernel: CachedKernel, args: unknown[]): Promise<Rows3D> {
    if (!this.kernels.has(kernel.key)) throw new Error(`gpu.js kernel ${kernel.key}: run after it was destroyed`);
    kernel.running++;
    let result: Rows3D;
    try {
      result = (await kernel.shortcut(...args)) as Rows3D;
    } finally {
      kernel.running--;
    }
    this.actualMode = checkRanOn(this.mode, kernel.shortcut, kernel.key);
    const [, y, z] = kernel.output;
    if (!Array.isArray(result) || result.length !== z || !Array.isArray(result[0]) || result[0].length !== y) {
      throw new Error(`gpu.js kernel ${kernel.key}: unexpected result layout for output ${kernel.output.join('x')}`);
    }
    return result;
  }

  /** Destroys every compiled kernel and the GPU instance (its GL context or worker threads). */
  async destroy(): Promise<void> {
    for (const k of this.kernels.values()) k.shortcut.destroy();
    this.kernels.clear();
    const gpu = this.gpu;
    this.gpu = null;
    if (gpu) await gpu.destroy();
  }

  private live(): GpuJsInstance {
    if (!this.gpu) throw new Error(`gpu.js (${this.mode}): used after dispose()`);
    return this.gpu;
  }
}

/**
 * Throws unless the GPU.js kernel behind `shortcut` runs in `mode`; returns the mode that ran.
 * GPU.js replaces a kernel it cannot build (a kernel map or an image argument on 'webasm', an
 * argument type a GL backend lacks...) by a CPU kernel, saying so only on the console.
 */
export function checkRanOn(mode: GpuJsMode, shortcut: { kernel: GpuJsKernel }, what: string): string {
  const inner = shortcut.kernel;
  const className = inner.constructor.name;
  const ran = MODE_OF_CLASS[className] ?? className;
  if (className !== KERNEL_CLASS[mode]) {
    const reason = inner.fallbackReason ? ` (${inner.fallbackReason})` : '';
    throw new Error(`gpu.js: asked for mode '${mode}' but kernel ${what} ran on '${ran}'${reason}`);
  }
  return ran;
}

// ---------------------------------------------------------------------------------------------
// Layout helpers

/** A flat float32 array seen by a kernel as a 3-D array [x, y, z] (x fastest). */
export function as3D(data: Float32Array, dims: Dims3): GpuJsInput {
  if (data.length !== dims[0] * dims[1] * dims[2]) {
    throw new Error(`gpu.js: ${data.length} values cannot be viewed as [${dims.join(', ')}]`);
  }
  return new gpujs.Input(data, dims);
}

/** Copies a 3-D result into one flat array, keeping the first `width` values of each row. */
export function flattenRows(rows: Rows3D, width: number, into: Float32Array = new Float32Array(rows.length * rows[0].length * width)): Float32Array {
  let offset = 0;
  for (const plane of rows) {
    for (const row of plane) {
      into.set(row.length === width ? row : row.subarray(0, width), offset);
      offset += width;
    }
  }
  if (offset !== into.length) throw new Error(`gpu.js: result has ${offset} values, expected ${into.length}`);
  return into;
}
