// The machine the benchmarks run on: its clock, the peak a scalar JavaScript kernel can reach, and
// the peak of WebAssembly SIMD (plain and relaxed), which the wasm backend is compared with.
//
// The fast CPU path is scalar JavaScript: V8 emits one scalar multiply and one scalar add per
// multiply-add (no SIMD, no fused multiply-add), so the peak we compare with is
//   threads x clock x 2 FLOPs per cycle   (a multiply and an add issued each cycle on each core).
// The clock is measured, not read from /proc/cpuinfo (which shows the nominal clock, not turbo).

import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';

/** The clock in GHz while `threads` threads run at once, from a dependent imul + add chain. */
export async function measureClockGhz(threads: number, seconds = 0.15): Promise<number> {
  // 4 cycles per iteration: imul (latency 3) then add (latency 1), each waiting for the previous.
  const source = `
    const { parentPort, workerData } = require('worker_threads');
    function chain(n) { let x = 1; for (let i = 0; i < n; i++) x = (Math.imul(x, 0x9e3779b1) + 1) | 0; return x; }
    chain(1e6);
    let n = 1e6, t = 0;
    do { n *= 2; const t0 = process.hrtime.bigint(); chain(n); t = Number(process.hrtime.bigint() - t0) / 1e9; } while (t < workerData);
    parentPort.postMessage((4 * n) / t / 1e9);`;
  const rates = await Promise.all(
    Array.from({ length: threads }, () => new Promise<number>((resolve, reject) => {
      const w = new Worker(source, { eval: true, workerData: seconds });
      w.once('message', (ghz: number) => resolve(ghz));
      w.once('error', reject);
    })),
  );
  return rates.reduce((a, b) => a + b, 0) / rates.length;
}

/** The nominal clock from /proc/cpuinfo, in GHz (Linux), or null. */
export function nominalGhz(): number | null {
  try {
    const mhz = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => l.startsWith('cpu MHz')).map((l) => Number(l.split(':')[1]));
    return mhz.length > 0 ? Math.max(...mhz) / 1000 : null;
  } catch {
    return null;
  }
}

/** threads x clock x 2 FLOP/cycle, with the clock measured while `threads` threads run (best of 5). */
export async function scalarPeakGflops(threads: number): Promise<{ ghz: number; gflops: number }> {
  let ghz = 0;
  for (let i = 0; i < 5; i++) ghz = Math.max(ghz, await measureClockGhz(threads));
  return { ghz, gflops: threads * ghz * 2 };
}

/**
 * The peak of WebAssembly SIMD on `threads` threads at once, in GFLOP/s: a loop of independent
 * f32x4 multiply-adds (bench/peak.wat) timed in each thread, best of 5. 'simd' is the
 * plain multiply then add, 'relaxed' the fused f32x4.relaxed_madd: what each GEMM micro-kernel
 * variant could reach at most.
 */
export async function simdPeakGflops(threads: number, variant: 'simd' | 'relaxed'): Promise<number> {
  const bytes = fs.readFileSync(path.join(__dirname, `peak-${variant}.wasm`));
  const source = `
    const { parentPort, workerData } = require('worker_threads');
    require('v8').setFlagsFromString('--experimental-wasm-relaxed-simd');
    const { bytes, name, seconds } = workerData;
    const peak = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports[name];
    peak(1e5);
    let steps = 1e5, t = 0;
    do { steps *= 2; const t0 = process.hrtime.bigint(); peak(steps); t = Number(process.hrtime.bigint() - t0) / 1e9; } while (t < seconds);
    parentPort.postMessage((96 * steps) / t / 1e9);`;
  let best = 0;
  for (let attempt = 0; attempt < 5; attempt++) {
    const rates = await Promise.all(
      Array.from({ length: threads }, () => new Promise<number>((resolve, reject) => {
        const w = new Worker(source, { eval: true, workerData: { bytes, name: 'peak', seconds: 0.1 } });
        w.once('message', (gflops: number) => resolve(gflops));
        w.once('error', reject);
      })),
    );
    best = Math.max(best, rates.reduce((a, b) => a + b, 0));
  }
  return best;
}
