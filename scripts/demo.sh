#!/bin/sh
# make demo: the main job on a real scene. Simulates the bounce benchmark (a ball bouncing off
# the ground and a wall), computes the gradient of its loss with respect to every parameter by
# the adjoint, checks it against finite differences, and writes the files under out/.
set -eu
BIN=${1:-build/bin}
mkdir -p out
echo "== dp-simulate: scenes/bounce.yaml -> out/bounce.npz"
"$BIN/dp-simulate" scenes/bounce.yaml -o out/bounce.npz
echo
echo "== dp-differentiate: gradient of scenes/bounce.json, checked against finite differences"
"$BIN/dp-differentiate" scenes/bounce.yaml scenes/bounce.json -o out/bounce_grad.npz --check \
  --wrt particles.ball.velocity --wrt particles.ball.position --wrt 'ground.*' \
  --wrt gravity
echo
echo "== dp-differentiate: the 32x32 cloth, gradient for all its spring stiffnesses"
"$BIN/dp-differentiate" scenes/cloth.yaml scenes/cloth.json --set cloth.sheet.n=32 \
  --wrt 'springs.*.stiffness' -o out/cloth_grad.npz
echo
echo "demo outputs:"
for f in out/bounce.npz out/bounce_grad.npz out/cloth_grad.npz; do
  echo "  $f ($(wc -c <"$f") bytes)"
done
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  /usr/bin/python3 - <<'PY'
import numpy as np
z = np.load("out/bounce.npz")
x = z["particles/x"]
print(f"  numpy: out/bounce.npz particles/x {x.shape}, final ball position {x[-1, 0].round(4).tolist()}")
g = np.load("out/bounce_grad.npz")
print(f"  numpy: out/bounce_grad.npz loss {float(g['loss']):.6g}, "
      f"grad/particles.ball.velocity {g['grad/particles.ball.velocity'].round(6).tolist()}")
PY
fi
