# The make-driven sweep (scripts/sweep.mk) and the regression script (scripts/regress.sh).
. tests/cli/lib.sh

# A sweep: one run per grid value, one CSV row each, a plot; a re-run redoes nothing; a new
# grid value runs only that one.
expect_exit 0 "sweep runs" make -s -j2 -f scripts/sweep.mk BIN="$BIN" OUT="$T/sweep" DRAGS="0 0.001 0.002"
if $PY -c "
import numpy as np
d = np.genfromtxt('$T/sweep/sweep.csv', delimiter=',', names=True)
assert list(d.dtype.names) == ['quadratic_drag', 'x_end', 'z_end'] and len(d) == 3
assert (np.diff(d['x_end']) < 0).all() and abs(d['x_end'][0] - 40) < 1e-9
" 2>"$T/py"; then ok "sweep CSV: one row per run, drag shortens the flight"; else nok "sweep CSV: $(cat "$T/py")"; fi
expect_exit 0 "sweep PNG" $PY -c "import sys; sys.exit(open('$T/sweep/sweep.png','rb').read(8) != b'\x89PNG\r\n\x1a\n')"
make -j2 -f scripts/sweep.mk BIN="$BIN" OUT="$T/sweep" DRAGS="0 0.001 0.002" >"$T/out" 2>&1
grep -q "dp-simulate" "$T/out" && nok "re-run simulated again" || ok "re-run simulates nothing"
make -j2 -f scripts/sweep.mk BIN="$BIN" OUT="$T/sweep" DRAGS="0 0.001 0.002 0.003" >"$T/out" 2>&1
n=$(grep -c "dp-simulate" "$T/out")
[ "$n" -eq 1 ] && ok "a new grid value runs once" || nok "a new grid value ran $n simulations"
[ "$(wc -l < "$T/sweep/sweep.csv")" -eq 5 ] && ok "CSV follows the grid" || nok "CSV has $(wc -l < "$T/sweep/sweep.csv") lines"

# Regression: the goldens match this build; a perturbed golden is caught (exit 1, named).
expect_exit 0 "regress passes" env REGRESS_OUT="$T/reg" sh scripts/regress.sh "$BIN"
expect_grep "regress: 28 checked, 0 failed" "$T/out" "regress summary"
mkdir -p "$T/g"
cp tests/golden/projectile.npz "$T/g/"
$PY -c "
import numpy as np, zipfile
src = '$T/g/projectile.npz'
z = {k: v for k, v in np.load(src).items() if k != 'meta.json'}
z['particles/x'] = z['particles/x'] + 1e-6
meta = zipfile.ZipFile(src).read('meta.json')
np.savez_compressed('$T/g/bad.npz', **z)
with zipfile.ZipFile('$T/g/bad.npz', 'a') as f: f.writestr('meta.json', meta)
"
$BIN/dp-simulate scenes/projectile.yaml --stride 10 -q -o "$T/g/new.npz"
expect_exit 0 "compare with the golden" $BIN/dp-inspect --compare "$T/g/new.npz" tests/golden/projectile.npz --rtol 1e-9 --atol 1e-12
expect_exit 1 "a perturbed golden differs" $BIN/dp-inspect --compare "$T/g/new.npz" "$T/g/bad.npz" --rtol 1e-9 --atol 1e-12
expect_grep "particles/x" "$T/out" "the differing array is named"
