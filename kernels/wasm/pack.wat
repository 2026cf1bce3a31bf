;; Packing for the GEMM (gemm-4x8.wat) and the convolution's im2col / col2im, in scalar
;; WebAssembly but for a few vector copies and pack_rows_transposed's transposes. Addresses are
;; byte offsets into the shared memory; sizes and strides are in floats.
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
  ;;   col[tap][oy * outW + ox] = x[ci][iy][ix],  iy = oy * strideH - padH + ky * dilationH (ix alike)
  ;; and 0 where (iy, ix) falls in the zero padding. B = col (k = tap, j = position): the forward pass.
  ;; Panel by panel, so dst is written in order. A panel's 8 positions usually lie in one output
  ;; row; with stride 1 they are then 8 consecutive floats of an input row: two vector copies,
  ;; masked where the row's ends reach into the padding. Panels across rows, and strided
  ;; convolutions, take the element-by-element path.
  (func (export "im2col_pack")
    (param $x i32) (param $g i32) (param $t0 i32) (param $nt i32) (param $q0 i32) (param $nq i32) (param $dst i32)
    (local $inH i32) (local $inW i32) (local $kW i32) (local $taps i32) (local $outW i32) (local $plane i32)
    (local $strideH i32) (local $strideW i32) (local $padH i32) (local $padW i32) (local $dilationH i32) (local $dilationW i32)
    (local $p i32) (local $oy0 i32) (local $ox0 i32) (local $width i32) (local $oneRow i32)
    (local $t i32) (local $tap i32) (local $ci i32) (local $ky i32) (local $kx i32) (local $src i32)
    (local $iy i32) (local $ix i32) (local $oy i32) (local $ox i32) (local $lane i32) (local $d i32) (local $value f32)
    (local $columns v128)
    (local.set $inH (i32.load offset=0 (local.get $g)))
    (local.set $inW (i32.load offset=4 (local.get $g)))
    (local.set $kW (i32.load offset=12 (local.get $g)))
    (local.set $taps (i32.mul (i32.load offset=8 (local.get $g)) (local.get $kW)))
    (local.set $strideH (i32.load offset=16 (local.get $g)))
    (local.set $strideW (i32.load offset=20 (local.get $g)))
    (local.set $padH (i32.load offset=24 (local.get $g)))
    (local.set $padW (i32.load offset=28 (local.get $g)))
    (local.set $dilationH (i32.load offset=32 (local.get $g)))
    (local.set $dilationW (i32.load offset=36 (local.get $g)))
    (local.set $outW (i32.load offset=40 (local.get $g)))
    (local.set $plane (i32.mul (local.get $inH) (local.get $inW)))
    (local.set $d (local.get $dst))
    (local.set $p (i32.const 0))
    (block $donePanels (loop $nextPanel
      (br_if $donePanels (i32.ge_s (local.get $p) (local.get $nq)))
      ;; this panel: positions [p, p + width) of the block, the first at (oy0, ox0)
      (local.set $oy0 (i32.div_u (i32.add (local.get $q0) (local.get $p)) (local.get $outW)))
      (local.set $ox0 (i32.rem_u (i32.add (local.get $q0) (local.get $p)) (local.get $outW)))
      (local.set $width (i32.sub (local.get $nq) (local.get $p)))
      (if (i32.gt_s (local.get $width) (i32.const 8)) (then (local.set $width (i32.const 8))))
      (local.set $oneRow (i32.and (i32.and (i32.eq (local.get $width) (i32.const 8)) (i32.eq (local.get $strideW) (i32.const 1)))
                                  (i32.le_s (i32.add (local.get $ox0) (i32.const 8)) (local.get $outW))))
      ;; walk the taps (ci, ky, kx) from t0 like an odometer
      (local.set $ci (i32.div_u (local.get $t0) (local.get $taps)))
      (local.set $ky (i32.div_u (i32.rem_u (local.get $t0) (local.get $taps)) (local.get $kW)))
      (local.set $kx (i32.rem_u (local.get $t0) (local.get $kW)))
      (local.set $t (i32.const 0))
      (block $doneTaps (loop $nextTap
        (br_if $doneTaps (i32.ge_s (local.get $t) (local.get $nt)))
        (local.set $iy (i32.add (i32.mul (local.get $oy0) (local.get $strideH)) (i32.sub (i32.mul (local.get $ky) (local.get $dilationH)) (local.get $padH))))
        (local.set $ix (i32.add (i32.mul (local.get $ox0) (local.get $strideW)) (i32.sub (i32.mul (local.get $kx) (local.get $dilationW)) (local.get $padW))))
        (if (local.get $oneRow)
          (then
            (if (i32.lt_u (local.get $iy) (local.get $inH))
              (then
                (local.set $src (i32.add (local.get $x) (i32.shl
                  (i32.add (i32.mul (local.get $ci) (local.get $plane)) (i32.add (i32.mul (local.get $iy) (local.get $inW)) (local.get $ix)))
                  (i32.const 2))))
                (if (i32.and (i32.ge_s (local.get $ix) (i32.const 0)) (i32.le_s (i32.add (local.get $ix) (i32.const 8)) (local.get $inW)))
                  (then
                    ;; the fast path: 8 consecutive floats of one input row
                    (v128.store offset=0 (local.get $d) (v128.load offset=0 (local.get $src)))
                    (v128.store offset=16 (local.get $d) (v128.load offset=16 (local.get $src))))
                  (else
                    ;; the row's first or last panel, partly in the padding: the same 8 floats,
                    ;; with the lanes whose column lies outside [0, inW) masked to +0 (the
                    ;; unsigned compare sends negative columns above inW). The loads reach at most
                    ;; (kW - 1) * dilation floats before or after the row: inside the arena, where
                    ;; other tensors lie, and the mask drops them.
                    (local.set $columns (i32x4.add (i32x4.splat (local.get $ix)) (v128.const i32x4 0 1 2 3)))
                    (v128.store offset=0 (local.get $d) (v128.and (v128.load offset=0 (local.get $src))
                      (i32x4.lt_u (local.get $columns) (i32x4.splat (local.get $inW)))))
                    (v128.store offset=16 (local.get $d) (v128.and (v128.load offset=16 (local.get $src))
                      (i32x4.lt_u (i32x4.add (local.get $columns) (i32x4.splat (i32.const 4))) (i32x4.splat (local.get $inW))))))))
              (else
                ;; the whole row lies in the padding
                (v128.store offset=0 (local.get $d) (v128.const i32x4 0 0 0 0))
                (v128.store offset=16 (local.get $d) (v128.const i32x4 0 0 0 0)))))
          (else
            ;; lane by lane, each position with its own row and bounds; lanes past width are 0
            (local.set $oy (local.get $oy0))
            (local.set $ox (local.get $ox0))
            (local.set $lane (i32.const 0))
            (block $doneLanes (loop $nextLane
              (br_if $doneLanes (i32.ge_s (local.get $lane) (i32.const 8)))
              (local.set $value (f32.const 0))
              (if (i32.lt_s (local.get $lane) (local.get $width))
                (then
                  (local.set $iy (i32.add (i32.mul (local.get $oy) (local.get $strideH)) (i32.sub (i32.mul (local.get $ky) (local.get $dilationH)) (local.get $padH))))
                  (local.set $ix (i32.add (i32.mul (local.get $ox) (local.get $strideW)) (i32.sub (i32.mul (local.get $kx) (local.get $dilationW)) (local.get $padW))))
                  ;; unsigned compares: a negative index is a huge unsigned one, so one test per axis
                  (if (i32.and (i32.lt_u (local.get $iy) (local.get $inH)) (i32.lt_u (local.get $ix) (local.get $inW)))
                    (then (local.set $value (f32.load (i32.add (local.get $x) (i32.shl
                      (i32.add (i32.mul (local.get $ci) (local.get $plane)) (i32.add (i32.mul (local.get $iy) (local.get $inW)) (local.get $ix)))
                      (i32.const 2)))))))))
              (f32.store (i32.add (local.get $d) (i32.shl (local.get $lane) (i32.const 2))) (local.get $value))
              (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
              (if (i32.eq (local.get $ox) (local.get $outW))
                (then (local.set $ox (i32.const 0)) (local.set $oy (i32.add (local.get $oy) (i32.const 1)))))
              (local.set $lane (i32.add (local.get $lane) (i32.const 1)))
              (br $nextLane)))))
        (local.set $d (i32.add (local.get $d) (i32.const 32)))
        (local.set $kx (i32.add (local.get $kx) (i32.const 1)))
        (if (i32.eq (local.get $kx) (local.get $kW))
          (then
            (local.set $kx (i32.const 0))
            (local.set $ky (i32.add (local.get $ky) (i32.const 1)))
            (if (i32.eq (i32.mul (local.get $ky) (local.get $kW)) (local.get $taps))
              (then (local.set $ky (i32.const 0)) (local.set $ci (i32.add (local.get $ci) (i32.const 1)))))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $nextTap)))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (br $nextPanel)))
  )

  ;; The same block transposed, B = col^T (k = position, j = tap): the weight gradient's operand.
  ;; Taps [t0, t0 + nt) become the panels' columns (tap t in lane t % 8 of panel t / 8), positions
  ;; [q0, q0 + nq) their rows. Tap by tap, one output row at a time: within a row the positions
  ;; whose input lies inside are one interval, read with the stride, the rest are padding zeros.
  ;; Lanes past nt are left as they are: the caller zeroes the last panel.
  (func (export "im2col_pack_transposed")
    (param $x i32) (param $g i32) (param $t0 i32) (param $nt i32) (param $q0 i32) (param $nq i32) (param $dst i32)
    (local $inH i32) (local $inW i32) (local $kW i32) (local $taps i32) (local $outW i32) (local $plane i32)
    (local $strideH i32) (local $strideW i32)
    (local $t i32) (local $tap i32) (local $ci i32) (local $ky i32) (local $kx i32)
    (local $rowShift i32) (local $colShift i32) (local $channel i32)
    (local $q i32) (local $oy i32) (local $ox i32) (local $run i32) (local $iy i32) (local $ix i32)
    (local $i i32) (local $d i32) (local $src i32) (local $srcStep i32) (local $inside i32)
    (local.set $inH (i32.load offset=0 (local.get $g)))
    (local.set $inW (i32.load offset=4 (local.get $g)))
    (local.set $kW (i32.load offset=12 (local.get $g)))
    (local.set $taps (i32.mul (i32.load offset=8 (local.get $g)) (local.get $kW)))
    (local.set $strideH (i32.load offset=16 (local.get $g)))
    (local.set $strideW (i32.load offset=20 (local.get $g)))
    (local.set $outW (i32.load offset=40 (local.get $g)))
    (local.set $plane (i32.mul (local.get $inH) (local.get $inW)))
    (local.set $srcStep (i32.shl (local.get $strideW) (i32.const 2)))
    (local.set $t (i32.const 0))
    (block $doneT (loop $nextT
      (br_if $doneT (i32.ge_s (local.get $t) (local.get $nt)))
      (local.set $tap (i32.add (local.get $t0) (local.get $t)))
      (local.set $ci (i32.div_u (local.get $tap) (local.get $taps)))
      (local.set $ky (i32.div_u (i32.rem_u (local.get $tap) (local.get $taps)) (local.get $kW)))
      (local.set $kx (i32.rem_u (local.get $tap) (local.get $kW)))
      (local.set $rowShift (i32.sub (i32.mul (local.get $ky) (i32.load offset=32 (local.get $g))) (i32.load offset=24 (local.get $g))))
      (local.set $colShift (i32.sub (i32.mul (local.get $kx) (i32.load offset=36 (local.get $g))) (i32.load offset=28 (local.get $g))))
      (local.set $channel (i32.add (local.get $x) (i32.shl (i32.mul (local.get $ci) (local.get $plane)) (i32.const 2))))
      ;; column t of panel t / 8: row q at dst + ((t / 8) * nq * 8 + q * 8 + t % 8) * 4
      (local.set $d (i32.add (local.get $dst) (i32.shl
        (i32.add (i32.mul (i32.shr_u (local.get $t) (i32.const 3)) (i32.shl (local.get $nq) (i32.const 3))) (i32.and (local.get $t) (i32.const 7)))
        (i32.const 2))))
      (local.set $q (i32.const 0))
      (block $doneQ (loop $nextQ
        (br_if $doneQ (i32.ge_s (local.get $q) (local.get $nq)))
        (local.set $oy (i32.div_u (i32.add (local.get $q0) (local.get $q)) (local.get $outW)))
        (local.set $ox (i32.rem_u (i32.add (local.get $q0) (local.get $q)) (local.get $outW)))
        ;; the positions left in this output row
        (local.set $run (i32.sub (local.get $outW) (local.get $ox)))
        (if (i32.gt_s (local.get $run) (i32.sub (local.get $nq) (local.get $q))) (then (local.set $run (i32.sub (local.get $nq) (local.get $q)))))
        (local.set $iy (i32.add (i32.mul (local.get $oy) (local.get $strideH)) (local.get $rowShift)))
        (local.set $ix (i32.add (i32.mul (local.get $ox) (local.get $strideW)) (local.get $colShift)))
        (local.set $src (i32.add (local.get $channel) (i32.shl (i32.add (i32.mul (local.get $iy) (local.get $inW)) (local.get $ix)) (i32.const 2))))
        (local.set $inside (i32.lt_u (local.get $iy) (local.get $inH)))
        (local.set $i (i32.const 0))
        (block $doneRun (loop $nextRun
          (br_if $doneRun (i32.ge_s (local.get $i) (local.get $run)))
          (if (i32.and (local.get $inside) (i32.lt_u (local.get $ix) (local.get $inW)))
            (then (f32.store (local.get $d) (f32.load (local.get $src))))
            (else (f32.store (local.get $d) (f32.const 0))))
          (local.set $d (i32.add (local.get $d) (i32.const 32)))
          (local.set $src (i32.add (local.get $src) (local.get $srcStep)))
          (local.set $ix (i32.add (local.get $ix) (local.get $strideW)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $nextRun)))
        (local.set $q (i32.add (local.get $q) (local.get $run)))
        (br $nextQ)))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br $nextT)))
  )

  ;; im2col_pack_transposed for a stride-1 convolution, read from the zero-padded copy of x
  ;; (pad_planes) instead of gathered one element at a time with bounds checks: the same panels,
  ;; value for value. Tap t's row of im2col is the padded image read from $x + rowsAt[t] (byte
  ;; offsets, as gemm_rows takes them), position (oy, ox) at + 4 * (oy * paddedW + ox). Eight taps
  ;; (one panel) at a time: four positions of each of the eight rows are loaded as vectors and
  ;; turned into four panel rows by two 4 x 4 transposes (eight shuffles each, written out twice:
  ;; V8 does not inline calls between WebAssembly functions, and this is the inner loop). The
  ;; positions of a block run along output rows: each row's run of positions goes four at a time,
  ;; then one at a time. A last panel of fewer than eight taps goes one tap at a time; its other
  ;; lanes are left as they are (the caller zeroes the last panel).
  (func (export "pack_rows_transposed")
    (param $x i32) (param $rowsAt i32) (param $nt i32) (param $paddedW i32) (param $outW i32)
    (param $q0 i32) (param $nq i32) (param $dst i32)
    (local $t i32) (local $q i32) (local $oy i32) (local $ox i32) (local $run i32) (local $i i32)
    (local $o i32) (local $d i32) (local $src i32)
    (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $r3 i32) (local $r4 i32) (local $r5 i32) (local $r6 i32) (local $r7 i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    ;; whole panels of eight taps
    (local.set $t (i32.const 0))
    (block $donePanels (loop $nextPanel
      (br_if $donePanels (i32.gt_s (i32.add (local.get $t) (i32.const 8)) (local.get $nt)))
      ;; the panel's rows of im2col, and the panel (t / 8) * nq * 8 floats into dst
      (local.set $r0 (i32.add (local.get $x) (i32.load offset=0 (i32.add (local.get $rowsAt) (i32.shl (local.get $t) (i32.const 2))))))
      (local.set $r1 (i32.add (local.get $x) (i32.load offset=4 (i32.add (local.get $rowsAt) (i32.shl (local.get $t) (i32.const 2))))))
      (local.set $r2 (i32.add (local.get $x) (i32.load offset=8 (i32.add (local.get $rowsAt) (i32.shl (local.get $t) (i32.const 2))))))
      (local.set $r3 (i32.add (local.get $x) (i32.load offset=12 (i32.add (local.get $rowsAt) (i32.shl (local.get $t) (i32.const 2))))))
      (local.set $r4 (i32.add (local.get $x) (i32.load offset=16 (i32.add (local.get $rowsAt) (i32.shl (local.get $t) (i32.const 2))))))
      (local.set $r5 (i32.add (local.get $x) (i32.load offset=20 (i32.add (local.get $rowsAt) (i32.shl (local.get $t) (i32.const 2))))))
      (local.set $r6 (i32.add (local.get $x) (i32.load offset=24 (i32.add (local.get $rowsAt) (i32.shl (local.get $t) (i32.const 2))))))
      (local.set $r7 (i32.add (local.get $x) (i32.load offset=28 (i32.add (local.get $rowsAt) (i32.shl (local.get $t) (i32.const 2))))))
      (local.set $d (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $t) (local.get $nq)) (i32.const 2))))
      (local.set $q (i32.const 0))
      (block $doneQ (loop $nextQ
        (br_if $doneQ (i32.ge_s (local.get $q) (local.get $nq)))
        ;; the run of positions left in this output row, and its offset in the padded rows
        (local.set $oy (i32.div_u (i32.add (local.get $q0) (local.get $q)) (local.get $outW)))
        (local.set $ox (i32.rem_u (i32.add (local.get $q0) (local.get $q)) (local.get $outW)))
        (local.set $run (i32.sub (local.get $outW) (local.get $ox)))
        (if (i32.gt_s (local.get $run) (i32.sub (local.get $nq) (local.get $q))) (then (local.set $run (i32.sub (local.get $nq) (local.get $q)))))
        (local.set $o (i32.shl (i32.add (i32.mul (local.get $oy) (local.get $paddedW)) (local.get $ox)) (i32.const 2)))
        (local.set $i (i32.const 0))
        (block $doneFours (loop $nextFour
          (br_if $doneFours (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $run)))
          ;; taps 0-3: four positions each -> lanes 0-3 of four panel rows
          (local.set $v0 (v128.load (i32.add (local.get $r0) (local.get $o))))
          (local.set $v1 (v128.load (i32.add (local.get $r1) (local.get $o))))
          (local.set $v2 (v128.load (i32.add (local.get $r2) (local.get $o))))
          (local.set $v3 (v128.load (i32.add (local.get $r3) (local.get $o))))
          ;; interleave pairs: a0 = (v0[0], v1[0], v0[1], v1[1]), a1 = (v0[2], v1[2], v0[3], v1[3]); a2, a3 from v2, v3
          (local.set $a0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v0) (local.get $v1)))
          (local.set $a1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v0) (local.get $v1)))
          (local.set $a2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v2) (local.get $v3)))
          (local.set $a3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v2) (local.get $v3)))
          ;; then halves: position 0 = low halves of a0 and a2, position 1 = their high halves, 2 and 3 from a1, a3
          (v128.store offset=0 (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a0) (local.get $a2)))
          (v128.store offset=32 (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a0) (local.get $a2)))
          (v128.store offset=64 (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a1) (local.get $a3)))
          (v128.store offset=96 (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a1) (local.get $a3)))
          ;; taps 4-7 -> lanes 4-7
          (local.set $v0 (v128.load (i32.add (local.get $r4) (local.get $o))))
          (local.set $v1 (v128.load (i32.add (local.get $r5) (local.get $o))))
          (local.set $v2 (v128.load (i32.add (local.get $r6) (local.get $o))))
          (local.set $v3 (v128.load (i32.add (local.get $r7) (local.get $o))))
          ;; interleave pairs: a0 = (v0[0], v1[0], v0[1], v1[1]), a1 = (v0[2], v1[2], v0[3], v1[3]); a2, a3 from v2, v3
          (local.set $a0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v0) (local.get $v1)))
          (local.set $a1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v0) (local.get $v1)))
          (local.set $a2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v2) (local.get $v3)))
          (local.set $a3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v2) (local.get $v3)))
          ;; then halves: position 0 = low halves of a0 and a2, position 1 = their high halves, 2 and 3 from a1, a3
          (v128.store offset=16 (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a0) (local.get $a2)))
          (v128.store offset=48 (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a0) (local.get $a2)))
          (v128.store offset=80 (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a1) (local.get $a3)))
          (v128.store offset=112 (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a1) (local.get $a3)))
          (local.set $d (i32.add (local.get $d) (i32.const 128)))
          (local.set $o (i32.add (local.get $o) (i32.const 16)))
          (local.set $i (i32.add (local.get $i) (i32.const 4)))
          (br $nextFour)))
        (block $doneOnes (loop $nextOne
          (br_if $doneOnes (i32.ge_s (local.get $i) (local.get $run)))
          (f32.store offset=0 (local.get $d) (f32.load (i32.add (local.get $r0) (local.get $o))))
          (f32.store offset=4 (local.get $d) (f32.load (i32.add (local.get $r1) (local.get $o))))
          (f32.store offset=8 (local.get $d) (f32.load (i32.add (local.get $r2) (local.get $o))))
          (f32.store offset=12 (local.get $d) (f32.load (i32.add (local.get $r3) (local.get $o))))
          (f32.store offset=16 (local.get $d) (f32.load (i32.add (local.get $r4) (local.get $o))))
          (f32.store offset=20 (local.get $d) (f32.load (i32.add (local.get $r5) (local.get $o))))
          (f32.store offset=24 (local.get $d) (f32.load (i32.add (local.get $r6) (local.get $o))))
          (f32.store offset=28 (local.get $d) (f32.load (i32.add (local.get $r7) (local.get $o))))
          (local.set $d (i32.add (local.get $d) (i32.const 32)))
          (local.set $o (i32.add (local.get $o) (i32.const 4)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $nextOne)))
        (local.set $q (i32.add (local.get $q) (local.get $run)))
        (br $nextQ)))
      (local.set $t (i32.add (local.get $t) (i32.const 8)))
      (br $nextPanel)))
    ;; the last, partial panel: one tap (one lane) at a time
    (block $doneT (loop $nextT
      (br_if $doneT (i32.ge_s (local.get $t) (local.get $nt)))
      (local.set $src (i32.add (local.get $x) (i32.load (i32.add (local.get $rowsAt) (i32.shl (local.get $t) (i32.const 2))))))
      ;; lane t % 8 of panel t / 8
      (local.set $d (i32.add (local.get $dst) (i32.shl
        (i32.add (i32.mul (i32.shr_u (local.get $t) (i32.const 3)) (i32.shl (local.get $nq) (i32.const 3))) (i32.and (local.get $t) (i32.const 7)))
        (i32.const 2))))
      (local.set $q (i32.const 0))
      (block $doneRow (loop $nextRow
        (br_if $doneRow (i32.ge_s (local.get $q) (local.get $nq)))
        (local.set $oy (i32.div_u (i32.add (local.get $q0) (local.get $q)) (local.get $outW)))
        (local.set $ox (i32.rem_u (i32.add (local.get $q0) (local.get $q)) (local.get $outW)))
        (local.set $run (i32.sub (local.get $outW) (local.get $ox)))
        (if (i32.gt_s (local.get $run) (i32.sub (local.get $nq) (local.get $q))) (then (local.set $run (i32.sub (local.get $nq) (local.get $q)))))
        (local.set $o (i32.add (local.get $src) (i32.shl (i32.add (i32.mul (local.get $oy) (local.get $paddedW)) (local.get $ox)) (i32.const 2))))
        (local.set $i (i32.const 0))
        (block $doneRun (loop $nextRun
          (br_if $doneRun (i32.ge_s (local.get $i) (local.get $run)))
          (f32.store (local.get $d) (f32.load (local.get $o)))
          (local.set $d (i32.add (local.get $d) (i32.const 32)))
          (local.set $o (i32.add (local.get $o) (i32.const 4)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $nextRun)))
        (local.set $q (i32.add (local.get $q) (local.get $run)))
        (br $nextRow)))
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

  ;; The weights of a stride-1 input gradient run as a forward convolution (kernels/wasm/index.ts,
  ;; transposedAsForward): w (C_out, C_in, taps) -> dst (C_in, C_out, taps), flipped in space:
  ;;   dst[ci][co][taps - 1 - t] = w[co][ci][t]
  ;; (a tap t = ky * kW + kx flipped in both axes is (kH - 1 - ky) * kW + (kW - 1 - kx) = taps - 1 - t).
  ;; dst is written in order; w is read a run of taps at a time.
  (func (export "flip_transpose")
    (param $w i32) (param $dst i32) (param $outChannels i32) (param $inChannels i32) (param $taps i32)
    (local $ci i32) (local $co i32) (local $t i32) (local $src i32)
    (local.set $ci (i32.const 0))
    (block $doneCi (loop $nextCi
      (br_if $doneCi (i32.ge_s (local.get $ci) (local.get $inChannels)))
      (local.set $co (i32.const 0))
      (block $doneCo (loop $nextCo
        (br_if $doneCo (i32.ge_s (local.get $co) (local.get $outChannels)))
        ;; the last tap of w[co][ci], read backwards
        (local.set $src (i32.add (local.get $w) (i32.shl
          (i32.sub (i32.mul (i32.add (i32.add (i32.mul (local.get $co) (local.get $inChannels)) (local.get $ci)) (i32.const 1)) (local.get $taps)) (i32.const 1))
          (i32.const 2))))
        (local.set $t (local.get $taps))
        (block $doneT (loop $nextT
          (br_if $doneT (i32.eqz (local.get $t)))
          (f32.store (local.get $dst) (f32.load (local.get $src)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
          (local.set $src (i32.sub (local.get $src) (i32.const 4)))
          (local.set $t (i32.sub (local.get $t) (i32.const 1)))
          (br $nextT)))
        (local.set $co (i32.add (local.get $co) (i32.const 1)))
        (br $nextCo)))
      (local.set $ci (i32.add (local.get $ci) (i32.const 1)))
      (br $nextCi)))
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

  ;; flip_transpose and pack_a in one pass: rows [m0, m0 + mc) and columns [k0, k0 + kc) of
  ;;   A(i, k) = dst of flip_transpose [i][co][t] = w[co][i][taps - 1 - t],  k = co * taps + t
  ;; packed as pack_a packs them (4-row panels at dst). The weights are read once, not copied flipped first.
  (func (export "pack_a_flipped")
    (param $w i32) (param $outChannels i32) (param $inChannels i32) (param $taps i32)
    (param $m0 i32) (param $mc i32) (param $k0 i32) (param $kc i32) (param $dst i32)
    (local $i i32) (local $k i32) (local $co i32) (local $t i32) (local $d i32)
    (local.set $i (i32.const 0))
    (block $doneI (loop $nextI
      (br_if $doneI (i32.ge_s (local.get $i) (local.get $mc)))
      ;; row i goes to lane i % 4 of panel i / 4
      (local.set $d (i32.add (local.get $dst) (i32.shl
        (i32.add (i32.mul (i32.shr_u (local.get $i) (i32.const 2)) (i32.shl (local.get $kc) (i32.const 2)))
                 (i32.and (local.get $i) (i32.const 3)))
        (i32.const 2))))
      ;; walk k = co * taps + t from k0 like an odometer
      (local.set $co (i32.div_u (local.get $k0) (local.get $taps)))
      (local.set $t (i32.rem_u (local.get $k0) (local.get $taps)))
      (local.set $k (local.get $kc))
      (block $doneK (loop $nextK
        (br_if $doneK (i32.eqz (local.get $k)))
        (f32.store (local.get $d) (f32.load (i32.add (local.get $w) (i32.shl
          (i32.sub
            (i32.mul (i32.add (i32.add (i32.mul (local.get $co) (local.get $inChannels)) (i32.add (local.get $m0) (local.get $i))) (i32.const 1)) (local.get $taps))
            (i32.add (local.get $t) (i32.const 1)))
          (i32.const 2)))))
        (local.set $d (i32.add (local.get $d) (i32.const 16)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (if (i32.eq (local.get $t) (local.get $taps))
          (then (local.set $t (i32.const 0)) (local.set $co (i32.add (local.get $co) (i32.const 1)))))
        (local.set $k (i32.sub (local.get $k) (i32.const 1)))
        (br $nextK)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $nextI)))
  )

  ;; The implicit GEMM's operands (conv.ts, the 'implicit' method): planes of h x w copied into
  ;; planes of paddedH x paddedW with a zero border, `top` rows above and `left` columns left:
  ;;   dst[plane][top + iy][left + ix] = src[plane][iy][ix], 0 elsewhere
  ;; (x padded for the convolution: top = padH, left = padW; dy on padded rows: top = left = 0).
  (func (export "pad_planes")
    (param $src i32) (param $dst i32) (param $planes i32) (param $h i32) (param $w i32)
    (param $top i32) (param $left i32) (param $paddedH i32) (param $paddedW i32)
    (local $plane i32) (local $iy i32) (local $rowBytes i32) (local $leftBytes i32) (local $rightBytes i32)
    (local $d i32) (local $s i32)
    (local.set $rowBytes (i32.shl (local.get $w) (i32.const 2)))
    (local.set $leftBytes (i32.shl (local.get $left) (i32.const 2)))
    (local.set $rightBytes (i32.shl (i32.sub (i32.sub (local.get $paddedW) (local.get $w)) (local.get $left)) (i32.const 2)))
    (local.set $s (local.get $src))
    (local.set $d (local.get $dst))
    (local.set $plane (i32.const 0))
    (block $donePlanes (loop $nextPlane
      (br_if $donePlanes (i32.ge_s (local.get $plane) (local.get $planes)))
      ;; the rows above
      (memory.fill (local.get $d) (i32.const 0) (i32.shl (i32.mul (local.get $top) (local.get $paddedW)) (i32.const 2)))
      (local.set $d (i32.add (local.get $d) (i32.shl (i32.mul (local.get $top) (local.get $paddedW)) (i32.const 2))))
      ;; each row: its left border, the row, its right border
      (local.set $iy (i32.const 0))
      (block $doneRows (loop $nextRow
        (br_if $doneRows (i32.ge_s (local.get $iy) (local.get $h)))
        (memory.fill (local.get $d) (i32.const 0) (local.get $leftBytes))
        (local.set $d (i32.add (local.get $d) (local.get $leftBytes)))
        (memory.copy (local.get $d) (local.get $s) (local.get $rowBytes))
        (local.set $d (i32.add (local.get $d) (local.get $rowBytes)))
        (local.set $s (i32.add (local.get $s) (local.get $rowBytes)))
        (memory.fill (local.get $d) (i32.const 0) (local.get $rightBytes))
        (local.set $d (i32.add (local.get $d) (local.get $rightBytes)))
        (local.set $iy (i32.add (local.get $iy) (i32.const 1)))
        (br $nextRow)))
      ;; the rows below
      (memory.fill (local.get $d) (i32.const 0)
        (i32.shl (i32.mul (i32.sub (i32.sub (local.get $paddedH) (local.get $top)) (local.get $h)) (local.get $paddedW)) (i32.const 2)))
      (local.set $d (i32.add (local.get $d)
        (i32.shl (i32.mul (i32.sub (i32.sub (local.get $paddedH) (local.get $top)) (local.get $h)) (local.get $paddedW)) (i32.const 2))))
      (local.set $plane (i32.add (local.get $plane) (i32.const 1)))
      (br $nextPlane)))
  )

  ;; rows x width floats from src (row stride srcStride floats) to dst, packed (row stride width):
  ;; the implicit GEMM's output, computed on padded rows, cut to the real ones. dst may be src
  ;; (a forward copy within the same rows: memory.copy moves overlapping bytes correctly).
  (func (export "compact_rows")
    (param $src i32) (param $srcStride i32) (param $dst i32) (param $rows i32) (param $width i32)
    (local $r i32) (local $rowBytes i32) (local $strideBytes i32)
    (local.set $rowBytes (i32.shl (local.get $width) (i32.const 2)))
    (local.set $strideBytes (i32.shl (local.get $srcStride) (i32.const 2)))
    (local.set $r (i32.const 0))
    (block $done (loop $next
      (br_if $done (i32.ge_s (local.get $r) (local.get $rows)))
      (memory.copy (local.get $dst) (local.get $src) (local.get $rowBytes))
      (local.set $dst (i32.add (local.get $dst) (local.get $rowBytes)))
      (local.set $src (i32.add (local.get $src) (local.get $strideBytes)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $next)))
  )
)
