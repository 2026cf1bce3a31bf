// The 'wasm' backend: its WebAssembly pieces on their own (the GEMM micro-kernels of both
// variants, packed and implicit, the im2col packers, padding), every convolution geometry of SSD300 at its real spatial size
// with few channels, on 1 thread and 2 and with both micro-kernels, the choice of micro-kernel,
// the whole small model against the reference, and memory over repeated calls.
// (spec/kernels/backends.spec.ts runs the common backend suite on 'wasm' as on every backend.)
//
// Tolerances, as in backends.spec.ts (the direct convolution sums the same terms in the same order
// as the GEMM, multiply then add): the wasm kernels sum in float32, in another order than the
// reference (which sums in float64 and rounds once); rounding errors of a sum of K terms grow
// like sqrt(K) units of the last place of the largest partial sums, so each output is checked
// against  4 * 2^-24 * sqrt(K) * max|expected|  with K the terms behind one output. The packers
// only copy: they must match exactly.

import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { Tensor, shapeToString } from '../../tensor/tensor';
import { Rng, randNormal } from '../../tensor/random';
import { fromArray } from '../../tensor/create';
import { Conv2dOptions, conv2dGeometry } from '../../kernels/geometry';
import * as reference from '../../kernels/cpu/reference';
import { im2col } from '../../kernels/cpu/fast/im2col';
import { WasmKernels, transposedAsForward } from '../../kernels/wasm';
import { WINOGRAD_ERROR, WINOGRAD_TILES } from '../../kernels/wasm/winograd';
import { rowOffsets, writeGeometry } from '../../kernels/wasm/conv';
import { Engine, MicroKernel, compileModules, instantiate, pickMicroKernel, relaxedSimdSupported } from '../../kernels/wasm/runtime';
import { defaultBackendName } from '../../kernels/select';
import { SSD300 } from '../../ssd/ssd300';
import { multiboxLoss } from '../../ssd/loss';
import { poolMaxima } from '../helpers/pool_maxima';
import { Kernels } from '../../kernels/kernels';

const VARIANTS: MicroKernel[] = ['simd', 'relaxed'];

function maxAbs(data: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < data.length; i++) m = Math.max(m, Math.abs(data[i]));
  return m;
}

/**
 * |actual - expected| <= bound * 2^-24 * sqrt(terms) * max|expected| everywhere: bound 4 for the
 * GEMM and the sweeps, WINOGRAD_ERROR[m] for a Winograd convolution (kernels/wasm/winograd.ts).
 */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, terms: number, what: string, bound = 4): void {
  expect(actual.length, `${what}: length`).to.equal(expected.length);
  const tolerance = bound * 2 ** -24 * Math.sqrt(terms) * maxAbs(expected);
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    if (!(error <= tolerance)) {
      throw new Error(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}: error ${error} > ${tolerance} (${terms} terms)`);
    }
  }
}

/** One thread's modules on a fresh memory, with a view of it, for testing the pieces. */
function bareWasm(variant: MicroKernel): { wasm: ReturnType<typeof instantiate>; heap: Float32Array; ints: Int32Array } {
  const memory = new WebAssembly.Memory({ initial: 64, maximum: 65536, shared: true }); // 4 MiB
  const wasm = instantiate(compileModules(variant), memory);
  return { wasm, heap: new Float32Array(memory.buffer), ints: new Int32Array(memory.buffer) };
}

describe('kernels/wasm: the engine', () => {
  it('validates SIMD128 here, so wasm is the default backend (unless $SSD_BACKEND says otherwise)', () => {
    if (process.env.SSD_BACKEND === undefined || process.env.SSD_BACKEND === '') expect(defaultBackendName()).to.equal('wasm');
  });

  it('relaxed SIMD validates once the V8 flag is set (Node 20), and is then the variant picked', () => {
    expect(relaxedSimdSupported()).to.equal(true);
    expect(new WasmKernels({ threads: 1 }).microKernel).to.equal('relaxed');
  });

  it('an engine without relaxed SIMD gets the plain SIMD micro-kernel', () => {
    const flags: string[] = [];
    const withoutRelaxed: Engine = {
      validate: (bytes) => !Buffer.from(bytes).equals(wasmFile('gemm-4x8-relaxed')),
      setFlags: (f) => flags.push(f),
    };
    expect(pickMicroKernel(withoutRelaxed)).to.equal('simd');
    expect(flags, 'it tried the flag first').to.deep.equal(['--experimental-wasm-relaxed-simd']);
    const withRelaxed: Engine = { validate: () => true, setFlags: () => undefined };
    expect(pickMicroKernel(withRelaxed)).to.equal('relaxed');
  });
});

/** The assembled bytes of kernels/wasm/NAME.wat, as the runtime reads them. */
function wasmFile(name: string): Buffer {
  return fs.readFileSync(path.join(__dirname, '../../kernels/wasm', `${name}.wasm`));
}

describe('kernels/wasm: the micro-kernels\' template (scripts/build-wasm.js)', () => {
  type Write = (a: string, b: string, c: string) => string;
  // a build script, not a module of the library: loaded from the repository at test time
  const build = require(path.join(__dirname, '../../../scripts/build-wasm.js')) as {
    VARIANTS: Record<'simd' | 'relaxed', Write>;
    expandMadd: (file: string, source: string, write: Write) => string;
  };

  it('(MADD a b c) becomes a * b + c: a multiply then an add, or one relaxed_madd; arguments may nest', () => {
    const line = '(local.set $c (MADD (local.get $a) (v128.load offset=4 (local.get $p)) (local.get $c)))';
    expect(build.expandMadd('t.wat', line, build.VARIANTS.simd)).to.equal(
      '(local.set $c (f32x4.add (f32x4.mul (local.get $a) (v128.load offset=4 (local.get $p))) (local.get $c)))');
    expect(build.expandMadd('t.wat', line, build.VARIANTS.relaxed)).to.equal(
      '(local.set $c (f32x4.relaxed_madd (local.get $a) (v128.load offset=4 (local.get $p)) (local.get $c)))');
    expect(() => build.expandMadd('t.wat', '(MADD (local.get $a) (local.get $b))', build.VARIANTS.simd)).to.throw('t.wat: (MADD ...) at offset 0 takes exactly three arguments');
    expect(() => build.expandMadd('t.wat', '(MADD $a $b $c $d)', build.VARIANTS.simd)).to.throw('takes exactly three arguments');
  });

  it('gemm-4x8.wat and peak.wat give a plain SIMD128 variant with no relaxed instruction and a relaxed one with no separate multiply', () => {
    for (const [file, madds] of [['kernels/wasm/gemm-4x8.wat', 16], ['bench/peak.wat', 12]] as const) {
      const text = fs.readFileSync(path.join(__dirname, '../../..', file), 'utf8');
      const source = text.replace(/;;.*$/gm, ''); // the code, without the comments that name both variants
      const simd = build.expandMadd(file, source, build.VARIANTS.simd);
      const relaxed = build.expandMadd(file, source, build.VARIANTS.relaxed);
      const count = (text: string, what: string): number => text.split(what).length - 1;
      expect(count(source, '(MADD '), file).to.equal(madds);
      expect(count(simd, 'relaxed'), file).to.equal(0);
      expect(count(simd, 'f32x4.mul'), file).to.equal(madds);
      expect(count(relaxed, 'f32x4.relaxed_madd'), file).to.equal(madds);
      expect(count(relaxed, 'f32x4.mul'), file).to.equal(0);
    }
    // the build wrote the two variants, not one file twice
    expect(wasmFile('gemm-4x8-simd').equals(wasmFile('gemm-4x8-relaxed'))).to.equal(false);
  });
});

describe('kernels/wasm: the GEMM micro-kernel against a plain product', () => {
  // (mc, nc, kc, ldc): none, some or all of them multiples of the 4 x 8 tile; C with a row stride
  // larger than nc; kc = 1.
  const SIZES: [number, number, number, number][] = [
    [4, 8, 16, 8], [1, 1, 1, 1], [3, 5, 7, 9], [4, 8, 1, 8], [13, 29, 37, 31], [8, 16, 256, 16], [130, 70, 200, 77],
  ];
  for (const variant of VARIANTS) {
    for (const [mc, nc, kc, ldc] of SIZES) {
      it(`${variant}: C (${mc} x ${nc}, row stride ${ldc}) += A (${mc} x ${kc}) B (${kc} x ${nc})`, () => {
        const { wasm, heap } = bareWasm(variant);
        const rng = new Rng(mc * 1000 + nc);
        const a = randNormal([mc, kc], rng).data as Float32Array;
        const b = randNormal([kc, nc], rng).data as Float32Array;
        const c0 = randNormal([mc, ldc], rng).data as Float32Array; // C is added to, not overwritten
        // layout: A at 0, B after it, packed A, packed B, C, the edge tile
        const A = 0, B = A + 4 * a.length, AP = B + 4 * b.length;
        const BP = AP + 4 * Math.ceil(mc / 4) * 4 * kc, C = BP + 4 * kc * Math.ceil(nc / 8) * 8, TMP = C + 4 * c0.length;
        heap.set(a, A / 4);
        heap.set(b, B / 4);
        heap.fill(0, AP / 4, C / 4); // the panels' padding
        heap.set(c0, C / 4);
        wasm.pack_a(A, kc, 1, mc, kc, AP);
        wasm.pack_b(B, nc, 1, kc, nc, BP);
        wasm.gemm(mc, nc, kc, AP, BP, C, ldc, TMP);
        const expected = new Float64Array(c0);
        for (let i = 0; i < mc; i++)
          for (let j = 0; j < nc; j++) {
            let sum = 0;
            for (let k = 0; k < kc; k++) sum += a[i * kc + k] * b[k * nc + j];
            expected[i * ldc + j] += sum;
          }
        // columns past nc (inside the row stride) are left as they were: compared exactly too
        expectClose(heap.subarray(C / 4, C / 4 + c0.length), expected, kc + 1, 'C');
        for (let i = 0; i < mc; i++) for (let j = nc; j < ldc; j++) expect(heap[C / 4 + i * ldc + j]).to.equal(c0[i * ldc + j]);
      });
    }
  }
});

describe('kernels/wasm: the implicit GEMM kernel (B read in place through row offsets) against a plain product', () => {
  // A source matrix X at some address; the GEMM's rows start at byte offsets into it that overlap
  // (neighbouring taps of a convolution are one float apart), in no particular order.
  const SIZES: [number, number, number][] = [[4, 8, 16], [1, 1, 1], [3, 5, 7], [13, 29, 37], [8, 16, 256], [130, 70, 200]];
  for (const variant of VARIANTS) {
    for (const [mc, nc, kc] of SIZES) {
      const sourceFloats = 3 * (kc + mc) + Math.max(nc, kc) + 16;
      it(`${variant}: gemm_rows, C (${mc} x ${nc}) += A (${mc} x ${kc}) B, row k of B at X + rowsAt[k]`, () => {
        const { wasm, heap, ints } = bareWasm(variant);
        const rng = new Rng(mc * 100 + kc);
        const x = randNormal([sourceFloats], rng).data as Float32Array;
        const a = randNormal([mc, kc], rng).data as Float32Array;
        const c0 = randNormal([mc, nc + 3], rng).data as Float32Array; // row stride nc + 3
        const offsets = Int32Array.from({ length: kc }, (_, k) => (k * 7) % (3 * kc + 1)); // floats
        const X = 0, A = X + 4 * sourceFloats, AP = A + 4 * a.length, ROWS = AP + 4 * Math.ceil(mc / 4) * 4 * kc;
        const C = ROWS + 4 * kc, TMP = C + 4 * c0.length;
        heap.set(x, X / 4);
        heap.set(a, A / 4);
        heap.fill(0, AP / 4, ROWS / 4);
        ints.set(Array.from(offsets, (o) => 4 * o), ROWS / 4);
        heap.set(c0, C / 4);
        wasm.pack_a(A, kc, 1, mc, kc, AP);
        wasm.gemm_rows(mc, nc, kc, AP, X, ROWS, C, nc + 3, TMP);
        const expected = new Float64Array(c0);
        for (let i = 0; i < mc; i++)
          for (let j = 0; j < nc; j++) {
            let sum = 0;
            for (let k = 0; k < kc; k++) sum += a[i * kc + k] * x[offsets[k] + j];
            expected[i * (nc + 3) + j] += sum;
          }
        expectClose(heap.subarray(C / 4, C / 4 + c0.length), expected, kc + 1, 'C');
      });
    }
  }

  it('pack_a_flipped packs exactly what pack_a packs of flip_transpose\'s output, block by block', () => {
    const { wasm, heap } = bareWasm('simd');
    for (const [outChannels, inChannels, taps] of [[5, 7, 9], [3, 130, 9], [9, 4, 1], [2, 3, 25]]) {
      const w = randNormal([outChannels * inChannels * taps], new Rng(outChannels + taps)).data as Float32Array;
      const depth = outChannels * taps;
      const W = 0, FLIPPED = W + 4 * w.length, A = FLIPPED + 4 * w.length, B = A + 4 * 132 * depth;
      heap.set(w, W / 4);
      wasm.flip_transpose(W, FLIPPED, outChannels, inChannels, taps);
      for (const [m0, mc, k0, kc] of [[0, Math.min(inChannels, 128), 0, depth], [Math.min(4, inChannels - 1), 1, Math.min(7, depth - 1), Math.min(3, depth - Math.min(7, depth - 1))]]) {
        heap.fill(0, A / 4, B / 4 + 132 * depth);
        wasm.pack_a(FLIPPED + 4 * (m0 * depth + k0), depth, 1, mc, kc, A);
        wasm.pack_a_flipped(W, outChannels, inChannels, taps, m0, mc, k0, kc, B);
        const panels = Math.ceil(mc / 4) * 4 * kc;
        expect(Array.from(heap.subarray(B / 4, B / 4 + panels)), `${outChannels} x ${inChannels} x ${taps}, rows ${m0}+${mc}, k ${k0}+${kc}`)
          .to.deep.equal(Array.from(heap.subarray(A / 4, A / 4 + panels)));
      }
    }
  });

  it('pad_planes surrounds each plane with its zero border (any border, none included), compact_rows cuts padded rows back', () => {
    const { wasm, heap } = bareWasm('simd');
    for (const [planes, h, w, top, left, paddedH, paddedW] of [[3, 4, 5, 1, 1, 6, 7], [2, 3, 4, 0, 0, 3, 6], [1, 2, 2, 6, 6, 14, 14], [2, 5, 3, 2, 1, 7, 4]]) {
      const src = randNormal([planes, h, w], new Rng(planes * 10 + h)).data as Float32Array;
      const SRC = 64, DST = SRC + 4 * src.length + 64, END = DST + 4 * planes * paddedH * paddedW;
      heap.fill(NaN, 0, END / 4 + 16); // whatever pad_planes leaves unwritten shows
      heap.set(src, SRC / 4);
      wasm.pad_planes(SRC, DST, planes, h, w, top, left, paddedH, paddedW);
      for (let p = 0; p < planes; p++)
        for (let y = 0; y < paddedH; y++)
          for (let x = 0; x < paddedW; x++) {
            const inside = y >= top && y < top + h && x >= left && x < left + w;
            const expected = inside ? src[(p * h + y - top) * w + x - left] : 0;
            expect(heap[DST / 4 + (p * paddedH + y) * paddedW + x], `plane ${p} (${y}, ${x})`).to.equal(expected);
          }
      expect(heap[END / 4], 'past the last plane').to.be.NaN;
      // and back: the padded planes' rows top.. cut to the columns left.., in place
      wasm.compact_rows(DST + 4 * (top * paddedW + left), paddedW, DST, planes * paddedH - top, w);
      for (let p = 0; p < planes; p++)
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++) {
            // row r of the cut rows is padded row top + r, which for r = p * paddedH + y is plane p's row y
            expect(heap[DST / 4 + (p * paddedH + y) * w + x]).to.equal(src[(p * h + y) * w + x]);
          }
    }
  });
});

/** The weight gradient's B panels at dst hold col^T: taps [t0, t0 + nt) as columns, positions [q0, q0 + nq) as rows. */
function expectTransposed(heap: Float32Array, dst: number, col: ArrayLike<number>, P: number, t0: number, nt: number, q0: number, nq: number, what: string): void {
  for (let q = 0; q < nq; q++)
    for (let t = 0; t < nt; t++) {
      const got = heap[dst / 4 + Math.floor(t / 8) * nq * 8 + q * 8 + (t % 8)];
      expect(got, `${what}: col^T[${q0 + q}][${t0 + t}]`).to.equal(col[(t0 + t) * P + q0 + q]);
    }
}

describe('kernels/wasm: the im2col packers equal packing the explicit column matrix', () => {
  const CASES: { x: number[]; w: number[]; options: Conv2dOptions }[] = [
    { x: [2, 3, 13, 11], w: [1, 3, 3, 3], options: { padding: 1 } },
    { x: [1, 2, 19, 19], w: [1, 2, 3, 3], options: { padding: 6, dilation: 6 } },
    { x: [1, 4, 10, 10], w: [1, 4, 3, 3], options: { stride: 2, padding: 1 } },
    { x: [1, 5, 3, 3], w: [1, 5, 3, 3], options: {} },
    { x: [1, 3, 6, 5], w: [1, 3, 1, 1], options: {} },
    { x: [1, 2, 12, 13], w: [1, 2, 3, 5], options: { stride: [2, 1], padding: [1, 2], dilation: [1, 2] } },
  ];
  for (const c of CASES) {
    it(`x ${shapeToString(c.x)}, ${c.w[2]}x${c.w[3]} kernel ${JSON.stringify(c.options)}: every block, both layouts`, () => {
      const g = conv2dGeometry(c.x, c.w, c.options);
      const x = randNormal(c.x, new Rng(9)).data as Float32Array;
      const { wasm, heap, ints } = bareWasm('simd');
      const K = g.inChannels * g.kernelH * g.kernelW;
      const P = g.outH * g.outW;
      // stride 1: also x zero-padded (pad_planes) and the offsets of im2col's rows in it, for pack_rows_transposed
      const stride1 = g.strideH === 1 && g.strideW === 1;
      const paddedH = g.inH + 2 * g.padH, paddedW = g.inW + 2 * g.padW;
      const GEOM = 0, X = 64, PADDED = X + 4 * x.length + 64, ROWS = PADDED + 4 * g.batch * g.inChannels * paddedH * paddedW + 64;
      const DST = ROWS + 4 * K + 64;
      writeGeometry(ints, GEOM, g);
      heap.set(x, X / 4);
      wasm.pad_planes(X, PADDED, g.batch * g.inChannels, g.inH, g.inW, g.padH, g.padW, paddedH, paddedW);
      ints.set(rowOffsets(g, paddedH, paddedW), ROWS / 4);
      for (let n = 0; n < g.batch; n++) {
        const col = im2col(x, n, g); // (K x P)
        const image = X + 4 * n * g.inChannels * g.inH * g.inW;
        for (const [t0, nt, q0, nq] of [[0, K, 0, P], [1, K - 2, 3, P - 5], [K - 1, 1, P - 1, 1], [2, Math.min(5, K - 2), 9, Math.min(17, P - 9)]]) {
          if (nt < 1 || nq < 1) continue;
          // forward layout: B = col, panels of 8 positions
          heap.fill(NaN, DST / 4, DST / 4 + nt * Math.ceil(nq / 8) * 8);
          wasm.im2col_pack(image, GEOM, t0, nt, q0, nq, DST);
          for (let t = 0; t < nt; t++)
            for (let j = 0; j < Math.ceil(nq / 8) * 8; j++) {
              const got = heap[DST / 4 + Math.floor(j / 8) * nt * 8 + t * 8 + (j % 8)];
              expect(got, `col[${t0 + t}][${q0 + j}]`).to.equal(j < nq ? col[(t0 + t) * P + q0 + j] : 0);
            }
          // weight-gradient layout: B = col^T, panels of 8 taps (lanes past nt are the caller's)
          heap.fill(NaN, DST / 4, DST / 4 + nq * Math.ceil(nt / 8) * 8);
          wasm.im2col_pack_transposed(image, GEOM, t0, nt, q0, nq, DST);
          expectTransposed(heap, DST, col, P, t0, nt, q0, nq, 'im2col_pack_transposed');
          if (stride1) {
            // the same panels copied from the zero-padded image by rows (eight taps transposed at a time)
            heap.fill(NaN, DST / 4, DST / 4 + nq * Math.ceil(nt / 8) * 8);
            wasm.pack_rows_transposed(PADDED + 4 * n * g.inChannels * paddedH * paddedW, ROWS + 4 * t0, nt, paddedW, g.outW, q0, nq, DST);
            expectTransposed(heap, DST, col, P, t0, nt, q0, nq, 'pack_rows_transposed');
          }
        }
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Every convolution geometry of SSD300, at its real spatial size, with few channels (1 or 3 in
// or out, and sizes that are not multiples of the tile); batch 3 for the ones small enough.

interface SsdConv {
  name: string;
  x: number[];
  w: number[];
  options: Conv2dOptions;
}

const SSD_CONVS: SsdConv[] = [
  { name: 'conv1_1 (3 input channels, 300x300)', x: [1, 3, 300, 300], w: [5, 3, 3, 3], options: { padding: 1 } },
  { name: 'conv1_2-like, 1 output channel (300x300)', x: [1, 2, 300, 300], w: [1, 2, 3, 3], options: { padding: 1 } },
  { name: 'conv2_x (150x150), batch 3', x: [3, 3, 150, 150], w: [3, 3, 3, 3], options: { padding: 1 } },
  { name: 'conv3_x (75x75), batch 3', x: [3, 5, 75, 75], w: [9, 5, 3, 3], options: { padding: 1 } },
  { name: 'conv4_x (38x38), batch 3, 1 input channel', x: [3, 1, 38, 38], w: [7, 1, 3, 3], options: { padding: 1 } },
  { name: 'conv5_x (19x19), batch 3', x: [3, 13, 19, 19], w: [11, 13, 3, 3], options: { padding: 1 } },
  { name: 'conv6 (19x19, dilation 6, padding 6), batch 3', x: [3, 9, 19, 19], w: [17, 9, 3, 3], options: { padding: 6, dilation: 6 } },
  // dilated.ts's sub-sampled maps: dilations that divide the map and that do not, per axis
  { name: 'dilation (2, 3), padding (2, 3) on 7x11 (sub-sampled maps of 4x4, the last ones short), batch 2', x: [2, 9, 7, 11], w: [10, 9, 3, 3], options: { padding: [2, 3], dilation: [2, 3] } },
  { name: 'dilation 4, padding 4 on 8x8 (2x2 maps)', x: [1, 8, 8, 8], w: [12, 8, 3, 3], options: { padding: 4, dilation: 4 } },
  { name: 'conv7 (1x1, 19x19), batch 3', x: [3, 17, 19, 19], w: [19, 17, 1, 1], options: {} },
  { name: 'conv8_2 (3x3 stride 2 pad 1, 19 -> 10), batch 3', x: [3, 7, 19, 19], w: [9, 7, 3, 3], options: { stride: 2, padding: 1 } },
  { name: 'conv9_2 (3x3 stride 2 pad 1, 10 -> 5), batch 3', x: [3, 7, 10, 10], w: [5, 7, 3, 3], options: { stride: 2, padding: 1 } },
  { name: 'conv10_2 (3x3 valid, 5 -> 3), batch 3', x: [3, 6, 5, 5], w: [3, 6, 3, 3], options: {} },
  { name: 'conv11_2 (3x3 valid, 3 -> 1), batch 3', x: [3, 6, 3, 3], w: [3, 6, 3, 3], options: {} },
  { name: 'a prediction conv (3x3 pad 1 on 1x1), batch 3', x: [3, 5, 1, 1], w: [3, 5, 3, 3], options: { padding: 1 } },
  { name: '1x1 with padding 1 (no transposed shortcut for dx)', x: [2, 3, 4, 5], w: [4, 3, 1, 1], options: { padding: 1 } },
];

const WASM_VARIANTS: { label: string; create: () => WasmKernels }[] = [];
for (const variant of VARIANTS) {
  WASM_VARIANTS.push({ label: `${variant}, 1 thread`, create: () => new WasmKernels({ threads: 1, microKernel: variant, convAlgorithm: 'gemm' }) });
  WASM_VARIANTS.push({ label: `${variant}, 2 threads`, create: () => new WasmKernels({ threads: 2, microKernel: variant, minParallelFlops: 0, minParallelElements: 0, convAlgorithm: 'gemm' }) });
}
// Winograd (kernels/wasm/winograd.ts): as 'auto' picks it (the default), and forced wherever it
// applies with each largest tile; the bound of each result is the tile's own (WINOGRAD_ERROR).
WASM_VARIANTS.push({ label: "convAlgorithm 'auto' (the default), 2 threads", create: () => new WasmKernels({ threads: 2, minParallelFlops: 0 }) });
for (const tile of WINOGRAD_TILES) {
  WASM_VARIANTS.push({
    label: `Winograd up to F(${tile}x${tile}) wherever 3x3 stride 1, 2 threads`,
    create: () => new WasmKernels({ threads: 2, minParallelFlops: 0, convAlgorithm: 'winograd', maxWinogradTile: tile }),
  });
}

/** The error bound of a convolution pass as a backend runs it: the GEMM's 4, or its Winograd tile's (see expectClose). */
function boundOf(k: WasmKernels, pass: 'forward' | 'backwardInput' | 'backwardWeight', x: number[], w: number[], options: Conv2dOptions): number {
  let g = conv2dGeometry(x, w, options);
  g = k.dilatedRoute(pass, g) ?? g; // a dilated layer run as its sub-sampled maps (dilated.ts)
  if (pass === 'backwardInput') {
    const transposed = transposedAsForward(g); // the input gradient runs as this forward pass where it can
    if (transposed === null) return 4;
    g = transposed;
  }
  const tile = k.winogradTile(pass === 'backwardInput' ? 'forward' : pass, g);
  return tile === null ? 4 : WINOGRAD_ERROR[tile];
}
// Stride-1 convolutions with up to 8 output channels run the direct convolution (direct.wat) by
// default, and the others with few channels the implicit GEMM (conv.ts, forwardMethod): these
// three run every geometry through the packed GEMM only, through the implicit GEMM wherever the
// stride allows, and through the direct convolution wherever the stride allows (any number of
// channels, 4 at a time).
WASM_VARIANTS.push({
  label: 'packed GEMM only, 2 threads', create: () => new WasmKernels({ threads: 2, minParallelFlops: 0, directMaxChannels: 0, implicitGemm: 'never' , convAlgorithm: 'gemm' }),
});
WASM_VARIANTS.push({
  label: 'implicit GEMM wherever stride 1, 2 threads, every sweep and preparation shared out', create: () => new WasmKernels({ threads: 2, minParallelFlops: 0, minParallelElements: 0, minParallelPrep: 0, directMaxChannels: 0, implicitGemm: 'always' , convAlgorithm: 'gemm' }),
});
WASM_VARIANTS.push({ label: 'direct wherever stride 1, 2 threads', create: () => new WasmKernels({ threads: 2, minParallelFlops: 0, directMaxChannels: Infinity , convAlgorithm: 'gemm' }) });

describe('kernels/wasm: every SSD300 convolution geometry against the reference', function () {
  this.timeout(300000);
  const kernels: WasmKernels[] = [];
  before(() => {
    for (const v of WASM_VARIANTS) kernels.push(v.create());
  });
  after(async () => {
    for (const k of kernels) await k.dispose();
  });

  SSD_CONVS.forEach((c, index) => {
    it(`${c.name}: x ${shapeToString(c.x)}, w ${shapeToString(c.w)}: y, dx, dw, db on ${WASM_VARIANTS.map((v) => v.label).join(' / ')}`, async () => {
      const rng = new Rng(500 + index);
      const x = randNormal(c.x, rng);
      const w = randNormal(c.w, rng, 0, 1 / Math.sqrt(c.w[1] * c.w[2] * c.w[3]));
      const b = randNormal([c.w[0]], rng);
      const y = reference.conv2dForward(x, w, b, c.options);
      const dy = randNormal(y.shape, rng);
      const dx = reference.conv2dBackwardInput(dy, w, x.shape, c.options);
      const dw = reference.conv2dBackwardWeight(dy, x, w.shape, c.options);
      const db = reference.conv2dBackwardBias(dy);
      const [cout, cin, kh, kw] = c.w;
      const positions = y.shape[0] * y.shape[2] * y.shape[3];
      for (let v = 0; v < kernels.length; v++) {
        const k = kernels[v];
        const label = WASM_VARIANTS[v].label;
        const bound = (pass: 'forward' | 'backwardInput' | 'backwardWeight'): number => boundOf(k, pass, c.x, c.w, c.options);
        expectClose((await k.conv2dForward(x, w, b, c.options)).data, y.data, cin * kh * kw + 1, `${label}: y`, bound('forward'));
        expectClose((await k.conv2dBackwardInput(dy, w, x.shape, c.options)).data, dx.data, cout * kh * kw, `${label}: dx`, bound('backwardInput'));
        expectClose((await k.conv2dBackwardWeight(dy, x, w.shape, c.options)).data, dw.data, positions, `${label}: dw`, bound('backwardWeight'));
        expectClose((await k.conv2dBackwardBias(dy)).data, db.data, positions, `${label}: db`);
        const both = await k.conv2dBackwardWeightAndBias(dy, x, w.shape, c.options);
        expectClose(both.dw.data, dw.data, positions, `${label}: dw (with the bias)`, bound('backwardWeight'));
        expectClose(both.db.data, db.data, positions, `${label}: db (with the weights)`);
      }
    });
  });

  it('the SSD300 poolings (2x2, 2x2 ceil mode 75 -> 38, pool5 3x3 stride 1 pad 1) and the L2 norm at their sizes', async () => {
    const rng = new Rng(600);
    for (const [shape, options] of [
      [[3, 3, 300, 300], { kernelSize: 2, stride: 2 }],
      [[3, 3, 75, 75], { kernelSize: 2, stride: 2, ceilMode: true }],
      [[3, 5, 19, 19], { kernelSize: 3, stride: 1, padding: 1 }],
    ] as const) {
      const x = randNormal([...shape], rng);
      const expected = reference.maxPool2dForward(x, options);
      const dy = randNormal(expected.y.shape, rng);
      const dx = reference.maxPool2dBackward(dy, expected.argmax, x.shape, options);
      for (const k of kernels) {
        const got = await k.maxPool2dForward(x, options);
        expect(Array.from(got.y.data)).to.deep.equal(Array.from(expected.y.data));
        expect(Array.from(got.argmax)).to.deep.equal(Array.from(expected.argmax));
        expectClose((await k.maxPool2dBackward(dy, got.argmax, x.shape, options)).data, dx.data, 9, 'pool dx');
      }
    }
    const x = randNormal([3, 7, 38, 38], rng);
    const scale = randNormal([7], rng, 20, 1);
    const expected = reference.l2NormForward(x, scale, 1e-10);
    for (const k of kernels) expectClose((await k.l2NormForward(x, scale, 1e-10)).y.data, expected.y.data, 9, 'l2norm y');
  });
});

// ---------------------------------------------------------------------------------------------


/** Forward, MultiBox loss and every parameter gradient of a small SSD300 on the given kernels. */
async function smallModelRun(kernels: Kernels, images: Tensor, dLocs?: Tensor, dScores?: Tensor) {
  const model = new SSD300({ nClasses: 3, widthDivisor: 16, kernels, seed: 11 });
  const out = await model.forward(images);
  const targets = [
    { boxes: fromArray([[0.1, 0.2, 0.45, 0.7], [0.5, 0.5, 0.9, 0.95]]), labels: [1, 2] },
    { boxes: fromArray([[0.3, 0.3, 0.6, 0.6]]), labels: [2] },
  ];
  const loss = multiboxLoss(out.locs, out.scores, targets, model.priorsCxcy);
  model.zeroGrad();
  // Both runs back-propagate the same output gradients (the reference run's): hard negative
  // mining ranks priors by their loss, and a rounding difference may swap two nearly equal ones.
  await model.backward(dLocs ?? loss.dLocs, dScores ?? loss.dScores);
  return { out, loss, grads: model.namedParameters().map(([name, p]) => [name, p.grad] as const) };
}

describe('kernels/wasm: the small SSD300 (channels / 16) on wasm matches the reference', () => {
  it('forward outputs, the MultiBox loss and every parameter gradient, batch 2', async function () {
    this.timeout(300000);
    const images = randNormal([2, 3, 300, 300], new Rng(12));
    const maxima: Int32Array[] = [];
    const want = await smallModelRun(poolMaxima(reference.referenceKernels, maxima, false), images);
    const wasm = new WasmKernels({ threads: 2 });
    try {
      const got = await smallModelRun(poolMaxima(wasm, maxima, true), images, want.loss.dLocs, want.loss.dScores);
      // About 20 layers of float32 sums of up to 4608 terms in each direction; each layer's
      // relative error is at most 4 * 2^-24 * sqrt(4608) = 1.6e-5 of its largest output, and
      // they add up along the path: 40 such layers give 6.5e-4. Checked against 1e-3 of each
      // tensor's largest entry (a wrong index or a missed term is off by far more).
      const close = (a: ArrayLike<number>, b: ArrayLike<number>, what: string): void => {
        const tolerance = 1e-3 * maxAbs(b);
        for (let i = 0; i < b.length; i++) {
          if (!(Math.abs(a[i] - b[i]) <= tolerance)) throw new Error(`${what}[${i}]: wasm ${a[i]}, reference ${b[i]} (tolerance ${tolerance})`);
        }
      };
      close(got.out.locs.data, want.out.locs.data, 'locs');
      close(got.out.scores.data, want.out.scores.data, 'scores');
      expect(Math.abs(got.loss.loss - want.loss.loss)).to.be.at.most(1e-4 * want.loss.loss);
      for (let i = 0; i < want.grads.length; i++) close(got.grads[i][1].data, want.grads[i][1].data, `grad of ${want.grads[i][0]}`);
    } finally {
      await wasm.dispose();
    }
  });
});

describe('kernels/wasm: the ReLU fused into the convolution (conv2dForward with relu)', function () {
  this.timeout(120000);
  // the Winograd output transforms of every tile size apply it as they store y; the GEMM's
  // routes, and the dilated layer's sub-sampled maps, by a pass over y in place
  const routes: { label: string; options: ConstructorParameters<typeof WasmKernels>[0] }[] = [
    ...WINOGRAD_TILES.map((m) => ({ label: `Winograd F(${m}x${m})`, options: { convAlgorithm: 'winograd' as const, maxWinogradTile: m } })),
    { label: 'the GEMM', options: { convAlgorithm: 'gemm' as const } },
  ];
  const cases: { name: string; x: number[]; w: number[]; options: Conv2dOptions }[] = [
    { name: '3x3 pad 1, partial tiles', x: [2, 6, 13, 11], w: [7, 6, 3, 3], options: { padding: 1 } },
    { name: '3x3 valid', x: [1, 5, 9, 9], w: [4, 5, 3, 3], options: {} },
    { name: 'conv6-like, dilation 3', x: [1, 8, 10, 10], w: [6, 8, 3, 3], options: { padding: 3, dilation: 3 } },
    { name: '1x1', x: [1, 9, 7, 7], w: [5, 9, 1, 1], options: {} },
    // large enough for F(4x4) (1000 positions) and F(6x6) (40000) where they are allowed
    { name: '3x3 pad 1, 41 x 43', x: [1, 8, 41, 43], w: [5, 8, 3, 3], options: { padding: 1 } },
    { name: '3x3 pad 1, 203 x 201', x: [1, 8, 203, 201], w: [4, 8, 3, 3], options: { padding: 1 } },
  ];
  for (const route of routes) {
    it(`${route.label}: the bits of the reference's ReLU of y computed without it, 1 and 2 threads`, async () => {
      for (const threads of [1, 2]) {
        const k = new WasmKernels({ ...route.options, threads, minParallelFlops: 0 });
        try {
          const tiles = cases.map((c) => k.winogradTile('forward', conv2dGeometry(c.x, c.w, c.options)));
          expect(tiles, 'the route is taken').to.include(route.options?.convAlgorithm === 'gemm' ? null : route.options?.maxWinogradTile);
          for (const [i, c] of cases.entries()) {
            const rng = new Rng(900 + i);
            const x = randNormal(c.x, rng);
            const w = randNormal(c.w, rng, 0, 0.3);
            const b = randNormal([c.w[0]], rng);
            const plain = await k.conv2dForward(x, w, b, c.options);
            const fused = await k.conv2dForward(x, w, b, c.options, true);
            const expected = reference.reluForward(plain);
            expect(Array.from(fused.data), `${c.name}, ${threads} thread(s)`).to.deep.equal(Array.from(expected.data));
            expect(expected.data.some((v) => v === 0) && expected.data.some((v) => v > 0), 'some units off, some on').to.equal(true);
          }
        } finally {
          await k.dispose();
        }
      }
    });
  }
});

describe('kernels/wasm: memory over repeated calls', () => {
  it('1000 convolutions (forward and both backward passes, on the workers), their outputs released, keep the WebAssembly memory, its blocks, the heap and the workers flat', async function () {
    this.timeout(300000);
    const k = new WasmKernels({ threads: 2, minParallelFlops: 0 });
    try {
      const rng = new Rng(13);
      const x = randNormal([2, 8, 38, 38], rng);
      const w = randNormal([16, 8, 3, 3], rng);
      const b = randNormal([16], rng);
      const dy = randNormal([2, 16, 38, 38], rng);
      const round = async (): Promise<void> => {
        k.release(await k.conv2dForward(x, w, b, { padding: 1 }));
        k.release(await k.conv2dBackwardInput(dy, w, x.shape, { padding: 1 }));
        k.release(await k.conv2dBackwardWeight(dy, x, w.shape, { padding: 1 }));
      };
      for (let i = 0; i < 10; i++) await round();
      const memory = k.memoryBytes;
      const inUse = k.heapBytesInUse; // the calls' scratch block alone
      const workers = k.workerThreadIds;
      const heap = process.memoryUsage().heapUsed;
      for (let i = 0; i < 334; i++) await round();
      expect(k.memoryBytes, 'WebAssembly memory').to.equal(memory);
      expect(k.heapBytesInUse, 'bytes in blocks').to.equal(inUse);
      expect(k.workerThreadIds, 'the same workers').to.deep.equal(workers);
      expect((process.memoryUsage().heapUsed - heap) / 2 ** 20, 'heap growth (MB)').to.be.lessThan(32);
    } finally {
      await k.dispose();
    }
  });
});
