;; Packing for the GEMM (gemm-4x8-*.wat) and the convolution's im2col / col2im, in scalar
;; WebAssembly. Addresses are byte offsets into the shared memory; sizes and strides are in floats.
;;
;; Packed layouts (zero-padded to whole panels; the caller zeroes dst first when it has padding):
;;   A (mc x kc) in 4-row panels:     dst[(i / 4) * kc * 4 + k * 4 + i % 4] = A(i, k)
;;   B (kc x nc) in 8-column panels:  dst[(j / 8) * kc * 8 + k * 8 + j % 8] = B(k, j)
;;
;; A convolution geometry is read from a struct of i32 at $g (see GEOMETRY in kernels/wasm/conv.ts):
;;   0 inH  4 inW  8 kH  12 kW  16 strideH  20 strideW  24 padH  28 padW  32 dilationH  36 dilationW  40 outW

(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; A(i, k) = src[i * rs + k * cs]
  (func (export "pack_a")
    (param $src i32) (param $rs i32) (param $cs i32) (param $mc i32) (param $kc i32) (param $dst i32)
    (local $i i32) (local $k i32) (local $s i32) (local $d i32)
    (local.set $i (i32.const 0))
    (block $doneI (loop $nextI
      (br_if $doneI (i32.ge_s (local.get $i) (local.get $mc)))
      (local.set $s (i32.add (local.get $src) (i32.shl (i32.mul (local.get $i) (local.get $rs)) (i32.const 2))))
      ;; row i goes to lane i % 4 of panel i / 4
      (local.set $d (i32.add (local.get $dst) (i32.shl
        (i32.add (i32.mul (i32.shr_u (local.get $i) (i32.const 2)) (i32.shl (local.get $kc) (i32.const 2)))
                 (i32.and (local.get $i) (i32.const 3)))
        (i32.const 2))))
      (local.set $k (local.get $kc))
      (block $doneK (loop $nextK
        (br_if $doneK (i32.eqz (local.get $k)))
        (f32.store (local.get $d) (f32.load (local.get $s)))
        (local.set $s (i32.add (local.get $s) (i32.shl (local.get $cs) (i32.const 2))))
        (local.set $d (i32.add (local.get $d) (i32.const 16)))
        (local.set $k (i32.sub (local.get $k) (i32.const 1)))
        (br $nextK)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $nextI)))
  )

  ;; B(k, j) = src[k * rs + j * cs]; with cs = 1 each row of a panel is 8 contiguous floats.
  (func (export "pack_b")
    (param $src i32) (param $rs i32) (param $cs i32) (param $kc i32) (param $nc i32) (param $dst i32)
    (local $j i32) (local $k i32) (local $s i32) (local $d i32)
    (local.set $k (i32.const 0))
    (block $doneK (loop $nextK
      (br_if $doneK (i32.ge_s (local.get $k) (local.get $kc)))
      (local.set $j (i32.const 0))
      (block $doneJ (loop $nextJ
        (br_if $doneJ (i32.ge_s (local.get $j) (local.get $nc)))
        (local.set $s (i32.add (local.get $src)
          (i32.shl (i32.add (i32.mul (local.get $k) (local.get $rs)) (i32.mul (local.get $j) (local.get $cs))) (i32.const 2))))
        (local.set $d (i32.add (local.get $dst) (i32.shl
          (i32.add (i32.mul (i32.shr_u (local.get $j) (i32.const 3)) (i32.shl (local.get $kc) (i32.const 3)))
                   (i32.add (i32.shl (local.get $k) (i32.const 3)) (i32.and (local.get $j) (i32.const 7))))
          (i32.const 2))))
        (if (i32.and (i32.eq (local.get $cs) (i32.const 1)) (i32.le_s (i32.add (local.get $j) (i32.const 8)) (local.get $nc)))
          (then
            ;; a whole contiguous row of the panel: two vector copies
            (v128.store offset=0 (local.get $d) (v128.load offset=0 (local.get $s)))
            (v128.store offset=16 (local.get $d) (v128.load offset=16 (local.get $s)))
            (local.set $j (i32.add (local.get $j) (i32.const 8))))
          (else
            (f32.store (local.get $d) (f32.load (local.get $s)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))))
        (br $nextJ)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $nextK)))
  )

  ;; The im2col block of one image at $x: taps [t0, t0 + nt) (rows of the column matrix, a tap
  ;; being (ci, ky, kx)) by output positions [q0, q0 + nq), written straight into packed B panels:
  ;;   transposed = 0: B = col   (k = tap, j = position)   the forward pass
  ;;   transposed = 1: B = col^T (k = position, j = tap)   the weight gradient
  ;; col[tap][oy * outW + ox] = x[ci][iy][ix], iy = oy * strideH - padH + ky * dilationH (same for x),
  ;; and 0 where (iy, ix) falls in the zero padding.
  (func (export "im2col_pack")
    (param $x i32) (param $g i32) (param $t0 i32) (param $nt i32) (param $q0 i32) (param $nq i32)
    (param $dst i32) (param $transposed i32)
    (local $inH i32) (local $inW i32) (local $kW i32) (local $taps i32) (local $outW i32)
    (local $t i32) (local $tap i32) (local $ci i32) (local $ky i32) (local $kx i32)
    (local $rowShift i32) (local $colShift i32) (local $channel i32)
    (local $q i32) (local $oy i32) (local $ox i32) (local $iy i32) (local $ix i32)
    (local $d i32) (local $dStep i32) (local $value f32)
    (local.set $inH (i32.load offset=0 (local.get $g)))
    (local.set $inW (i32.load offset=4 (local.get $g)))
    (local.set $kW (i32.load offset=12 (local.get $g)))
    (local.set $taps (i32.mul (i32.load offset=8 (local.get $g)) (local.get $kW)))
    (local.set $outW (i32.load offset=40 (local.get $g)))
    (local.set $t (i32.const 0))
    (block $doneT (loop $nextT
      (br_if $doneT (i32.ge_s (local.get $t) (local.get $nt)))
      (local.set $tap (i32.add (local.get $t0) (local.get $t)))
      (local.set $ci (i32.div_u (local.get $tap) (local.get $taps)))
      (local.set $ky (i32.div_u (i32.rem_u (local.get $tap) (local.get $taps)) (local.get $kW)))
      (local.set $kx (i32.rem_u (local.get $tap) (local.get $kW)))
      (local.set $rowShift (i32.sub (i32.mul (local.get $ky) (i32.load offset=32 (local.get $g))) (i32.load offset=24 (local.get $g))))
      (local.set $colShift (i32.sub (i32.mul (local.get $kx) (i32.load offset=36 (local.get $g))) (i32.load offset=28 (local.get $g))))
      (local.set $channel (i32.add (local.get $x) (i32.shl (i32.mul (local.get $ci) (i32.mul (local.get $inH) (local.get $inW))) (i32.const 2))))
      (local.set $oy (i32.div_u (local.get $q0) (local.get $outW)))
      (local.set $ox (i32.rem_u (local.get $q0) (local.get $outW)))
      (local.set $q (i32.const 0))
      (block $doneQ (loop $nextQ
        (br_if $doneQ (i32.ge_s (local.get $q) (local.get $nq)))
        (local.set $iy (i32.add (i32.mul (local.get $oy) (i32.load offset=16 (local.get $g))) (local.get $rowShift)))
        (local.set $ix (i32.add (i32.mul (local.get $ox) (i32.load offset=20 (local.get $g))) (local.get $colShift)))
        ;; unsigned compares: a negative index is a huge unsigned one, so one test per axis
        (if (i32.and (i32.lt_u (local.get $iy) (local.get $inH)) (i32.lt_u (local.get $ix) (local.get $inW)))
          (then (local.set $value (f32.load (i32.add (local.get $channel)
            (i32.shl (i32.add (i32.mul (local.get $iy) (local.get $inW)) (local.get $ix)) (i32.const 2))))))
          (else (local.set $value (f32.const 0))))
        (if (local.get $transposed)
          (then (local.set $d (i32.add (i32.mul (i32.shr_u (local.get $t) (i32.const 3)) (i32.shl (local.get $nq) (i32.const 3)))
                                       (i32.add (i32.shl (local.get $q) (i32.const 3)) (i32.and (local.get $t) (i32.const 7))))))
          (else (local.set $d (i32.add (i32.mul (i32.shr_u (local.get $q) (i32.const 3)) (i32.shl (local.get $nt) (i32.const 3)))
                                       (i32.add (i32.shl (local.get $t) (i32.const 3)) (i32.and (local.get $q) (i32.const 7)))))))
        (f32.store (i32.add (local.get $dst) (i32.shl (local.get $d) (i32.const 2))) (local.get $value))
        (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
        (if (i32.eq (local.get $ox) (local.get $outW))
          (then (local.set $ox (i32.const 0)) (local.set $oy (i32.add (local.get $oy) (i32.const 1)))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $nextQ)))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br $nextT)))
  )

  ;; The adjoint of im2col for a block: rows [r0, r0 + rows) (taps) and columns [q0, q0 + nq)
  ;; (positions) of dcol, stored at $dcol with row stride $ld floats, are added onto dx of one
  ;; image at $dx (padding entries are dropped).
  (func (export "col2im_add")
    (param $dcol i32) (param $ld i32) (param $g i32) (param $r0 i32) (param $rows i32) (param $q0 i32) (param $nq i32)
    (param $dx i32)
    (local $inH i32) (local $inW i32) (local $kW i32) (local $taps i32) (local $outW i32)
    (local $r i32) (local $tap i32) (local $ci i32) (local $ky i32) (local $kx i32)
    (local $rowShift i32) (local $colShift i32) (local $channel i32) (local $s i32)
    (local $q i32) (local $oy i32) (local $ox i32) (local $iy i32) (local $ix i32) (local $target i32)
    (local.set $inH (i32.load offset=0 (local.get $g)))
    (local.set $inW (i32.load offset=4 (local.get $g)))
    (local.set $kW (i32.load offset=12 (local.get $g)))
    (local.set $taps (i32.mul (i32.load offset=8 (local.get $g)) (local.get $kW)))
    (local.set $outW (i32.load offset=40 (local.get $g)))
    (local.set $r (i32.const 0))
    (block $doneR (loop $nextR
      (br_if $doneR (i32.ge_s (local.get $r) (local.get $rows)))
      (local.set $tap (i32.add (local.get $r0) (local.get $r)))
      (local.set $ci (i32.div_u (local.get $tap) (local.get $taps)))
      (local.set $ky (i32.div_u (i32.rem_u (local.get $tap) (local.get $taps)) (local.get $kW)))
      (local.set $kx (i32.rem_u (local.get $tap) (local.get $kW)))
      (local.set $rowShift (i32.sub (i32.mul (local.get $ky) (i32.load offset=32 (local.get $g))) (i32.load offset=24 (local.get $g))))
      (local.set $colShift (i32.sub (i32.mul (local.get $kx) (i32.load offset=36 (local.get $g))) (i32.load offset=28 (local.get $g))))
      (local.set $channel (i32.add (local.get $dx) (i32.shl (i32.mul (local.get $ci) (i32.mul (local.get $inH) (local.get $inW))) (i32.const 2))))
      (local.set $s (i32.add (local.get $dcol) (i32.shl (i32.mul (local.get $r) (local.get $ld)) (i32.const 2))))
      (local.set $oy (i32.div_u (local.get $q0) (local.get $outW)))
      (local.set $ox (i32.rem_u (local.get $q0) (local.get $outW)))
      (local.set $q (i32.const 0))
      (block $doneQ (loop $nextQ
        (br_if $doneQ (i32.ge_s (local.get $q) (local.get $nq)))
        (local.set $iy (i32.add (i32.mul (local.get $oy) (i32.load offset=16 (local.get $g))) (local.get $rowShift)))
        (local.set $ix (i32.add (i32.mul (local.get $ox) (i32.load offset=20 (local.get $g))) (local.get $colShift)))
        (if (i32.and (i32.lt_u (local.get $iy) (local.get $inH)) (i32.lt_u (local.get $ix) (local.get $inW)))
          (then
            (local.set $target (i32.add (local.get $channel)
              (i32.shl (i32.add (i32.mul (local.get $iy) (local.get $inW)) (local.get $ix)) (i32.const 2))))
            (f32.store (local.get $target) (f32.add (f32.load (local.get $target)) (f32.load (local.get $s))))))
        (local.set $s (i32.add (local.get $s) (i32.const 4)))
        (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
        (if (i32.eq (local.get $ox) (local.get $outW))
          (then (local.set $ox (i32.const 0)) (local.set $oy (i32.add (local.get $oy) (i32.const 1)))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $nextQ)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $nextR)))
  )

  ;; C rows [0, rows) x columns [0, cols) (row stride ldc floats) = bias[row], or 0 when $bias is 0.
  (func (export "fill_rows")
    (param $c i32) (param $ldc i32) (param $rows i32) (param $cols i32) (param $bias i32)
    (local $i i32) (local $j i32) (local $p i32) (local $value f32) (local $v v128)
    (local.set $i (i32.const 0))
    (block $doneI (loop $nextI
      (br_if $doneI (i32.ge_s (local.get $i) (local.get $rows)))
      (if (local.get $bias)
        (then (local.set $value (f32.load (i32.add (local.get $bias) (i32.shl (local.get $i) (i32.const 2))))))
        (else (local.set $value (f32.const 0))))
      (local.set $v (f32x4.splat (local.get $value)))
      (local.set $p (i32.add (local.get $c) (i32.shl (i32.mul (local.get $i) (local.get $ldc)) (i32.const 2))))
      (local.set $j (i32.const 0))
      (block $doneJ (loop $nextJ
        (br_if $doneJ (i32.gt_s (i32.add (local.get $j) (i32.const 4)) (local.get $cols)))
        (v128.store (local.get $p) (local.get $v))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $nextJ)))
      (block $doneTail (loop $nextTail
        (br_if $doneTail (i32.ge_s (local.get $j) (local.get $cols)))
        (f32.store (local.get $p) (local.get $value))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $nextTail)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $nextI)))
  )
)
