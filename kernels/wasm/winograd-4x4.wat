;; Winograd minimal filtering F(4x4, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional
;; Neural Networks", arXiv 1509.09308) in WebAssembly SIMD128: the three transforms of a stride-1
;; 3x3 convolution. A 4 x 4 tile of outputs comes from a 6 x 6 tile of input through 36
;; products per (input channel, output channel) instead of 144:
;;
;;   Y = A^T [ (G g G^T) (.) (B^T d B) ] A       g 3 x 3 filter, d 6 x 6 input tile, Y 4 x 4 outputs,
;;                                               (.) the element-wise product
;;
;;   B^T = [ 4  0 -5  0  1  0 ]     G = [  1/4     0     0  ]     A^T = [ 1  1  1  1  1  0 ]
;;         [ 0 -4 -4  1  1  0 ]         [ -1/6  -1/6  -1/6  ]           [ 0  1 -1  2 -2  0 ]
;;         [ 0  4 -4 -1  1  0 ]         [ -1/6   1/6  -1/6  ]           [ 0  1  1  4  4  0 ]
;;         [ 0 -2 -1  2  1  0 ]         [ 1/24  1/12   1/6  ]           [ 0  1 -1  8 -8  1 ]
;;         [ 0  2 -1 -2  1  0 ]         [ 1/24 -1/12   1/6  ]
;;         [ 0  4  0 -5  0  1 ]         [   0     0     1   ]
;;
;; (interpolation points 0, 1, -1, 2, -2 and infinity). Summed over the input channels, the
;; element-wise products are 36 matrix products, one per position (xi, nu) of the 6 x 6 tile:
;;   M_xinu (C_out x tiles) = U_xinu (C_out x C_in) * V_xinu (C_in x tiles)
;; which kernels/wasm/winograd.ts runs on the GEMM micro-kernel (gemm-4x8.wat) unchanged. This
;; module computes U = G g G^T, V = B^T d B, and Y = A^T M A (+ bias, and the ReLU if asked), each written straight into
;; the layout its reader wants, so that nothing is packed or copied in between:
;;   U  the GEMM's A operand, packed: U_xinu is C_out x C_in in 4-row panels (pack.wat's layout),
;;      a panel's row k = the 4 output channels' values for input channel k: one vector store
;;   V  the GEMM's B operand, packed: V_xinu is C_in x tiles in 8-column panels, a panel's row c =
;;      8 tiles' values for input channel c: two vector stores of 4 tiles
;;   M  the GEMM's C: M_xinu is C_out x tiles row-major: 4 consecutive tiles of one output channel
;;      are one vector load
;; So the four vector lanes are four output channels in the filter transform and four tiles in
;; the other two: every lane runs the same formulas. The weight gradient (winograd.ts) runs the
;; same input transform with the roles swapped (rows = tiles, lanes = input channels: V^T, the B
;; operand of dU = Yhat V^T), and two transforms of its own at the end of this file: Yhat = A dY A^T,
;; the gradient of the 36 products (winograd4x4_gradient, lanes = output channels, into A panels),
;; and dW = G^T dU G (winograd4x4_filter_gradient).
;;
;; Each 2-D transform is a 1-D transform along one axis, then along the other: X^T z X = X^T (X^T z^T)^T.
;; The first pass stores its lines in a small scratch (in L1), the second reads them back across.
;; Every 1-D transform is written out with its shared subexpressions (the formulas are in the
;; comments beside them); V8 does not inline calls between WebAssembly functions, so none of them
;; is a function.
;;
;; The tiles come from a table (winograd.wat, winograd_tiles: 16 bytes per tile: input offset,
;; output offset, rows and columns inside the output), so a run of tiles may cross rows and images;
;; the channels' offsets from another (winograd_channels). The input is a zero-padded copy of x
;; (winograd.ts: the convolution's padding at the top and left, zeros below and right up to whole
;; tiles), so every input tile is 6 x 6 floats in place; so is dy for the weight gradient.

(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; U = G g G^T for 4 output channels (the lanes) and kc input channels: a panel of U's A layout.
  ;; The 9 taps of lane l, input channel k are the 9 floats from
  ;;   w + l * laneStride + k * kStride        (bytes)
  ;; tap t (= 3 ky + kx) the t-th of them, or with `reversed` the (8 - t)-th. That covers both
  ;; uses: the weights as they are (w[co][k]: laneStride = 36 C_in, kStride = 36) and flipped and
  ;; transposed for an input gradient (w[k][co] read backwards: laneStride = 36, kStride = 36 C_in',
  ;; reversed: lane = w's input channel, k = w's output channel). Lanes past `lanes` read lane 0's
  ;; weights and are masked to zero (the panel's padding rows).
  ;; U_xinu's row k goes to u + (6 xi + nu) * posStride + 16 k. Scratch: 27 vectors (432 bytes).
  (func (export "winograd4x4_filter")
    (param $w i32) (param $laneStride i32) (param $kStride i32) (param $reversed i32) (param $lanes i32)
    (param $kc i32) (param $u i32) (param $posStride i32) (param $scratch i32)
    (local $k i32) (local $line i32)
    (local $q0 i32) (local $q1 i32) (local $q2 i32) (local $q3 i32)
    (local $src i32) (local $srcStep i32) (local $dst i32) (local $dstStep i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local $mask v128) (local $g0 v128) (local $g1 v128) (local $g2 v128) (local $a v128) (local $b v128) (local $c v128)
    (local.set $mask (i32x4.lt_s (v128.const i32x4 0 1 2 3) (i32x4.splat (local.get $lanes))))
    (local.set $k (i32.const 0))
    (block $doneK (loop $nextK
      (br_if $doneK (i32.ge_s (local.get $k) (local.get $kc)))
      ;; the four lanes' tap 0
      (local.set $q0 (i32.add (local.get $w) (i32.mul (local.get $k) (local.get $kStride))))
      (local.set $q1 (select (i32.add (local.get $q0) (local.get $laneStride)) (local.get $q0)
        (i32.gt_s (local.get $lanes) (i32.const 1))))
      (local.set $q2 (select (i32.add (local.get $q0) (i32.shl (local.get $laneStride) (i32.const 1))) (local.get $q0)
        (i32.gt_s (local.get $lanes) (i32.const 2))))
      (local.set $q3 (select (i32.add (local.get $q0) (i32.mul (local.get $laneStride) (i32.const 3))) (local.get $q0)
        (i32.gt_s (local.get $lanes) (i32.const 3))))
      ;; Each lane's 9 floats lie together: 0-3 and 4-7 as vectors, transposed (four shuffles
      ;; to interleave pairs of lanes, four to gather halves), and 8 lane by lane. Vector j (at
      ;; scratch + 16 j) holds the four lanes' float j: tap j, or with `reversed` tap 8 - j.
      (local.set $a0 (v128.load (local.get $q0)))
      (local.set $a1 (v128.load (local.get $q1)))
      (local.set $a2 (v128.load (local.get $q2)))
      (local.set $a3 (v128.load (local.get $q3)))
      (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a0) (local.get $a1)))
      (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a0) (local.get $a1)))
      (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a2) (local.get $a3)))
      (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a2) (local.get $a3)))
      (v128.store offset=0 (local.get $scratch) (v128.and (local.get $mask)
        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2))))
      (v128.store offset=16 (local.get $scratch) (v128.and (local.get $mask)
        (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2))))
      (v128.store offset=32 (local.get $scratch) (v128.and (local.get $mask)
        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3))))
      (v128.store offset=48 (local.get $scratch) (v128.and (local.get $mask)
        (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3))))
      (local.set $a0 (v128.load offset=16 (local.get $q0)))
      (local.set $a1 (v128.load offset=16 (local.get $q1)))
      (local.set $a2 (v128.load offset=16 (local.get $q2)))
      (local.set $a3 (v128.load offset=16 (local.get $q3)))
      (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a0) (local.get $a1)))
      (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a0) (local.get $a1)))
      (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a2) (local.get $a3)))
      (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a2) (local.get $a3)))
      (v128.store offset=64 (local.get $scratch) (v128.and (local.get $mask)
        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2))))
      (v128.store offset=80 (local.get $scratch) (v128.and (local.get $mask)
        (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2))))
      (v128.store offset=96 (local.get $scratch) (v128.and (local.get $mask)
        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3))))
      (v128.store offset=112 (local.get $scratch) (v128.and (local.get $mask)
        (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3))))
      (v128.store offset=128 (local.get $scratch) (v128.and (local.get $mask)
        (v128.load32_lane offset=32 3 (local.get $q3)
          (v128.load32_lane offset=32 2 (local.get $q2)
            (v128.load32_lane offset=32 1 (local.get $q1)
              (v128.load32_zero offset=32 (local.get $q0)))))))
      ;; Nine lines of the 1-D transform h = G (g0, g1, g2): lines 0-2 are g's columns (taps kx,
      ;; 3 + kx, 6 + kx) into the columns of G g (scratch + 144, 6 x 3 vectors); lines 3-8 are the
      ;; rows of G g into the rows of (G g) G^T = U, stored into the six U_xinu of that row.
      (local.set $line (i32.const 0))
      (block $doneLines (loop $nextLine
        (br_if $doneLines (i32.ge_s (local.get $line) (i32.const 9)))
        (if (i32.lt_s (local.get $line) (i32.const 3))
          (then
            ;; column kx = line: taps kx, 3 + kx, 6 + kx (reversed: vectors 8 - kx, 5 - kx, 2 - kx)
            (local.set $dst (i32.add (local.get $scratch) (i32.add (i32.const 144) (i32.shl (local.get $line) (i32.const 4)))))
            (local.set $dstStep (i32.const 48))
            (if (local.get $reversed)
              (then
                (local.set $src (i32.sub (i32.add (local.get $scratch) (i32.const 128)) (i32.shl (local.get $line) (i32.const 4))))
                (local.set $srcStep (i32.const -48)))
              (else
                (local.set $src (i32.add (local.get $scratch) (i32.shl (local.get $line) (i32.const 4))))
                (local.set $srcStep (i32.const 48)))))
          (else
            ;; row xi = line - 3 of G g; its outputs nu = 0..5 are U_xinu
            (local.set $src (i32.add (local.get $scratch)
              (i32.add (i32.const 144) (i32.mul (i32.sub (local.get $line) (i32.const 3)) (i32.const 48)))))
            (local.set $srcStep (i32.const 16))
            (local.set $dst (i32.add (i32.add (local.get $u) (i32.shl (local.get $k) (i32.const 4)))
              (i32.mul (i32.mul (i32.sub (local.get $line) (i32.const 3)) (i32.const 6)) (local.get $posStride))))
            (local.set $dstStep (local.get $posStride))))
        (local.set $g0 (v128.load (local.get $src)))
        (local.set $g1 (v128.load (i32.add (local.get $src) (local.get $srcStep))))
        (local.set $g2 (v128.load (i32.add (local.get $src) (i32.shl (local.get $srcStep) (i32.const 1)))))
        ;; h0 = g0 / 4
        (v128.store (local.get $dst) (f32x4.mul (local.get $g0) (v128.const f32x4 0.25 0.25 0.25 0.25)))
        (local.set $dst (i32.add (local.get $dst) (local.get $dstStep)))
        ;; h1 = -(g0 + g1 + g2) / 6,  h2 = -(g0 - g1 + g2) / 6
        (local.set $a (f32x4.add (local.get $g0) (local.get $g2)))
        (v128.store (local.get $dst) (f32x4.mul (f32x4.add (local.get $a) (local.get $g1))
          (v128.const f32x4 -0.16666666666666666 -0.16666666666666666 -0.16666666666666666 -0.16666666666666666)))
        (local.set $dst (i32.add (local.get $dst) (local.get $dstStep)))
        (v128.store (local.get $dst) (f32x4.mul (f32x4.sub (local.get $a) (local.get $g1))
          (v128.const f32x4 -0.16666666666666666 -0.16666666666666666 -0.16666666666666666 -0.16666666666666666)))
        (local.set $dst (i32.add (local.get $dst) (local.get $dstStep)))
        ;; h3 = g0/24 + g1/12 + g2/6,  h4 = g0/24 - g1/12 + g2/6
        (local.set $b (f32x4.add
          (f32x4.mul (local.get $g0) (v128.const f32x4 0.041666666666666664 0.041666666666666664 0.041666666666666664 0.041666666666666664))
          (f32x4.mul (local.get $g2) (v128.const f32x4 0.16666666666666666 0.16666666666666666 0.16666666666666666 0.16666666666666666))))
        (local.set $c (f32x4.mul (local.get $g1) (v128.const f32x4 0.08333333333333333 0.08333333333333333 0.08333333333333333 0.08333333333333333)))
        (v128.store (local.get $dst) (f32x4.add (local.get $b) (local.get $c)))
        (local.set $dst (i32.add (local.get $dst) (local.get $dstStep)))
        (v128.store (local.get $dst) (f32x4.sub (local.get $b) (local.get $c)))
        (local.set $dst (i32.add (local.get $dst) (local.get $dstStep)))
        ;; h5 = g2
        (v128.store (local.get $dst) (local.get $g2))
        (local.set $line (i32.add (local.get $line) (i32.const 1)))
        (br $nextLine)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $nextK)))
  )

  ;; V = B^T d B for `count` rows by `groups` groups of 4 lanes: the GEMM's B panels (8 columns,
  ;; `count` rows), row r of panel g / 2, lanes (g % 2) * 4 .. + 3, of each position at
  ;;   v + (6 xi + nu) * posStride + (g / 2) * count * 32 + r * 32 + (g % 2) * 16
  ;; The 6 x 6 input tile of (row r, lane l of group g) starts at
  ;;   x + outer[r] + inner[4 g + l]        (i32 byte offsets, outerStep and innerStep bytes apart)
  ;; with its rows rowBytes apart. Two uses (winograd.ts):
  ;;   forward           rows = input channels, lanes = tiles: outer = the channels' offsets
  ;;                     (c * plane), inner = the tile table's input offsets (innerStep 16)
  ;;   weight gradient   rows = tiles, lanes = input channels: outer = the tile table (outerStep
  ;;                     16), inner = the channels' offsets; B = V^T, the sum running over tiles
  ;; Scratch: 36 vectors (576 bytes).
  (func (export "winograd4x4_input")
    (param $x i32) (param $rowBytes i32) (param $outer i32) (param $outerStep i32) (param $count i32)
    (param $inner i32) (param $innerStep i32) (param $groups i32) (param $v i32) (param $posStride i32) (param $scratch i32)
    (local $c i32) (local $g i32) (local $channel i32) (local $entry i32) (local $i i32)
    (local $step2 i32) (local $step3 i32) (local $step4 i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local $s i32) (local $q i32) (local $vrow i32) (local $panelBytes i32) (local $stride6 i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128) (local $d4 v128) (local $d5 v128)
    (local $e v128) (local $f v128)
    (local.set $panelBytes (i32.shl (local.get $count) (i32.const 5)))
    (local.set $step2 (i32.shl (local.get $innerStep) (i32.const 1)))
    (local.set $step3 (i32.mul (local.get $innerStep) (i32.const 3)))
    (local.set $step4 (i32.shl (local.get $innerStep) (i32.const 2)))
    (local.set $stride6 (i32.mul (local.get $posStride) (i32.const 6)))
    (local.set $c (i32.const 0))
    (block $doneC (loop $nextC
      (br_if $doneC (i32.ge_s (local.get $c) (local.get $count)))
      (local.set $channel (i32.add (local.get $x) (i32.load (local.get $outer))))
      (local.set $outer (i32.add (local.get $outer) (local.get $outerStep)))
      (local.set $entry (local.get $inner))
      (local.set $g (i32.const 0))
      (block $doneG (loop $nextG
        (br_if $doneG (i32.ge_s (local.get $g) (local.get $groups)))
        ;; the four tiles' top-left input in this channel
        (local.set $p0 (i32.add (local.get $channel) (i32.load (local.get $entry))))
        (local.set $p1 (i32.add (local.get $channel) (i32.load (i32.add (local.get $entry) (local.get $innerStep)))))
        (local.set $p2 (i32.add (local.get $channel) (i32.load (i32.add (local.get $entry) (local.get $step2)))))
        (local.set $p3 (i32.add (local.get $channel) (i32.load (i32.add (local.get $entry) (local.get $step3)))))
        ;; Pass 1, along each of the 6 rows i: (d B)[i] = B^T d[i] into scratch + 96 i.
        (local.set $s (local.get $scratch))
        (local.set $i (i32.const 6))
        (block $doneRows (loop $nextRow
          (br_if $doneRows (i32.eqz (local.get $i)))
          ;; each tile's row: its floats 0-3 and 4-5
          (local.set $a0 (v128.load (local.get $p0)))
          (local.set $a1 (v128.load (local.get $p1)))
          (local.set $a2 (v128.load (local.get $p2)))
          (local.set $a3 (v128.load (local.get $p3)))
          (local.set $b0 (v128.load64_zero offset=16 (local.get $p0)))
          (local.set $b1 (v128.load64_zero offset=16 (local.get $p1)))
          (local.set $b2 (v128.load64_zero offset=16 (local.get $p2)))
          (local.set $b3 (v128.load64_zero offset=16 (local.get $p3)))
          ;; transposed, d_j = (tile 0's float j, tile 1's, tile 2's, tile 3's): interleave pairs
          ;; of rows, then halves (4 x 4: eight shuffles; floats 4-5: four)
          (local.set $d0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a0) (local.get $a1)))
          (local.set $d1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a0) (local.get $a1)))
          (local.set $d2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a2) (local.get $a3)))
          (local.set $d3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a2) (local.get $a3)))
          (local.set $a0 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $d0) (local.get $d2)))
          (local.set $a1 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $d0) (local.get $d2)))
          (local.set $a2 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $d1) (local.get $d3)))
          (local.set $a3 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $d1) (local.get $d3)))
          (local.set $e (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $b0) (local.get $b1)))
          (local.set $f (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $b2) (local.get $b3)))
          (local.set $d4 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $e) (local.get $f)))
          (local.set $d5 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $e) (local.get $f)))
          (local.set $d0 (local.get $a0))
          (local.set $d1 (local.get $a1))
          (local.set $d2 (local.get $a2))
          (local.set $d3 (local.get $a3))
          ;; B^T (d0 .. d5):
          ;;   v0 = 4 d0 - 5 d2 + d4
          (v128.store offset=0 (local.get $s) (f32x4.add (local.get $d4)
            (f32x4.sub (f32x4.mul (local.get $d0) (v128.const f32x4 4 4 4 4)) (f32x4.mul (local.get $d2) (v128.const f32x4 5 5 5 5)))))
          ;;   v1 = (d4 - 4 d2) + (d3 - 4 d1),  v2 = (d4 - 4 d2) - (d3 - 4 d1)
          (local.set $e (f32x4.sub (local.get $d4) (f32x4.mul (local.get $d2) (v128.const f32x4 4 4 4 4))))
          (local.set $f (f32x4.sub (local.get $d3) (f32x4.mul (local.get $d1) (v128.const f32x4 4 4 4 4))))
          (v128.store offset=16 (local.get $s) (f32x4.add (local.get $e) (local.get $f)))
          (v128.store offset=32 (local.get $s) (f32x4.sub (local.get $e) (local.get $f)))
          ;;   v3 = (d4 - d2) + 2 (d3 - d1),  v4 = (d4 - d2) - 2 (d3 - d1)
          (local.set $e (f32x4.sub (local.get $d4) (local.get $d2)))
          (local.set $f (f32x4.sub (local.get $d3) (local.get $d1)))
          (local.set $f (f32x4.add (local.get $f) (local.get $f)))
          (v128.store offset=48 (local.get $s) (f32x4.add (local.get $e) (local.get $f)))
          (v128.store offset=64 (local.get $s) (f32x4.sub (local.get $e) (local.get $f)))
          ;;   v5 = 4 d1 - 5 d3 + d5
          (v128.store offset=80 (local.get $s) (f32x4.add (local.get $d5)
            (f32x4.sub (f32x4.mul (local.get $d1) (v128.const f32x4 4 4 4 4)) (f32x4.mul (local.get $d3) (v128.const f32x4 5 5 5 5)))))
          (local.set $s (i32.add (local.get $s) (i32.const 96)))
          (local.set $p0 (i32.add (local.get $p0) (local.get $rowBytes)))
          (local.set $p1 (i32.add (local.get $p1) (local.get $rowBytes)))
          (local.set $p2 (i32.add (local.get $p2) (local.get $rowBytes)))
          (local.set $p3 (i32.add (local.get $p3) (local.get $rowBytes)))
          (local.set $i (i32.sub (local.get $i) (i32.const 1)))
          (br $nextRow)))
        ;; Pass 2, down each of the 6 columns nu: V[.][nu] = B^T (dB)[.][nu], into V_xinu (xi = 0..5)
        (local.set $vrow (i32.add (local.get $v) (i32.add
          (i32.mul (i32.shr_u (local.get $g) (i32.const 1)) (local.get $panelBytes))
          (i32.add (i32.shl (local.get $c) (i32.const 5)) (i32.shl (i32.and (local.get $g) (i32.const 1)) (i32.const 4))))))
        (local.set $s (local.get $scratch))
        (local.set $i (i32.const 6))
        (block $doneCols (loop $nextCol
          (br_if $doneCols (i32.eqz (local.get $i)))
          (local.set $d0 (v128.load offset=0 (local.get $s)))
          (local.set $d1 (v128.load offset=96 (local.get $s)))
          (local.set $d2 (v128.load offset=192 (local.get $s)))
          (local.set $d3 (v128.load offset=288 (local.get $s)))
          (local.set $d4 (v128.load offset=384 (local.get $s)))
          (local.set $d5 (v128.load offset=480 (local.get $s)))
          (local.set $q (local.get $vrow))
          ;; the same B^T as in pass 1
          (v128.store (local.get $q) (f32x4.add (local.get $d4)
            (f32x4.sub (f32x4.mul (local.get $d0) (v128.const f32x4 4 4 4 4)) (f32x4.mul (local.get $d2) (v128.const f32x4 5 5 5 5)))))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (local.set $e (f32x4.sub (local.get $d4) (f32x4.mul (local.get $d2) (v128.const f32x4 4 4 4 4))))
          (local.set $f (f32x4.sub (local.get $d3) (f32x4.mul (local.get $d1) (v128.const f32x4 4 4 4 4))))
          (v128.store (local.get $q) (f32x4.add (local.get $e) (local.get $f)))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (v128.store (local.get $q) (f32x4.sub (local.get $e) (local.get $f)))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (local.set $e (f32x4.sub (local.get $d4) (local.get $d2)))
          (local.set $f (f32x4.sub (local.get $d3) (local.get $d1)))
          (local.set $f (f32x4.add (local.get $f) (local.get $f)))
          (v128.store (local.get $q) (f32x4.add (local.get $e) (local.get $f)))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (v128.store (local.get $q) (f32x4.sub (local.get $e) (local.get $f)))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (v128.store (local.get $q) (f32x4.add (local.get $d5)
            (f32x4.sub (f32x4.mul (local.get $d1) (v128.const f32x4 4 4 4 4)) (f32x4.mul (local.get $d3) (v128.const f32x4 5 5 5 5)))))
          (local.set $vrow (i32.add (local.get $vrow) (local.get $posStride)))
          (local.set $s (i32.add (local.get $s) (i32.const 16)))
          (local.set $i (i32.sub (local.get $i) (i32.const 1)))
          (br $nextCol)))
        (local.set $entry (i32.add (local.get $entry) (local.get $step4)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $nextG)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $nextC)))
  )

  ;; Y = A^T M A (+ bias) for `rows` output channels of `groups` groups of 4 tiles. M_xinu's row r
  ;; (output channel co0 + r), tiles 4 g .. 4 g + 3, is the vector at
  ;;   mm + (6 xi + nu) * posStride + (r * ldm + 4 g) * 4
  ;; Channel r of the output starts at y + r * planeBytes (y: channel co0 of image 0), a tile's
  ;; outputs at its table offset from there, rows rowBytes apart; only its rows and columns that
  ;; lie inside the output are stored. bias: bias[co0] (one float per channel), or 0 for none.
  ;; relu: 1 applies the ReLU that follows the convolution to Y before it is stored, 0 does not.
  ;; Scratch: 24 vectors (384 bytes) and 16 bytes more for an edge tile's row.
  (func (export "winograd4x4_output")
    (param $mm i32) (param $posStride i32) (param $ldm i32) (param $tiles i32) (param $groups i32)
    (param $rows i32) (param $y i32) (param $planeBytes i32) (param $rowBytes i32) (param $bias i32) (param $relu i32) (param $scratch i32)
    (local $r i32) (local $g i32) (local $entry i32) (local $i i32) (local $channel i32)
    (local $mrow i32) (local $q i32) (local $s i32) (local $stride6 i32) (local $edge i32)
    (local $o0 i32) (local $o1 i32) (local $o2 i32) (local $o3 i32)
    (local $rows0 i32) (local $rows1 i32) (local $rows2 i32) (local $rows3 i32)
    (local $cols0 i32) (local $cols1 i32) (local $cols2 i32) (local $cols3 i32)
    (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $m3 v128) (local $m4 v128) (local $m5 v128)
    (local $s12 v128) (local $d12 v128) (local $s34 v128) (local $d34 v128) (local $beta v128)
    (local $y0 v128) (local $y1 v128) (local $y2 v128) (local $y3 v128)
    (local.set $stride6 (i32.mul (local.get $posStride) (i32.const 6)))
    (local.set $edge (i32.add (local.get $scratch) (i32.const 384)))
    (local.set $r (i32.const 0))
    (block $doneR (loop $nextR
      (br_if $doneR (i32.ge_s (local.get $r) (local.get $rows)))
      (local.set $channel (i32.add (local.get $y) (i32.mul (local.get $r) (local.get $planeBytes))))
      (local.set $beta (v128.const i32x4 0 0 0 0))
      (if (local.get $bias)
        (then (local.set $beta (v128.load32_splat (i32.add (local.get $bias) (i32.shl (local.get $r) (i32.const 2)))))))
      (local.set $entry (local.get $tiles))
      (local.set $g (i32.const 0))
      (block $doneG (loop $nextG
        (br_if $doneG (i32.ge_s (local.get $g) (local.get $groups)))
        ;; Pass 1, down each of the 6 columns nu of M: (A^T M)[.][nu] into scratch + 16 nu + 96 i
        (local.set $mrow (i32.add (local.get $mm)
          (i32.shl (i32.add (i32.mul (local.get $r) (local.get $ldm)) (i32.shl (local.get $g) (i32.const 2))) (i32.const 2))))
        (local.set $s (local.get $scratch))
        (local.set $i (i32.const 6))
        (block $doneCols (loop $nextCol
          (br_if $doneCols (i32.eqz (local.get $i)))
          (local.set $q (local.get $mrow))
          (local.set $m0 (v128.load (local.get $q)))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (local.set $m1 (v128.load (local.get $q)))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (local.set $m2 (v128.load (local.get $q)))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (local.set $m3 (v128.load (local.get $q)))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (local.set $m4 (v128.load (local.get $q)))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (local.set $m5 (v128.load (local.get $q)))
          ;; A^T (m0 .. m5):
          ;;   y0 = m0 + (m1 + m2) + (m3 + m4)       y1 = (m1 - m2) + 2 (m3 - m4)
          ;;   y2 = (m1 + m2) + 4 (m3 + m4)          y3 = (m1 - m2) + 8 (m3 - m4) + m5
          (local.set $s12 (f32x4.add (local.get $m1) (local.get $m2)))
          (local.set $d12 (f32x4.sub (local.get $m1) (local.get $m2)))
          (local.set $s34 (f32x4.add (local.get $m3) (local.get $m4)))
          (local.set $d34 (f32x4.sub (local.get $m3) (local.get $m4)))
          (v128.store offset=0 (local.get $s) (f32x4.add (f32x4.add (local.get $m0) (local.get $s12)) (local.get $s34)))
          (v128.store offset=96 (local.get $s) (f32x4.add (local.get $d12) (f32x4.add (local.get $d34) (local.get $d34))))
          (v128.store offset=192 (local.get $s) (f32x4.add (local.get $s12) (f32x4.mul (local.get $s34) (v128.const f32x4 4 4 4 4))))
          (v128.store offset=288 (local.get $s)
            (f32x4.add (f32x4.add (local.get $d12) (f32x4.mul (local.get $d34) (v128.const f32x4 8 8 8 8))) (local.get $m5)))
          (local.set $mrow (i32.add (local.get $mrow) (local.get $posStride)))
          (local.set $s (i32.add (local.get $s) (i32.const 16)))
          (local.set $i (i32.sub (local.get $i) (i32.const 1)))
          (br $nextCol)))
        ;; the four tiles' outputs in this channel, and how much of each lies inside
        (local.set $o0 (i32.add (local.get $channel) (i32.load offset=4 (local.get $entry))))
        (local.set $o1 (i32.add (local.get $channel) (i32.load offset=20 (local.get $entry))))
        (local.set $o2 (i32.add (local.get $channel) (i32.load offset=36 (local.get $entry))))
        (local.set $o3 (i32.add (local.get $channel) (i32.load offset=52 (local.get $entry))))
        (local.set $rows0 (i32.load offset=8 (local.get $entry)))
        (local.set $rows1 (i32.load offset=24 (local.get $entry)))
        (local.set $rows2 (i32.load offset=40 (local.get $entry)))
        (local.set $rows3 (i32.load offset=56 (local.get $entry)))
        (local.set $cols0 (i32.load offset=12 (local.get $entry)))
        (local.set $cols1 (i32.load offset=28 (local.get $entry)))
        (local.set $cols2 (i32.load offset=44 (local.get $entry)))
        (local.set $cols3 (i32.load offset=60 (local.get $entry)))
        ;; Pass 2, along each of the 4 rows i: Y[i] = A^T (A^T M)[i] + bias, transposed into
        ;; each tile's row of 4 outputs
        (local.set $s (local.get $scratch))
        (local.set $i (i32.const 0))
        (block $doneRows (loop $nextRow
          (br_if $doneRows (i32.ge_s (local.get $i) (i32.const 4)))
          (local.set $m0 (v128.load offset=0 (local.get $s)))
          (local.set $m1 (v128.load offset=16 (local.get $s)))
          (local.set $m2 (v128.load offset=32 (local.get $s)))
          (local.set $m3 (v128.load offset=48 (local.get $s)))
          (local.set $m4 (v128.load offset=64 (local.get $s)))
          (local.set $m5 (v128.load offset=80 (local.get $s)))
          (local.set $s12 (f32x4.add (local.get $m1) (local.get $m2)))
          (local.set $d12 (f32x4.sub (local.get $m1) (local.get $m2)))
          (local.set $s34 (f32x4.add (local.get $m3) (local.get $m4)))
          (local.set $d34 (f32x4.sub (local.get $m3) (local.get $m4)))
          (local.set $y0 (f32x4.add (f32x4.add (f32x4.add (local.get $m0) (local.get $s12)) (local.get $s34)) (local.get $beta)))
          (local.set $y1 (f32x4.add (f32x4.add (local.get $d12) (f32x4.add (local.get $d34) (local.get $d34))) (local.get $beta)))
          (local.set $y2 (f32x4.add (f32x4.add (local.get $s12) (f32x4.mul (local.get $s34) (v128.const f32x4 4 4 4 4))) (local.get $beta)))
          (local.set $y3 (f32x4.add (f32x4.add (f32x4.add (local.get $d12)
            (f32x4.mul (local.get $d34) (v128.const f32x4 8 8 8 8))) (local.get $m5)) (local.get $beta)))
          ;; the ReLU that follows, where asked (relu.wat's y > 0 ? y : 0: a NaN gives 0, as there)
          (if (local.get $relu) (then
            (local.set $y0 (v128.and (local.get $y0) (f32x4.gt (local.get $y0) (v128.const f32x4 0 0 0 0))))
            (local.set $y1 (v128.and (local.get $y1) (f32x4.gt (local.get $y1) (v128.const f32x4 0 0 0 0))))
            (local.set $y2 (v128.and (local.get $y2) (f32x4.gt (local.get $y2) (v128.const f32x4 0 0 0 0))))
            (local.set $y3 (v128.and (local.get $y3) (f32x4.gt (local.get $y3) (v128.const f32x4 0 0 0 0))))))
          ;; transpose: tile l's row = lane l of y0 .. y3
          (local.set $m0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $y0) (local.get $y1)))
          (local.set $m1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $y0) (local.get $y1)))
          (local.set $m2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $y2) (local.get $y3)))
          (local.set $m3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $y2) (local.get $y3)))
          (local.set $y0 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $m0) (local.get $m2)))
          (local.set $y1 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $m0) (local.get $m2)))
          (local.set $y2 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $m1) (local.get $m3)))
          (local.set $y3 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $m1) (local.get $m3)))
          ;; a whole row is one store; at the right edge only the columns inside
          (if (i32.lt_s (local.get $i) (local.get $rows0))
            (then (if (i32.eq (local.get $cols0) (i32.const 4))
              (then (v128.store (local.get $o0) (local.get $y0)))
              (else (v128.store (local.get $edge) (local.get $y0)) (memory.copy (local.get $o0) (local.get $edge) (i32.shl (local.get $cols0) (i32.const 2)))))))
          (if (i32.lt_s (local.get $i) (local.get $rows1))
            (then (if (i32.eq (local.get $cols1) (i32.const 4))
              (then (v128.store (local.get $o1) (local.get $y1)))
              (else (v128.store (local.get $edge) (local.get $y1)) (memory.copy (local.get $o1) (local.get $edge) (i32.shl (local.get $cols1) (i32.const 2)))))))
          (if (i32.lt_s (local.get $i) (local.get $rows2))
            (then (if (i32.eq (local.get $cols2) (i32.const 4))
              (then (v128.store (local.get $o2) (local.get $y2)))
              (else (v128.store (local.get $edge) (local.get $y2)) (memory.copy (local.get $o2) (local.get $edge) (i32.shl (local.get $cols2) (i32.const 2)))))))
          (if (i32.lt_s (local.get $i) (local.get $rows3))
            (then (if (i32.eq (local.get $cols3) (i32.const 4))
              (then (v128.store (local.get $o3) (local.get $y3)))
              (else (v128.store (local.get $edge) (local.get $y3)) (memory.copy (local.get $o3) (local.get $edge) (i32.shl (local.get $cols3) (i32.const 2)))))))
          (local.set $o0 (i32.add (local.get $o0) (local.get $rowBytes)))
          (local.set $o1 (i32.add (local.get $o1) (local.get $rowBytes)))
          (local.set $o2 (i32.add (local.get $o2) (local.get $rowBytes)))
          (local.set $o3 (i32.add (local.get $o3) (local.get $rowBytes)))
          (local.set $s (i32.add (local.get $s) (i32.const 96)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $nextRow)))
        (local.set $entry (i32.add (local.get $entry) (i32.const 64)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $nextG)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $nextR)))
  )

  ;; The weight gradient's two transforms (winograd.ts: dW = G^T dU G with dU_xinu = sum over the
  ;; tiles of Yhat_xinu V_xinu, Yhat = A dY A^T the gradient of the 36 products, by the chain rule
  ;; through Y = A^T M A).
  ;;
  ;; Yhat = A dY A^T for `count` rows (tiles) by `groups` groups of 4 lanes (output channels), into
  ;; the GEMM's A panels (4 rows = 4 channels, `count` columns = tiles): tile r of panel g at
  ;;   a + (6 xi + nu) * posStride + g * count * 16 + r * 16
  ;; The 4 x 4 dY tile of (tile r, lane l of group g) starts at dy + outer[r] + inner[4 g + l] (i32
  ;; byte offsets, outerStep and innerStep bytes apart), rows rowBytes apart: dy is padded with
  ;; zeros to whole tiles, so a tile at the edge reads zeros where it has no outputs.
  ;;
  ;;   A = [ 1  0  0  0 ]      (A^T transposed: 4 values in, 6 out)
  ;;       [ 1  1  1  1 ]
  ;;       [ 1 -1  1 -1 ]
  ;;       [ 1  2  4  8 ]
  ;;       [ 1 -2  4 -8 ]
  ;;       [ 0  0  0  1 ]
  ;;
  ;; Scratch: 24 vectors (384 bytes).
  (func (export "winograd4x4_gradient")
    (param $dy i32) (param $rowBytes i32) (param $outer i32) (param $outerStep i32) (param $count i32)
    (param $inner i32) (param $innerStep i32) (param $groups i32) (param $a i32) (param $posStride i32) (param $scratch i32)
    (local $r i32) (local $g i32) (local $base i32) (local $entry i32) (local $i i32)
    (local $step2 i32) (local $step3 i32) (local $step4 i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local $s i32) (local $q i32) (local $arow i32) (local $panelBytes i32) (local $stride6 i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128) (local $e v128) (local $f v128)
    (local.set $panelBytes (i32.shl (local.get $count) (i32.const 4)))
    (local.set $stride6 (i32.mul (local.get $posStride) (i32.const 6)))
    (local.set $step2 (i32.shl (local.get $innerStep) (i32.const 1)))
    (local.set $step3 (i32.mul (local.get $innerStep) (i32.const 3)))
    (local.set $step4 (i32.shl (local.get $innerStep) (i32.const 2)))
    (local.set $r (i32.const 0))
    (block $doneR (loop $nextR
      (br_if $doneR (i32.ge_s (local.get $r) (local.get $count)))
      (local.set $base (i32.add (local.get $dy) (i32.load (local.get $outer))))
      (local.set $outer (i32.add (local.get $outer) (local.get $outerStep)))
      (local.set $entry (local.get $inner))
      (local.set $g (i32.const 0))
      (block $doneG (loop $nextG
        (br_if $doneG (i32.ge_s (local.get $g) (local.get $groups)))
        (local.set $p0 (i32.add (local.get $base) (i32.load (local.get $entry))))
        (local.set $p1 (i32.add (local.get $base) (i32.load (i32.add (local.get $entry) (local.get $innerStep)))))
        (local.set $p2 (i32.add (local.get $base) (i32.load (i32.add (local.get $entry) (local.get $step2)))))
        (local.set $p3 (i32.add (local.get $base) (i32.load (i32.add (local.get $entry) (local.get $step3)))))
        ;; Pass 1, along each of the 4 rows i of dY: (dY A^T)[i] = A dY[i] into scratch + 96 i.
        (local.set $s (local.get $scratch))
        (local.set $i (i32.const 4))
        (block $doneRows (loop $nextRow
          (br_if $doneRows (i32.eqz (local.get $i)))
          (local.set $a0 (v128.load (local.get $p0)))
          (local.set $a1 (v128.load (local.get $p1)))
          (local.set $a2 (v128.load (local.get $p2)))
          (local.set $a3 (v128.load (local.get $p3)))
          ;; transposed: d_j = (lane 0's float j, lane 1's, lane 2's, lane 3's)
          (local.set $d0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a0) (local.get $a1)))
          (local.set $d1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a0) (local.get $a1)))
          (local.set $d2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a2) (local.get $a3)))
          (local.set $d3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a2) (local.get $a3)))
          (local.set $a0 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $d0) (local.get $d2)))
          (local.set $a1 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $d0) (local.get $d2)))
          (local.set $a2 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $d1) (local.get $d3)))
          (local.set $a3 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $d1) (local.get $d3)))
          ;; A (d0 .. d3):
          ;;   t0 = d0,  t1 = (d0 + d2) + (d1 + d3),  t2 = (d0 + d2) - (d1 + d3)
          ;;   t3 = (d0 + 4 d2) + (2 d1 + 8 d3),  t4 = (d0 + 4 d2) - (2 d1 + 8 d3),  t5 = d3
          (v128.store offset=0 (local.get $s) (local.get $a0))
          (local.set $e (f32x4.add (local.get $a0) (local.get $a2)))
          (local.set $f (f32x4.add (local.get $a1) (local.get $a3)))
          (v128.store offset=16 (local.get $s) (f32x4.add (local.get $e) (local.get $f)))
          (v128.store offset=32 (local.get $s) (f32x4.sub (local.get $e) (local.get $f)))
          (local.set $e (f32x4.add (local.get $a0) (f32x4.mul (local.get $a2) (v128.const f32x4 4 4 4 4))))
          (local.set $f (f32x4.add (f32x4.add (local.get $a1) (local.get $a1)) (f32x4.mul (local.get $a3) (v128.const f32x4 8 8 8 8))))
          (v128.store offset=48 (local.get $s) (f32x4.add (local.get $e) (local.get $f)))
          (v128.store offset=64 (local.get $s) (f32x4.sub (local.get $e) (local.get $f)))
          (v128.store offset=80 (local.get $s) (local.get $a3))
          (local.set $s (i32.add (local.get $s) (i32.const 96)))
          (local.set $p0 (i32.add (local.get $p0) (local.get $rowBytes)))
          (local.set $p1 (i32.add (local.get $p1) (local.get $rowBytes)))
          (local.set $p2 (i32.add (local.get $p2) (local.get $rowBytes)))
          (local.set $p3 (i32.add (local.get $p3) (local.get $rowBytes)))
          (local.set $i (i32.sub (local.get $i) (i32.const 1)))
          (br $nextRow)))
        ;; Pass 2, down each of the 6 columns nu: Yhat[.][nu] = A (dY A^T)[.][nu], into Yhat_xinu (xi = 0..5)
        (local.set $arow (i32.add (local.get $a)
          (i32.add (i32.mul (local.get $g) (local.get $panelBytes)) (i32.shl (local.get $r) (i32.const 4)))))
        (local.set $s (local.get $scratch))
        (local.set $i (i32.const 6))
        (block $doneCols (loop $nextCol
          (br_if $doneCols (i32.eqz (local.get $i)))
          (local.set $d0 (v128.load offset=0 (local.get $s)))
          (local.set $d1 (v128.load offset=96 (local.get $s)))
          (local.set $d2 (v128.load offset=192 (local.get $s)))
          (local.set $d3 (v128.load offset=288 (local.get $s)))
          (local.set $q (local.get $arow))
          (v128.store (local.get $q) (local.get $d0))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (local.set $e (f32x4.add (local.get $d0) (local.get $d2)))
          (local.set $f (f32x4.add (local.get $d1) (local.get $d3)))
          (v128.store (local.get $q) (f32x4.add (local.get $e) (local.get $f)))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (v128.store (local.get $q) (f32x4.sub (local.get $e) (local.get $f)))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (local.set $e (f32x4.add (local.get $d0) (f32x4.mul (local.get $d2) (v128.const f32x4 4 4 4 4))))
          (local.set $f (f32x4.add (f32x4.add (local.get $d1) (local.get $d1)) (f32x4.mul (local.get $d3) (v128.const f32x4 8 8 8 8))))
          (v128.store (local.get $q) (f32x4.add (local.get $e) (local.get $f)))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (v128.store (local.get $q) (f32x4.sub (local.get $e) (local.get $f)))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (v128.store (local.get $q) (local.get $d3))
          (local.set $arow (i32.add (local.get $arow) (local.get $posStride)))
          (local.set $s (i32.add (local.get $s) (i32.const 16)))
          (local.set $i (i32.sub (local.get $i) (i32.const 1)))
          (br $nextCol)))
        (local.set $entry (i32.add (local.get $entry) (local.get $step4)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $nextG)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $nextR)))
  )

  ;; dW = G^T dU G for `rows` output channels by `cols` input channels, four input channels (the
  ;; lanes) at a time: dU_xinu's row r, columns 4 g .. 4 g + 3, is the vector at
  ;;   du + (6 xi + nu) * posStride + (r * ldu + 4 g) * 4        (the GEMMs' C, row-major)
  ;; and the 9 taps of (output channel r, input channel 4 g + l) go to dw + r * rowBytes +
  ;; (4 g + l) * 36 (dW's own layout: C_out x C_in x 3 x 3), for the input channels below cols.
  ;;
  ;;   G^T = [ 1/4  -1/6  -1/6  1/24   1/24  0 ]
  ;;         [  0   -1/6   1/6  1/12  -1/12  0 ]
  ;;         [  0   -1/6  -1/6   1/6    1/6  1 ]
  ;;
  ;; Scratch: 27 vectors (432 bytes).
  (func (export "winograd4x4_filter_gradient")
    (param $du i32) (param $posStride i32) (param $ldu i32) (param $rows i32) (param $cols i32)
    (param $dw i32) (param $rowBytes i32) (param $scratch i32)
    (local $r i32) (local $c i32) (local $i i32) (local $lanes i32)
    (local $durow i32) (local $q i32) (local $s i32) (local $out i32) (local $stride6 i32)
    (local $u0 v128) (local $u1 v128) (local $u2 v128) (local $u3 v128) (local $u4 v128) (local $u5 v128)
    (local $s12 v128) (local $d12 v128) (local $s34 v128) (local $d34 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $stride6 (i32.mul (local.get $posStride) (i32.const 6)))
    (local.set $r (i32.const 0))
    (block $doneR (loop $nextR
      (br_if $doneR (i32.ge_s (local.get $r) (local.get $rows)))
      (local.set $c (i32.const 0))
      (block $doneC (loop $nextC
        (br_if $doneC (i32.ge_s (local.get $c) (local.get $cols)))
        (local.set $durow (i32.add (local.get $du) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $ldu)) (local.get $c)) (i32.const 2))))
        ;; Pass 1, down each of the 6 columns nu of dU: (G^T dU)[k][nu] (k = 0..2) into scratch + 96 k + 16 nu
        (local.set $s (local.get $scratch))
        (local.set $i (i32.const 6))
        (block $doneCols (loop $nextCol
          (br_if $doneCols (i32.eqz (local.get $i)))
          (local.set $q (local.get $durow))
          (local.set $u0 (v128.load (local.get $q)))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (local.set $u1 (v128.load (local.get $q)))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (local.set $u2 (v128.load (local.get $q)))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (local.set $u3 (v128.load (local.get $q)))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (local.set $u4 (v128.load (local.get $q)))
          (local.set $q (i32.add (local.get $q) (local.get $stride6)))
          (local.set $u5 (v128.load (local.get $q)))
          ;; G^T (u0 .. u5), with s12 = u1 + u2, d12 = u1 - u2, s34 = u3 + u4, d34 = u3 - u4:
          ;;   r0 = u0/4 - s12/6 + s34/24,  r1 = -d12/6 + d34/12,  r2 = -s12/6 + s34/6 + u5
          (local.set $s12 (f32x4.add (local.get $u1) (local.get $u2)))
          (local.set $d12 (f32x4.sub (local.get $u1) (local.get $u2)))
          (local.set $s34 (f32x4.add (local.get $u3) (local.get $u4)))
          (local.set $d34 (f32x4.sub (local.get $u3) (local.get $u4)))
          (v128.store offset=0 (local.get $s) (f32x4.add (f32x4.add
            (f32x4.mul (local.get $u0) (v128.const f32x4 0.25 0.25 0.25 0.25))
            (f32x4.mul (local.get $s12) (v128.const f32x4 -0.16666666666666666 -0.16666666666666666 -0.16666666666666666 -0.16666666666666666)))
            (f32x4.mul (local.get $s34) (v128.const f32x4 0.041666666666666664 0.041666666666666664 0.041666666666666664 0.041666666666666664))))
          (v128.store offset=96 (local.get $s) (f32x4.add
            (f32x4.mul (local.get $d12) (v128.const f32x4 -0.16666666666666666 -0.16666666666666666 -0.16666666666666666 -0.16666666666666666))
            (f32x4.mul (local.get $d34) (v128.const f32x4 0.08333333333333333 0.08333333333333333 0.08333333333333333 0.08333333333333333))))
          (v128.store offset=192 (local.get $s) (f32x4.add
            (f32x4.mul (f32x4.sub (local.get $s34) (local.get $s12)) (v128.const f32x4 0.16666666666666666 0.16666666666666666 0.16666666666666666 0.16666666666666666))
            (local.get $u5)))
          (local.set $durow (i32.add (local.get $durow) (local.get $posStride)))
          (local.set $s (i32.add (local.get $s) (i32.const 16)))
          (local.set $i (i32.sub (local.get $i) (i32.const 1)))
          (br $nextCol)))
        ;; Pass 2, along each of the 3 rows k: taps (k, 0..2) = G^T (G^T dU)[k], at scratch + 288 + 16 (3 k + j)
        (local.set $s (local.get $scratch))
        (local.set $q (i32.add (local.get $scratch) (i32.const 288)))
        (local.set $i (i32.const 3))
        (block $doneRows (loop $nextRow
          (br_if $doneRows (i32.eqz (local.get $i)))
          (local.set $u0 (v128.load offset=0 (local.get $s)))
          (local.set $u1 (v128.load offset=16 (local.get $s)))
          (local.set $u2 (v128.load offset=32 (local.get $s)))
          (local.set $u3 (v128.load offset=48 (local.get $s)))
          (local.set $u4 (v128.load offset=64 (local.get $s)))
          (local.set $u5 (v128.load offset=80 (local.get $s)))
          (local.set $s12 (f32x4.add (local.get $u1) (local.get $u2)))
          (local.set $d12 (f32x4.sub (local.get $u1) (local.get $u2)))
          (local.set $s34 (f32x4.add (local.get $u3) (local.get $u4)))
          (local.set $d34 (f32x4.sub (local.get $u3) (local.get $u4)))
          (v128.store offset=0 (local.get $q) (f32x4.add (f32x4.add
            (f32x4.mul (local.get $u0) (v128.const f32x4 0.25 0.25 0.25 0.25))
            (f32x4.mul (local.get $s12) (v128.const f32x4 -0.16666666666666666 -0.16666666666666666 -0.16666666666666666 -0.16666666666666666)))
            (f32x4.mul (local.get $s34) (v128.const f32x4 0.041666666666666664 0.041666666666666664 0.041666666666666664 0.041666666666666664))))
          (v128.store offset=16 (local.get $q) (f32x4.add
            (f32x4.mul (local.get $d12) (v128.const f32x4 -0.16666666666666666 -0.16666666666666666 -0.16666666666666666 -0.16666666666666666))
            (f32x4.mul (local.get $d34) (v128.const f32x4 0.08333333333333333 0.08333333333333333 0.08333333333333333 0.08333333333333333))))
          (v128.store offset=32 (local.get $q) (f32x4.add
            (f32x4.mul (f32x4.sub (local.get $s34) (local.get $s12)) (v128.const f32x4 0.16666666666666666 0.16666666666666666 0.16666666666666666 0.16666666666666666))
            (local.get $u5)))
          (local.set $s (i32.add (local.get $s) (i32.const 96)))
          (local.set $q (i32.add (local.get $q) (i32.const 48)))
          (local.set $i (i32.sub (local.get $i) (i32.const 1)))
          (br $nextRow)))
        (call $store_taps (i32.add (local.get $scratch) (i32.const 288))
          (i32.add (i32.add (local.get $dw) (i32.mul (local.get $r) (local.get $rowBytes))) (i32.mul (local.get $c) (i32.const 36)))
          (i32.sub (local.get $cols) (local.get $c)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $nextC)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $nextR)))
  )

  ;; The 9 tap vectors at taps (lane l = an input channel) as each lane's 9 floats at out + 36 l,
  ;; for the first min(lanes, 4) lanes: taps 0-3 and 4-7 by 4 x 4 transposes, tap 8 lane by lane.
  ;; (A call per 4 x 9 outputs of the weight gradient: rare next to its GEMMs.)
  (func $store_taps (param $taps i32) (param $out i32) (param $lanes i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128) (local $t8 v128)
    (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (v128.load offset=0 (local.get $taps)) (v128.load offset=16 (local.get $taps))))
    (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (v128.load offset=0 (local.get $taps)) (v128.load offset=16 (local.get $taps))))
    (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (v128.load offset=32 (local.get $taps)) (v128.load offset=48 (local.get $taps))))
    (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (v128.load offset=32 (local.get $taps)) (v128.load offset=48 (local.get $taps))))
    (local.set $a0 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
    (local.set $a1 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
    (local.set $a2 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
    (local.set $a3 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
    (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (v128.load offset=64 (local.get $taps)) (v128.load offset=80 (local.get $taps))))
    (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (v128.load offset=64 (local.get $taps)) (v128.load offset=80 (local.get $taps))))
    (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (v128.load offset=96 (local.get $taps)) (v128.load offset=112 (local.get $taps))))
    (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (v128.load offset=96 (local.get $taps)) (v128.load offset=112 (local.get $taps))))
    (local.set $b0 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
    (local.set $b1 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
    (local.set $b2 (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
    (local.set $b3 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
    (local.set $t8 (v128.load offset=128 (local.get $taps)))
    (v128.store offset=0 (local.get $out) (local.get $a0))
    (v128.store offset=16 (local.get $out) (local.get $b0))
    (f32.store offset=32 (local.get $out) (f32x4.extract_lane 0 (local.get $t8)))
    (if (i32.gt_s (local.get $lanes) (i32.const 1)) (then
      (v128.store offset=36 (local.get $out) (local.get $a1))
      (v128.store offset=52 (local.get $out) (local.get $b1))
      (f32.store offset=68 (local.get $out) (f32x4.extract_lane 1 (local.get $t8)))))
    (if (i32.gt_s (local.get $lanes) (i32.const 2)) (then
      (v128.store offset=72 (local.get $out) (local.get $a2))
      (v128.store offset=88 (local.get $out) (local.get $b2))
      (f32.store offset=104 (local.get $out) (f32x4.extract_lane 2 (local.get $t8)))))
    (if (i32.gt_s (local.get $lanes) (i32.const 3)) (then
      (v128.store offset=108 (local.get $out) (local.get $a3))
      (v128.store offset=124 (local.get $out) (local.get $b3))
      (f32.store offset=140 (local.get $out) (f32x4.extract_lane 3 (local.get $t8)))))
  )
)
