#!/bin/sh
# CI regression of physics scenes: simulate every scene in scenes/ and run each optimization task
# for a fixed number of iterations, then compare with the goldens in tests/golden/ through
# `dp-inspect --compare` (exit 1 on any difference beyond tolerance).
#
#   scripts/regress.sh [--update] [BIN]      BIN defaults to build/bin
#
# --update rewrites the goldens from this build instead (review the diff before committing).
# Tolerances: trajectories rtol 1e-9, atol 1e-12 (round-off across compilers and libm versions);
# optimizer histories rtol 1e-6, atol 1e-10 (an optimizer can amplify round-off a little).
update=0
if [ "$1" = "--update" ]; then
  update=1
  shift
fi
BIN=${1:-build/bin}
GOLD=tests/golden
OUT=${REGRESS_OUT:-out/regress}
mkdir -p "$OUT" "$GOLD" || exit 2
fail=0
n=0

check() {  # check NAME NEW GOLDEN RTOL ATOL
  n=$((n + 1))
  if [ "$update" -eq 1 ]; then
    cp "$2" "$3" && echo "regress: updated $3"
    return
  fi
  if [ ! -f "$3" ]; then
    echo "regress: FAIL $1: no golden $3 (run make regress-update)"
    fail=$((fail + 1))
    return
  fi
  if "$BIN/dp-inspect" --compare "$2" "$3" --rtol "$4" --atol "$5" > "$OUT/$1.compare.txt" 2>&1; then
    echo "regress: ok   $1"
  else
    echo "regress: FAIL $1 (differs from $3):"
    sed 's/^/    /' "$OUT/$1.compare.txt"
    fail=$((fail + 1))
  fi
}

# Every scene, recorded every 10th step (and the last).
for scene in scenes/*.yaml; do
  name=$(basename "$scene" .yaml)
  if ! "$BIN/dp-simulate" "$scene" --stride 10 -q -o "$OUT/$name.npz"; then
    echo "regress: FAIL $name: dp-simulate failed"
    fail=$((fail + 1))
    continue
  fi
  check "$name" "$OUT/$name.npz" "$GOLD/$name.npz" 1e-9 1e-12
done

# Each task for a fixed number of iterations (no early stop): the whole history is compared.
task() {  # task NAME SCENE LOSS OPTIONS...
  name=$1 scene=$2 loss=$3
  shift 3
  if ! "$BIN/dp-optimize" "$scene" "$loss" "$@" --tol 0 --gtol 0 -q -o "$OUT/task-$name.yaml" \
      --history "$OUT/task-$name.csv"; then
    echo "regress: FAIL task $name: dp-optimize failed"
    fail=$((fail + 1))
    return
  fi
  check "task-$name" "$OUT/task-$name.csv" "$GOLD/task-$name.csv" 1e-6 1e-10
}
task projectile scenes/projectile.yaml scenes/projectile.json --method lbfgs --max-iter 10
task bounce scenes/bounce.yaml scenes/bounce.json --method gd --lr 0.02 --max-iter 20
task spring_cage scenes/spring_cage.yaml scenes/spring_cage.json --method lbfgs --max-iter 10
task sysid scenes/sysid.yaml scenes/sysid.json --method lbfgs --max-iter 10
task cloth_control scenes/cloth_control.yaml scenes/cloth_control.json --method adam \
  --lr 0.05 --max-iter 5
task cartpole scenes/cartpole.yaml scenes/cartpole.json --method lbfgs --max-iter 10
task box_slide scenes/box_slide.yaml scenes/box_slide.json --method lbfgs --max-iter 10
task soft_sysid scenes/soft_sysid.yaml scenes/soft_sysid.json --method lbfgs --max-iter 5
task cloth_throw scenes/cloth_throw.yaml scenes/cloth_throw.json --method adam --lr 0.5 \
  --max-iter 3

if [ "$update" -eq 1 ]; then
  echo "regress: $n goldens written to $GOLD"
  exit 0
fi
echo "regress: $n checked, $fail failed"
[ "$fail" -eq 0 ]
