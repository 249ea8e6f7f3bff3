#!/bin/sh
# link.sh GO.wasm SIMD.wat OUT.wasm: links the functions of SIMD.wat into the
# Go module GO.wasm in place of its imports from module "logs_simd" (Go
# cannot link code of another language; see simd.wat). It goes through the
# text format: wasm2wat names every function, so the calls of Go's code
# refer to the imports by name, and an import removed and a function of the
# same name added are the same function to wat2wasm. Deterministic: the same
# inputs give the same bytes (make check-wasm). Needs wabt.
set -eu
in=$1 simd=$2 out=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wasm2wat --enable-all --no-debug-names --generate-names "$in" -o "$tmp/go.wat"
# wasm2wat ends the module's last line with the module's closing paren.
case $(tail -n 1 "$tmp/go.wat") in
*")") ;;
*)
	echo "link.sh: $in: unexpected end of wasm2wat's output" >&2
	exit 1 ;;
esac
imports=$(sed -n 's/^ *(import "logs_simd" "\([a-z_0-9]*\)".*/\1/p' "$tmp/go.wat")
for name in $imports; do
	grep -q "(func \$logs_simd\.$name " "$simd" || { echo "link.sh: $simd defines no $name, which $in imports" >&2; exit 1; }
done
{
	sed '$ s/)$//; /^ *(import "logs_simd" /d' "$tmp/go.wat"
	cat "$simd"
	echo ")"
} >"$tmp/linked.wat"
wat2wasm --enable-all "$tmp/linked.wat" -o "$tmp/linked.wasm"
# Nothing of logs_simd may be left for the host to provide.
if wasm-objdump -j Import -x "$tmp/linked.wasm" | grep -q '<- logs_simd\.'; then
	echo "link.sh: $out still imports from logs_simd" >&2
	exit 1
fi
mv "$tmp/linked.wasm" "$out"
