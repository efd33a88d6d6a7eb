# Helpers for the command-line tests: a scratch directory and ok/not ok reporting.
T=$(mktemp -d /tmp/dp-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
ok() { echo "ok - $1"; }
nok() { echo "not ok - $1"; }
# expect_exit CODE DESCRIPTION CMD...: run CMD, compare its exit status; stderr kept in $T/err.
expect_exit() {
  want=$1; what=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"
  got=$?
  if [ "$got" -eq "$want" ]; then ok "$what"; else nok "$what (exit $got, want $want): $(head -c 300 "$T/err")"; fi
}
# expect_grep PATTERN FILE DESCRIPTION
expect_grep() {
  if grep -qF -- "$1" "$2"; then ok "$3"; else nok "$3: '$1' not in: $(head -c 300 "$2")"; fi
}
# expect_grep_re REGEX FILE DESCRIPTION
expect_grep_re() {
  if grep -q -- "$1" "$2"; then ok "$3"; else nok "$3: /$1/ not in: $(head -c 300 "$2")"; fi
}
