# dp-optimize: bad arguments, the tasks' criteria, outputs that reproduce the loss, history,
# resume, SIGINT/SIGTERM, JSON; dp-simulate --noise.
. tests/cli/lib.sh
O=$BIN/dp-optimize
S=$BIN/dp-simulate
D=$BIN/dp-differentiate

expect_exit 0 "optimize --help" $O --help
expect_exit 0 "optimize --version" $O --version
expect_exit 2 "no arguments" $O
expect_exit 2 "missing -o" $O scenes/projectile.yaml scenes/projectile.json
expect_grep "missing -o" "$T/err" "missing -o message"
expect_exit 2 "unknown method" $O scenes/projectile.yaml scenes/projectile.json -o "$T/x.yaml" --method newton
expect_grep "unknown method 'newton'" "$T/err" "unknown method message"
expect_exit 2 "negative lr" $O scenes/projectile.yaml scenes/projectile.json -o "$T/x.yaml" --method gd --lr -1
expect_exit 2 "bad max-iter" $O scenes/projectile.yaml scenes/projectile.json -o "$T/x.yaml" --max-iter many
expect_exit 2 "unknown option" $O scenes/projectile.yaml scenes/projectile.json -o "$T/x.yaml" --frobnicate
expect_exit 2 "unknown --wrt" $O scenes/projectile.yaml scenes/projectile.json -o "$T/x.yaml" --wrt particles.ball.velocty
expect_grep "did you mean 'particles.ball.velocity'" "$T/err" "--wrt suggestion"
expect_exit 2 "missing scene" $O "$T/none.yaml" scenes/projectile.json -o "$T/x.yaml"
expect_exit 2 "nothing to optimize" $O scenes/cloth.yaml scenes/cloth.json -o "$T/x.yaml"
expect_grep "nothing to optimize" "$T/err" "nothing to optimize message"
expect_exit 2 "bad resume file" $O scenes/projectile.yaml scenes/projectile.json -o "$T/x.yaml" --resume "$T/none.csv"
[ ! -e "$T/x.yaml" ] && ok "no output after bad input" || nok "output written after bad input"

# Task 1: the projectile hits its target to 1e-8 m² within 100 L-BFGS iterations.
expect_exit 0 "projectile lbfgs" $O scenes/projectile.yaml scenes/projectile.json -o "$T/p.yaml" --history "$T/p.csv" --trajectory "$T/p.npz" --json
cp "$T/out" "$T/p.json"
expect_exit 0 "projectile criterion" $PY scripts/task_check.py "$T/p.json" --loss-below 1e-8 --max-iter 100
expect_exit 0 "differentiate the optimized scene" $D "$T/p.yaml" scenes/projectile.json --json
cp "$T/out" "$T/p2.json"
expect_exit 0 "optimized scene reproduces the loss" $PY scripts/task_check.py "$T/p.json" --reproduce "$T/p2.json"
expect_grep "# optimized by dp-optimize" "$T/p.yaml" "optimized scene header"
if $PY - "$T/p.json" "$T/p.csv" "$T/p.npz" <<'PY' 2>"$T/py"; then ok "history and trajectory agree with the summary"; else nok "history: $(cat "$T/py")"; fi
import json, sys, numpy as np
r = json.load(open(sys.argv[1]))
h = np.genfromtxt(sys.argv[2], delimiter=",", names=True)
assert list(h.dtype.names[:3]) == ["iteration", "loss", "grad_norm"], h.dtype.names
assert len(h) == r["iterations"] + 1 and h["iteration"][-1] == r["iterations"]
assert abs(h["loss"].min() - r["loss"]) <= 1e-15 * max(1.0, r["loss"]) + 1e-300
v = [r["parameters"]["particles.ball.velocity[%d]" % i] for i in range(3)]
z = np.load(sys.argv[3])
assert z["particles/x"].shape == (201, 1, 3)
assert np.linalg.norm(z["particles/x"][-1, 0] - [30, 0, 1]) < 1e-4
PY

# Task 3: the spring cage's rest lengths.
expect_exit 0 "spring cage" $O scenes/spring_cage.yaml scenes/spring_cage.json -o "$T/s.yaml" --json
cp "$T/out" "$T/s.json"
expect_exit 0 "spring cage criterion" $PY scripts/task_check.py "$T/s.json" --loss-below 1e-10 --max-iter 100

# Task 4: system identification, each constant within 1 % in at most 300 iterations.
expect_exit 0 "sysid" $O scenes/sysid.yaml scenes/sysid.json -o "$T/y.yaml" --max-iter 300 --json
cp "$T/out" "$T/y.json"
expect_exit 0 "sysid within 1 %" $PY scripts/task_check.py "$T/y.json" --max-iter 300 --param particles.bob.mass=1 --param springs.spring.stiffness=40 --param springs.spring.damping=0.5

# Bounds: an upper bound below the optimum is active at the end, never exceeded.
cat > "$T/pb.yaml" <<'Y'
name: pb
dt: 0.01
steps: 200
integrator: rk4
particles:
  ball: {mass: 0.145, position: [0, 0, 1], velocity: [20, 0, 15], quadratic_drag: 0.0013}
parameters:
  - {path: particles.ball.velocity, lower: -100, upper: 15}
Y
for m in lbfgs gd adam; do
  expect_exit 0 "bounded $m" $O "$T/pb.yaml" scenes/projectile.json -o "$T/pb_$m.yaml" --method $m --lr 0.5 --max-iter 60 --history "$T/pb_$m.csv"
  if $PY -c "
import numpy as np
h = np.genfromtxt('$T/pb_$m.csv', delimiter=',', names=True)
v = np.array([h['particlesballvelocity%d' % i] for i in range(3)])
assert (v <= 15).all() and (v >= -100).all(), v.max()
" 2>"$T/py"; then ok "bounded $m stays within bounds"; else nok "bounded $m: $(cat "$T/py")"; fi
done

# Resume: 4 + 4 iterations of gradient descent equal 8 in one run.
expect_exit 0 "gd 8" $O scenes/bounce.yaml scenes/bounce.json -o "$T/b8.yaml" --method gd --lr 0.02 --max-iter 8 --tol 0 --history "$T/b8.csv"
expect_exit 0 "gd 4" $O scenes/bounce.yaml scenes/bounce.json -o "$T/b4.yaml" --method gd --lr 0.02 --max-iter 4 --tol 0 --history "$T/b4.csv"
expect_exit 0 "gd resume 4 more" $O scenes/bounce.yaml scenes/bounce.json -o "$T/b4.yaml" --method gd --lr 0.02 --max-iter 4 --tol 0 --history "$T/b4.csv" --resume "$T/b4.csv"
expect_exit 0 "resumed history equals the straight run" $BIN/dp-inspect --compare "$T/b4.csv" "$T/b8.csv" --rtol 1e-12 --atol 0
expect_exit 2 "resume with other parameters" $O scenes/bounce.yaml scenes/bounce.json -o "$T/b4.yaml" --wrt particles.ball.position --resume "$T/b4.csv"
expect_grep "cannot resume" "$T/err" "resume mismatch message"

# SIGINT and SIGTERM: the current iteration finishes, the best scene and history are written,
# exit 130; the scene loads.
for sig in INT TERM; do
  rm -f "$T/i.yaml" "$T/i.csv"
  $O scenes/cloth_control.yaml scenes/cloth_control.json -o "$T/i.yaml" --history "$T/i.csv" --max-iter 100000 --tol 0 --gtol 0 -q >"$T/out" 2>"$T/err" &
  pid=$!
  sleep 2
  kill -$sig $pid
  wait $pid
  rc=$?
  [ $rc -eq 130 ] && ok "SIG$sig exits 130" || nok "SIG$sig exit $rc: $(head -c 300 "$T/err")"
  expect_grep "interrupted by SIG$sig" "$T/err" "SIG$sig message"
  expect_exit 0 "interrupted scene loads" $S "$T/i.yaml" -o "$T/i.npz" -q
  if $PY -c "
import numpy as np
h = np.genfromtxt('$T/i.csv', delimiter=',', names=True)
assert h['iteration'][0] == 0 and len(h) >= 2
" 2>"$T/py"; then ok "SIG$sig history written"; else nok "SIG$sig history: $(cat "$T/py")"; fi
  ls "$T"/*.tmp.* >/dev/null 2>&1 && nok "temporary files left" || ok "no temporary files left"
done

# Progress on request; quiet by default when not a terminal.
expect_exit 0 "progress" $O scenes/projectile.yaml scenes/projectile.json -o "$T/p.yaml" --progress
expect_grep "iter " "$T/err" "progress line"
expect_exit 0 "no progress off a terminal" $O scenes/projectile.yaml scenes/projectile.json -o "$T/p.yaml"
[ ! -s "$T/err" ] && ok "stderr empty" || nok "stderr not empty: $(head -c 200 "$T/err")"

# dp-simulate --noise: same seed same noise, σ as asked, velocities exact.
expect_exit 0 "noise seed 1" $S scenes/oscillator.yaml -o "$T/n1.npz" --noise 0.001 --seed 1 -q
expect_exit 0 "noise seed 1 again" $S scenes/oscillator.yaml -o "$T/n1b.npz" --noise 0.001 --seed 1 -q
expect_exit 0 "no noise" $S scenes/oscillator.yaml -o "$T/n0.npz" -q
expect_exit 2 "negative noise" $S scenes/oscillator.yaml -o "$T/nx.npz" --noise -1
if $PY - "$T" <<'PY' 2>"$T/py"; then ok "noise statistics"; else nok "noise: $(cat "$T/py")"; fi
import sys, numpy as np
t = sys.argv[1]
a, b, c = (np.load(f"{t}/{n}.npz") for n in ("n1", "n1b", "n0"))
assert (a["particles/x"] == b["particles/x"]).all()
d = (a["particles/x"] - c["particles/x"]).ravel()
assert abs(d.std() - 1e-3) < 1e-4 and abs(d.mean()) < 2e-4, (d.std(), d.mean())
assert (a["particles/v"] == c["particles/v"]).all()
PY
