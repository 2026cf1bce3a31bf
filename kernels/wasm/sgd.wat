;; One step of SGD with momentum and weight decay on float32 parameters, in WebAssembly SIMD, with
;; the arithmetic of kernels/cpu/reference.ts (stepFloat32) to the bit: every product and sum in float64,
;; rounded to float32 where PyTorch rounds. Four parameters at a time, each f32x4 split into two
;; f64x2 halves:
;;   d   = f32(grad + wd * value)
;;   buf = d                           (mode 1, the first step)
;;   buf = f32(f32(momentum * buf) + d) (mode 2: float32's own multiply and add, the same bits)
;;   value = f32(value + lr * buf)     (value + lr * d in mode 0, without momentum: buf unused)
;; n is a multiple of 4 (kernels/wasm/sgd.ts pads the last chunk; a resident tensor's block of the
;; backend's memory is whole 64-byte lines, so the lanes past its end are its own).
;;
;; And gradient clipping's sum of squares, in float64 as the reference sums: each float32 value
;; promoted, squared (exact: 24-bit mantissas, a 48-bit product) and added, eight running sums
;; (four per group of four lanes) added up at the end, then the last n mod 4 values one at a
;; time. The order of the additions differs from the reference's one running sum, so the totals
;; differ in their last bits: on 300,001 normal values this sum lies 1e-14 of itself from a
;; compensated sum's, the reference's one running sum 1e-13 (spec/layers/sgd.spec.ts).

(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; (The conversions are written out in the loop: V8 does not inline calls between WebAssembly
  ;; functions, and helpers for them made the step five times slower.)
  (func (export "sgd_step")
    (param $value i32) (param $grad i32) (param $buf i32) (param $n i32)
    (param $lr f64) (param $weightDecay f64) (param $momentum f64) (param $mode i32)
    (local $i i32) (local $lrs v128) (local $wds v128) (local $ms32 v128)
    (local $v v128) (local $g v128) (local $d v128) (local $b v128)
    (local $vlo v128) (local $vhi v128) (local $lo v128) (local $hi v128)
    (local.set $lrs (f64x2.splat (local.get $lr)))
    (local.set $wds (f64x2.splat (local.get $weightDecay)))
    (local.set $ms32 (f32x4.splat (f32.demote_f64 (local.get $momentum)))) ;; exact: the caller rounded it to float32
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $v (v128.load (local.get $value)))
      (local.set $g (v128.load (local.get $grad)))
      ;; value's float64 halves (lanes 0-1, lanes 2-3 moved down first)
      (local.set $vlo (f64x2.promote_low_f32x4 (local.get $v)))
      (local.set $vhi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
      ;; the decayed gradient d = f32(grad + wd * value)
      (local.set $lo (f64x2.add (f64x2.promote_low_f32x4 (local.get $g)) (f64x2.mul (local.get $wds) (local.get $vlo))))
      (local.set $hi (f64x2.add
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $g) (local.get $g)))
        (f64x2.mul (local.get $wds) (local.get $vhi))))
      (local.set $d (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero (local.get $lo)) (f32x4.demote_f64x2_zero (local.get $hi))))
      ;; the step b: d itself (no momentum, or the first step), or the new momentum buffer
      (local.set $b (local.get $d))
      (if (i32.eq (local.get $mode) (i32.const 2))
        (then
          ;; f32(f32(momentum * buf) + d): float32's own multiply and add. Each is one operation
          ;; on float32 values, whose float64 result rounded to float32 is the correctly rounded
          ;; float32 result (float64 carries more than 2 x 24 + 2 bits, so the double rounding is
          ;; harmless): the reference's bits, without the eight conversions of the float64 route
          ;; (the step on 26 million parameters, 2 threads: 49 -> 29 ms).
          (local.set $b (f32x4.add (f32x4.mul (local.get $ms32) (v128.load (local.get $buf))) (local.get $d)))))
      (if (i32.ne (local.get $mode) (i32.const 0)) (then (v128.store (local.get $buf) (local.get $b))))
      ;; value = f32(value + lr * b)
      (local.set $lo (f64x2.add (local.get $vlo) (f64x2.mul (local.get $lrs) (f64x2.promote_low_f32x4 (local.get $b)))))
      (local.set $hi (f64x2.add (local.get $vhi) (f64x2.mul (local.get $lrs)
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $b) (local.get $b))))))
      (v128.store (local.get $value)
        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero (local.get $lo)) (f32x4.demote_f64x2_zero (local.get $hi))))
      (local.set $value (i32.add (local.get $value) (i32.const 16)))
      (local.set $grad (i32.add (local.get $grad) (i32.const 16)))
      (local.set $buf (i32.add (local.get $buf) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $next)))
  )

  ;; f64 at out = x[0]^2 + ... + x[n - 1]^2, in float64 (see the top). Eight values a step, into
  ;; four running sums of two lanes (lo0, hi0: values 0-3 of each eight; lo1, hi1: 4-7), so that
  ;; four additions are in flight at once (one chain of dependent float64 additions held the loop
  ;; to 2.0 billion values a second on two threads, against 2.8 for a ReLU pass over the same
  ;; memory); a last 4 of n mod 8 go into lo0 and hi0.
  (func (export "sum_squares") (param $x i32) (param $n i32) (param $out i32)
    (local $end i32) (local $v v128) (local $w v128) (local $lo v128) (local $hi v128) (local $lo1 v128) (local $hi1 v128)
    (local $sum f64) (local $f f64)
    (local.set $end (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $v (v128.load (local.get $x)))
      (local.set $w (f64x2.promote_low_f32x4 (local.get $v)))
      (local.set $lo (f64x2.add (local.get $lo) (f64x2.mul (local.get $w) (local.get $w))))
      (local.set $w (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
      (local.set $hi (f64x2.add (local.get $hi) (f64x2.mul (local.get $w) (local.get $w))))
      (local.set $v (v128.load offset=16 (local.get $x)))
      (local.set $w (f64x2.promote_low_f32x4 (local.get $v)))
      (local.set $lo1 (f64x2.add (local.get $lo1) (f64x2.mul (local.get $w) (local.get $w))))
      (local.set $w (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
      (local.set $hi1 (f64x2.add (local.get $hi1) (f64x2.mul (local.get $w) (local.get $w))))
      (local.set $x (i32.add (local.get $x) (i32.const 32)))
      (br $next)))
    (if (i32.and (local.get $n) (i32.const 4)) (then
      (local.set $v (v128.load (local.get $x)))
      (local.set $w (f64x2.promote_low_f32x4 (local.get $v)))
      (local.set $lo (f64x2.add (local.get $lo) (f64x2.mul (local.get $w) (local.get $w))))
      (local.set $w (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
      (local.set $hi (f64x2.add (local.get $hi) (f64x2.mul (local.get $w) (local.get $w))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))))
    (local.set $lo (f64x2.add (local.get $lo) (local.get $lo1)))
    (local.set $hi (f64x2.add (local.get $hi) (local.get $hi1)))
    (local.set $sum (f64.add
      (f64.add (f64x2.extract_lane 0 (local.get $lo)) (f64x2.extract_lane 1 (local.get $lo)))
      (f64.add (f64x2.extract_lane 0 (local.get $hi)) (f64x2.extract_lane 1 (local.get $hi)))))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 7)) (i32.const 2))))
    (block $doneTail (loop $nextTail
      (br_if $doneTail (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $f (f64.promote_f32 (f32.load (local.get $x))))
      (local.set $sum (f64.add (local.get $sum) (f64.mul (local.get $f) (local.get $f))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (br $nextTail)))
    (f64.store (local.get $out) (local.get $sum))
  )
)
