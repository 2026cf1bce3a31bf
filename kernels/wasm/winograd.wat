;; What the three Winograd modules (winograd-2x2.wat, winograd-4x4.wat, winograd-6x6.wat) share:
;; the table of a task's tiles. kernels/wasm/winograd.ts has the whole plan; this is its one
;; piece of integer bookkeeping, done here so that a task needs no view of the memory in JavaScript.
;;
;; A convolution's output is cut into m x m tiles (m = 2, 4 or 6), numbered over the whole batch:
;;   tile t = (n, ty, tx), t = (n * tilesH + ty) * tilesW + tx
;; and a task takes a run of them [t0, t0 + count), which may cross rows and images: small maps
;; (5 x 5 has 4 tiles of 4 x 4) still fill the GEMM's 8-column panels when the batch is large.
;; The transforms read the tiles four at a time, one per vector lane, each from its own address,
;; which this table holds, 16 bytes per tile:
;;   +0   input offset: bytes from the padded input's channel 0 of image 0 to the tile's top-left
;;        (the (m + 2) x (m + 2) input tile starts there: the padded input has the convolution's
;;        zero padding at the top and left, so tile (ty, tx) starts at row ty * m, column tx * m)
;;   +4   output offset: bytes from y's channel 0 of image 0 to the tile's top-left output
;;   +8   rows of the tile inside the output: m, or fewer at the bottom edge
;;   +12  columns inside the output: m, or fewer at the right edge
;; The table is padded to `padded` tiles (a multiple of 8: whole GEMM panels). The padding
;; entries repeat the last tile's input offset, so that its columns of V hold finite values (they
;; are computed and multiplied like the others, then dropped), and have 0 rows: nothing is stored.
;; (The weight gradient reads dy, padded to whole tiles, through the output offsets: winograd.ts
;; passes its padded planes' sizes as outImageBytes and outRowBytes.)
;;
;; And the channels' offsets, the other table the transforms read (winograd_channels).

(module
  (import "env" "memory" (memory 1 65536 shared))

  (func (export "winograd_tiles")
    (param $table i32) (param $t0 i32) (param $count i32) (param $padded i32) (param $m i32)
    (param $tilesW i32) (param $tilesPerImage i32) (param $inImageBytes i32) (param $inRowBytes i32)
    (param $outImageBytes i32) (param $outRowBytes i32) (param $outH i32) (param $outW i32)
    (local $j i32) (local $t i32) (local $n i32) (local $within i32) (local $oy i32) (local $ox i32)
    (local $rows i32) (local $cols i32) (local $entry i32) (local $inOffset i32)
    (local.set $entry (local.get $table))
    (local.set $j (i32.const 0))
    (block $doneTiles (loop $nextTile
      (br_if $doneTiles (i32.ge_s (local.get $j) (local.get $padded)))
      (if (i32.lt_s (local.get $j) (local.get $count))
        (then
          (local.set $t (i32.add (local.get $t0) (local.get $j)))
          (local.set $n (i32.div_u (local.get $t) (local.get $tilesPerImage)))
          (local.set $within (i32.rem_u (local.get $t) (local.get $tilesPerImage)))
          ;; the tile's first output row and column
          (local.set $oy (i32.mul (i32.div_u (local.get $within) (local.get $tilesW)) (local.get $m)))
          (local.set $ox (i32.mul (i32.rem_u (local.get $within) (local.get $tilesW)) (local.get $m)))
          (local.set $inOffset (i32.add (i32.mul (local.get $n) (local.get $inImageBytes))
            (i32.add (i32.mul (local.get $oy) (local.get $inRowBytes)) (i32.shl (local.get $ox) (i32.const 2)))))
          (local.set $rows (i32.sub (local.get $outH) (local.get $oy)))
          (if (i32.gt_s (local.get $rows) (local.get $m)) (then (local.set $rows (local.get $m))))
          (local.set $cols (i32.sub (local.get $outW) (local.get $ox)))
          (if (i32.gt_s (local.get $cols) (local.get $m)) (then (local.set $cols (local.get $m))))
          (i32.store offset=0 (local.get $entry) (local.get $inOffset))
          (i32.store offset=4 (local.get $entry) (i32.add (i32.mul (local.get $n) (local.get $outImageBytes))
            (i32.add (i32.mul (local.get $oy) (local.get $outRowBytes)) (i32.shl (local.get $ox) (i32.const 2)))))
          (i32.store offset=8 (local.get $entry) (local.get $rows))
          (i32.store offset=12 (local.get $entry) (local.get $cols)))
        (else
          ;; padding: the last tile's input again, no output
          (i32.store offset=0 (local.get $entry) (local.get $inOffset))
          (i32.store offset=4 (local.get $entry) (i32.const 0))
          (i32.store offset=8 (local.get $entry) (i32.const 0))
          (i32.store offset=12 (local.get $entry) (i32.const 0))))
      (local.set $entry (i32.add (local.get $entry) (i32.const 16)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $nextTile)))
  )

  ;; The byte offsets of `count` channels `stride` bytes apart, as i32 at table: table[c] = c *
  ;; stride, the last one repeated up to `padded` entries (a last group of 4 lanes reads a real
  ;; channel in its spare lanes: finite values, computed and dropped).
  (func (export "winograd_channels") (param $table i32) (param $count i32) (param $padded i32) (param $stride i32)
    (local $c i32) (local $offset i32)
    (local.set $c (i32.const 0))
    (block $done (loop $next
      (br_if $done (i32.ge_s (local.get $c) (local.get $padded)))
      (if (i32.lt_s (local.get $c) (local.get $count))
        (then (local.set $offset (i32.mul (local.get $c) (local.get $stride)))))
      (i32.store (i32.add (local.get $table) (i32.shl (local.get $c) (i32.const 2))) (local.get $offset))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $next)))
  )
)
