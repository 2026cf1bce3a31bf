;; The peak of WebAssembly SIMD's multiply-add on this machine, for the benchmarks' "share of
;; peak" (bench/machine.ts, beside it). A template, as kernels/wasm/gemm-4x8.wat: (MADD a b c) =
;; a * b + c, written out by scripts/build-wasm.js as peak-simd.wasm (f32x4.mul then f32x4.add)
;; and peak-relaxed.wasm (f32x4.relaxed_madd), so the peak is measured with the micro-kernel's
;; own instructions.
;; Twelve independent accumulators, so
;; that no operation waits for the one before it (a multiply-add has 3-5 cycles of latency, and
;; two can start per cycle): the loop runs at the throughput of the vector units.
;; Each step: 12 x 4 lanes x 2 FLOPs = 96 FLOPs. Returns the sum of the accumulators, so that the
;; engine cannot drop the work.

(module
  (func (export "peak") (param $steps i32) (result f32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128) (local $a8 v128) (local $a9 v128) (local $a10 v128) (local $a11 v128)
    (local $x v128) (local $y v128)
    (local.set $x (f32x4.splat (f32.const 0.999999)))
    (local.set $y (f32x4.splat (f32.const 0.000001)))
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $steps)))
      (local.set $a0 (MADD (local.get $a0) (local.get $x) (local.get $y)))
      (local.set $a1 (MADD (local.get $a1) (local.get $x) (local.get $y)))
      (local.set $a2 (MADD (local.get $a2) (local.get $x) (local.get $y)))
      (local.set $a3 (MADD (local.get $a3) (local.get $x) (local.get $y)))
      (local.set $a4 (MADD (local.get $a4) (local.get $x) (local.get $y)))
      (local.set $a5 (MADD (local.get $a5) (local.get $x) (local.get $y)))
      (local.set $a6 (MADD (local.get $a6) (local.get $x) (local.get $y)))
      (local.set $a7 (MADD (local.get $a7) (local.get $x) (local.get $y)))
      (local.set $a8 (MADD (local.get $a8) (local.get $x) (local.get $y)))
      (local.set $a9 (MADD (local.get $a9) (local.get $x) (local.get $y)))
      (local.set $a10 (MADD (local.get $a10) (local.get $x) (local.get $y)))
      (local.set $a11 (MADD (local.get $a11) (local.get $x) (local.get $y)))
      (local.set $steps (i32.sub (local.get $steps) (i32.const 1)))
      (br $next)))
    (f32x4.extract_lane 0 (f32x4.add (f32x4.add (f32x4.add (f32x4.add (f32x4.add (f32x4.add (f32x4.add (f32x4.add (f32x4.add (f32x4.add (f32x4.add (local.get $a0) (local.get $a1)) (local.get $a2)) (local.get $a3)) (local.get $a4)) (local.get $a5)) (local.get $a6)) (local.get $a7)) (local.get $a8)) (local.get $a9)) (local.get $a10)) (local.get $a11)))
  )
)
