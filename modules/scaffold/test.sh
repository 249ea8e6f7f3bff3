#!/bin/sh
# make test: installs __NAME__ into a throwaway agent-ctl home and calls it through its
# manifest with the real agent-ctl ($AGENTCTL_BIN, else agent-ctl on PATH), checking what
# it does with its inputs, the schema's checks and a file that was not granted.
set -u
agent_ctl=${AGENTCTL_BIN:-$(command -v agent-ctl || true)}
if [ -z "$agent_ctl" ]; then echo "FAIL: agent-ctl not found (set AGENTCTL_BIN or put it on PATH)"; exit 1; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ac() { "$agent_ctl" --home "$tmp/home" "$@"; }

# check NAME WANT_EXIT WANT_STDOUT WANT_STDERR_PART -- ARGS...
check() {
	what=$1 want_code=$2 want_out=$3 want_err=$4
	shift 5
	out=$(ac __NAME__ "$@" 2>"$tmp/err"); code=$?
	err=$(cat "$tmp/err")
	if [ "$code" != "$want_code" ] || [ "$out" != "$want_out" ]; then
		echo "FAIL $what: exit $code, stdout '$out', stderr '$err'; want exit $want_code, stdout '$want_out'"; fails=$((fails + 1))
	elif [ -n "$want_err" ] && ! printf '%s' "$err" | grep -qF -- "$want_err"; then
		echo "FAIL $what: stderr '$err' does not say '$want_err'"; fails=$((fails + 1))
	else
		echo "ok   $what"
	fi
}

ac install --yes . >/dev/null || { echo "FAIL: install"; exit 1; }

# Inputs the test makes up each run, so that no fixed answer passes.
word="w$$"
check "text" 0 "{\"text\":\"$word and more\",\"bytes\":$((${#word} + 9)),\"words\":3}" "" -- --text "$word and more"
check "repeat, upper" 0 '{"text":"AB C AB C AB C","bytes":14,"words":6}' "" -- --text "ab c" --repeat 3 --upper
check "escaped" 0 '{"text":"say \"hi\"\\","bytes":9,"words":2}' "" -- --text 'say "hi"\'
check "empty" 0 '{"text":"","bytes":0,"words":0}' "" -- --text ""
check "neither" 2 "" "__NAME__: give --text or --file" --
check "schema minimum" 125 "" "--repeat" -- --text x --repeat 0
check "unknown flag" 125 "" "bogus" -- --text x --bogus y

mkdir "$tmp/data"
printf 'one two\nthree' >"$tmp/data/in.txt"
check "file not granted" 1 "" "not granted: /data/in.txt (agent-ctl grant __NAME__ --dir" -- --file /data/in.txt
ac grant __NAME__ --force --dir "$tmp/data:/data:ro" >/dev/null 2>&1 || { echo "FAIL: grant"; exit 1; }
check "file" 0 '{"text":"one two\nthree one two\nthree","bytes":27,"words":6}' "" -- --file /data/in.txt --repeat 2
check "file missing" 1 "" "/data/nope" -- --file /data/nope

if [ "$fails" -ne 0 ]; then echo "FAIL: $fails check(s)"; exit 1; fi
echo "PASS"
