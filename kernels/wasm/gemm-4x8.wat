;; f32 GEMM macro-kernel with a 4x8 register tile, WebAssembly SIMD.
;;
;; A template of two micro-kernels: (MADD a b c) stands for a * b + c, lane by lane, and
;; scripts/build-wasm.js writes it out twice: gemm-4x8-simd.wasm with f32x4.mul then f32x4.add
;; (SIMD128, two roundings) and gemm-4x8-relaxed.wasm with f32x4.relaxed_madd (relaxed SIMD: one
;; fused multiply-add per lane on x86 with FMA, one rounding). The runtime picks the second where
;; the engine validates it (kernels/wasm/runtime.ts, pickMicroKernel).
;;
;;   C (mc x nc, row-major, row stride ldc floats) += A (mc x kc) * B (kc x nc)
;;
;; A and B arrive packed (kernels/wasm/pack.wat packs them), zero-padded to whole tiles:
;;   A: ceil(mc / 4) panels, each kc x 4 floats: for every k, the 4 values of one column
;;   B: ceil(nc / 8) panels, each kc x 8 floats: for every k, the 8 values of one row
;; so the inner loop reads both strictly forwards and has no edge cases. Edge tiles of C (fewer
;; than 4 rows or 8 columns left) go through a 32-float scratch tile at $tmp.
;;
;; A second entry point, gemm_rows, reads B in place instead of packed: row k of B is the floats
;; from x + rowsAt[k] on (rowsAt: kc byte offsets). A stride-1 convolution's im2col matrix is of
;; that form once x is zero-padded (kernels/wasm/conv.ts, the 'implicit' method): row (ci, ky, kx)
;; is x_padded[ci] shifted by (ky, kx), read along the padded rows. That saves packing it, which
;; costs as much as the multiply where the convolution has few output channels. An edge tile
;; still computes 8 columns (reading up to 7 floats past column nc) and keeps those that exist.
;;
;; Why 4 x 8 (XNNPACK's f32-gemm-4x8-wasmsimd "loadsplat" shape): x86-64 has 16 vector registers;
;; the tile takes 8 (4 rows x 2 f32x4), B's row 2, A's splatted value 1, leaving room so V8
;; spills nothing. Per step of k: 2 loads of B, 4 load-and-splats of A, 8 multiplies, 8 adds:
;; 64 FLOPs. The shape was chosen by measurement: bench/microkernel.bench.ts (`npm run
;; bench:microkernel`) writes each candidate out, checks it, and times it on one thread on packed
;; operands in cache (128 x 256 times 256 x 256). On this machine, one other process busy on the
;; second core, median of 5 runs interleaved, GFLOP/s (share of the one-thread SIMD peak):
;;                  relaxed        plain
;;   4 x 8          45.8 (87%)     35.5 (83%)
;;   4 x 8, k/2     24.5           28.5         (k unrolled by 2)
;;   5 x 8          18.8 / 28.0    19.5 / 26.4  (k/1 / k/2)
;;   6 x 8          22.1 / 28.4    23.5 / 25.4
;;   8 x 8          22.7 / 28.5    21.0 / 14.2
;;   4 x 12         23.2 / 29.3    22.8 / 27.2
;; Every other candidate loses a fifth or more. The likely cause, not examined in V8's code:
;; with more live vectors than 4 x 8's 11, its register allocator spills to the stack.
;; An earlier session's run (96 x 256 x 256, best of 7) ranked them the same.


(module
  (import "env" "memory" (memory 1 65536 shared))

  (func (export "gemm")
    (param $mc i32) (param $nc i32) (param $kc i32)
    (param $a i32) (param $b i32) (param $c i32) (param $ldc i32) (param $tmp i32)
    (local $i i32) (local $j i32) (local $k i32) (local $ap i32) (local $bp i32) (local $cp i32)
    (local $rows i32) (local $cols i32) (local $ldcBytes i32)
    (local $c0l v128) (local $c0h v128) (local $c1l v128) (local $c1h v128)
    (local $c2l v128) (local $c2h v128) (local $c3l v128) (local $c3h v128)
    (local $bl v128) (local $bh v128) (local $av v128)
    (local.set $ldcBytes (i32.shl (local.get $ldc) (i32.const 2)))
    ;; B panels outside, A panels inside: one B panel (kc x 8) stays in L1 while every A panel passes.
    (local.set $j (i32.const 0))
    (block $doneJ (loop $nextJ
      (br_if $doneJ (i32.ge_s (local.get $j) (local.get $nc)))
      (local.set $i (i32.const 0))
      (block $doneI (loop $nextI
        (br_if $doneI (i32.ge_s (local.get $i) (local.get $mc)))
        ;; the tile's panels: A panel i/4 starts at a + (i/4) * kc * 16 bytes = a + i * kc * 4
        (local.set $ap (i32.add (local.get $a) (i32.mul (local.get $i) (i32.shl (local.get $kc) (i32.const 2)))))
        (local.set $bp (i32.add (local.get $b) (i32.mul (local.get $j) (i32.shl (local.get $kc) (i32.const 2)))))
        (local.set $c0l (v128.const i32x4 0 0 0 0)) (local.set $c0h (v128.const i32x4 0 0 0 0))
        (local.set $c1l (v128.const i32x4 0 0 0 0)) (local.set $c1h (v128.const i32x4 0 0 0 0))
        (local.set $c2l (v128.const i32x4 0 0 0 0)) (local.set $c2h (v128.const i32x4 0 0 0 0))
        (local.set $c3l (v128.const i32x4 0 0 0 0)) (local.set $c3h (v128.const i32x4 0 0 0 0))
        (local.set $k (local.get $kc))
        (block $doneK (loop $nextK
          (br_if $doneK (i32.eqz (local.get $k)))
          ;; row k of the B panel: 8 floats
          (local.set $bl (v128.load offset=0 (local.get $bp)))
          (local.set $bh (v128.load offset=16 (local.get $bp)))
          ;; column k of the A panel, one value at a time, broadcast to all 4 lanes
          (local.set $av (v128.load32_splat offset=0 (local.get $ap)))
          (local.set $c0l (MADD (local.get $av) (local.get $bl) (local.get $c0l)))
          (local.set $c0h (MADD (local.get $av) (local.get $bh) (local.get $c0h)))
          (local.set $av (v128.load32_splat offset=4 (local.get $ap)))
          (local.set $c1l (MADD (local.get $av) (local.get $bl) (local.get $c1l)))
          (local.set $c1h (MADD (local.get $av) (local.get $bh) (local.get $c1h)))
          (local.set $av (v128.load32_splat offset=8 (local.get $ap)))
          (local.set $c2l (MADD (local.get $av) (local.get $bl) (local.get $c2l)))
          (local.set $c2h (MADD (local.get $av) (local.get $bh) (local.get $c2h)))
          (local.set $av (v128.load32_splat offset=12 (local.get $ap)))
          (local.set $c3l (MADD (local.get $av) (local.get $bl) (local.get $c3l)))
          (local.set $c3h (MADD (local.get $av) (local.get $bh) (local.get $c3h)))
          (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
          (local.set $bp (i32.add (local.get $bp) (i32.const 32)))
          (local.set $k (i32.sub (local.get $k) (i32.const 1)))
          (br $nextK)))
        ;; C tile += accumulators
        (local.set $cp (i32.add (local.get $c)
          (i32.shl (i32.add (i32.mul (local.get $i) (local.get $ldc)) (local.get $j)) (i32.const 2))))
        (local.set $rows (i32.sub (local.get $mc) (local.get $i)))
        (local.set $cols (i32.sub (local.get $nc) (local.get $j)))
        (if (i32.and (i32.ge_s (local.get $rows) (i32.const 4)) (i32.ge_s (local.get $cols) (i32.const 8)))
          (then
            (v128.store offset=0 (local.get $cp) (f32x4.add (v128.load offset=0 (local.get $cp)) (local.get $c0l)))
            (v128.store offset=16 (local.get $cp) (f32x4.add (v128.load offset=16 (local.get $cp)) (local.get $c0h)))
            (local.set $cp (i32.add (local.get $cp) (local.get $ldcBytes)))
            (v128.store offset=0 (local.get $cp) (f32x4.add (v128.load offset=0 (local.get $cp)) (local.get $c1l)))
            (v128.store offset=16 (local.get $cp) (f32x4.add (v128.load offset=16 (local.get $cp)) (local.get $c1h)))
            (local.set $cp (i32.add (local.get $cp) (local.get $ldcBytes)))
            (v128.store offset=0 (local.get $cp) (f32x4.add (v128.load offset=0 (local.get $cp)) (local.get $c2l)))
            (v128.store offset=16 (local.get $cp) (f32x4.add (v128.load offset=16 (local.get $cp)) (local.get $c2h)))
            (local.set $cp (i32.add (local.get $cp) (local.get $ldcBytes)))
            (v128.store offset=0 (local.get $cp) (f32x4.add (v128.load offset=0 (local.get $cp)) (local.get $c3l)))
            (v128.store offset=16 (local.get $cp) (f32x4.add (v128.load offset=16 (local.get $cp)) (local.get $c3h))))
          (else
            ;; an edge tile: park it at tmp (4 x 8), then add only the rows and columns that exist
            (v128.store offset=0 (local.get $tmp) (local.get $c0l)) (v128.store offset=16 (local.get $tmp) (local.get $c0h))
            (v128.store offset=32 (local.get $tmp) (local.get $c1l)) (v128.store offset=48 (local.get $tmp) (local.get $c1h))
            (v128.store offset=64 (local.get $tmp) (local.get $c2l)) (v128.store offset=80 (local.get $tmp) (local.get $c2h))
            (v128.store offset=96 (local.get $tmp) (local.get $c3l)) (v128.store offset=112 (local.get $tmp) (local.get $c3h))
            (call $add_edge_tile (local.get $cp) (local.get $ldcBytes) (local.get $rows) (local.get $cols) (local.get $tmp))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $nextI)))
      (local.set $j (i32.add (local.get $j) (i32.const 8)))
      (br $nextJ)))
  )

  ;; C (mc x nc) += A (mc x kc, packed as for gemm) * B, B(k, j) = x[rowsAt[k] / 4 + j]: see the top.
  (func (export "gemm_rows")
    (param $mc i32) (param $nc i32) (param $kc i32)
    (param $a i32) (param $x i32) (param $rowsAt i32) (param $c i32) (param $ldc i32) (param $tmp i32)
    (local $xb i32) (local $rp i32) (local $i i32) (local $j i32) (local $k i32) (local $ap i32) (local $bp i32) (local $cp i32)
    (local $rows i32) (local $cols i32) (local $ldcBytes i32)
    (local $c0l v128) (local $c0h v128) (local $c1l v128) (local $c1h v128)
    (local $c2l v128) (local $c2h v128) (local $c3l v128) (local $c3h v128)
    (local $bl v128) (local $bh v128) (local $av v128)
    (local.set $ldcBytes (i32.shl (local.get $ldc) (i32.const 2)))
    ;; B's column blocks outside, A panels inside, as in gemm: the kc rows' 8 floats stay in L1.
    (local.set $j (i32.const 0))
    (block $doneJ (loop $nextJ
      (br_if $doneJ (i32.ge_s (local.get $j) (local.get $nc)))
      (local.set $i (i32.const 0))
      (block $doneI (loop $nextI
        (br_if $doneI (i32.ge_s (local.get $i) (local.get $mc)))
        ;; the tile's A panel (as in gemm), and B's columns j.. from x + j * 4 on
        (local.set $ap (i32.add (local.get $a) (i32.mul (local.get $i) (i32.shl (local.get $kc) (i32.const 2)))))
        (local.set $xb (i32.add (local.get $x) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $rp (local.get $rowsAt))
        (local.set $c0l (v128.const i32x4 0 0 0 0)) (local.set $c0h (v128.const i32x4 0 0 0 0))
        (local.set $c1l (v128.const i32x4 0 0 0 0)) (local.set $c1h (v128.const i32x4 0 0 0 0))
        (local.set $c2l (v128.const i32x4 0 0 0 0)) (local.set $c2h (v128.const i32x4 0 0 0 0))
        (local.set $c3l (v128.const i32x4 0 0 0 0)) (local.set $c3h (v128.const i32x4 0 0 0 0))
        (local.set $k (local.get $kc))
        (block $doneK (loop $nextK
          (br_if $doneK (i32.eqz (local.get $k)))
          ;; row k of B, columns j .. j + 7: 8 floats from x + rowsAt[k] + j * 4
          (local.set $bp (i32.add (local.get $xb) (i32.load (local.get $rp))))
          (local.set $bl (v128.load offset=0 (local.get $bp)))
          (local.set $bh (v128.load offset=16 (local.get $bp)))
          ;; column k of the A panel, one value at a time, broadcast to all 4 lanes
          (local.set $av (v128.load32_splat offset=0 (local.get $ap)))
          (local.set $c0l (MADD (local.get $av) (local.get $bl) (local.get $c0l)))
          (local.set $c0h (MADD (local.get $av) (local.get $bh) (local.get $c0h)))
          (local.set $av (v128.load32_splat offset=4 (local.get $ap)))
          (local.set $c1l (MADD (local.get $av) (local.get $bl) (local.get $c1l)))
          (local.set $c1h (MADD (local.get $av) (local.get $bh) (local.get $c1h)))
          (local.set $av (v128.load32_splat offset=8 (local.get $ap)))
          (local.set $c2l (MADD (local.get $av) (local.get $bl) (local.get $c2l)))
          (local.set $c2h (MADD (local.get $av) (local.get $bh) (local.get $c2h)))
          (local.set $av (v128.load32_splat offset=12 (local.get $ap)))
          (local.set $c3l (MADD (local.get $av) (local.get $bl) (local.get $c3l)))
          (local.set $c3h (MADD (local.get $av) (local.get $bh) (local.get $c3h)))
          (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
          (local.set $rp (i32.add (local.get $rp) (i32.const 4)))
          (local.set $k (i32.sub (local.get $k) (i32.const 1)))
          (br $nextK)))
        ;; C tile += accumulators
        (local.set $cp (i32.add (local.get $c)
          (i32.shl (i32.add (i32.mul (local.get $i) (local.get $ldc)) (local.get $j)) (i32.const 2))))
        (local.set $rows (i32.sub (local.get $mc) (local.get $i)))
        (local.set $cols (i32.sub (local.get $nc) (local.get $j)))
        (if (i32.and (i32.ge_s (local.get $rows) (i32.const 4)) (i32.ge_s (local.get $cols) (i32.const 8)))
          (then
            (v128.store offset=0 (local.get $cp) (f32x4.add (v128.load offset=0 (local.get $cp)) (local.get $c0l)))
            (v128.store offset=16 (local.get $cp) (f32x4.add (v128.load offset=16 (local.get $cp)) (local.get $c0h)))
            (local.set $cp (i32.add (local.get $cp) (local.get $ldcBytes)))
            (v128.store offset=0 (local.get $cp) (f32x4.add (v128.load offset=0 (local.get $cp)) (local.get $c1l)))
            (v128.store offset=16 (local.get $cp) (f32x4.add (v128.load offset=16 (local.get $cp)) (local.get $c1h)))
            (local.set $cp (i32.add (local.get $cp) (local.get $ldcBytes)))
            (v128.store offset=0 (local.get $cp) (f32x4.add (v128.load offset=0 (local.get $cp)) (local.get $c2l)))
            (v128.store offset=16 (local.get $cp) (f32x4.add (v128.load offset=16 (local.get $cp)) (local.get $c2h)))
            (local.set $cp (i32.add (local.get $cp) (local.get $ldcBytes)))
            (v128.store offset=0 (local.get $cp) (f32x4.add (v128.load offset=0 (local.get $cp)) (local.get $c3l)))
            (v128.store offset=16 (local.get $cp) (f32x4.add (v128.load offset=16 (local.get $cp)) (local.get $c3h))))
          (else
            ;; an edge tile: park it at tmp (4 x 8), then add only the rows and columns that exist
            (v128.store offset=0 (local.get $tmp) (local.get $c0l)) (v128.store offset=16 (local.get $tmp) (local.get $c0h))
            (v128.store offset=32 (local.get $tmp) (local.get $c1l)) (v128.store offset=48 (local.get $tmp) (local.get $c1h))
            (v128.store offset=64 (local.get $tmp) (local.get $c2l)) (v128.store offset=80 (local.get $tmp) (local.get $c2h))
            (v128.store offset=96 (local.get $tmp) (local.get $c3l)) (v128.store offset=112 (local.get $tmp) (local.get $c3h))
            (call $add_edge_tile (local.get $cp) (local.get $ldcBytes) (local.get $rows) (local.get $cols) (local.get $tmp))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $nextI)))
      (local.set $j (i32.add (local.get $j) (i32.const 8)))
      (br $nextJ)))
  )

  ;; C += the first min(rows, 4) x min(cols, 8) of the 4 x 8 tile at tmp, element (r, s) of C at
  ;; cp + r * rowBytes + s * 4.
  (func $add_edge_tile (param $cp i32) (param $rowBytes i32) (param $rows i32) (param $cols i32) (param $tmp i32)
    (local $r i32) (local $s i32) (local $at i32)
    (if (i32.gt_s (local.get $rows) (i32.const 4)) (then (local.set $rows (i32.const 4))))
    (if (i32.gt_s (local.get $cols) (i32.const 8)) (then (local.set $cols (i32.const 8))))
    (local.set $r (i32.const 0))
    (block $doneR (loop $nextR
      (br_if $doneR (i32.ge_s (local.get $r) (local.get $rows)))
      (local.set $s (i32.const 0))
      (block $doneS (loop $nextS
        (br_if $doneS (i32.ge_s (local.get $s) (local.get $cols)))
        (local.set $at (i32.add (local.get $cp)
          (i32.add (i32.mul (local.get $r) (local.get $rowBytes)) (i32.shl (local.get $s) (i32.const 2)))))
        (f32.store (local.get $at)
          (f32.add
            (f32.load (local.get $at))
            (f32.load (i32.add (local.get $tmp) (i32.shl (i32.add (i32.shl (local.get $r) (i32.const 3)) (local.get $s)) (i32.const 2))))))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $nextS)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $nextR)))
  )

)
