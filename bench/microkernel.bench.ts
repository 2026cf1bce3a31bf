// The search that chose the GEMM micro-kernel's shape (kernels/wasm/gemm-4x8.wat): candidate
// micro-kernels of MR rows x NR columns, with the k loop unrolled U times, are written out as
// WebAssembly text here, assembled with wabt (the dev dependency that builds kernels/wasm), and
// timed on one thread on packed operands that sit in the caches, the way the convolutions call
// the kernel (one MC x KC block of A against KC x NC of B).
//
//   node dist/bench/microkernel.bench.js [--shapes 4x8,5x8,6x8,8x8,4x12] [--unroll 1,2] [--runs 7]
//                                        [--variants simd,relaxed] [--json FILE]
//
// Each candidate is checked against a plain product first, then run `runs` times (interleaved
// with the other candidates, so a change in the machine's load hits all of them alike); the table
// shows the best and the median in GFLOP/s, and the share of the measured SIMD peak of one thread.
//
// The candidates keep MR x NR / 4 accumulators, NR / 4 vectors of B and one splatted value of A
// live: 4x8 11 vectors, 5x8 13, 6x8 15, 4x12 16, 8x8 19, against x86-64's 16 vector registers
// (one of which V8 keeps as scratch). The measured ranking, and the choice, are written in
// kernels/wasm/gemm-4x8.wat.

import * as fs from 'fs';
import { simdPeakGflops } from './machine';
import { relaxedSimdSupported } from '../kernels/wasm/runtime';
import { arg } from './args';

interface Candidate {
  mr: number;
  nr: number;
  unroll: number;
  variant: 'simd' | 'relaxed';
}

function label(c: Candidate): string {
  return `${c.mr}x${c.nr}${c.unroll > 1 ? ` k/${c.unroll}` : ''} ${c.variant}`;
}

/**
 * The text of a candidate: gemm(mc, nc, kc, a, b, c, ldc) adds A (mc x kc, packed in MR-row
 * panels) times B (kc x nc, packed in NR-column panels) to C, for mc and nc multiples of the tile
 * and kc a multiple of the unrolling (the search needs no edge tiles).
 */
function candidateWat(c: Candidate): string {
  const vectors = c.nr / 4;
  const acc = (i: number, v: number): string => `$c${i}_${v}`;
  const madd = (a: string, b: string, sum: string): string =>
    c.variant === 'relaxed' ? `(f32x4.relaxed_madd ${a} ${b} ${sum})` : `(f32x4.add (f32x4.mul ${a} ${b}) ${sum})`;
  const locals: string[] = [];
  for (let i = 0; i < c.mr; i++) for (let v = 0; v < vectors; v++) locals.push(`(local ${acc(i, v)} v128)`);
  for (let v = 0; v < vectors; v++) locals.push(`(local $b${v} v128)`);
  const step = (u: number): string[] => {
    const lines: string[] = [];
    for (let v = 0; v < vectors; v++) lines.push(`(local.set $b${v} (v128.load offset=${4 * (u * c.nr + 4 * v)} (local.get $bp)))`);
    for (let i = 0; i < c.mr; i++) {
      lines.push(`(local.set $av (v128.load32_splat offset=${4 * (u * c.mr + i)} (local.get $ap)))`);
      for (let v = 0; v < vectors; v++) lines.push(`(local.set ${acc(i, v)} ${madd('(local.get $av)', `(local.get $b${v})`, `(local.get ${acc(i, v)})`)})`);
    }
    return lines;
  };
  const zero: string[] = [];
  const store: string[] = [];
  for (let i = 0; i < c.mr; i++) {
    for (let v = 0; v < vectors; v++) {
      zero.push(`(local.set ${acc(i, v)} (v128.const i32x4 0 0 0 0))`);
      store.push(`(v128.store offset=${16 * v} (local.get $cp) (f32x4.add (v128.load offset=${16 * v} (local.get $cp)) (local.get ${acc(i, v)})))`);
    }
    store.push('(local.set $cp (i32.add (local.get $cp) (i32.shl (local.get $ldc) (i32.const 2))))');
  }
  const body = [];
  for (let u = 0; u < c.unroll; u++) body.push(...step(u));
  return `(module
  (import "env" "memory" (memory 1 65536 shared))
  (func (export "gemm") (param $mc i32) (param $nc i32) (param $kc i32) (param $a i32) (param $b i32) (param $c i32) (param $ldc i32)
    (local $i i32) (local $j i32) (local $k i32) (local $ap i32) (local $bp i32) (local $cp i32) (local $av v128)
    ${locals.join(' ')}
    (local.set $j (i32.const 0))
    (block $doneJ (loop $nextJ
      (br_if $doneJ (i32.ge_s (local.get $j) (local.get $nc)))
      (local.set $i (i32.const 0))
      (block $doneI (loop $nextI
        (br_if $doneI (i32.ge_s (local.get $i) (local.get $mc)))
        (local.set $ap (i32.add (local.get $a) (i32.mul (local.get $i) (i32.shl (local.get $kc) (i32.const 2)))))
        (local.set $bp (i32.add (local.get $b) (i32.mul (local.get $j) (i32.shl (local.get $kc) (i32.const 2)))))
        ${zero.join('\n        ')}
        (local.set $k (local.get $kc))
        (block $doneK (loop $nextK
          (br_if $doneK (i32.eqz (local.get $k)))
          ${body.join('\n          ')}
          (local.set $ap (i32.add (local.get $ap) (i32.const ${4 * c.mr * c.unroll})))
          (local.set $bp (i32.add (local.get $bp) (i32.const ${4 * c.nr * c.unroll})))
          (local.set $k (i32.sub (local.get $k) (i32.const ${c.unroll})))
          (br $nextK)))
        (local.set $cp (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $ldc)) (local.get $j)) (i32.const 2))))
        ${store.join('\n        ')}
        (local.set $i (i32.add (local.get $i) (i32.const ${c.mr})))
        (br $nextI)))
      (local.set $j (i32.add (local.get $j) (i32.const ${c.nr})))
      (br $nextJ)))
  )
)`;
}

type Gemm = (mc: number, nc: number, kc: number, a: number, b: number, c: number, ldc: number) => void;

interface Wabt {
  parseWat(name: string, text: string, features: Record<string, boolean>): {
    validate(features: Record<string, boolean>): void;
    toBinary(options: { log: boolean }): { buffer: Uint8Array };
    destroy(): void;
  };
}

async function assemble(text: string): Promise<Uint8Array> {
  // wabt is a dev dependency (it builds kernels/wasm); the benchmark runs in a development checkout.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const wabt = (await (require('wabt') as () => Promise<Wabt>)());
  const features = { simd: true, relaxed_simd: true, threads: true };
  const module = wabt.parseWat('candidate.wat', text, features);
  module.validate(features);
  const { buffer } = module.toBinary({ log: false });
  module.destroy();
  return buffer;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const shapes = arg('shapes', '4x8,5x8,6x8,8x8,4x12').split(',').map((s) => s.split('x').map(Number));
  const unrolls = arg('unroll', '1,2').split(',').map(Number);
  const relaxed = relaxedSimdSupported(); // sets the engine flag that relaxed SIMD needs on Node 20
  const variants = arg('variants', relaxed ? 'simd,relaxed' : 'simd').split(',') as ('simd' | 'relaxed')[];
  const runs = Number(arg('runs', '7'));
  const jsonFile = arg('json', '');
  // The operands: one block as the convolutions use it (MC = 128 rows is rounded to the tile).
  const KC = 256;
  const NC = 256;
  const memory = new WebAssembly.Memory({ initial: 256, maximum: 65536, shared: true });
  const heap = new Float32Array(memory.buffer);
  const candidates: (Candidate & { gemm: Gemm; mc: number })[] = [];
  for (const variant of variants)
    for (const [mr, nr] of shapes)
      for (const unroll of unrolls) {
        const c: Candidate = { mr, nr, unroll, variant };
        const gemm = new WebAssembly.Instance(new WebAssembly.Module(await assemble(candidateWat(c))), { env: { memory } }).exports.gemm as Gemm;
        candidates.push({ ...c, gemm, mc: Math.floor(128 / mr) * mr });
      }
  // Addresses (bytes): A (up to 128 x KC), B (KC x NC), C (128 x NC).
  const A = 0;
  const B = A + 4 * 128 * KC;
  const C = B + 4 * KC * NC;
  for (let i = 0; i < 128 * KC + KC * NC; i++) heap[i] = ((i * 7919) % 17) / 17 - 0.5;

  // Check each against the plain product of the packed operands.
  for (const c of candidates) {
    heap.fill(0, C / 4, C / 4 + 128 * NC);
    c.gemm(c.mr, c.nr, KC, A, B, C, NC);
    for (let i = 0; i < c.mr; i++)
      for (let j = 0; j < c.nr; j++) {
        let sum = 0;
        for (let k = 0; k < KC; k++) sum += heap[A / 4 + k * c.mr + i] * heap[B / 4 + k * c.nr + j];
        const got = heap[C / 4 + i * NC + j];
        if (Math.abs(got - sum) > 1e-3 * (1 + Math.abs(sum))) throw new Error(`${label(c)}: C[${i}][${j}] = ${got}, expected ${sum}`);
      }
  }

  const rates = new Map<string, number[]>(candidates.map((c) => [label(c), []]));
  for (let run = 0; run < runs; run++) {
    for (const c of candidates) {
      const flops = 2 * c.mc * NC * KC;
      const repeats = 40;
      c.gemm(c.mc, NC, KC, A, B, C, NC); // warm (and, on the first run, tiers the function up)
      const start = process.hrtime.bigint();
      for (let r = 0; r < repeats; r++) c.gemm(c.mc, NC, KC, A, B, C, NC);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      rates.get(label(c))!.push((repeats * flops) / seconds / 1e9);
    }
  }
  const peaks = { simd: await simdPeakGflops(1, 'simd'), relaxed: variants.includes('relaxed') ? await simdPeakGflops(1, 'relaxed') : 0 };
  console.log(`GEMM micro-kernel candidates, one thread, A ${128} x ${KC} times B ${KC} x ${NC} (packed, in cache), ${runs} runs interleaved`);
  console.log(`peak of one thread: ${peaks.simd.toFixed(1)} GFLOP/s (mul + add)${variants.includes('relaxed') ? `, ${peaks.relaxed.toFixed(1)} (relaxed_madd)` : ''}`);
  console.log(`${'candidate'.padEnd(22)}${'best'.padStart(8)}${'median'.padStart(8)}${'of peak'.padStart(9)}`);
  const rows = candidates.map((c) => {
    const r = rates.get(label(c))!;
    return { candidate: label(c), mr: c.mr, nr: c.nr, unroll: c.unroll, variant: c.variant, best: Math.max(...r), median: median(r), peak: peaks[c.variant] };
  });
  for (const r of rows) {
    console.log(`${r.candidate.padEnd(22)}${r.best.toFixed(1).padStart(8)}${r.median.toFixed(1).padStart(8)}${`${((100 * r.median) / r.peak).toFixed(0)}%`.padStart(9)}`);
  }
  if (jsonFile !== '') {
    fs.writeFileSync(jsonFile, JSON.stringify({ node: process.version, kc: KC, nc: NC, peaks, rows }, null, 2));
    console.log(`wrote ${jsonFile}`);
  }
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
