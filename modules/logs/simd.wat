;; The search core of logs, in WebAssembly with simd128 (16 bytes per
;; instruction). Go's wasm port has no SIMD (its IndexByte is a scalar
;; loop) and Go cannot link code of another language, so these functions
;; are imported by simd_wasip1.go (module "logs_simd") and link.sh puts
;; them into the Go module in place of the imports: the imports resolve
;; to code inside logs.wasm, and the worker is asked for nothing new.
;;
;; The functions work on the Go module's own memory (memory 0), on the
;; bytes [p, p+n) of a Go slice that the caller passes; they use no memory
;; of their own, no globals and no stack, so they cannot disturb Go's
;; runtime. Each reads only inside the range it is given: the vector loops
;; run while 16 (or 64) bytes are left, and a byte loop does the rest.
;; simd_other.go is the same in plain Go, for the tests on the host; the
;; tests run against both (see README.md, "Building and testing").
;;
;; The names are those wasm2wat --generate-names gives the imports.

  ;; index_byte returns the index of the first byte c in [p, p+n), or -1.
  (func $logs_simd.index_byte (param $p i32) (param $n i32) (param $c i32) (result i32)
    (local $i i32) (local $v v128) (local $a i32) (local $m i32)
    (local.set $v (i8x16.splat (local.get $c)))
    ;; 64 bytes a round while none of them is c.
    (block $found
      (loop $l64
        (br_if $found (i32.gt_u (i32.add (local.get $i) (i32.const 64)) (local.get $n)))
        (local.set $a (i32.add (local.get $p) (local.get $i)))
        (br_if $found
          (v128.any_true
            (v128.or
              (v128.or
                (i8x16.eq (v128.load offset=0 align=1 (local.get $a)) (local.get $v))
                (i8x16.eq (v128.load offset=16 align=1 (local.get $a)) (local.get $v)))
              (v128.or
                (i8x16.eq (v128.load offset=32 align=1 (local.get $a)) (local.get $v))
                (i8x16.eq (v128.load offset=48 align=1 (local.get $a)) (local.get $v))))))
        (local.set $i (i32.add (local.get $i) (i32.const 64)))
        (br $l64)))
    ;; 16 bytes a round: finds the byte of a 64-byte round that had it.
    (block $done16
      (loop $l16
        (br_if $done16 (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $n)))
        (local.set $m
          (i8x16.bitmask
            (i8x16.eq (v128.load align=1 (i32.add (local.get $p) (local.get $i))) (local.get $v))))
        (if (local.get $m)
          (then (return (i32.add (local.get $i) (i32.ctz (local.get $m))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $l16)))
    ;; The last 0-15 bytes.
    (local.set $c (i32.and (local.get $c) (i32.const 255)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.eq (i32.load8_u (i32.add (local.get $p) (local.get $i))) (local.get $c))
          (then (return (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (i32.const -1))

  ;; count_byte returns how many bytes c [p, p+n) holds.
  (func $logs_simd.count_byte (param $p i32) (param $n i32) (param $c i32) (result i32)
    (local $i i32) (local $v v128) (local $a i32) (local $k i32)
    (local.set $v (i8x16.splat (local.get $c)))
    (block $done64
      (loop $l64
        (br_if $done64 (i32.gt_u (i32.add (local.get $i) (i32.const 64)) (local.get $n)))
        (local.set $a (i32.add (local.get $p) (local.get $i)))
        (local.set $k
          (i32.add
            (local.get $k)
            (i32.add
              (i32.add
                (i32.popcnt (i8x16.bitmask (i8x16.eq (v128.load offset=0 align=1 (local.get $a)) (local.get $v))))
                (i32.popcnt (i8x16.bitmask (i8x16.eq (v128.load offset=16 align=1 (local.get $a)) (local.get $v)))))
              (i32.add
                (i32.popcnt (i8x16.bitmask (i8x16.eq (v128.load offset=32 align=1 (local.get $a)) (local.get $v))))
                (i32.popcnt (i8x16.bitmask (i8x16.eq (v128.load offset=48 align=1 (local.get $a)) (local.get $v))))))))
        (local.set $i (i32.add (local.get $i) (i32.const 64)))
        (br $l64)))
    (block $done16
      (loop $l16
        (br_if $done16 (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $n)))
        (local.set $k
          (i32.add
            (local.get $k)
            (i32.popcnt (i8x16.bitmask
              (i8x16.eq (v128.load align=1 (i32.add (local.get $p) (local.get $i))) (local.get $v))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $l16)))
    (local.set $c (i32.and (local.get $c) (i32.const 255)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $k
          (i32.add (local.get $k)
            (i32.eq (i32.load8_u (i32.add (local.get $p) (local.get $i))) (local.get $c))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $k))

  ;; index_pair returns the first i in [0, n) with p[i+o1] == c1 and
  ;; p[i+o2] == c2, or -1: the candidates for a literal holding c1 at offset
  ;; o1 and c2 at o2 (its two rarest bytes), which the caller then compares
  ;; whole. The caller guarantees that [p, p+n+max(o1, o2)) is its slice.
  ;; Testing two bytes at once leaves far fewer false candidates than one.
  (func $logs_simd.index_pair (param $p i32) (param $n i32) (param $c1 i32) (param $o1 i32) (param $c2 i32) (param $o2 i32) (result i32)
    (local $i i32) (local $v1 v128) (local $v2 v128) (local $a1 i32) (local $a2 i32) (local $m i32)
    (local.set $v1 (i8x16.splat (local.get $c1)))
    (local.set $v2 (i8x16.splat (local.get $c2)))
    (local.set $a1 (i32.add (local.get $p) (local.get $o1)))
    (local.set $a2 (i32.add (local.get $p) (local.get $o2)))
    (block $done32
      (loop $l32
        (br_if $done32 (i32.gt_u (i32.add (local.get $i) (i32.const 32)) (local.get $n)))
        (br_if $done32
          (v128.any_true
            (v128.or
              (v128.and
                (i8x16.eq (v128.load offset=0 align=1 (i32.add (local.get $a1) (local.get $i))) (local.get $v1))
                (i8x16.eq (v128.load offset=0 align=1 (i32.add (local.get $a2) (local.get $i))) (local.get $v2)))
              (v128.and
                (i8x16.eq (v128.load offset=16 align=1 (i32.add (local.get $a1) (local.get $i))) (local.get $v1))
                (i8x16.eq (v128.load offset=16 align=1 (i32.add (local.get $a2) (local.get $i))) (local.get $v2))))))
        (local.set $i (i32.add (local.get $i) (i32.const 32)))
        (br $l32)))
    (block $done16
      (loop $l16
        (br_if $done16 (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $n)))
        (local.set $m
          (i8x16.bitmask
            (v128.and
              (i8x16.eq (v128.load align=1 (i32.add (local.get $a1) (local.get $i))) (local.get $v1))
              (i8x16.eq (v128.load align=1 (i32.add (local.get $a2) (local.get $i))) (local.get $v2)))))
        (if (local.get $m)
          (then (return (i32.add (local.get $i) (i32.ctz (local.get $m))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $l16)))
    (local.set $c1 (i32.and (local.get $c1) (i32.const 255)))
    (local.set $c2 (i32.and (local.get $c2) (i32.const 255)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.and
              (i32.eq (i32.load8_u (i32.add (local.get $a1) (local.get $i))) (local.get $c1))
              (i32.eq (i32.load8_u (i32.add (local.get $a2) (local.get $i))) (local.get $c2)))
          (then (return (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (i32.const -1))
