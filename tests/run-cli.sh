#!/bin/sh
# Runs the numbered command-line tests tests/cli/t*.sh (git style) against the tools in BIN and
# prints "N passed, M failed". Each test script prints "ok - ..." / "not ok - ..." lines.
BIN=${1:-build/bin}
BIN=$(cd "$BIN" && pwd)
export BIN
export PY=/usr/bin/python3
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
pass=0
fail=0
for t in tests/cli/t*.sh; do
  out=$(sh "$t" 2>&1)
  p=$(printf '%s\n' "$out" | grep -c '^ok ')
  f=$(printf '%s\n' "$out" | grep -c '^not ok ')
  pass=$((pass + p))
  fail=$((fail + f))
  printf '%s\n' "$out" | grep -E '^(not ok|#)' | sed "s|^|$(basename "$t"): |"
  echo "$(basename "$t"): $p passed, $f failed"
done
echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
