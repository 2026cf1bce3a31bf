;; ReLU forward and backward, four floats at a time (WebAssembly SIMD128).
;;
;; Both keep a value where a comparison holds and write +0 elsewhere, by AND-ing it with the
;; comparison's all-ones or all-zeros lanes: exactly the reference's `x > 0 ? x : 0` (a NaN or a
;; -0 gives +0), with no branch to mispredict on activations that are positive half the time.
;; Addresses are byte offsets into the shared memory; n is a count of floats.

(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; y = x > 0 ? x : 0
  (func (export "relu_forward") (param $x i32) (param $y i32) (param $n i32)
    (local $end i32) (local $v v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $v (v128.load (local.get $x)))
      (v128.store (local.get $y) (v128.and (local.get $v) (f32x4.gt (local.get $v) (v128.const f32x4 0 0 0 0))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $y (i32.add (local.get $y) (i32.const 16)))
      (br $next)))
    ;; the last n % 4 floats, one at a time
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $doneTail (loop $nextTail
      (br_if $doneTail (i32.ge_u (local.get $x) (local.get $end)))
      (f32.store (local.get $y) (select (f32.load (local.get $x)) (f32.const 0) (f32.gt (f32.load (local.get $x)) (f32.const 0))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (br $nextTail)))
  )

  ;; dx = y > 0 ? dy : 0   (y: the forward output)
  (func (export "relu_backward") (param $dy i32) (param $y i32) (param $dx i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dy) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $dy) (local.get $end)))
      (v128.store (local.get $dx)
        (v128.and (v128.load (local.get $dy)) (f32x4.gt (v128.load (local.get $y)) (v128.const f32x4 0 0 0 0))))
      (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
      (local.set $y (i32.add (local.get $y) (i32.const 16)))
      (local.set $dx (i32.add (local.get $dx) (i32.const 16)))
      (br $next)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $doneTail (loop $nextTail
      (br_if $doneTail (i32.ge_u (local.get $dy) (local.get $end)))
      (f32.store (local.get $dx) (select (f32.load (local.get $dy)) (f32.const 0) (f32.gt (f32.load (local.get $y)) (f32.const 0))))
      (local.set $dy (i32.add (local.get $dy) (i32.const 4)))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (local.set $dx (i32.add (local.get $dx) (i32.const 4)))
      (br $nextTail)))
  )
)
