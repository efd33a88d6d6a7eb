#!/bin/sh
# make demo: the main job end to end on the bounce benchmark. Simulate a ball thrown at a wall,
# differentiate its loss (checked against finite differences), fit its launch velocity with
# dp-optimize so that it bounces to a target, and look at the result: a loss curve, paths
# before and after, and frames of the optimized throw. Everything lands in out/.
set -eu
BIN=${1:-build/bin}
OUT=out
mkdir -p "$OUT"
echo "== dp-simulate: scenes/bounce.yaml -> $OUT/bounce.npz"
"$BIN/dp-simulate" scenes/bounce.yaml -o "$OUT/bounce.npz"
echo
echo "== dp-differentiate: the gradient of scenes/bounce.json, checked against finite differences"
"$BIN/dp-differentiate" scenes/bounce.yaml scenes/bounce.json -o "$OUT/bounce_grad.npz" \
  --check --wrt particles.ball.velocity --wrt particles.ball.position --wrt gravity
echo
echo "== dp-optimize: Adam on the launch velocity (lr 0.5, 250 iterations)"
"$BIN/dp-optimize" scenes/bounce.yaml scenes/bounce.json --method adam --lr 0.5 --max-iter 250 \
  --tol 0 -o "$OUT/bounce_optimized.yaml" --history "$OUT/bounce_history.csv" \
  --trajectory "$OUT/bounce_optimized.npz"
echo
echo "== dp-inspect: loss curve, paths before and after, frames of the optimized throw"
"$BIN/dp-inspect" "$OUT/bounce_history.csv" --plot loss --title "bounce: Adam, lr 0.5" \
  -o "$OUT/bounce_loss.png"
"$BIN/dp-inspect" "$OUT/bounce.npz" "$OUT/bounce_optimized.npz" --plot 'particles/x[:,ball,0]' \
  --plot 'particles/x[:,ball,2]' --title "ball position, initial and optimized launch" \
  --ylabel "m" -o "$OUT/bounce_paths.png"
rm -rf "$OUT/bounce_frames"
"$BIN/dp-inspect" --render scenes/bounce.yaml "$OUT/bounce_optimized.npz" \
  --frames "$OUT/bounce_frames" --every 8 --view xz
echo
echo "== the optimized scene, reloaded: dp-differentiate reproduces the final loss"
"$BIN/dp-differentiate" "$OUT/bounce_optimized.yaml" scenes/bounce.json --quiet -o "$OUT/bounce_check.npz"
echo
echo "demo outputs in $OUT/:"
for f in bounce.npz bounce_grad.npz bounce_optimized.yaml bounce_history.csv \
  bounce_optimized.npz bounce_loss.png bounce_paths.png; do
  echo "  $OUT/$f ($(wc -c <"$OUT/$f") bytes)"
done
echo "  $OUT/bounce_frames/ ($(ls "$OUT/bounce_frames" | wc -l) PNG frames)"
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  /usr/bin/python3 - "$OUT" <<'PY'
import sys
import numpy as np
out = sys.argv[1]
a = np.load(f"{out}/bounce.npz")["particles/x"][-1, 0]
b = np.load(f"{out}/bounce_optimized.npz")["particles/x"][-1, 0]
L = float(np.load(f"{out}/bounce_check.npz")["loss"])
print(f"  numpy: ball ends at {a.round(3).tolist()} before, {b.round(3).tolist()} after "
      f"(target [-2, 0, 1.5]); loss of the optimized scene {L:.3g}")
PY
fi
