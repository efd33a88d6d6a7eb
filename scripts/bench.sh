#!/bin/sh
# make bench: timings of the particle engine on one core (see scripts/bench_dp.c).
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
