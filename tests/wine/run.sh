#!/bin/bash
# make test-windows: runs the Windows build under Wine (issue 13).
#
# Cross-compiles agent-ctl.exe, agent-ctl-worker.exe (mingw: wasmtime-go
# ships a static libwasmtime for windows) and the test binaries of the
# packages whose Windows code has tests (isolation: job objects;
# supervisor: the named-pipe stdio and whole calls), then runs them under
# Debian's wine64, headless (no display, WINEDEBUG=-all), in a Wine prefix
# kept in .cache/wine. What Wine cannot show is skipped by the tests
# themselves, each naming the Wine call it lacks; docs/isolation.md lists
# it. The last line counts the results: "test-windows: N passed, N failed,
# N skipped".
#
# Needs: x86_64-w64-mingw32-gcc (make deps) and wine64 (make wine-deps).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
tags=${TAGS:-seccomp,urfave_cli_no_docs}
out=$root/.cache/windows
wine=/usr/lib/wine/wine64 # wine64 without the `wine` wrapper package
export WINEPREFIX=$root/.cache/wine WINEDEBUG=-all
# A home inside the prefix, made afresh: a Windows path, as a user's is.
home_unix=$WINEPREFIX/drive_c/agent-ctl-test-home
export AGENTCTL_HOME='C:\agent-ctl-test-home'
start=$(date +%s)

echo "== building the Windows binaries"
mkdir -p "$out"
win() { CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc GOOS=windows GOARCH=amd64 "$@"; }
win go build -tags "$tags" -o "$out/" ./cmd/agent-ctl ./cmd/agent-ctl-worker
# package:tests to run (all when empty):tests to skip. supervisor/audit:
# only its Windows test, the others need the os.RemoveAll that Wine cannot
# do (their t.TempDir cleanup fails).
packages=(isolation:: supervisor:: 'supervisor/audit:^TestRotate_windows$:')
for entry in "${packages[@]}"; do
	pkg=${entry%%:*}
	win go test -c -tags "$tags" -o "$out/${pkg//\//_}.test.exe" "./$pkg"
done

# The prefix: made once (30-60 s), then kept. The wineserver this script
# starts is stopped on exit (wineserver -k ends only this prefix's).
trap '/usr/lib/wine/wineserver -k 2>/dev/null || true' EXIT
if [ ! -f "$WINEPREFIX/system.reg" ]; then
	echo "== making the Wine prefix $WINEPREFIX"
	# wineboot reports a missing 32-bit rundll32 (no wine32): harmless.
	# Twice at most: on a loaded machine (load 8, session 10's CI) one
	# wineboot once ended without writing the prefix; the next made it.
	mkdir -p "$root/.cache"
	for attempt in 1 2; do
		rm -rf "$WINEPREFIX"
		"$wine" wineboot -i >"$root/.cache/wineboot.log" 2>&1 || true
		/usr/lib/wine/wineserver -w
		[ -f "$WINEPREFIX/system.reg" ] && break
		echo "test-windows: wineboot made no prefix (attempt $attempt):" >&2
		tail -5 "$root/.cache/wineboot.log" >&2
	done
	[ -f "$WINEPREFIX/system.reg" ] || { echo "test-windows: wineboot made no prefix in $WINEPREFIX" >&2; exit 1; }
fi
# Go programs need bcryptprimitives.dll, which Wine 8.0 lacks: a stand-in
# goes into the prefix only (tests/wine/bcryptprimitives.c says why).
sys32=$WINEPREFIX/drive_c/windows/system32
shim=tests/wine/bcryptprimitives.c
if [ -f "$sys32/bcryptprimitives.dll" ] && [ ! -f "$WINEPREFIX/agent-ctl-shim" ]; then
	: # Wine's own (Wine 9 and later): keep it
elif [ ! -f "$sys32/bcryptprimitives.dll" ] || [ "$shim" -nt "$sys32/bcryptprimitives.dll" ]; then
	x86_64-w64-mingw32-gcc -O2 -shared -o "$sys32/bcryptprimitives.dll" "$shim" tests/wine/bcryptprimitives.def -lbcrypt
	touch "$WINEPREFIX/agent-ctl-shim"
fi
# What earlier runs left: the tests' temporary files, the CLI's home.
rm -rf "$WINEPREFIX"/drive_c/users/*/Temp/* "$home_unix"
echo "wine $("$wine" --version) in $WINEPREFIX ($(($(date +%s) - start)) s so far)"

passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }

# cli NAME WANT_CODE WANT_TEXT [STDIN] -- ARGS: runs agent-ctl.exe under
# Wine and checks its exit code and that its output holds WANT_TEXT.
cli() {
	local name=$1 code=$2 text=$3 stdin=$4
	shift 5
	local got rc=0
	got=$(printf '%s' "$stdin" | timeout 300 "$wine" "$out/agent-ctl.exe" "$@" 2>&1) || rc=$?
	if [ "$rc" = "$code" ] && [[ $got == *"$text"* ]]; then
		pass "agent-ctl $name"
	else
		fail "agent-ctl $name: exit code $rc (want $code), output (want it to hold \"$text\"):"
		printf '%s\n' "$got" | head -20 | sed 's/^/    /'
	fi
}

echo "== the CLI (agent-ctl.exe, agent-ctl-worker.exe)"
fixtures=tests/testdata
cli "--version" 0 "agent-ctl version" "" -- --version
cli "--help" 0 "COMMANDS:" "" -- --help
cli "unknown command" 127 "no tool or command named frobnicate" "" -- frobnicate
cli "run: missing module" 127 "module not found" "" -- run --isolation process "$fixtures/does-not-exist.wasm"
cli "run: not WebAssembly" 126 "is not a WebAssembly module" "" -- run --isolation process "$fixtures/notwasm.wasm"
cli "run --isolation process hello" 0 "hello, wine" "" -- run --isolation process "$fixtures/hello.wasm" -- wine
cli "run --isolation process cat (stdin)" 0 "through the named pipes" "through the named pipes" -- run --isolation process "$fixtures/cat.wasm"
cli "run --isolation process exit code" 7 "err 2" "" -- run --isolation process "$fixtures/stdout_stderr.wasm"
cli "run --isolation process --timeout" 124 "time limit of 500ms reached" "" -- run --isolation process --timeout 500ms "$fixtures/loop.wasm"
cli "run --isolation process --memory" 137 "memory limit of 16MiB reached" "" -- run --isolation process --memory 16MiB "$fixtures/malloc.wasm"
cli "run --isolation process --max-output" 141 "output limit of 4KiB reached" "" -- run --isolation process --max-output 4KiB "$fixtures/flood.wasm"
# Container isolation (job objects) must be refused under Wine, which keeps
# none of the job's limits, never run with less: the default, and doctor.
cli "run (container isolation refused)" 125 "isolation unavailable: job objects" "" -- run "$fixtures/hello.wasm"
cli "doctor (job objects unavailable)" 1 "isolation unavailable: job objects" "" -- doctor

for entry in "${packages[@]}"; do
	IFS=: read -r pkg run skip <<<"$entry"
	echo "== go test ./$pkg${run:+ -run '$run'}${skip:+ -skip '$skip'} (under Wine)"
	log=$out/${pkg//\//_}.test.log
	rc=0
	(cd "$pkg" && timeout 900 "$wine" "$out/${pkg//\//_}.test.exe" -test.v -test.count 1 -test.timeout 10m ${run:+-test.run "$run"} ${skip:+-test.skip "$skip"}) >"$log" 2>&1 || rc=$?
	# the top-level results, and every skip's and failure's reason
	grep -E '^--- |^\s+--- (FAIL|SKIP)|^\s+\S+_test\.go:[0-9]+: |^(ok|FAIL|PASS|panic)' "$log" || true
	p=$(grep -c '^--- PASS' "$log" || true)
	f=$(grep -c '^--- FAIL' "$log" || true)
	s=$(grep -c '^--- SKIP' "$log" || true)
	passed=$((passed + p)) skipped=$((skipped + s)) failed=$((failed + f))
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		fail "go test ./$pkg: exit code $rc with no test failed (see $log)"
		tail -20 "$log"
	fi
done

echo "test-windows took $(($(date +%s) - start)) s"
echo "test-windows: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
