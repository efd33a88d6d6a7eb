# dp-simulate: usage, outputs readable by numpy, strides, overrides, divergence, atomic outputs.
. tests/cli/lib.sh
S=$BIN/dp-simulate

expect_exit 0 "simulate --help" $S --help
expect_grep "usage: dp-simulate" "$T/out" "help text"
expect_exit 0 "simulate --version" $S --version
expect_grep "dp-simulate (dp) " "$T/out" "version line"
expect_exit 2 "no arguments" $S
expect_exit 2 "missing -o" $S scenes/bounce.yaml
expect_exit 2 "unknown option" $S scenes/bounce.yaml -o "$T/x.npz" --frobnicate
expect_grep "unknown option '--frobnicate'" "$T/err" "unknown option named"
expect_exit 2 "bad --steps" $S scenes/bounce.yaml -o "$T/x.npz" --steps abc
expect_exit 2 "bad --device" $S scenes/bounce.yaml -o "$T/x.npz" --device tpu
expect_exit 2 "bad --set syntax" $S scenes/bounce.yaml -o "$T/x.npz" --set foo
expect_exit 2 "missing scene file" $S "$T/nope.yaml" -o "$T/x.npz"
[ ! -e "$T/x.npz" ] && ok "no output after bad usage" || nok "output created after bad usage"

for sc in projectile oscillator bounce spring_cage cloth; do
  expect_exit 0 "simulate $sc" $S scenes/$sc.yaml -o "$T/$sc.npz" --quiet
done
expect_exit 0 "numpy reads bounce" $PY tests/py/npz_check.py "$T/bounce.npz" time=289 particles/x=289,1,3 particles/v=289,1,3
expect_exit 0 "numpy reads cloth" $PY tests/py/npz_check.py "$T/cloth.npz" time=201 particles/x=201,256,3 particles/v=201,256,3

expect_exit 0 "stride 10" $S scenes/bounce.yaml -o "$T/s.npz" --stride 10 --quiet
expect_exit 0 "stride frames (0,10,...,280,288)" $PY tests/py/npz_check.py "$T/s.npz" time=30 particles/x=30,1,3
expect_exit 0 "--steps and --set" $S scenes/cloth.yaml -o "$T/c8.npz" --steps 50 --set cloth.sheet.n=8 --quiet
expect_exit 0 "override shapes" $PY tests/py/npz_check.py "$T/c8.npz" time=51 particles/x=51,64,3

expect_exit 0 "--json" $S scenes/projectile.yaml -o "$T/p.npz" --json
if $PY -c "import json,sys; d=json.load(open('$T/out')); assert d['steps']==200 and d['frames']==201 and d['output'].endswith('p.npz') and d['wall_time_s']>=0" 2>/dev/null; then
  ok "json summary"; else nok "json summary: $(cat "$T/out")"; fi

# Divergence: explicit Euler with a huge step on the stiff oscillator.
echo keep >"$T/keep.npz"
expect_exit 1 "divergence exits 1" $S scenes/oscillator.yaml -o "$T/keep.npz" --set dt=0.5 --set integrator=explicit_euler --steps 2000
expect_grep_re "diverged at step [0-9]*: particle 'bob' \(position\|velocity\)" "$T/err" "divergence names step, particle, quantity"
[ "$(cat "$T/keep.npz")" = keep ] && ok "failed run leaves existing output untouched" || nok "existing output clobbered"
ls "$T" | grep -q tmp && nok "temporary file left behind" || ok "no temporary files left"

# The bad-scene corpus: exit 2, the expected message and position, nothing written.
for f in tests/bad/scenes/*.yaml; do
  n=$(basename "$f" .yaml)
  expect_exit 2 "bad scene $n" $S "$f" -o "$T/bad.npz"
  exp=$(sed -n 's/^# expect: //p' "$f" | head -n 1)
  [ -n "$exp" ] && expect_grep "$exp" "$T/err" "bad scene $n message"
  where=$(sed -n 's/^# where: //p' "$f" | head -n 1)
  [ -n "$where" ] && expect_grep "$f:$where:" "$T/err" "bad scene $n position $where"
  [ ! -e "$T/bad.npz" ] && ok "bad scene $n writes nothing" || { nok "bad scene $n wrote output"; rm -f "$T/bad.npz"; }
done
