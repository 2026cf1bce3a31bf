;; One step of SGD with momentum and weight decay on float32 parameters, in WebAssembly SIMD, with
;; the arithmetic of kernels/cpu/reference.ts (stepFloat32) to the bit: every product and sum in float64,
;; rounded to float32 where PyTorch rounds. Four parameters at a time, each f32x4 split into two
;; f64x2 halves:
;;   d   = f32(grad + wd * value)
;;   buf = d                           (mode 1, the first step)
;;   buf = f32(f32(momentum * buf) + d) (mode 2)
;;   value = f32(value + lr * buf)     (value + lr * d in mode 0, without momentum: buf unused)
;; n is a multiple of 4 (kernels/wasm/sgd.ts pads the last chunk).

(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; (The conversions are written out in the loop: V8 does not inline calls between WebAssembly
  ;; functions, and helpers for them made the step five times slower.)
  (func (export "sgd_step")
    (param $value i32) (param $grad i32) (param $buf i32) (param $n i32)
    (param $lr f64) (param $weightDecay f64) (param $momentum f64) (param $mode i32)
    (local $i i32) (local $lrs v128) (local $wds v128) (local $ms v128)
    (local $v v128) (local $g v128) (local $d v128) (local $b v128)
    (local $vlo v128) (local $vhi v128) (local $lo v128) (local $hi v128)
    (local.set $lrs (f64x2.splat (local.get $lr)))
    (local.set $wds (f64x2.splat (local.get $weightDecay)))
    (local.set $ms (f64x2.splat (local.get $momentum)))
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
          ;; f32(momentum * buf)
          (local.set $b (v128.load (local.get $buf)))
          (local.set $lo (f64x2.mul (local.get $ms) (f64x2.promote_low_f32x4 (local.get $b))))
          (local.set $hi (f64x2.mul (local.get $ms)
            (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $b) (local.get $b)))))
          (local.set $b (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero (local.get $lo)) (f32x4.demote_f64x2_zero (local.get $hi))))
          ;; f32(that + d)
          (local.set $lo (f64x2.add (f64x2.promote_low_f32x4 (local.get $b)) (f64x2.promote_low_f32x4 (local.get $d))))
          (local.set $hi (f64x2.add
            (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $b) (local.get $b)))
            (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $d) (local.get $d)))))
          (local.set $b (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero (local.get $lo)) (f32x4.demote_f64x2_zero (local.get $hi))))))
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
)
