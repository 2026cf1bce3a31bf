;; Batch normalization for the 'wasm' backend (layers/batchnorm2d.ts says what it computes and
;; why): two kinds of sweep over an NCHW tensor, each cut into ranges the threads share
;; (kernels/wasm/sweep.ts).
;;
;;   per-channel sums   channels [c0, c1): a channel's data is N planes of H x W floats, one per
;;                      image; sums are taken in float64 (four float32 lanes promoted to two f64x2)
;;   element-wise       planes [p0, p1) of the N * C planes: an affine map per channel, in float32
;;
;; The coefficients of the element-wise maps are four float32 per channel at $coef + 16 c, loaded
;; as one vector and splatted lane by lane. Addresses are byte offsets into the shared memory;
;; sizes are counts of elements.

(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; Mean and biased variance of channels [c0, c1), as float64 pairs at $stats + 16 c:
  ;;   mean = sum(x) / M,  variance = sum((x - mean)^2) / M,  M = batch * plane.
  ;; One pass: the sums are of x - s and (x - s)^2 with s the channel's first value, so that
  ;; variance = E[(x - s)^2] - E[x - s]^2 does not cancel (s lies among the values: |mean - s| is
  ;; a few standard deviations at most), and the mean is s + E[x - s]. Lanes 0-1 and 2-3 of each
  ;; vector go into accumulators of their own (added at the end): each sum's chain of dependent
  ;; f64x2.adds then has one add per four floats, not two, and the loop runs twice as fast.
  (func (export "bn_statistics")
    (param $x i32) (param $stats i32) (param $batch i32) (param $channels i32) (param $plane i32) (param $c0 i32) (param $c1 i32)
    (local $c i32) (local $n i32) (local $p i32) (local $end i32) (local $tail i32)
    (local $s f64) (local $sv v128) (local $v v128) (local $d v128)
    (local $sum v128) (local $squares v128) (local $sumHigh v128) (local $squaresHigh v128)
    (local $d1 f64) (local $count f64) (local $mean f64) (local $sum1 f64) (local $sum2 f64)
    (local.set $count (f64.convert_i32_u (i32.mul (local.get $batch) (local.get $plane))))
    (local.set $c (local.get $c0))
    (block $doneChannels (loop $nextChannel
      (br_if $doneChannels (i32.ge_s (local.get $c) (local.get $c1)))
      (local.set $s (f64.promote_f32 (f32.load (i32.add (local.get $x) (i32.shl (i32.mul (local.get $c) (local.get $plane)) (i32.const 2))))))
      (local.set $sv (f64x2.splat (local.get $s)))
      (local.set $sum (v128.const f64x2 0 0))
      (local.set $squares (v128.const f64x2 0 0))
      (local.set $sumHigh (v128.const f64x2 0 0))
      (local.set $squaresHigh (v128.const f64x2 0 0))
      (local.set $n (i32.const 0))
      (block $doneImages (loop $nextImage
        (br_if $doneImages (i32.ge_s (local.get $n) (local.get $batch)))
        (local.set $p (i32.add (local.get $x)
          (i32.shl (i32.mul (i32.add (i32.mul (local.get $n) (local.get $channels)) (local.get $c)) (local.get $plane)) (i32.const 2))))
        (local.set $end (i32.add (local.get $p) (i32.shl (i32.and (local.get $plane) (i32.const -4)) (i32.const 2))))
        ;; four floats at a time: lanes 0-1 and 2-3 as two f64x2
        (block $doneFours (loop $nextFour
          (br_if $doneFours (i32.ge_u (local.get $p) (local.get $end)))
          (local.set $v (v128.load (local.get $p)))
          (local.set $d (f64x2.sub (f64x2.promote_low_f32x4 (local.get $v)) (local.get $sv)))
          (local.set $sum (f64x2.add (local.get $sum) (local.get $d)))
          (local.set $squares (f64x2.add (local.get $squares) (f64x2.mul (local.get $d) (local.get $d))))
          (local.set $d (f64x2.sub
            (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))
            (local.get $sv)))
          (local.set $sumHigh (f64x2.add (local.get $sumHigh) (local.get $d)))
          (local.set $squaresHigh (f64x2.add (local.get $squaresHigh) (f64x2.mul (local.get $d) (local.get $d))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br $nextFour)))
        ;; the last plane % 4 floats, added to lane 0
        (local.set $tail (i32.add (local.get $end) (i32.shl (i32.and (local.get $plane) (i32.const 3)) (i32.const 2))))
        (block $doneTail (loop $nextTail
          (br_if $doneTail (i32.ge_u (local.get $p) (local.get $tail)))
          (local.set $d1 (f64.sub (f64.promote_f32 (f32.load (local.get $p))) (local.get $s)))
          (local.set $sum (f64x2.replace_lane 0 (local.get $sum) (f64.add (f64x2.extract_lane 0 (local.get $sum)) (local.get $d1))))
          (local.set $squares (f64x2.replace_lane 0 (local.get $squares)
            (f64.add (f64x2.extract_lane 0 (local.get $squares)) (f64.mul (local.get $d1) (local.get $d1)))))
          (local.set $p (i32.add (local.get $p) (i32.const 4)))
          (br $nextTail)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $nextImage)))
      (local.set $sum (f64x2.add (local.get $sum) (local.get $sumHigh)))
      (local.set $squares (f64x2.add (local.get $squares) (local.get $squaresHigh)))
      (local.set $sum1 (f64.div (f64.add (f64x2.extract_lane 0 (local.get $sum)) (f64x2.extract_lane 1 (local.get $sum))) (local.get $count)))
      (local.set $sum2 (f64.div (f64.add (f64x2.extract_lane 0 (local.get $squares)) (f64x2.extract_lane 1 (local.get $squares))) (local.get $count)))
      (local.set $mean (f64.add (local.get $s) (local.get $sum1)))
      (f64.store (i32.add (local.get $stats) (i32.shl (local.get $c) (i32.const 4))) (local.get $mean))
      (f64.store offset=8 (i32.add (local.get $stats) (i32.shl (local.get $c) (i32.const 4)))
        (f64.max (f64.const 0) (f64.sub (local.get $sum2) (f64.mul (local.get $sum1) (local.get $sum1)))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $nextChannel)))
  )

  ;; y = (x - mean[c]) * scale[c] + shift[c] over planes [p0, p1), coefficients (mean, scale,
  ;; shift, unused) at $coef + 16 c; with $relu = 1, y = max(that, 0), the ReLU that follows the
  ;; batch norm in the same pass (+0 for a NaN or -0, as relu.wat: the value AND-ed with its
  ;; comparison with 0).
  (func (export "bn_forward")
    (param $x i32) (param $y i32) (param $coef i32) (param $channels i32) (param $plane i32) (param $relu i32) (param $p0 i32) (param $p1 i32)
    (local $p i32) (local $c i32) (local $at i32) (local $to i32) (local $end i32) (local $tail i32)
    (local $k v128) (local $mean v128) (local $scale v128) (local $shift v128) (local $v v128) (local $keep v128)
    (local $m f32) (local $sc f32) (local $sh f32) (local $r f32)
    (local.set $p (local.get $p0))
    (block $donePlanes (loop $nextPlane
      (br_if $donePlanes (i32.ge_s (local.get $p) (local.get $p1)))
      (local.set $c (i32.rem_u (local.get $p) (local.get $channels)))
      (local.set $k (v128.load (i32.add (local.get $coef) (i32.shl (local.get $c) (i32.const 4)))))
      (local.set $mean (i8x16.shuffle 0 1 2 3 0 1 2 3 0 1 2 3 0 1 2 3 (local.get $k) (local.get $k)))
      (local.set $scale (i8x16.shuffle 4 5 6 7 4 5 6 7 4 5 6 7 4 5 6 7 (local.get $k) (local.get $k)))
      (local.set $shift (i8x16.shuffle 8 9 10 11 8 9 10 11 8 9 10 11 8 9 10 11 (local.get $k) (local.get $k)))
      (local.set $at (i32.add (local.get $x) (i32.shl (i32.mul (local.get $p) (local.get $plane)) (i32.const 2))))
      (local.set $to (i32.add (local.get $y) (i32.shl (i32.mul (local.get $p) (local.get $plane)) (i32.const 2))))
      (local.set $end (i32.add (local.get $at) (i32.shl (i32.and (local.get $plane) (i32.const -4)) (i32.const 2))))
      ;; without the ReLU every lane is kept: an all-ones mask, AND-ed in
      (local.set $keep (v128.const i32x4 -1 -1 -1 -1))
      (block $doneFours (loop $nextFour
        (br_if $doneFours (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $v (f32x4.add (f32x4.mul (f32x4.sub (v128.load (local.get $at)) (local.get $mean)) (local.get $scale)) (local.get $shift)))
        (if (local.get $relu) (then (local.set $keep (f32x4.gt (local.get $v) (v128.const f32x4 0 0 0 0)))))
        (v128.store (local.get $to) (v128.and (local.get $v) (local.get $keep)))
        (local.set $at (i32.add (local.get $at) (i32.const 16)))
        (local.set $to (i32.add (local.get $to) (i32.const 16)))
        (br $nextFour)))
      (local.set $m (f32x4.extract_lane 0 (local.get $k)))
      (local.set $sc (f32x4.extract_lane 1 (local.get $k)))
      (local.set $sh (f32x4.extract_lane 2 (local.get $k)))
      (local.set $tail (i32.add (local.get $end) (i32.shl (i32.and (local.get $plane) (i32.const 3)) (i32.const 2))))
      (block $doneTail (loop $nextTail
        (br_if $doneTail (i32.ge_u (local.get $at) (local.get $tail)))
        (local.set $r (f32.add (f32.mul (f32.sub (f32.load (local.get $at)) (local.get $m)) (local.get $sc)) (local.get $sh)))
        (if (local.get $relu) (then (local.set $r (select (local.get $r) (f32.const 0) (f32.gt (local.get $r) (f32.const 0))))))
        (f32.store (local.get $to) (local.get $r))
        (local.set $at (i32.add (local.get $at) (i32.const 4)))
        (local.set $to (i32.add (local.get $to) (i32.const 4)))
        (br $nextTail)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $nextPlane)))
  )

  ;; Backward sums of channels [c0, c1), as float64 pairs at $sums + 16 c:
  ;;   sum(dy)  and  sum(dy * (x - mean[c])),  mean[c] a float64 at $means + 8 c.
  ;; With a fused ReLU ($mask, its output, not 0), dy counts only where the output is positive: dy
  ;; AND-ed with that comparison (the ReLU's gradient, in the same pass).
  (func (export "bn_backward_sums")
    (param $dy i32) (param $x i32) (param $mask i32) (param $means i32) (param $sums i32) (param $batch i32) (param $channels i32) (param $plane i32)
    (param $c0 i32) (param $c1 i32)
    (local $c i32) (local $n i32) (local $offset i32) (local $g i32) (local $at i32) (local $y i32) (local $end i32) (local $tail i32)
    (local $mean f64) (local $mv v128) (local $vg v128) (local $vx v128) (local $lo v128) (local $hi v128)
    (local $sumDy v128) (local $sumDyX v128) (local $sumDyHigh v128) (local $sumDyXHigh v128) (local $g1 f64)
    (local.set $c (local.get $c0))
    (block $doneChannels (loop $nextChannel
      (br_if $doneChannels (i32.ge_s (local.get $c) (local.get $c1)))
      (local.set $mean (f64.load (i32.add (local.get $means) (i32.shl (local.get $c) (i32.const 3)))))
      (local.set $mv (f64x2.splat (local.get $mean)))
      (local.set $sumDy (v128.const f64x2 0 0))
      (local.set $sumDyX (v128.const f64x2 0 0))
      (local.set $sumDyHigh (v128.const f64x2 0 0))
      (local.set $sumDyXHigh (v128.const f64x2 0 0))
      (local.set $n (i32.const 0))
      (block $doneImages (loop $nextImage
        (br_if $doneImages (i32.ge_s (local.get $n) (local.get $batch)))
        (local.set $offset (i32.shl (i32.mul (i32.add (i32.mul (local.get $n) (local.get $channels)) (local.get $c)) (local.get $plane)) (i32.const 2)))
        (local.set $g (i32.add (local.get $dy) (local.get $offset)))
        (local.set $at (i32.add (local.get $x) (local.get $offset)))
        (local.set $y (i32.add (local.get $mask) (local.get $offset)))
        (local.set $end (i32.add (local.get $g) (i32.shl (i32.and (local.get $plane) (i32.const -4)) (i32.const 2))))
        (block $doneFours (loop $nextFour
          (br_if $doneFours (i32.ge_u (local.get $g) (local.get $end)))
          (local.set $vg (v128.load (local.get $g)))
          (if (local.get $mask) (then
            (local.set $vg (v128.and (local.get $vg) (f32x4.gt (v128.load (local.get $y)) (v128.const f32x4 0 0 0 0))))))
          (local.set $vx (v128.load (local.get $at)))
          ;; lanes 0-1
          (local.set $lo (f64x2.promote_low_f32x4 (local.get $vg)))
          (local.set $sumDy (f64x2.add (local.get $sumDy) (local.get $lo)))
          (local.set $sumDyX (f64x2.add (local.get $sumDyX)
            (f64x2.mul (local.get $lo) (f64x2.sub (f64x2.promote_low_f32x4 (local.get $vx)) (local.get $mv)))))
          ;; lanes 2-3, into accumulators of their own (as bn_statistics)
          (local.set $hi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $vg) (local.get $vg))))
          (local.set $sumDyHigh (f64x2.add (local.get $sumDyHigh) (local.get $hi)))
          (local.set $sumDyXHigh (f64x2.add (local.get $sumDyXHigh)
            (f64x2.mul (local.get $hi)
              (f64x2.sub (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $vx) (local.get $vx)))
                (local.get $mv)))))
          (local.set $g (i32.add (local.get $g) (i32.const 16)))
          (local.set $at (i32.add (local.get $at) (i32.const 16)))
          (local.set $y (i32.add (local.get $y) (i32.const 16)))
          (br $nextFour)))
        (local.set $tail (i32.add (local.get $end) (i32.shl (i32.and (local.get $plane) (i32.const 3)) (i32.const 2))))
        (block $doneTail (loop $nextTail
          (br_if $doneTail (i32.ge_u (local.get $g) (local.get $tail)))
          (local.set $g1 (f64.promote_f32 (f32.load (local.get $g))))
          (if (local.get $mask) (then
            (if (i32.eqz (f32.gt (f32.load (local.get $y)) (f32.const 0))) (then (local.set $g1 (f64.const 0))))))
          (local.set $sumDy (f64x2.replace_lane 0 (local.get $sumDy) (f64.add (f64x2.extract_lane 0 (local.get $sumDy)) (local.get $g1))))
          (local.set $sumDyX (f64x2.replace_lane 0 (local.get $sumDyX)
            (f64.add (f64x2.extract_lane 0 (local.get $sumDyX))
              (f64.mul (local.get $g1) (f64.sub (f64.promote_f32 (f32.load (local.get $at))) (local.get $mean))))))
          (local.set $g (i32.add (local.get $g) (i32.const 4)))
          (local.set $at (i32.add (local.get $at) (i32.const 4)))
          (local.set $y (i32.add (local.get $y) (i32.const 4)))
          (br $nextTail)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $nextImage)))
      (local.set $sumDy (f64x2.add (local.get $sumDy) (local.get $sumDyHigh)))
      (local.set $sumDyX (f64x2.add (local.get $sumDyX) (local.get $sumDyXHigh)))
      (f64.store (i32.add (local.get $sums) (i32.shl (local.get $c) (i32.const 4)))
        (f64.add (f64x2.extract_lane 0 (local.get $sumDy)) (f64x2.extract_lane 1 (local.get $sumDy))))
      (f64.store offset=8 (i32.add (local.get $sums) (i32.shl (local.get $c) (i32.const 4)))
        (f64.add (f64x2.extract_lane 0 (local.get $sumDyX)) (f64x2.extract_lane 1 (local.get $sumDyX))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $nextChannel)))
  )

  ;; dx = a[c] * dy + b[c] * (x - mean[c]) + d[c] over planes [p0, p1), coefficients
  ;; (mean, a, b, d) at $coef + 16 c; dy through a fused ReLU's gradient where $mask (its output)
  ;; is not 0, as in bn_backward_sums.
  (func (export "bn_backward_input")
    (param $dy i32) (param $x i32) (param $mask i32) (param $dx i32) (param $coef i32) (param $channels i32) (param $plane i32)
    (param $p0 i32) (param $p1 i32)
    (local $p i32) (local $c i32) (local $offset i32) (local $g i32) (local $at i32) (local $y i32) (local $to i32) (local $end i32) (local $tail i32)
    (local $k v128) (local $mean v128) (local $a v128) (local $b v128) (local $d v128) (local $vg v128)
    (local $m f32) (local $a1 f32) (local $b1 f32) (local $d1 f32) (local $g1 f32)
    (local.set $p (local.get $p0))
    (block $donePlanes (loop $nextPlane
      (br_if $donePlanes (i32.ge_s (local.get $p) (local.get $p1)))
      (local.set $c (i32.rem_u (local.get $p) (local.get $channels)))
      (local.set $k (v128.load (i32.add (local.get $coef) (i32.shl (local.get $c) (i32.const 4)))))
      (local.set $mean (i8x16.shuffle 0 1 2 3 0 1 2 3 0 1 2 3 0 1 2 3 (local.get $k) (local.get $k)))
      (local.set $a (i8x16.shuffle 4 5 6 7 4 5 6 7 4 5 6 7 4 5 6 7 (local.get $k) (local.get $k)))
      (local.set $b (i8x16.shuffle 8 9 10 11 8 9 10 11 8 9 10 11 8 9 10 11 (local.get $k) (local.get $k)))
      (local.set $d (i8x16.shuffle 12 13 14 15 12 13 14 15 12 13 14 15 12 13 14 15 (local.get $k) (local.get $k)))
      (local.set $offset (i32.shl (i32.mul (local.get $p) (local.get $plane)) (i32.const 2)))
      (local.set $g (i32.add (local.get $dy) (local.get $offset)))
      (local.set $at (i32.add (local.get $x) (local.get $offset)))
      (local.set $y (i32.add (local.get $mask) (local.get $offset)))
      (local.set $to (i32.add (local.get $dx) (local.get $offset)))
      (local.set $end (i32.add (local.get $g) (i32.shl (i32.and (local.get $plane) (i32.const -4)) (i32.const 2))))
      (block $doneFours (loop $nextFour
        (br_if $doneFours (i32.ge_u (local.get $g) (local.get $end)))
        (local.set $vg (v128.load (local.get $g)))
        (if (local.get $mask) (then
          (local.set $vg (v128.and (local.get $vg) (f32x4.gt (v128.load (local.get $y)) (v128.const f32x4 0 0 0 0))))))
        (v128.store (local.get $to)
          (f32x4.add
            (f32x4.add
              (f32x4.mul (local.get $a) (local.get $vg))
              (f32x4.mul (local.get $b) (f32x4.sub (v128.load (local.get $at)) (local.get $mean))))
            (local.get $d)))
        (local.set $g (i32.add (local.get $g) (i32.const 16)))
        (local.set $at (i32.add (local.get $at) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (local.set $to (i32.add (local.get $to) (i32.const 16)))
        (br $nextFour)))
      (local.set $m (f32x4.extract_lane 0 (local.get $k)))
      (local.set $a1 (f32x4.extract_lane 1 (local.get $k)))
      (local.set $b1 (f32x4.extract_lane 2 (local.get $k)))
      (local.set $d1 (f32x4.extract_lane 3 (local.get $k)))
      (local.set $tail (i32.add (local.get $end) (i32.shl (i32.and (local.get $plane) (i32.const 3)) (i32.const 2))))
      (block $doneTail (loop $nextTail
        (br_if $doneTail (i32.ge_u (local.get $g) (local.get $tail)))
        (local.set $g1 (f32.load (local.get $g)))
        (if (local.get $mask) (then
          (if (i32.eqz (f32.gt (f32.load (local.get $y)) (f32.const 0))) (then (local.set $g1 (f32.const 0))))))
        (f32.store (local.get $to)
          (f32.add
            (f32.add
              (f32.mul (local.get $a1) (local.get $g1))
              (f32.mul (local.get $b1) (f32.sub (f32.load (local.get $at)) (local.get $m))))
            (local.get $d1)))
        (local.set $g (i32.add (local.get $g) (i32.const 4)))
        (local.set $at (i32.add (local.get $at) (i32.const 4)))
        (local.set $y (i32.add (local.get $y) (i32.const 4)))
        (local.set $to (i32.add (local.get $to) (i32.const 4)))
        (br $nextTail)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $nextPlane)))
  )
)
