;; Direct convolution for layers with few output channels (stride 1), without im2col.
;;
;; Why: the GEMM path packs every element of the im2col matrix once and then uses it for each
;; output channel; with 4 or 8 output channels (conv1_x and conv2_x of the channels / 16 model,
;; and the input gradients of those layers, whose "output channels" are the layer's 3 to 8 input
;; channels) the packing costs as much as the multiply. Here the 4 x 8 tile of the GEMM
;; micro-kernel (gemm-4x8.wat) reads its B operand straight from the input rows instead: with
;; stride 1, 8 neighbouring outputs of one row read 8 consecutive floats of an input row for
;; each tap (ci, ky, kx), and the 4 rows of A are the 4 output channels' weights of that tap.
;;
;;   y[co][oy][ox] = bias[co] + sum over ci, ky, kx of w[co][ci][ky][kx] * x[ci][iy][ix]
;;   iy = oy + ky * dilationH - padH,  ix = ox + kx * dilationW - padW   (0 outside the input)
;;
;; One call computes up to 4 output channels (rows) of output rows [oy0, oy1) of one image, 8
;; positions at a time. Input rows that lie in the padding are skipped; 8 floats that reach past
;; either end of a row are loaded as they are and the lanes outside [0, inW) masked to +0 (the
;; loads stay inside the arena, where other tensors lie: at most (kW - 1) * dilation + 8 floats
;; past the row). Plain SIMD (multiply, then add): one variant, used with either micro-kernel.
;;
;; The geometry struct at $g is the one pack.wat reads (writeGeometry in kernels/wasm/conv.ts):
;;   0 inH  4 inW  8 kH  12 kW  16 strideH  20 strideW  24 padH  28 padW  32 dilationH  36 dilationW  40 outW

(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; x: the image (inChannels planes); w: the first row's weights (row r at w + r * ldw floats);
  ;; bias: the first row's bias, or 0 for none; y: the first row's output plane (row r at
  ;; y + r * yPlane floats); tmp: 32 floats of scratch for the last, partial block of a row.
  (func (export "conv_direct")
    (param $x i32) (param $w i32) (param $bias i32) (param $y i32) (param $g i32)
    (param $inChannels i32) (param $rows i32) (param $ldw i32) (param $yPlane i32)
    (param $oy0 i32) (param $oy1 i32) (param $tmp i32)
    (local $inH i32) (local $inW i32) (local $kH i32) (local $kW i32) (local $padH i32) (local $padW i32)
    (local $dilationH i32) (local $dilationW i32) (local $outW i32) (local $plane i32) (local $taps i32)
    (local $r1 i32) (local $r2 i32) (local $r3 i32) (local $w1 i32) (local $w2 i32) (local $w3 i32) (local $yStride i32)
    (local $oy i32) (local $ox i32) (local $ci i32) (local $ky i32) (local $kx i32) (local $iy i32) (local $ix i32)
    (local $row i32) (local $wp i32) (local $src i32) (local $out i32) (local $left i32) (local $r i32) (local $lane i32)
    (local $c0l v128) (local $c0h v128) (local $c1l v128) (local $c1h v128)
    (local $c2l v128) (local $c2h v128) (local $c3l v128) (local $c3h v128)
    (local $bl v128) (local $bh v128) (local $av v128) (local $columns v128)
    (local.set $inH (i32.load offset=0 (local.get $g)))
    (local.set $inW (i32.load offset=4 (local.get $g)))
    (local.set $kH (i32.load offset=8 (local.get $g)))
    (local.set $kW (i32.load offset=12 (local.get $g)))
    (local.set $padH (i32.load offset=24 (local.get $g)))
    (local.set $padW (i32.load offset=28 (local.get $g)))
    (local.set $dilationH (i32.load offset=32 (local.get $g)))
    (local.set $dilationW (i32.load offset=36 (local.get $g)))
    (local.set $outW (i32.load offset=40 (local.get $g)))
    (local.set $plane (i32.mul (local.get $inH) (local.get $inW)))
    (local.set $taps (i32.mul (local.get $kH) (local.get $kW)))
    ;; rows 1-3 of the tile are output rows min(r, rows - 1): a missing row (rows < 4) repeats
    ;; the last real one, and its results are not stored
    (local.set $r1 (select (i32.const 1) (i32.sub (local.get $rows) (i32.const 1)) (i32.gt_s (local.get $rows) (i32.const 1))))
    (local.set $r2 (select (i32.const 2) (i32.sub (local.get $rows) (i32.const 1)) (i32.gt_s (local.get $rows) (i32.const 2))))
    (local.set $r3 (select (i32.const 3) (i32.sub (local.get $rows) (i32.const 1)) (i32.gt_s (local.get $rows) (i32.const 3))))
    ;; byte offsets of those rows' weights from row 0's
    (local.set $w1 (i32.shl (i32.mul (local.get $ldw) (local.get $r1)) (i32.const 2)))
    (local.set $w2 (i32.shl (i32.mul (local.get $ldw) (local.get $r2)) (i32.const 2)))
    (local.set $w3 (i32.shl (i32.mul (local.get $ldw) (local.get $r3)) (i32.const 2)))
    (local.set $yStride (i32.shl (local.get $yPlane) (i32.const 2)))
    (local.set $oy (local.get $oy0))
    (block $doneRows (loop $nextRow
      (br_if $doneRows (i32.ge_s (local.get $oy) (local.get $oy1)))
      (local.set $ox (i32.const 0))
      (block $doneBlocks (loop $nextBlock
        (br_if $doneBlocks (i32.ge_s (local.get $ox) (local.get $outW)))
        ;; the accumulators start at the bias (4 rows x 8 positions)
        (if (local.get $bias)
          (then
            (local.set $c0l (v128.load32_splat (local.get $bias)))
            (local.set $c1l (v128.load32_splat (i32.add (local.get $bias) (i32.shl (local.get $r1) (i32.const 2)))))
            (local.set $c2l (v128.load32_splat (i32.add (local.get $bias) (i32.shl (local.get $r2) (i32.const 2)))))
            (local.set $c3l (v128.load32_splat (i32.add (local.get $bias) (i32.shl (local.get $r3) (i32.const 2))))))
          (else
            (local.set $c0l (v128.const i32x4 0 0 0 0)) (local.set $c1l (v128.const i32x4 0 0 0 0))
            (local.set $c2l (v128.const i32x4 0 0 0 0)) (local.set $c3l (v128.const i32x4 0 0 0 0))))
        (local.set $c0h (local.get $c0l)) (local.set $c1h (local.get $c1l))
        (local.set $c2h (local.get $c2l)) (local.set $c3h (local.get $c3l))
        ;; every tap (ci, ky, kx)
        (local.set $ci (i32.const 0))
        (block $doneCi (loop $nextCi
          (br_if $doneCi (i32.ge_s (local.get $ci) (local.get $inChannels)))
          (local.set $ky (i32.const 0))
          (block $doneKy (loop $nextKy
            (br_if $doneKy (i32.ge_s (local.get $ky) (local.get $kH)))
            (local.set $iy (i32.sub (i32.add (local.get $oy) (i32.mul (local.get $ky) (local.get $dilationH))) (local.get $padH)))
            ;; an input row in the padding adds nothing
            (if (i32.lt_u (local.get $iy) (local.get $inH))
              (then
                (local.set $row (i32.add (local.get $x) (i32.shl (i32.add (i32.mul (local.get $ci) (local.get $plane)) (i32.mul (local.get $iy) (local.get $inW))) (i32.const 2))))
                ;; row 0's weight of tap (ci, ky, 0)
                (local.set $wp (i32.add (local.get $w) (i32.shl (i32.add (i32.mul (local.get $ci) (local.get $taps)) (i32.mul (local.get $ky) (local.get $kW))) (i32.const 2))))
                (local.set $kx (i32.const 0))
                (block $doneKx (loop $nextKx
                  (br_if $doneKx (i32.ge_s (local.get $kx) (local.get $kW)))
                  (local.set $ix (i32.sub (i32.add (local.get $ox) (i32.mul (local.get $kx) (local.get $dilationW))) (local.get $padW)))
                  (local.set $src (i32.add (local.get $row) (i32.shl (local.get $ix) (i32.const 2))))
                  (local.set $bl (v128.load offset=0 (local.get $src)))
                  (local.set $bh (v128.load offset=16 (local.get $src)))
                  (if (i32.or (i32.lt_s (local.get $ix) (i32.const 0)) (i32.gt_s (i32.add (local.get $ix) (i32.const 8)) (local.get $inW)))
                    (then
                      ;; columns outside [0, inW) are padding: +0
                      (local.set $columns (i32x4.add (i32x4.splat (local.get $ix)) (v128.const i32x4 0 1 2 3)))
                      (local.set $bl (v128.and (local.get $bl) (i32x4.lt_u (local.get $columns) (i32x4.splat (local.get $inW)))))
                      (local.set $bh (v128.and (local.get $bh)
                        (i32x4.lt_u (i32x4.add (local.get $columns) (i32x4.splat (i32.const 4))) (i32x4.splat (local.get $inW)))))))
                  (local.set $av (v128.load32_splat (local.get $wp)))
                  (local.set $c0l (f32x4.add (local.get $c0l) (f32x4.mul (local.get $av) (local.get $bl))))
                  (local.set $c0h (f32x4.add (local.get $c0h) (f32x4.mul (local.get $av) (local.get $bh))))
                  (local.set $av (v128.load32_splat (i32.add (local.get $wp) (local.get $w1))))
                  (local.set $c1l (f32x4.add (local.get $c1l) (f32x4.mul (local.get $av) (local.get $bl))))
                  (local.set $c1h (f32x4.add (local.get $c1h) (f32x4.mul (local.get $av) (local.get $bh))))
                  (local.set $av (v128.load32_splat (i32.add (local.get $wp) (local.get $w2))))
                  (local.set $c2l (f32x4.add (local.get $c2l) (f32x4.mul (local.get $av) (local.get $bl))))
                  (local.set $c2h (f32x4.add (local.get $c2h) (f32x4.mul (local.get $av) (local.get $bh))))
                  (local.set $av (v128.load32_splat (i32.add (local.get $wp) (local.get $w3))))
                  (local.set $c3l (f32x4.add (local.get $c3l) (f32x4.mul (local.get $av) (local.get $bl))))
                  (local.set $c3h (f32x4.add (local.get $c3h) (f32x4.mul (local.get $av) (local.get $bh))))
                  (local.set $wp (i32.add (local.get $wp) (i32.const 4)))
                  (local.set $kx (i32.add (local.get $kx) (i32.const 1)))
                  (br $nextKx)))))
            (local.set $ky (i32.add (local.get $ky) (i32.const 1)))
            (br $nextKy)))
          (local.set $ci (i32.add (local.get $ci) (i32.const 1)))
          (br $nextCi)))
        ;; store the rows that exist; the row's last block may have fewer than 8 positions
        (local.set $out (i32.add (local.get $y) (i32.shl (i32.add (i32.mul (local.get $oy) (local.get $outW)) (local.get $ox)) (i32.const 2))))
        (local.set $left (i32.sub (local.get $outW) (local.get $ox)))
        (v128.store offset=0 (local.get $tmp) (local.get $c0l)) (v128.store offset=16 (local.get $tmp) (local.get $c0h))
        (v128.store offset=32 (local.get $tmp) (local.get $c1l)) (v128.store offset=48 (local.get $tmp) (local.get $c1h))
        (v128.store offset=64 (local.get $tmp) (local.get $c2l)) (v128.store offset=80 (local.get $tmp) (local.get $c2h))
        (v128.store offset=96 (local.get $tmp) (local.get $c3l)) (v128.store offset=112 (local.get $tmp) (local.get $c3h))
        (local.set $r (i32.const 0))
        (block $doneStore (loop $nextStore
          (br_if $doneStore (i32.ge_s (local.get $r) (local.get $rows)))
          (if (i32.ge_s (local.get $left) (i32.const 8))
            (then
              (v128.store offset=0 (local.get $out) (v128.load offset=0 (i32.add (local.get $tmp) (i32.shl (local.get $r) (i32.const 5)))))
              (v128.store offset=16 (local.get $out) (v128.load offset=16 (i32.add (local.get $tmp) (i32.shl (local.get $r) (i32.const 5))))))
            (else
              (local.set $lane (i32.const 0))
              (block $doneLanes (loop $nextLane
                (br_if $doneLanes (i32.ge_s (local.get $lane) (local.get $left)))
                (f32.store (i32.add (local.get $out) (i32.shl (local.get $lane) (i32.const 2)))
                  (f32.load (i32.add (local.get $tmp) (i32.shl (i32.add (i32.shl (local.get $r) (i32.const 3)) (local.get $lane)) (i32.const 2)))))
                (local.set $lane (i32.add (local.get $lane) (i32.const 1)))
                (br $nextLane)))))
          (local.set $out (i32.add (local.get $out) (local.get $yStride)))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br $nextStore)))
        (local.set $ox (i32.add (local.get $ox) (i32.const 8)))
        (br $nextBlock)))
      (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
      (br $nextRow)))
  )
)
