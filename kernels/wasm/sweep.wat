;; The memory-bound kernels of the 'wasm' backend: max pooling, the L2 norm and the bias gradient,
;; each one sweep over its tensors. Every function handles a range (of planes, channels or
;; positions) so that the threads can share a call (kernels/wasm/sweep.ts cuts the ranges).
;;
;; Sums are taken in float64, four float32 lanes promoted to two f64x2 at a time, as the reference
;; kernels sum in float64 (JavaScript numbers): the results equal the reference's but for the order
;; of the terms of each sum. Addresses are byte offsets into the shared memory; sizes are counts
;; of elements.
;;
;; The pooling geometry is a struct of i32 at $g (writePoolGeometry in kernels/wasm/sweep.ts):
;;   0 inH  4 inW  8 kH  12 kW  16 strideH  20 strideW  24 padH  28 padW  32 outH  36 outW

(module
  (import "env" "memory" (memory 1 65536 shared))
  ;; the memory again, so that a thread's JavaScript tasks can view it too (the MultiBox loss's
  ;; confidence loops, kernels/wasm/sweep.ts)
  (export "memory" (memory 0))

  ;; ---------------------------------------------------------------------------------------------
  ;; Max pooling, planes [p0, p1) of x (N * C planes of inH x inW). Each window is clipped to the
  ;; input (padding never wins) and scanned in order: a larger value wins, a tie keeps the first,
  ;; a NaN wins and ends the scan (as the reference and PyTorch). This is a compare per element
  ;; with an early exit, so it is scalar; its cost is reading x once.
  (func (export "maxpool_forward")
    (param $x i32) (param $y i32) (param $argmax i32) (param $g i32) (param $p0 i32) (param $p1 i32)
    (local $inH i32) (local $inW i32) (local $kH i32) (local $kW i32) (local $sH i32) (local $sW i32)
    (local $pH i32) (local $pW i32) (local $outH i32) (local $outW i32)
    (local $p i32) (local $plane i32) (local $o i32) (local $oy i32) (local $ox i32)
    (local $y0 i32) (local $y1 i32) (local $x0 i32) (local $x1 i32) (local $iy i32) (local $ix i32)
    (local $best f32) (local $bestIndex i32) (local $v f32)
    (local.set $inH (i32.load offset=0 (local.get $g)))
    (local.set $inW (i32.load offset=4 (local.get $g)))
    (local.set $kH (i32.load offset=8 (local.get $g)))
    (local.set $kW (i32.load offset=12 (local.get $g)))
    (local.set $sH (i32.load offset=16 (local.get $g)))
    (local.set $sW (i32.load offset=20 (local.get $g)))
    (local.set $pH (i32.load offset=24 (local.get $g)))
    (local.set $pW (i32.load offset=28 (local.get $g)))
    (local.set $outH (i32.load offset=32 (local.get $g)))
    (local.set $outW (i32.load offset=36 (local.get $g)))
    ;; the first output of plane p0
    (local.set $o (i32.mul (local.get $p0) (i32.mul (local.get $outH) (local.get $outW))))
    (local.set $p (local.get $p0))
    (block $donePlanes (loop $nextPlane
      (br_if $donePlanes (i32.ge_s (local.get $p) (local.get $p1)))
      (local.set $plane (i32.add (local.get $x) (i32.shl (i32.mul (local.get $p) (i32.mul (local.get $inH) (local.get $inW))) (i32.const 2))))
      (local.set $oy (i32.const 0))
      (block $doneRows (loop $nextRow
        (br_if $doneRows (i32.ge_s (local.get $oy) (local.get $outH)))
        ;; rows [y0, y1) of the window, clipped (the geometry leaves every window at least one)
        (local.set $y0 (i32.sub (i32.mul (local.get $oy) (local.get $sH)) (local.get $pH)))
        (local.set $y1 (i32.add (local.get $y0) (local.get $kH)))
        (if (i32.lt_s (local.get $y0) (i32.const 0)) (then (local.set $y0 (i32.const 0))))
        (if (i32.gt_s (local.get $y1) (local.get $inH)) (then (local.set $y1 (local.get $inH))))
        (local.set $ox (i32.const 0))
        (block $doneCols (loop $nextCol
          (br_if $doneCols (i32.ge_s (local.get $ox) (local.get $outW)))
          (local.set $x0 (i32.sub (i32.mul (local.get $ox) (local.get $sW)) (local.get $pW)))
          (local.set $x1 (i32.add (local.get $x0) (local.get $kW)))
          (if (i32.lt_s (local.get $x0) (i32.const 0)) (then (local.set $x0 (i32.const 0))))
          (if (i32.gt_s (local.get $x1) (local.get $inW)) (then (local.set $x1 (local.get $inW))))
          ;; start from the window's first element; the scan compares it with itself (not larger)
          (local.set $bestIndex (i32.add (i32.mul (local.get $y0) (local.get $inW)) (local.get $x0)))
          (local.set $best (f32.load (i32.add (local.get $plane) (i32.shl (local.get $bestIndex) (i32.const 2)))))
          (block $doneWindow
            (local.set $iy (local.get $y0))
            (loop $nextWindowRow
              (local.set $ix (local.get $x0))
              (loop $nextWindowCol
                (local.set $v (f32.load (i32.add (local.get $plane)
                  (i32.shl (i32.add (i32.mul (local.get $iy) (local.get $inW)) (local.get $ix)) (i32.const 2)))))
                (if (i32.or (f32.gt (local.get $v) (local.get $best)) (f32.ne (local.get $v) (local.get $v)))
                  (then
                    (local.set $best (local.get $v))
                    (local.set $bestIndex (i32.add (i32.mul (local.get $iy) (local.get $inW)) (local.get $ix)))))
                ;; a NaN (the first element included) ends the scan: it is the maximum
                (br_if $doneWindow (f32.ne (local.get $best) (local.get $best)))
                (local.set $ix (i32.add (local.get $ix) (i32.const 1)))
                (br_if $nextWindowCol (i32.lt_s (local.get $ix) (local.get $x1))))
              (local.set $iy (i32.add (local.get $iy) (i32.const 1)))
              (br_if $nextWindowRow (i32.lt_s (local.get $iy) (local.get $y1)))))
          (f32.store (i32.add (local.get $y) (i32.shl (local.get $o) (i32.const 2))) (local.get $best))
          (i32.store (i32.add (local.get $argmax) (i32.shl (local.get $o) (i32.const 2))) (local.get $bestIndex))
          (local.set $o (i32.add (local.get $o) (i32.const 1)))
          (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
          (br $nextCol)))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br $nextRow)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $nextPlane)))
  )

  ;; Max pooling with 2x2 windows and stride 2 (pool1 to pool4), planes [p0, p1): the same
  ;; results as maxpool_forward, four outputs at a time. A row of eight inputs is split into the
  ;; windows' left and right columns by shuffles; the four candidates of each window are then
  ;; compared in maxpool_forward's scan order: (0,0), (0,1), (1,0), (1,1). A candidate replaces the
  ;; best so far where it is larger, or where it is a NaN and the best is not (so the first NaN
  ;; wins and stays), with a lane mask instead of a branch. Windows that the ceil mode cuts at the
  ;; right or bottom edge, and the last outW % 4 of a row, go through $pool_one. No padding.
  (func (export "maxpool2x2_forward")
    (param $x i32) (param $y i32) (param $argmax i32) (param $g i32) (param $p0 i32) (param $p1 i32)
    (local $inH i32) (local $inW i32) (local $outH i32) (local $outW i32) (local $fourW i32)
    (local $p i32) (local $plane i32) (local $o i32) (local $oy i32) (local $ox i32)
    (local $row0 i32) (local $row1 i32) (local $a v128) (local $b v128)
    (local $best v128) (local $index v128) (local $v v128) (local $take v128) (local $base v128) (local $rowStep v128)
    (local.set $inH (i32.load offset=0 (local.get $g)))
    (local.set $inW (i32.load offset=4 (local.get $g)))
    (local.set $outH (i32.load offset=32 (local.get $g)))
    (local.set $outW (i32.load offset=36 (local.get $g)))
    ;; outputs whose window lies wholly inside the row, in fours
    (local.set $fourW (i32.and (i32.shr_u (local.get $inW) (i32.const 1)) (i32.const -4)))
    (local.set $rowStep (i32x4.splat (local.get $inW)))
    (local.set $p (local.get $p0))
    (block $donePlanes (loop $nextPlane
      (br_if $donePlanes (i32.ge_s (local.get $p) (local.get $p1)))
      (local.set $plane (i32.add (local.get $x) (i32.shl (i32.mul (local.get $p) (i32.mul (local.get $inH) (local.get $inW))) (i32.const 2))))
      (local.set $o (i32.mul (local.get $p) (i32.mul (local.get $outH) (local.get $outW))))
      (local.set $oy (i32.const 0))
      (block $doneRows (loop $nextRow
        (br_if $doneRows (i32.ge_s (local.get $oy) (local.get $outH)))
        (local.set $ox (i32.const 0))
        ;; a window row pair inside the input: four windows at a time
        (if (i32.le_s (i32.shl (i32.add (local.get $oy) (i32.const 1)) (i32.const 1)) (local.get $inH)) (then
          (block $doneFours (loop $nextFour
            (br_if $doneFours (i32.ge_s (local.get $ox) (local.get $fourW)))
            (local.set $row0 (i32.add (local.get $plane)
              (i32.shl (i32.add (i32.mul (i32.shl (local.get $oy) (i32.const 1)) (local.get $inW)) (i32.shl (local.get $ox) (i32.const 1))) (i32.const 2))))
            (local.set $row1 (i32.add (local.get $row0) (i32.shl (local.get $inW) (i32.const 2))))
            ;; the plane index of each window's first element: 2 oy inW + 2 (ox + lane)
            (local.set $base (i32x4.add
              (i32x4.splat (i32.add (i32.mul (i32.shl (local.get $oy) (i32.const 1)) (local.get $inW)) (i32.shl (local.get $ox) (i32.const 1))))
              (v128.const i32x4 0 2 4 6)))
            ;; (0, 0): the even columns of row 0
            (local.set $a (v128.load offset=0 (local.get $row0)))
            (local.set $b (v128.load offset=16 (local.get $row0)))
            (local.set $best (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a) (local.get $b)))
            (local.set $index (local.get $base))
            ;; (0, 1): the odd columns of row 0
            (local.set $v (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a) (local.get $b)))
            (local.set $take (v128.or (f32x4.gt (local.get $v) (local.get $best))
              (v128.andnot (f32x4.ne (local.get $v) (local.get $v)) (f32x4.ne (local.get $best) (local.get $best)))))
            (local.set $best (v128.bitselect (local.get $v) (local.get $best) (local.get $take)))
            (local.set $index (v128.bitselect (i32x4.add (local.get $base) (v128.const i32x4 1 1 1 1)) (local.get $index) (local.get $take)))
            ;; (1, 0) and (1, 1): row 1
            (local.set $a (v128.load offset=0 (local.get $row1)))
            (local.set $b (v128.load offset=16 (local.get $row1)))
            (local.set $base (i32x4.add (local.get $base) (local.get $rowStep)))
            (local.set $v (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a) (local.get $b)))
            (local.set $take (v128.or (f32x4.gt (local.get $v) (local.get $best))
              (v128.andnot (f32x4.ne (local.get $v) (local.get $v)) (f32x4.ne (local.get $best) (local.get $best)))))
            (local.set $best (v128.bitselect (local.get $v) (local.get $best) (local.get $take)))
            (local.set $index (v128.bitselect (local.get $base) (local.get $index) (local.get $take)))
            (local.set $v (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a) (local.get $b)))
            (local.set $take (v128.or (f32x4.gt (local.get $v) (local.get $best))
              (v128.andnot (f32x4.ne (local.get $v) (local.get $v)) (f32x4.ne (local.get $best) (local.get $best)))))
            (local.set $best (v128.bitselect (local.get $v) (local.get $best) (local.get $take)))
            (local.set $index (v128.bitselect (i32x4.add (local.get $base) (v128.const i32x4 1 1 1 1)) (local.get $index) (local.get $take)))
            (v128.store (i32.add (local.get $y) (i32.shl (local.get $o) (i32.const 2))) (local.get $best))
            (v128.store (i32.add (local.get $argmax) (i32.shl (local.get $o) (i32.const 2))) (local.get $index))
            (local.set $o (i32.add (local.get $o) (i32.const 4)))
            (local.set $ox (i32.add (local.get $ox) (i32.const 4)))
            (br $nextFour)))))
        ;; the rest of the row one window at a time
        (block $doneOnes (loop $nextOne
          (br_if $doneOnes (i32.ge_s (local.get $ox) (local.get $outW)))
          (call $pool_one (local.get $plane) (local.get $y) (local.get $argmax) (local.get $g) (local.get $o) (local.get $oy) (local.get $ox))
          (local.set $o (i32.add (local.get $o) (i32.const 1)))
          (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
          (br $nextOne)))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br $nextRow)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $nextPlane)))
  )

  ;; One output of max pooling: output $o (row $oy, column $ox) of the plane at $plane, as
  ;; maxpool_forward computes it (the window clipped to the input, scanned in order).
  (func $pool_one
    (param $plane i32) (param $y i32) (param $argmax i32) (param $g i32) (param $o i32) (param $oy i32) (param $ox i32)
    (local $inW i32) (local $y0 i32) (local $y1 i32) (local $x0 i32) (local $x1 i32) (local $iy i32) (local $ix i32)
    (local $best f32) (local $bestIndex i32) (local $v f32)
    (local.set $inW (i32.load offset=4 (local.get $g)))
    (local.set $y0 (i32.sub (i32.mul (local.get $oy) (i32.load offset=16 (local.get $g))) (i32.load offset=24 (local.get $g))))
    (local.set $y1 (i32.add (local.get $y0) (i32.load offset=8 (local.get $g))))
    (if (i32.lt_s (local.get $y0) (i32.const 0)) (then (local.set $y0 (i32.const 0))))
    (if (i32.gt_s (local.get $y1) (i32.load offset=0 (local.get $g))) (then (local.set $y1 (i32.load offset=0 (local.get $g)))))
    (local.set $x0 (i32.sub (i32.mul (local.get $ox) (i32.load offset=20 (local.get $g))) (i32.load offset=28 (local.get $g))))
    (local.set $x1 (i32.add (local.get $x0) (i32.load offset=12 (local.get $g))))
    (if (i32.lt_s (local.get $x0) (i32.const 0)) (then (local.set $x0 (i32.const 0))))
    (if (i32.gt_s (local.get $x1) (local.get $inW)) (then (local.set $x1 (local.get $inW))))
    (local.set $bestIndex (i32.add (i32.mul (local.get $y0) (local.get $inW)) (local.get $x0)))
    (local.set $best (f32.load (i32.add (local.get $plane) (i32.shl (local.get $bestIndex) (i32.const 2)))))
    (block $done
      (local.set $iy (local.get $y0))
      (loop $nextWindowRow
        (local.set $ix (local.get $x0))
        (loop $nextWindowCol
          (local.set $v (f32.load (i32.add (local.get $plane)
            (i32.shl (i32.add (i32.mul (local.get $iy) (local.get $inW)) (local.get $ix)) (i32.const 2)))))
          (if (i32.or (f32.gt (local.get $v) (local.get $best)) (f32.ne (local.get $v) (local.get $v)))
            (then
              (local.set $best (local.get $v))
              (local.set $bestIndex (i32.add (i32.mul (local.get $iy) (local.get $inW)) (local.get $ix)))))
          (br_if $done (f32.ne (local.get $best) (local.get $best)))
          (local.set $ix (i32.add (local.get $ix) (i32.const 1)))
          (br_if $nextWindowCol (i32.lt_s (local.get $ix) (local.get $x1))))
        (local.set $iy (i32.add (local.get $iy) (i32.const 1)))
        (br_if $nextWindowRow (i32.lt_s (local.get $iy) (local.get $y1)))))
    (f32.store (i32.add (local.get $y) (i32.shl (local.get $o) (i32.const 2))) (local.get $best))
    (i32.store (i32.add (local.get $argmax) (i32.shl (local.get $o) (i32.const 2))) (local.get $bestIndex))
  )

  ;; Max pooling backward, planes [p0, p1): dx plane = 0, then each output gradient is added at
  ;; its window's maximum. Windows that do not overlap (stride >= kernel: pool1-4) give each input
  ;; at most one term, the exact value; pool5 (3x3 stride 1) adds up to 9 terms in float32, in
  ;; the reference's order.
  (func (export "maxpool_backward")
    (param $dy i32) (param $argmax i32) (param $dx i32) (param $g i32) (param $p0 i32) (param $p1 i32)
    (local $inPlane i32) (local $outPlane i32) (local $p i32) (local $o i32) (local $end i32)
    (local $plane i32) (local $target i32)
    (local.set $inPlane (i32.mul (i32.load offset=0 (local.get $g)) (i32.load offset=4 (local.get $g))))
    (local.set $outPlane (i32.mul (i32.load offset=32 (local.get $g)) (i32.load offset=36 (local.get $g))))
    (local.set $p (local.get $p0))
    (block $donePlanes (loop $nextPlane
      (br_if $donePlanes (i32.ge_s (local.get $p) (local.get $p1)))
      (local.set $plane (i32.add (local.get $dx) (i32.shl (i32.mul (local.get $p) (local.get $inPlane)) (i32.const 2))))
      (memory.fill (local.get $plane) (i32.const 0) (i32.shl (local.get $inPlane) (i32.const 2)))
      (local.set $o (i32.mul (local.get $p) (local.get $outPlane)))
      (local.set $end (i32.add (local.get $o) (local.get $outPlane)))
      (block $doneOutputs (loop $nextOutput
        (br_if $doneOutputs (i32.ge_s (local.get $o) (local.get $end)))
        (local.set $target (i32.add (local.get $plane)
          (i32.shl (i32.load (i32.add (local.get $argmax) (i32.shl (local.get $o) (i32.const 2)))) (i32.const 2))))
        (f32.store (local.get $target)
          (f32.add (f32.load (local.get $target)) (f32.load (i32.add (local.get $dy) (i32.shl (local.get $o) (i32.const 2))))))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $nextOutput)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $nextPlane)))
  )

  ;; ---------------------------------------------------------------------------------------------
  ;; (The float32 <-> float64 conversions below are written out in each loop, not called: V8 does
  ;; not inline calls between WebAssembly functions, and the L2 norm's inner loops called helpers
  ;; for them, at 2.1 ms a forward pass and 3.5 a backward pass on conv4_3, batch 1.)

  ;; The sum of an f32 range [p, p + 4n) in float64, four at a time. ($low and $high written out:
  ;; V8 does not inline calls between WebAssembly functions, and this is the inner loop.)
  (func $sum4 (param $p i32) (param $n i32) (result f64)
    (local $lo v128) (local $hi v128) (local $v v128)
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $v (v128.load (local.get $p)))
      (local.set $lo (f64x2.add (local.get $lo) (f64x2.promote_low_f32x4 (local.get $v))))
      (local.set $hi (f64x2.add (local.get $hi)
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $next)))
    (local.set $lo (f64x2.add (local.get $lo) (local.get $hi)))
    (f64.add (f64x2.extract_lane 0 (local.get $lo)) (f64x2.extract_lane 1 (local.get $lo))))

  ;; ---------------------------------------------------------------------------------------------
  ;; Bias gradient, channels [c0, c1): db[c] = sum over images and positions of dy[n, c, :],
  ;; dy (N, C, plane). A channel's plane is contiguous: four floats at a time, then the rest.
  (func (export "bias_gradient")
    (param $dy i32) (param $db i32) (param $batch i32) (param $channels i32) (param $plane i32) (param $c0 i32) (param $c1 i32)
    (local $c i32) (local $n i32) (local $p i32) (local $i i32) (local $sum f64)
    (local.set $c (local.get $c0))
    (block $doneChannels (loop $nextChannel
      (br_if $doneChannels (i32.ge_s (local.get $c) (local.get $c1)))
      (local.set $sum (f64.const 0))
      (local.set $n (i32.const 0))
      (block $doneImages (loop $nextImage
        (br_if $doneImages (i32.ge_s (local.get $n) (local.get $batch)))
        (local.set $p (i32.add (local.get $dy)
          (i32.shl (i32.mul (i32.add (i32.mul (local.get $n) (local.get $channels)) (local.get $c)) (local.get $plane)) (i32.const 2))))
        (local.set $sum (f64.add (local.get $sum) (call $sum4 (local.get $p) (i32.shr_u (local.get $plane) (i32.const 2)))))
        ;; the last plane % 4 floats
        (local.set $i (i32.and (local.get $plane) (i32.const -4)))
        (block $doneTail (loop $nextTail
          (br_if $doneTail (i32.ge_s (local.get $i) (local.get $plane)))
          (local.set $sum (f64.add (local.get $sum) (f64.promote_f32 (f32.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $nextTail)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $nextImage)))
      (f32.store (i32.add (local.get $db) (i32.shl (local.get $c) (i32.const 2))) (f32.demote_f64 (local.get $sum)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $nextChannel)))
  )

  ;; ---------------------------------------------------------------------------------------------
  ;; L2 norm across channels, positions [i0, i1) of one image (x, y: C x plane; norm: plane):
  ;;   norm[i] = sqrt(sum_c x[c, i]^2 + eps),   y[c, i] = scale[c] * x[c, i] / norm[i]
  ;; in float64 from the float32 inputs, rounded once at the end, as the reference. Four positions
  ;; at a time (the channels are the inner loop, read with a stride of one plane), then the last
  ;; (i1 - i0) % 4 one at a time ($l2normForwardAt).
  (func (export "l2norm_forward")
    (param $x i32) (param $scale i32) (param $y i32) (param $norm i32) (param $channels i32) (param $plane i32)
    (param $eps f64) (param $i0 i32) (param $i1 i32)
    (local $i i32) (local $c i32) (local $stride i32) (local $at i32)
    (local $v v128) (local $lo v128) (local $hi v128) (local $nlo v128) (local $nhi v128) (local $s v128)
    (local.set $stride (i32.shl (local.get $plane) (i32.const 2)))
    (local.set $i (local.get $i0))
    (block $done (loop $next
      (br_if $done (i32.ge_s (local.get $i) (local.get $i1)))
      (if (i32.le_s (i32.add (local.get $i) (i32.const 4)) (local.get $i1))
        (then
          ;; sum of squares of positions i..i+3 over the channels
          (local.set $lo (f64x2.splat (f64.const 0)))
          (local.set $hi (f64x2.splat (f64.const 0)))
          (local.set $at (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2))))
          (local.set $c (i32.const 0))
          (block $doneSum (loop $nextSum
            (br_if $doneSum (i32.ge_s (local.get $c) (local.get $channels)))
            (local.set $v (v128.load (local.get $at)))
            (local.set $nlo (f64x2.promote_low_f32x4 (local.get $v)))
            (local.set $nhi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
            (local.set $lo (f64x2.add (local.get $lo) (f64x2.mul (local.get $nlo) (local.get $nlo))))
            (local.set $hi (f64x2.add (local.get $hi) (f64x2.mul (local.get $nhi) (local.get $nhi))))
            (local.set $at (i32.add (local.get $at) (local.get $stride)))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $nextSum)))
          (local.set $nlo (f64x2.sqrt (f64x2.add (local.get $lo) (f64x2.splat (local.get $eps)))))
          (local.set $nhi (f64x2.sqrt (f64x2.add (local.get $hi) (f64x2.splat (local.get $eps)))))
          (v128.store (i32.add (local.get $norm) (i32.shl (local.get $i) (i32.const 2))) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero (local.get $nlo)) (f32x4.demote_f64x2_zero (local.get $nhi))))
          ;; y = scale * x / norm, with the unrounded norm
          (local.set $at (i32.shl (local.get $i) (i32.const 2)))
          (local.set $c (i32.const 0))
          (block $doneScale (loop $nextScale
            (br_if $doneScale (i32.ge_s (local.get $c) (local.get $channels)))
            (local.set $s (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $scale) (i32.shl (local.get $c) (i32.const 2)))))))
            (local.set $v (v128.load (i32.add (local.get $x) (local.get $at))))
            (v128.store (i32.add (local.get $y) (local.get $at)) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
              (f32x4.demote_f64x2_zero (f64x2.div (f64x2.mul (local.get $s) (f64x2.promote_low_f32x4 (local.get $v))) (local.get $nlo)))
              (f32x4.demote_f64x2_zero (f64x2.div (f64x2.mul (local.get $s) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))) (local.get $nhi)))))
            (local.set $at (i32.add (local.get $at) (local.get $stride)))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $nextScale)))
          (local.set $i (i32.add (local.get $i) (i32.const 4))))
        (else
          (call $l2normForwardAt (local.get $x) (local.get $scale) (local.get $y) (local.get $norm)
            (local.get $channels) (local.get $plane) (local.get $eps) (local.get $i))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))))
      (br $next)))
  )

  ;; The same for the one position i (the last plane % 4 of a range).
  (func $l2normForwardAt
    (param $x i32) (param $scale i32) (param $y i32) (param $norm i32) (param $channels i32) (param $plane i32)
    (param $eps f64) (param $i i32)
    (local $c i32) (local $stride i32) (local $at i32) (local $v f64) (local $sum f64) (local $nrm f64)
    (local.set $stride (i32.shl (local.get $plane) (i32.const 2)))
    (local.set $at (i32.shl (local.get $i) (i32.const 2)))
    (local.set $c (i32.const 0))
    (block $doneSum (loop $nextSum
      (br_if $doneSum (i32.ge_s (local.get $c) (local.get $channels)))
      (local.set $v (f64.promote_f32 (f32.load (i32.add (local.get $x) (local.get $at)))))
      (local.set $sum (f64.add (local.get $sum) (f64.mul (local.get $v) (local.get $v))))
      (local.set $at (i32.add (local.get $at) (local.get $stride)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $nextSum)))
    (local.set $nrm (f64.sqrt (f64.add (local.get $sum) (local.get $eps))))
    (f32.store (i32.add (local.get $norm) (i32.shl (local.get $i) (i32.const 2))) (f32.demote_f64 (local.get $nrm)))
    (local.set $at (i32.shl (local.get $i) (i32.const 2)))
    (local.set $c (i32.const 0))
    (block $doneScale (loop $nextScale
      (br_if $doneScale (i32.ge_s (local.get $c) (local.get $channels)))
      (f32.store (i32.add (local.get $y) (local.get $at)) (f32.demote_f64 (f64.div
        (f64.mul (f64.promote_f32 (f32.load (i32.add (local.get $scale) (i32.shl (local.get $c) (i32.const 2)))))
                 (f64.promote_f32 (f32.load (i32.add (local.get $x) (local.get $at)))))
        (local.get $nrm))))
      (local.set $at (i32.add (local.get $at) (local.get $stride)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $nextScale)))
  )

  ;; L2 norm backward, positions [i0, i1) of one image, with norm the forward's (float32) output:
  ;;   weighted[i] = sum_c scale[c] * dy[c, i] * x[c, i]
  ;;   dx[c, i]    = scale[c] * dy[c, i] / norm[i] - x[c, i] * weighted[i] / norm[i]^3
  ;;   dscale[c]  += sum over the range of dy[c, i] * x[c, i] / norm[i]
  ;; dscale is this range's own float64 partial sum (C doubles, zeroed here); the caller adds the
  ;; ranges' partial sums. Two positions at a time, the two lanes of an f64x2 ($l2normBackwardPair).
  (func (export "l2norm_backward")
    (param $dy i32) (param $x i32) (param $scale i32) (param $norm i32) (param $dx i32) (param $dscale i32)
    (param $channels i32) (param $plane i32) (param $i0 i32) (param $i1 i32)
    (local $i i32) (local $stride i32)
    (local.set $stride (i32.shl (local.get $plane) (i32.const 2)))
    (memory.fill (local.get $dscale) (i32.const 0) (i32.shl (local.get $channels) (i32.const 3)))
    ;; an odd last position goes alone (the pair's second lane switched off)
    (local.set $i (local.get $i0))
    (block $done (loop $next
      (br_if $done (i32.ge_s (local.get $i) (local.get $i1)))
      (call $l2normBackwardPair (local.get $dy) (local.get $x) (local.get $scale) (local.get $norm) (local.get $dx) (local.get $dscale)
        (local.get $channels) (local.get $stride) (local.get $i)
        (i32.lt_s (i32.add (local.get $i) (i32.const 1)) (local.get $i1)))
      (local.set $i (i32.add (local.get $i) (i32.const 2)))
      (br $next)))
  )

  ;; Positions i and, when $both, i + 1 of l2norm_backward, in the two lanes of f64x2. With $both
  ;; 0 the loads read one float32, and the second lane is 1, so that dividing by it stays finite.
  (func $l2normBackwardPair
    (param $dy i32) (param $x i32) (param $scale i32) (param $norm i32) (param $dx i32) (param $dscale i32)
    (param $channels i32) (param $stride i32) (param $i i32) (param $both i32)
    (local $c i32) (local $at i32) (local $ds i32)
    (local $nrm v128) (local $weighted v128) (local $s v128) (local $dyv v128) (local $xv v128) (local $term v128)
    (local $mask v128) (local $cube v128) (local $out v128)
    ;; the second lane counts only when position i + 1 is in the range
    (local.set $mask (i64x2.replace_lane 1 (i64x2.splat (i64.const -1)) (i64.extend_i32_s (i32.sub (i32.const 0) (local.get $both)))))
    (local.set $at (i32.shl (local.get $i) (i32.const 2)))
    (local.set $nrm (if (result v128) (local.get $both)
        (then (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $norm) (local.get $at)))))
        (else (f64x2.replace_lane 1 (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $norm) (local.get $at))))) (f64.const 1)))))
    (local.set $c (i32.const 0))
    (block $doneSum (loop $nextSum
      (br_if $doneSum (i32.ge_s (local.get $c) (local.get $channels)))
      (local.set $s (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $scale) (i32.shl (local.get $c) (i32.const 2)))))))
      (local.set $dyv (if (result v128) (local.get $both)
        (then (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $dy) (local.get $at)))))
        (else (f64x2.replace_lane 1 (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $dy) (local.get $at))))) (f64.const 1)))))
      (local.set $xv (if (result v128) (local.get $both)
        (then (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $x) (local.get $at)))))
        (else (f64x2.replace_lane 1 (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $x) (local.get $at))))) (f64.const 1)))))
      (local.set $weighted (f64x2.add (local.get $weighted) (f64x2.mul (f64x2.mul (local.get $s) (local.get $dyv)) (local.get $xv))))
      ;; dscale[c] += dy * x / norm over the lanes that are in the range
      (local.set $term (v128.and (f64x2.div (f64x2.mul (local.get $dyv) (local.get $xv)) (local.get $nrm)) (local.get $mask)))
      (local.set $ds (i32.add (local.get $dscale) (i32.shl (local.get $c) (i32.const 3))))
      (f64.store (local.get $ds) (f64.add (f64.load (local.get $ds))
        (f64.add (f64x2.extract_lane 0 (local.get $term)) (f64x2.extract_lane 1 (local.get $term)))))
      (local.set $at (i32.add (local.get $at) (local.get $stride)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $nextSum)))
    (local.set $cube (f64x2.mul (f64x2.mul (local.get $nrm) (local.get $nrm)) (local.get $nrm)))
    (local.set $at (i32.shl (local.get $i) (i32.const 2)))
    (local.set $c (i32.const 0))
    (block $doneGrad (loop $nextGrad
      (br_if $doneGrad (i32.ge_s (local.get $c) (local.get $channels)))
      (local.set $s (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $scale) (i32.shl (local.get $c) (i32.const 2)))))))
      (local.set $dyv (if (result v128) (local.get $both)
        (then (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $dy) (local.get $at)))))
        (else (f64x2.replace_lane 1 (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $dy) (local.get $at))))) (f64.const 1)))))
      (local.set $xv (if (result v128) (local.get $both)
        (then (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $x) (local.get $at)))))
        (else (f64x2.replace_lane 1 (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $x) (local.get $at))))) (f64.const 1)))))
      (local.set $out (f32x4.demote_f64x2_zero (f64x2.sub
        (f64x2.div (f64x2.mul (local.get $s) (local.get $dyv)) (local.get $nrm))
        (f64x2.div (f64x2.mul (local.get $xv) (local.get $weighted)) (local.get $cube)))))
      (f32.store (i32.add (local.get $dx) (local.get $at)) (f32x4.extract_lane 0 (local.get $out)))
      (if (local.get $both)
        (then (f32.store offset=4 (i32.add (local.get $dx) (local.get $at)) (f32x4.extract_lane 1 (local.get $out)))))
      (local.set $at (i32.add (local.get $at) (local.get $stride)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $nextGrad)))
  )

)
