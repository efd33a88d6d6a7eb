# dp-differentiate: gradient checks of every scene, JSON and NPZ outputs, bad losses.
. tests/cli/lib.sh
D=$BIN/dp-differentiate

expect_exit 0 "differentiate --help" $D --help
expect_exit 0 "differentiate --version" $D --version
expect_exit 2 "one argument" $D scenes/bounce.yaml
expect_exit 2 "unknown --wrt" $D scenes/bounce.yaml scenes/bounce.json --wrt particles.ball.mas
expect_grep "did you mean 'particles.ball.mass'" "$T/err" "--wrt suggestion"
expect_exit 2 "missing loss file" $D scenes/bounce.yaml "$T/none.json"

for sc in projectile oscillator bounce spring_cage; do
  expect_exit 0 "check $sc" $D scenes/$sc.yaml scenes/$sc.json --check --json
  if $PY -c "
import json
d = json.load(open('$T/out'))
assert isinstance(d['loss'], float) and d['gradient'] and d['check']
for p, c in d['check'].items():
    assert len(c['fd']) == len(c['index']) and c['max_rel_err'] < 1e-4, (p, c)
" 2>"$T/py"; then ok "check $sc json and errors"; else nok "check $sc json: $(cat "$T/py")"; fi
done
expect_exit 0 "check cloth (sampled)" $D scenes/cloth.yaml scenes/cloth.json --set cloth.sheet.n=8 --set steps=100 --wrt 'springs.*.stiffness' --check --check-max 5 --json
if $PY -c "
import json
d = json.load(open('$T/out'))
g = d['gradient']['springs.*.stiffness']; c = d['check']['springs.*.stiffness']
assert len(g) == 2*8*7 + 2*7*7 and len(c['fd']) == 5 and c['max_rel_err'] < 1e-4
" 2>"$T/py"; then ok "sampled check of a large parameter"; else nok "sampled check: $(cat "$T/py")"; fi

# friction_damping and damping_smoothing are inf by default: their components are reported,
# not stepped.
grep -v friction_damping scenes/bounce.yaml > "$T/bi.yaml"
expect_exit 0 "check ground.* with an inf friction_damping" $D "$T/bi.yaml" scenes/bounce.json --check --wrt 'ground.*'
expect_grep_re "^  6  *0.0*e+00   not checked (value is inf)$" "$T/out" "inf component not checked"
expect_grep_re "^  7  *0.0*e+00   not checked (value is inf)$" "$T/out" "second inf component not checked"
expect_exit 0 "check ground.* json" $D "$T/bi.yaml" scenes/bounce.json --check --wrt 'ground.*' --json
if $PY -c "
import json
d = json.load(open('$T/out'))
c = d['check']['ground.*']
assert len(d['gradient']['ground.*']) == 8 and c['index'] == [0, 1, 2, 3, 4, 5]
assert c['not_checked'] == [6, 7] and c['max_rel_err'] < 1e-4
" 2>"$T/py"; then ok "inf component left out of the check"; else nok "inf component: $(cat "$T/py")"; fi
# A finite friction damping keeps the adjoint of a straight drop stable (the pure law explodes).
expect_exit 0 "check a drop with friction_damping" $D scenes/bounce.yaml scenes/bounce.json --set 'particles.ball.velocity=[0,0,-5]' --set ground.friction_damping=100 --check --wrt particles.ball.velocity --wrt ground.friction_damping

expect_exit 0 "gradient npz" $D scenes/bounce.yaml scenes/bounce.json -o "$T/g.npz" --wrt particles.ball.velocity --wrt gravity --quiet
expect_exit 0 "numpy reads gradient" $PY tests/py/npz_check.py "$T/g.npz" loss= grad/particles.ball.velocity=3 grad/gravity=3 value/gravity=3

# The bad-loss corpus: exit 2 with the expected message and position.
for f in tests/bad/losses/*.json; do
  n=$(basename "$f" .json)
  e="tests/bad/losses/$n.expect"
  scene=$(sed -n 's/^scene: //p' "$e" 2>/dev/null | head -n 1)
  [ -n "$scene" ] || scene=scenes/bounce.yaml
  expect_exit 2 "bad loss $n" $D "$scene" "$f" -o "$T/bad.npz"
  exp=$(sed -n 's/^expect: //p' "$e" 2>/dev/null | head -n 1)
  [ -n "$exp" ] && expect_grep "$exp" "$T/err" "bad loss $n message"
  where=$(sed -n 's/^where: //p' "$e" 2>/dev/null | head -n 1)
  [ -n "$where" ] && expect_grep "$f:$where:" "$T/err" "bad loss $n position $where"
  [ ! -e "$T/bad.npz" ] && ok "bad loss $n writes nothing" || { nok "bad loss $n wrote output"; rm -f "$T/bad.npz"; }
done
