// Loading the WebAssembly of the 'wasm' backend, and what this engine can run.
//
// Small modules, assembled from the hand-written text beside this file by
// scripts/build-wasm.js (run by `npm run build`) into dist/kernels/wasm/*.wasm:
//   pack.wasm              im2col / col2im, the GEMM's operand packing (scalar), padding and cutting rows
//   gemm-4x8-simd.wasm     the GEMM macro-kernel (packed B, or B read in place: gemm_rows), SIMD128 multiply then add
//   gemm-4x8-relaxed.wasm  the same with f32x4.relaxed_madd (a fused multiply-add on x86 with FMA)
//   relu.wasm              ReLU forward and backward
//   direct.wasm            direct convolution (stride 1, few output channels: no im2col)
//   sweep.wasm             max pooling, the L2 norm and the bias gradient (float64 sums in f64x2)
//   batchnorm.wasm         batch norm's per-channel sums (float64) and element-wise maps
//   sgd.wasm               SGD's float32 step (sgd.ts runs it over the parameters in chunks)
//   winograd.wasm          the Winograd convolutions' tile tables (winograd.ts plans them)
//   winograd-2x2.wasm, winograd-4x4.wasm, winograd-6x6.wasm
//                          their filter, input and output transforms, F(m x m, 3 x 3) for m = 2, 4, 6
// All of them import one shared WebAssembly.Memory: the main thread and every worker instantiate
// the same compiled modules on that same memory, so they read and write the same bytes.

import * as fs from 'fs';
import * as path from 'path';
import * as v8 from 'v8';

/** The two micro-kernel variants. 'relaxed' needs relaxed SIMD, which Node 20 hides behind a flag. */
export type MicroKernel = 'simd' | 'relaxed';

/** The compiled modules (WebAssembly.Module can be posted to a worker, compiled once). */
export interface WasmModules {
  pack: WebAssembly.Module;
  gemm: WebAssembly.Module;
  relu: WebAssembly.Module;
  sweep: WebAssembly.Module;
  direct: WebAssembly.Module;
  batchNorm: WebAssembly.Module;
  sgd: WebAssembly.Module;
  winograd: WebAssembly.Module;
  winograd2x2: WebAssembly.Module;
  winograd4x4: WebAssembly.Module;
  winograd6x6: WebAssembly.Module;
  microKernel: MicroKernel;
}

/** The exported functions, as the .wat files declare them (addresses are byte offsets). */
export interface WasmExports {
  /** The shared memory itself (sweep.wat exports it again), for tasks written in JavaScript. */
  memory: WebAssembly.Memory;
  pack_a(src: number, rowStride: number, colStride: number, mc: number, kc: number, dst: number): void;
  pack_b(src: number, rowStride: number, colStride: number, kc: number, nc: number, dst: number): void;
  im2col_pack(x: number, geometry: number, t0: number, nt: number, q0: number, nq: number, dst: number): void;
  im2col_pack_transposed(x: number, geometry: number, t0: number, nt: number, q0: number, nq: number, dst: number): void;
  pack_rows_transposed(x: number, rowsAt: number, nt: number, paddedW: number, outW: number, q0: number, nq: number, dst: number): void;
  col2im_add(dcol: number, ld: number, geometry: number, r0: number, rows: number, q0: number, nq: number, dx: number): void;
  flip_transpose(w: number, dst: number, outChannels: number, inChannels: number, taps: number): void;
  pack_a_flipped(w: number, outChannels: number, inChannels: number, taps: number, m0: number, mc: number, k0: number, kc: number, dst: number): void;
  conv_direct(
    x: number, w: number, bias: number, y: number, geometry: number, inChannels: number, rows: number, ldw: number, yPlane: number,
    oy0: number, oy1: number, tmp: number,
  ): void;
  fill_rows(c: number, ldc: number, rows: number, cols: number, bias: number): void;
  gemm(mc: number, nc: number, kc: number, a: number, b: number, c: number, ldc: number, tmp: number): void;
  gemm_rows(mc: number, nc: number, kc: number, a: number, x: number, rowsAt: number, c: number, ldc: number, tmp: number): void;
  pad_planes(src: number, dst: number, planes: number, h: number, w: number, top: number, left: number, paddedH: number, paddedW: number): void;
  compact_rows(src: number, srcStride: number, dst: number, rows: number, width: number): void;
  relu_forward(x: number, y: number, n: number): void;
  relu_backward(dy: number, y: number, dx: number, n: number): void;
  maxpool_forward(x: number, y: number, argmax: number, geometry: number, p0: number, p1: number): void;
  maxpool2x2_forward(x: number, y: number, argmax: number, geometry: number, p0: number, p1: number): void;
  maxpool_backward(dy: number, argmax: number, dx: number, geometry: number, p0: number, p1: number): void;
  bias_gradient(dy: number, db: number, batch: number, channels: number, plane: number, c0: number, c1: number): void;
  sgd_step(value: number, grad: number, buf: number, n: number, lr: number, weightDecay: number, momentum: number, mode: 0 | 1 | 2): void;
  /** The float64 sum of the squares of n floats at x, stored as a float64 at out (sgd.wat). */
  sum_squares(x: number, n: number, out: number): void;
  bn_statistics(x: number, stats: number, batch: number, channels: number, plane: number, c0: number, c1: number): void;
  bn_forward(x: number, y: number, coefficients: number, channels: number, plane: number, relu: number, p0: number, p1: number): void;
  bn_backward_sums(dy: number, x: number, mask: number, means: number, sums: number, batch: number, channels: number, plane: number, c0: number, c1: number): void;
  bn_backward_input(dy: number, x: number, mask: number, dx: number, coefficients: number, channels: number, plane: number, p0: number, p1: number): void;
  l2norm_forward(x: number, scale: number, y: number, norm: number, channels: number, plane: number, eps: number, i0: number, i1: number): void;
  l2norm_backward(
    dy: number, x: number, scale: number, norm: number, dx: number, dscale: number, channels: number, plane: number, i0: number, i1: number,
  ): void;
  // winograd.wat and winograd-{2x2,4x4,6x6}.wat (kernels/wasm/winograd.ts describes the arguments)
  winograd_tiles(
    table: number, t0: number, count: number, padded: number, m: number, tilesW: number, tilesPerImage: number,
    inImageBytes: number, inRowBytes: number, outImageBytes: number, outRowBytes: number, outH: number, outW: number,
  ): void;
  winograd_channels(table: number, count: number, padded: number, stride: number): void;
  winograd2x2_filter: WinogradFilterTransform;
  winograd2x2_input: WinogradInputTransform;
  winograd2x2_output: WinogradOutputTransform;
  winograd2x2_gradient: WinogradInputTransform;
  winograd2x2_filter_gradient: WinogradFilterGradient;
  winograd4x4_filter: WinogradFilterTransform;
  winograd4x4_input: WinogradInputTransform;
  winograd4x4_output: WinogradOutputTransform;
  winograd4x4_gradient: WinogradInputTransform;
  winograd4x4_filter_gradient: WinogradFilterGradient;
  winograd6x6_filter: WinogradFilterTransform;
  winograd6x6_input: WinogradInputTransform;
  winograd6x6_output: WinogradOutputTransform;
  winograd6x6_gradient: WinogradInputTransform;
  winograd6x6_filter_gradient: WinogradFilterGradient;
}

/** U = G g G^T for 4 output channels (lanes) and kc input channels (winograd-*.wat). */
export type WinogradFilterTransform = (
  w: number, laneStride: number, kStride: number, reversed: number, lanes: number, kc: number, u: number, posStride: number, scratch: number,
) => void;
/**
 * V = B^T d B (input) or Yhat = A dY A^T (gradient) for `count` rows by `groups` groups of 4 lanes,
 * tile (r, lane l of group g) at x + outer[r] + inner[4 g + l] (winograd-*.wat).
 */
export type WinogradInputTransform = (
  x: number, rowBytes: number, outer: number, outerStep: number, count: number, inner: number, innerStep: number, groups: number,
  v: number, posStride: number, scratch: number,
) => void;
/** dW = G^T dU G for `rows` output channels by `cols` input channels (winograd-*.wat). */
export type WinogradFilterGradient = (
  du: number, posStride: number, ldu: number, rows: number, cols: number, dw: number, rowBytes: number, scratch: number,
) => void;
/** Y = A^T M A + bias for `rows` output channels of `groups` groups of 4 tiles (winograd-*.wat). */
export type WinogradOutputTransform = (
  m: number, posStride: number, ldm: number, tiles: number, groups: number, rows: number, y: number, planeBytes: number, rowBytes: number,
  bias: number, relu: number, scratch: number,
) => void;

/** Largest memory the modules declare: 65536 pages of 64 KiB = 4 GiB (the whole 32-bit space). */
export const MAX_PAGES = 65536;
export const PAGE_BYTES = 65536;

/** Every .wasm file the backend loads (a page fetches them all before it makes a WasmKernels). */
export const WASM_FILES: readonly string[] = [
  'pack', 'gemm-4x8-simd', 'gemm-4x8-relaxed', 'relu', 'sweep', 'direct', 'batchnorm', 'sgd', 'winograd', 'winograd-2x2', 'winograd-4x4', 'winograd-6x6',
];

/** Bytes given by the host (the browser fetched them), used instead of the files beside this one. */
let provided: Map<string, Uint8Array<ArrayBuffer>> | null = null;

/** Where there is no file system (a web page): the bytes of every name of WASM_FILES, fetched beforehand. */
export function provideWasmBytes(bytes: Map<string, Uint8Array<ArrayBuffer>>): void {
  const missing = WASM_FILES.filter((name) => !bytes.has(name));
  if (missing.length > 0) throw new Error(`wasm backend: no bytes for ${missing.join(', ')}`);
  provided = bytes;
  simdValidates = null;
  relaxedValidates = null;
}

function wasmBytes(name: string): Uint8Array<ArrayBuffer> {
  const given = provided?.get(name);
  if (given !== undefined) return given;
  // dist/kernels/wasm/runtime.js sits beside the assembled .wasm files
  const file = path.join(__dirname, `${name}.wasm`);
  if (!fs.existsSync(file)) throw new Error(`wasm backend: ${file} is missing; run \`npm run build\` (scripts/build-wasm.js assembles kernels/wasm/*.wat)`);
  return fs.readFileSync(file);
}

/** What the feature detection asks of the engine (a test may pass one without relaxed SIMD). */
export interface Engine {
  validate(bytes: Uint8Array<ArrayBuffer>): boolean;
  setFlags(flags: string): void;
}

const node: Engine = {
  validate: (bytes) => typeof WebAssembly === 'object' && WebAssembly.validate(bytes),
  // a browser validates what it has: there is no flag to set (and the page's v8 module is a stand-in)
  setFlags: (flags) => {
    if (provided === null) v8.setFlagsFromString(flags);
  },
};

let simdValidates: boolean | null = null;
let relaxedValidates: boolean | null = null;

/** True when this engine validates WebAssembly SIMD128 with shared memory (Node 20 does). */
export function simdSupported(): boolean {
  if (simdValidates === null) simdValidates = node.validate(wasmBytes('gemm-4x8-simd'));
  return simdValidates;
}

/**
 * True when the engine validates relaxed SIMD. Node 20 has it behind
 * --experimental-wasm-relaxed-simd, a V8 flag that may be set at run time before the module is
 * compiled (Node 22 has it by default).
 */
export function detectRelaxedSimd(engine: Engine): boolean {
  const bytes = wasmBytes('gemm-4x8-relaxed');
  if (engine.validate(bytes)) return true;
  engine.setFlags('--experimental-wasm-relaxed-simd');
  return engine.validate(bytes);
}

export function relaxedSimdSupported(): boolean {
  if (relaxedValidates === null) relaxedValidates = detectRelaxedSimd(node);
  return relaxedValidates;
}

/**
 * The variant picked at start-up: the fused multiply-add where the engine has it (measured on
 * this machine's conv3_1: see docs/backends.md), the plain one otherwise.
 */
export function pickMicroKernel(engine: Engine = node): MicroKernel {
  const relaxed = engine === node ? relaxedSimdSupported() : detectRelaxedSimd(engine);
  return relaxed ? 'relaxed' : 'simd';
}

export function compileModules(microKernel: MicroKernel): WasmModules {
  if (!simdSupported()) throw new Error('wasm backend: this engine does not validate WebAssembly SIMD128');
  if (microKernel === 'relaxed' && !relaxedSimdSupported()) throw new Error('wasm backend: this engine does not validate relaxed SIMD');
  return {
    pack: new WebAssembly.Module(wasmBytes('pack')),
    gemm: new WebAssembly.Module(wasmBytes(`gemm-4x8-${microKernel}`)),
    relu: new WebAssembly.Module(wasmBytes('relu')),
    sweep: new WebAssembly.Module(wasmBytes('sweep')),
    direct: new WebAssembly.Module(wasmBytes('direct')),
    batchNorm: new WebAssembly.Module(wasmBytes('batchnorm')),
    sgd: new WebAssembly.Module(wasmBytes('sgd')),
    winograd: new WebAssembly.Module(wasmBytes('winograd')),
    winograd2x2: new WebAssembly.Module(wasmBytes('winograd-2x2')),
    winograd4x4: new WebAssembly.Module(wasmBytes('winograd-4x4')),
    winograd6x6: new WebAssembly.Module(wasmBytes('winograd-6x6')),
    microKernel,
  };
}

/** One thread's instances of the modules on the shared memory. */
export function instantiate(modules: WasmModules, memory: WebAssembly.Memory): WasmExports {
  const imports = { env: { memory } };
  const pack = new WebAssembly.Instance(modules.pack, imports).exports;
  const gemm = new WebAssembly.Instance(modules.gemm, imports).exports;
  const relu = new WebAssembly.Instance(modules.relu, imports).exports;
  const sweep = new WebAssembly.Instance(modules.sweep, imports).exports;
  const direct = new WebAssembly.Instance(modules.direct, imports).exports;
  const batchNorm = new WebAssembly.Instance(modules.batchNorm, imports).exports;
  const sgd = new WebAssembly.Instance(modules.sgd, imports).exports;
  const winograd = [modules.winograd, modules.winograd2x2, modules.winograd4x4, modules.winograd6x6].map(
    (module) => new WebAssembly.Instance(module, imports).exports,
  );
  return { ...pack, ...gemm, ...relu, ...sweep, ...direct, ...batchNorm, ...sgd, ...Object.assign({}, ...winograd) } as unknown as WasmExports;
}
