#!/bin/sh
# make bench: timings of the engine on one core (scripts/bench_dp.c, bench_rb.c and the tools).
set -eu
B=${1:-build}/bench/bench_dp
echo "dp benchmark ($(uname -m), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ //'), one core, double precision)"
echo
echo "Cloth, T steps of dt = 1e-3 (semi-implicit Euler, 1 substep), gradient w.r.t. every spring"
echo "stiffness. fwd/bwd/total in s; ns/spr = forward ns per spring per step; RSS = peak resident"
echo "MiB of the process; tape = checkpoint storage MiB; FD = cost of the same gradient by central"
echo "differences (2 forward sweeps per stiffness) over the adjoint's cost."
echo
echo "| scene       |      T |  springs |     k |  fwd (s) |  bwd (s) |  f+b (s) | b/f   | ns/spr |  RSS MiB | tape MiB | adjoint vs FD |"
echo "|-------------|--------|-------|-------|----------|----------|----------|-------|--------|-----------|----------|-----------|"
for n in 16 32 64; do
  "$B" cloth $n 200
done
echo
echo "Memory of the checkpointed rollout, 32x32 cloth (k = sqrt(T) unless given):"
echo
echo "| scene       |      T |  springs |     k |  fwd (s) |  bwd (s) |  f+b (s) | b/f   | ns/spr |  RSS MiB | tape MiB | adjoint vs FD |"
echo "|-------------|--------|-------|-------|----------|----------|----------|-------|--------|-----------|----------|-----------|"
"$B" cloth 32 1000
"$B" cloth 32 10000
"$B" cloth 32 100000
"$B" cloth 32 10000 1
echo
echo "Projectile (quadratic drag, RK4), full gradient; times in µs, FD measured (2 sweeps per"
echo "parameter, all parameters) in ms:"
echo
echo "| scene      |      T | params | fwd (µs) | bwd (µs) | f+b (µs) | b/f   | FD (ms)    | adjoint vs FD |"
echo "|------------|--------|--------|----------|----------|----------|-------|------------|-----------|"
"$B" projectile 1000
echo
echo "Articulated rigid bodies (lib/rb_tree.c): an N-link revolute chain (axes alternating y, x;"
echo "0.2 m, 1 kg links), h = 1 ms. Per-step times in µs (best of 3); M = CRBA mass matrix alone"
echo "(not used by a step), fwd dyn = forward dynamics alone (ABA)."
echo
echo "| model          |    nv |  RK4 (µs) | s-i Euler (µs) |  M (µs) | fwd dyn (µs) | RSS MiB |"
echo "|----------------|-------|-----------|-----------|-----------|-----------|--------|"
RB=${1:-build}/bench/bench_rb
for n in 2 7 30; do
  "$RB" step $n
done
echo
echo "Full gradient of a T-step rollout (loss on the final state + control effort) with respect to"
echo "every parameter (mass, com, inertia, joint positions, damping, armature, gravity) and every"
echo "control: forward and backward seconds, b/f, central differences (2 rollouts per parameter;"
echo "timed on a sample and extrapolated to all P) over adjoint forward+backward, and the worst"
echo "adjoint-vs-FD disagreement on the sample over its largest component (sample size in parentheses)."
echo
echo "| model          | int.  |     T |       P |  fwd (s) |  bwd (s) |  b/f  |  FD (s)   | adjoint vs FD | check (n) | RSS MiB | loss |"
echo "|----------------|-------|-------|---------|----------|----------|-------|-----------|---------|-----------|--------|------|"
for n in 2 7 30; do
  "$RB" grad $n 1000 rk4
  "$RB" grad $n 1000 euler
done
echo
echo "Scenes with bodies through the tools: dp-simulate steps per second (best of 3, every step"
echo "recorded; chain7: 7 revolute links, no contact; knock: a ball and three free boxes, box-box,"
echo "sphere-box and ground contact with friction). Then the full gradient of each scene's loss"
echo "(scenes/NAME.json) with respect to every θ component P (scripts/bench_dp.c scene, checkpointed"
echo "rollout): forward and backward seconds, b/f, central differences (2 rollouts per component;"
echo "timed on a sample and extrapolated to all P) over adjoint forward+backward, and the worst"
echo "adjoint-vs-FD disagreement on the sample over the gradient's largest component."
echo
echo "| scene          | integrator          |     T | steps/s   | µs/step |"
echo "|----------------|---------------------|-------|-----------|---------|"
BIN=${1:-build}/bin
TMP=$(mktemp -d /tmp/dp-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
for s in chain7 knock cartpole box_slide; do
  for i in 1 2 3; do
    "$BIN/dp-simulate" "scenes/$s.yaml" -o "$TMP/$s.npz" --json > "$TMP/$s.$i.json"
  done
  /usr/bin/python3 - "$s" "$(sed -n 's/^integrator: *//p' "scenes/$s.yaml")" "$TMP"/$s.?.json <<'PY'
import json, sys
r = [json.load(open(f)) for f in sys.argv[3:]]
best = max(x["steps_per_second"] for x in r)
print(f"| {sys.argv[1]:<14} | {sys.argv[2]:<19} | {r[0]['steps']:5d} | {best:9.3g} | {1e6 / best:7.2f} |")
PY
done
echo
echo "| scene           |      T |      P |  fwd (s) |  bwd (s) |  b/f  |    FD (s) | adjoint vs FD | check (n) | RSS MiB |"
echo "|-----------------|--------|--------|----------|----------|-------|-----------|-----------|--------------|---------|"
for s in chain7 knock cartpole box_slide; do
  "${1:-build}/bench/bench_dp" scene "scenes/$s.yaml" "scenes/$s.json"
done
echo
echo "Optimization tasks (dp-optimize, as make tasks runs them): iterations, objective evaluations,"
echo "wall time, time per iteration, final loss."
echo
echo "| task | method | iterations | evaluations | wall (s) | ms/iteration | loss | stop |"
echo "|------|--------|-----------:|------------:|---------:|-------------:|-----:|------|"
task() {  # task NAME SCENE LOSS OPTIONS...
  name=$1 scene=$2 loss=$3
  shift 3
  "$BIN/dp-optimize" "$scene" "$loss" "$@" -o "$TMP/$name.yaml" --json > "$TMP/$name.json"
  /usr/bin/python3 - "$TMP/$name.json" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"| {sys.argv[2]} | {r['method']} | {r['iterations']} | {r['evaluations']} | "
      f"{r['wall_time_s']:.4f} | {1e3 * r['time_per_iteration_s']:.3f} | {r['loss']:.3g} | "
      f"{r['stop_reason']} |")
PY
}
task projectile scenes/projectile.yaml scenes/projectile.json --method lbfgs --max-iter 100
task "bounce (gd, lr 0.02)" scenes/bounce.yaml scenes/bounce.json --method gd --lr 0.02 --max-iter 250 --tol 0
task "bounce (adam, lr 0.5)" scenes/bounce.yaml scenes/bounce.json --method adam --lr 0.5 --max-iter 250 --tol 0
task spring_cage scenes/spring_cage.yaml scenes/spring_cage.json --method lbfgs --max-iter 100
task sysid scenes/sysid.yaml scenes/sysid.json --method lbfgs --max-iter 300
task "sysid (300 its)" scenes/sysid.yaml scenes/sysid.json --method lbfgs --max-iter 300 --tol 0 --gtol 0
task cloth_control scenes/cloth_control.yaml scenes/cloth_control.json --method lbfgs --max-iter 50
task cartpole scenes/cartpole.yaml scenes/cartpole.json --method lbfgs --max-iter 100
task box_slide scenes/box_slide.yaml scenes/box_slide.json --method lbfgs --max-iter 100
echo
echo "Soft bodies and shells (lib/phys_fem.c): a rollout of T steps keeping every state, then the"
echo "backward sweep of a loss linear in the final state (gradient of every θ component: materials,"
echo "rest shape, initial state, damping, contact, aerodynamics). ns/elem = forward ns per element"
echo "(tetrahedron or triangle) per step; FD = cost of the same gradient by central differences"
echo "(2 rollouts per θ component) over the adjoint's forward + backward. solid: stable neo-Hookean"
echo "box of 6N³ tets with Rayleigh damping bouncing on the ground, semi-implicit Euler, h = 0.1 ms;"
echo "shell: N×N grid (2N² triangles, hinges, lift and drag) falling on the ground, h = 0.2 ms."
echo
echo "| model     |   elems |  verts |     T |  fwd (s) |  bwd (s) |  b/f  | ns/elem | adjoint vs FD | RSS MiB |"
echo "|-----------|---------|--------|-------|----------|----------|-------|---------|-----------|---------|"
FEM=${1:-build}/bench/bench_fem
"$FEM" solid 8 200
"$FEM" solid 12 100
"$FEM" shell 16 400
"$FEM" shell 32 200
echo
echo "Implicit Euler (Newton + Jacobi-PCG on matrix-free Hessian-vector products; adjoint: one"
echo "PCG solve per step), h = 10 ms, a free stable neo-Hookean box stretched 10 % at t = 0."
echo "Per-step ms; Newton iterations, forward CG iterations and adjoint CG iterations per step."
echo
echo "| model        |   tets |  verts |    T | fwd ms/step | bwd ms/step | b/f | Newton | CG fwd | CG adj | adjoint vs FD | RSS MiB |"
echo "|--------------|--------|--------|------|----------|----------|-------|--------|--------|--------|-----------|---------|"
"$FEM" implicit 8 20
"$FEM" implicit 12 10
