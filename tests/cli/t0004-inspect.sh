# dp-inspect: summaries (NPZ, scene with bodies and soft bodies, CSV), --compare tolerances and
# failures, --plot series and their errors, --render frames (particles, bodies, soft bodies and
# shells), bad usage.
. tests/cli/lib.sh
I=$BIN/dp-inspect
S=$BIN/dp-simulate

expect_exit 0 "inspect --help" $I --help
expect_grep "usage: dp-inspect" "$T/out" "help text"
expect_exit 0 "inspect --version" $I --version
expect_grep "dp-inspect (dp) " "$T/out" "version line"
expect_exit 2 "no arguments" $I
expect_exit 2 "unknown option" $I --frobnicate scenes/oscillator.yaml
expect_grep "unknown option '--frobnicate'" "$T/err" "unknown option named"
expect_exit 2 "two files without a mode" $I scenes/oscillator.yaml scenes/bounce.yaml
expect_exit 2 "unknown file kind" $I README.md
expect_exit 2 "--rtol without --compare" $I --rtol 1e-3 scenes/oscillator.yaml
expect_grep "only applies to --compare" "$T/err" "misplaced option named"
expect_exit 2 "--plot without -o" $I --plot time "$T/p.npz"
expect_exit 2 "--compare and --plot" $I --compare --plot time -o "$T/x.png" a.npz b.npz
expect_exit 2 "bad --size" $I --plot time -o "$T/x.png" --size 800 "$T/p.npz"
expect_exit 2 "bad --view" $I --render --view zz --frames "$T/f" scenes/bounce.yaml "$T/b.npz"

# NPZ summary.
$S scenes/projectile.yaml -o "$T/p.npz" --quiet
expect_exit 0 "npz summary" $I "$T/p.npz"
expect_grep_re "^  particles/x  *<f8  *(201, 1, 3)" "$T/out" "summary lists particles/x with its shape"
expect_grep_re "^  time  *<f8  *(201,)  *0  *2 " "$T/out" "summary gives time's min and max"
expect_grep "  format_version: 1" "$T/out" "summary prints meta.json"
expect_grep "  particles: [ball]" "$T/out" "meta.json arrays inline"
expect_exit 0 "npz summary --json" $I "$T/p.npz" --json
if $PY -c "
import json
d = json.load(open('$T/out'))
a = {x['name']: x for x in d['arrays']}
assert a['particles/x']['shape'] == [201, 1, 3] and a['time']['max'] == 2.0, a
assert d['meta']['scene'] == 'projectile' and d['text'][0]['name'] == 'meta.json'
" 2>"$T/py"; then ok "npz json summary"; else nok "npz json summary: $(cat "$T/py")"; fi
expect_exit 2 "missing npz" $I "$T/nope.npz"
expect_grep "cannot open" "$T/err" "missing npz message"

# Scene table.
expect_exit 0 "scene table" $I scenes/oscillator.yaml
expect_grep "scene oscillator (scenes/oscillator.yaml): dt 0.01 s, 500 steps, semi_implicit_euler; 1 particle, 1 spring, 0 colliders" "$T/out" "scene header line"
expect_grep_re "^  springs.spring.stiffness  *()  *40  *0  *inf  *log \[1, 1000\]$" "$T/out" "stiffness 40 with bounds and its parameters: entry"
expect_grep_re "^  particles.bob.position  *(3,)  *\[1.2, 0, 0\]  *-inf  *inf$" "$T/out" "vector value"
expect_exit 0 "scene table with --set" $I scenes/oscillator.yaml --set springs.spring.stiffness=55
expect_grep_re "^  springs.spring.stiffness  *()  *55 " "$T/out" "--set changes the value shown"
expect_exit 2 "scene --set typo" $I scenes/oscillator.yaml --set springs.spring.stiffnes=3
expect_grep "did you mean 'springs.spring.stiffness'" "$T/err" "scene --set suggestion"
cat >"$T/ctl.yaml" <<'EOF'
name: ctl
dt: 0.01
steps: 4
particles:
  cart: {mass: 1, position: [0, 0, 1]}
controls:
  particles: [cart]
  values: [[[1, 0, 0]], [[2, 0, 0]], [[3, 0, -1.5]], [[0, 0, 0]]]
parameters:
  - {path: controls, lower: -5, upper: 5}
EOF
expect_exit 0 "long entries summarized" $I "$T/ctl.yaml"
expect_grep_re "^  controls  *(4, 1, 3)  *-1.5 \.\. 3  *-inf  *inf  *linear \[-5, 5\]$" "$T/out" "controls as shape and range"
expect_grep ", controls on 1 particle" "$T/out" "controls in the header"
expect_exit 0 "scene --json" $I scenes/bounce.yaml --json
if $PY -c "
import json
d = json.load(open('$T/out'))
p = {x['path']: x for x in d['parameters']}
v = p['particles.ball.velocity']
assert v['value'] == [5, 0, -5] and v['optimized'] and v['scale'] == 'linear' and v['optimized_lower'] == -20
assert p['ground.friction']['lower'] == 0 and p['ground.friction']['upper'] is None
assert d['colliders'] == 2 and d['integrator'] == 'semi_implicit_euler'
" 2>"$T/py"; then ok "scene json"; else nok "scene json: $(cat "$T/py")"; fi

# --compare: itself, a perturbed copy (numpy), tolerances, missing and reshaped arrays.
cat >"$T/perturb.py" <<'EOF'
import json, sys, zipfile
import numpy as np
src, dst, what = sys.argv[1:4]
z = np.load(src)
d = {k: z[k] for k in z.files if not k.endswith('.json')}
if what == 'x':
    d['particles/x'] = d['particles/x'] + 1e-6
elif what == 'drop':
    del d['particles/v']
    d['time'] = d['time'][:-1]
np.savez_compressed(dst, **d)
meta = zipfile.ZipFile(src).read('meta.json').decode()
if what == 'fv':
    m = json.loads(meta)
    m['format_version'] = 99
    meta = json.dumps(m)
with zipfile.ZipFile(dst, 'a', zipfile.ZIP_DEFLATED) as zf:
    zf.writestr('meta.json', meta)
EOF
for w in x drop fv; do $PY "$T/perturb.py" "$T/p.npz" "$T/p_$w.npz" $w || nok "perturb $w"; done
expect_exit 0 "compare with itself" $I --compare "$T/p.npz" "$T/p.npz"
expect_grep "compare: 3 arrays, 0 differ" "$T/out" "compare summary line"
expect_exit 1 "compare perturbed copy" $I --compare "$T/p.npz" "$T/p_x.npz"
expect_grep_re "^particles/x  *(201, 1, 3)  *1e-06 .*DIFFERS" "$T/out" "differing array named with its error"
expect_grep_re "^particles/v .* ok$" "$T/out" "untouched array ok"
expect_grep "compare: 3 arrays, 1 differ" "$T/out" "one array differs"
expect_exit 0 "loose tolerances" $I --compare "$T/p.npz" "$T/p_x.npz" --rtol 1e-3 --atol 1e-5
expect_exit 1 "rtol alone cannot cover x = 0" $I --compare "$T/p.npz" "$T/p_x.npz" --rtol 1e-3
expect_exit 1 "quiet compare" $I --compare "$T/p.npz" "$T/p_x.npz" --quiet
[ ! -s "$T/out" ] && ok "quiet compare prints nothing" || nok "quiet compare printed: $(cat "$T/out")"
expect_exit 1 "missing array and shape mismatch" $I --compare "$T/p.npz" "$T/p_drop.npz"
expect_grep_re "^time  *(201,) vs (200,) .*shape mismatch" "$T/out" "shape mismatch reported"
expect_grep_re "^particles/v .*missing in .*p_drop.npz" "$T/out" "missing array reported"
expect_exit 1 "format_version differs" $I --compare "$T/p.npz" "$T/p_fv.npz"
expect_grep "format_version: 1 vs 99" "$T/out" "format_version reported"
expect_exit 1 "compare --json" $I --compare "$T/p.npz" "$T/p_x.npz" --json
if $PY -c "
import json
d = json.load(open('$T/out'))
a = {x['name']: x for x in d['arrays']}
assert not d['ok'] and d['differ'] == 1 and d['compared'] == 3
assert a['particles/x']['status'] == 'differs' and abs(a['particles/x']['max_abs_err'] - 1e-6) < 1e-12
assert a['time']['ok'] and d['rtol'] == 1e-9 and d['atol'] == 1e-12
" 2>"$T/py"; then ok "compare json"; else nok "compare json: $(cat "$T/py")"; fi
expect_exit 2 "compare missing file" $I --compare "$T/p.npz" "$T/nope.npz"
expect_exit 2 "compare one file" $I --compare "$T/p.npz"
expect_exit 2 "compare npz with csv" $I --compare "$T/p.npz" "$T/h.csv"

# CSV: summary and comparison by column name.
printf 'iteration,loss,grad_norm,springs.spring.stiffness\n0,1.5,3,40\n1,0.5,1,38\n2,0.01,0.2,35.5\n3,1e-5,0.01,35.1\n' >"$T/h.csv"
printf 'iteration,loss,grad_norm,springs.spring.stiffness\n0,1.5,3,40\n1,0.5,1,38\n2,0.01,0.2,35.5\n3,1e-5,0.01,35.2\n' >"$T/h2.csv"
expect_exit 0 "csv summary" $I "$T/h.csv"
expect_grep "h.csv: 4 rows, 4 columns" "$T/out" "csv row count"
expect_grep_re "^  loss  *1.5  *1e-05  *1e-05  *1.5$" "$T/out" "csv first/last/min/max"
expect_exit 0 "csv compare itself" $I --compare "$T/h.csv" "$T/h.csv"
expect_exit 1 "csv compare changed column" $I --compare "$T/h.csv" "$T/h2.csv"
expect_grep_re "^springs.spring.stiffness .*DIFFERS: 1 of 4" "$T/out" "csv column named"
printf 'a,b\n1,2\n3\n' >"$T/bad.csv"
expect_exit 2 "ragged csv" $I "$T/bad.csv"
expect_grep "bad.csv:3:1: row has 1 field, the header has 2" "$T/err" "ragged csv position"

# --plot: NPZ series, particle names, several files, CSV history with automatic log scale.
is_png() {  # FILE WIDTH HEIGHT DESCRIPTION
  if $PY -c "
import struct, sys
b = open('$1', 'rb').read(24)
assert b[:8] == b'\x89PNG\r\n\x1a\n', b[:8]
assert struct.unpack('>II', b[16:24]) == ($2, $3), struct.unpack('>II', b[16:24])
" 2>"$T/py"; then ok "$4"; else nok "$4: $(cat "$T/py")"; fi
}
expect_exit 0 "plot z of particle 0" $I --plot 'particles/x[:,0,2]' -o "$T/z.png" "$T/p.npz"
is_png "$T/z.png" 800 500 "plot is an 800x500 PNG"
expect_exit 0 "plot by particle name, two files, --size" $I --plot 'particles/x[:,ball,-1]' --plot time -o "$T/z2.png" --size 640x360 "$T/p.npz" "$T/p_x.npz" --title "two files"
is_png "$T/z2.png" 640 360 "sized plot"
expect_grep "plot: 4 series" "$T/out" "each series drawn for each file"
expect_exit 0 "plot csv loss" $I --plot loss -o "$T/loss.png" "$T/h.csv"
expect_grep "log y" "$T/out" "loss history gets a log axis"
is_png "$T/loss.png" 800 500 "loss plot PNG"
expect_exit 0 "plot csv --linear" $I --plot loss --linear -o "$T/loss2.png" "$T/h.csv"
if grep -q "log y" "$T/out"; then nok "--linear overrides"; else ok "--linear overrides"; fi
expect_exit 0 "plot csv --x" $I --plot loss --x grad_norm -o "$T/loss3.png" "$T/h.csv"
expect_exit 2 "bad index: two ':'" $I --plot 'particles/x[:,:,2]' -o "$T/e.png" "$T/p.npz"
expect_grep "exactly one ':'" "$T/err" "two ':' message"
expect_exit 2 "bad index: no ':'" $I --plot 'particles/x[0,0,2]' -o "$T/e.png" "$T/p.npz"
expect_exit 2 "index out of range" $I --plot 'particles/x[:,0,3]' -o "$T/e.png" "$T/p.npz"
expect_grep "index 3 is out of range for axis 2 of 'particles/x' (length 3)" "$T/err" "out of range message"
expect_exit 2 "wrong number of indices" $I --plot 'particles/x[:,0]' -o "$T/e.png" "$T/p.npz"
expect_exit 2 "no index on a 3-d array" $I --plot 'particles/x' -o "$T/e.png" "$T/p.npz"
expect_exit 2 "unclosed bracket" $I --plot 'particles/x[:,0,2' -o "$T/e.png" "$T/p.npz"
expect_exit 2 "unknown array" $I --plot 'particles/q[:,0,2]' -o "$T/e.png" "$T/p.npz"
expect_grep "no array 'particles/q' in $T/p.npz (did you mean 'particles/x'?)" "$T/err" "unknown array suggestion"
expect_exit 2 "unknown particle name" $I --plot 'particles/x[:,bal,2]' -o "$T/e.png" "$T/p.npz"
expect_grep "no particle 'bal'" "$T/err" "unknown particle message"
expect_grep "did you mean 'ball'" "$T/err" "particle name suggestion"
expect_exit 2 "unknown column" $I --plot losss -o "$T/e.png" "$T/h.csv"
expect_grep "no column 'losss' in $T/h.csv (did you mean 'loss'?)" "$T/err" "unknown column suggestion"
[ ! -e "$T/e.png" ] && ok "no plot written after errors" || nok "plot written after an error"

# --render: every N-th frame into a new directory.
$S scenes/bounce.yaml -o "$T/b.npz" --quiet
expect_exit 0 "render every 50th frame" $I --render scenes/bounce.yaml "$T/b.npz" --frames "$T/frames" --every 50 --size 320x240
n=$(ls "$T/frames" | grep -c '^frame_[0-9]\{5\}\.png$')
[ "$n" -eq 6 ] && ok "289 frames every 50 -> 6 files" || nok "render wrote $n files, want 6"
is_png "$T/frames/frame_00005.png" 320 240 "frame PNG size"
expect_grep "6 frames" "$T/out" "render reports the count"
expect_exit 2 "render with the wrong scene" $I --render scenes/cloth.yaml "$T/b.npz" --frames "$T/frames2"
expect_grep "has 1 particle but the scene scenes/cloth.yaml has 256" "$T/err" "particle count mismatch named"
expect_exit 2 "render without --frames" $I --render scenes/bounce.yaml "$T/b.npz"
expect_exit 2 "render with one file" $I --render scenes/bounce.yaml --frames "$T/frames"

# Articulated bodies: the scene table lists bodies, shapes and actuators; trajectories hold
# bodies/q, bodies/qd, bodies/xpos, bodies/xquat and actuators/controls; frames draw them.
cat >"$T/arm.yaml" <<'EOF'
name: arm
dt: 0.01
steps: 20
gravity: [0, 0, 0]
bodies:
  crate:
    joint: free
    q: [0.3, 0, 0.2, 1, 0, 0, 0]
    shapes:
      - {type: box, name: lid, half_extents: [0.2, 0.1, 0.2]}
  pole:
    parent: crate
    joint: revolute
    axis: [0, 1, 0]
    joint_pos: [-0.8, 0, 0]
    qd: 1.0
    shapes:
      - {type: capsule, name: rod, fromto: [0, 0, 0.1, 0, 0, 0.5], radius: 0.05}
actuators:
  hinge: {body: pole, type: position, kp: 10, kv: 1, ctrl_range: [-1, 1], ctrl_smoothing: 0.01}
EOF
expect_exit 0 "scene table with bodies" $I "$T/arm.yaml"
expect_grep "0 colliders; 2 bodies (nq 8, nv 7), 2 shapes, 1 actuator" "$T/out" "bodies in the header"
expect_grep_re "^  crate  *free  *world  *7  *6  *0  *0$" "$T/out" "free body row"
expect_grep_re "^  pole  *revolute  *crate  *1  *1  *7  *6$" "$T/out" "revolute body row with parent and offsets"
expect_grep_re "^  rod  *capsule  *pole  *yes$" "$T/out" "shape row"
expect_grep_re "^  hinge  *position  *pole  *\[-1, 1\]$" "$T/out" "actuator row"
expect_grep_re "^  bodies.pole.joint_pos  *(3,)  *\[-0.8, 0, 0\]  *-inf  *inf$" "$T/out" "body parameter paths"
expect_grep_re "^  actuators.hinge.controls  *(20,)  *0 \.\. 0 " "$T/out" "actuator controls entry"
expect_exit 0 "scene --json with bodies" $I "$T/arm.yaml" --json
if $PY -c "
import json
d = json.load(open('$T/out'))
b = {x['name']: x for x in d['bodies']}
assert b['pole'] == {'name': 'pole', 'joint': 'revolute', 'parent': 'crate', 'nq': 1, 'nv': 1, 'qadr': 7, 'vadr': 6}, b
assert b['crate']['parent'] is None and d['nq'] == 8 and d['nv'] == 7
assert [s['name'] for s in d['shapes']] == ['lid', 'rod'] and d['shapes'][0]['type'] == 'box'
assert d['actuators'] == [{'name': 'hinge', 'type': 'position', 'body': 'pole', 'ctrl_range': [-1, 1]}]
assert 'shapes.rod.size' in {p['path'] for p in d['parameters']}
" 2>"$T/py"; then ok "scene json with bodies"; else nok "scene json with bodies: $(cat "$T/py")"; fi
$S "$T/arm.yaml" -o "$T/arm.npz" --quiet
$S "$T/arm.yaml" -o "$T/arm_noise.npz" --quiet --noise 0.1
expect_exit 0 "npz summary with bodies" $I "$T/arm.npz"
expect_grep_re "^  bodies/xquat  *<f8  *(21, 2, 4)" "$T/out" "summary lists bodies/xquat"
expect_grep "  joints: [free, revolute]" "$T/out" "meta.json joint types"
if $PY -c "
import json, zipfile
import numpy as np
z = np.load('$T/arm.npz')
meta = json.loads(zipfile.ZipFile('$T/arm.npz').read('meta.json'))
assert meta['bodies'] == ['crate', 'pole'] and meta['qadr'] == [0, 7] and meta['vadr'] == [0, 6], meta
assert meta['shapes'] == ['lid', 'rod'] and meta['actuators'] == ['hinge'] and meta['parents'] == [-1, 0]
q, xp, xq = z['bodies/q'], z['bodies/xpos'], z['bodies/xquat']
assert q.shape == (21, 8) and z['bodies/qd'].shape == (21, 7) and xp.shape == (21, 2, 3)
assert z['actuators/controls'].shape == (20, 1)
assert np.allclose(xq[0, 0], [1, 0, 0, 0]) and np.allclose(xp[0], [[0.3, 0, 0.2], [-0.5, 0, 0.2]])
# the pole turns about y; the pose arrays are unit quaternions
assert abs(q[-1, 7] - q[0, 7]) > 0.05 and np.allclose(np.linalg.norm(xq, axis=2), 1)
# noise goes on particle positions only: the bodies are recorded as simulated
n = np.load('$T/arm_noise.npz')
assert all((n[k] == z[k]).all() for k in ('bodies/q', 'bodies/qd', 'bodies/xpos', 'bodies/xquat'))
" 2>"$T/py"; then ok "body arrays and meta.json"; else nok "body arrays and meta.json: $(cat "$T/py")"; fi
expect_exit 0 "render bodies" $I --render "$T/arm.yaml" "$T/arm.npz" --frames "$T/armf" --every 10 --size 200x150
is_png "$T/armf/frame_00002.png" 200 150 "body frame PNG"
$PY -c "
import zipfile
a = zipfile.ZipFile('$T/arm.npz')
b = zipfile.ZipFile('$T/arm_nopose.npz', 'w')
for n in a.namelist():
    if n != 'bodies/xquat.npy':
        b.writestr(n, a.read(n))
b.close()
"
expect_exit 2 "render bodies without poses" $I --render "$T/arm.yaml" "$T/arm_nopose.npz" --frames "$T/armg"
expect_grep "no array 'bodies/xquat' in $T/arm_nopose.npz, and the scene $T/arm.yaml has bodies" "$T/err" "missing body poses named"

# Soft bodies and shells: the scene table lists them; a trajectory's soft arrays (written here
# with numpy, so that nothing depends on stepping) are summarized like any array and drawn as
# surfaces coloured by strain (--mesh strain, the default) or as edges (--mesh edges).
cat >"$T/soft.yaml" <<'EOF'
name: soft
dt: 0.01
steps: 10
softbodies:
  jelly:
    mesh: {box: {size: [0.4, 0.2, 0.2], resolution: [2, 1, 1]}}
    material: corotated
    youngs_modulus: 2.0e4
    density: 500
    pinned: [0]
shells:
  flag:
    mesh: {grid: {size: [0.5, 0.5], resolution: [1, 1]}}
    position: [1, 0, 0.3]
EOF
expect_exit 0 "scene table with soft bodies" $I "$T/soft.yaml"
expect_grep "0 colliders; 1 soft body, 1 shell (16 vertices)" "$T/out" "soft bodies in the header"
expect_grep_re "^  jelly  *soft body  *12  *12 tetrahedra  *corotated  *20000  *0\.3  *500 kg/m^3  *1$" "$T/out" "soft body row"
expect_grep_re "^  flag  *shell  *4  *2 triangles  *stvk (membrane)  *1000000  *0\.3  *0\.2 kg/m^2  *0$" "$T/out" "shell row"
expect_exit 0 "scene --json with soft bodies" $I "$T/soft.yaml" --json
if $PY -c "
import json
d = json.load(open('$T/out'))
s = {x['name']: x for x in d['softbodies']}
assert d['soft_vertices'] == 16
assert s['jelly'] == {'name': 'jelly', 'kind': 'softbody', 'vertices': 12, 'tetrahedra': 12, 'material': 'corotated', 'youngs_modulus': 20000, 'poisson_ratio': 0.3, 'density': 500, 'pins': 1}, s
assert s['flag']['kind'] == 'shell' and s['flag']['triangles'] == 2 and s['flag']['thickness'] > 0
" 2>"$T/py"; then ok "scene json with soft bodies"; else nok "scene json with soft bodies: $(cat "$T/py")"; fi
# Frame 0 at rest, frame 1 with the jelly stretched 1.5 times along x (the documented vertex
# order of the generated box and grid).
$PY -c "
import numpy as np
i, j, k = np.meshgrid(range(3), range(2), range(2), indexing='ij')
order = np.argsort((i + 3 * (j + 2 * k)).ravel())
X = np.stack([-0.2 + 0.2 * i, -0.1 + 0.2 * j, -0.1 + 0.2 * k], -1).reshape(-1, 3)[order]
G = np.array([[0.75, -0.25, 0.3], [1.25, -0.25, 0.3], [0.75, 0.25, 0.3], [1.25, 0.25, 0.3]])
jx = np.stack([X, X * [1.5, 1, 1]])
common = {'time': np.array([0, 0.1]), 'particles/x': np.zeros((2, 0, 3))}
np.savez('$T/soft.npz', **common, **{'softbodies/jelly/x': jx, 'shells/flag/x': np.stack([G, G])})
np.savez('$T/soft_short.npz', **common,
         **{'softbodies/jelly/x': jx[:, :5], 'shells/flag/x': np.stack([G, G])})
np.savez('$T/soft_none.npz', **common, **{'softbodies/jelly/x': jx})
"
expect_exit 0 "npz summary with soft arrays" $I "$T/soft.npz"
expect_grep_re "^  softbodies/jelly/x  *<f8  *(2, 12, 3)" "$T/out" "summary lists softbodies/jelly/x"
expect_exit 0 "render soft bodies by strain" $I --render "$T/soft.yaml" "$T/soft.npz" --frames "$T/softf" --size 240x180
is_png "$T/softf/frame_00001.png" 240 180 "soft frame PNG"
cmp -s "$T/softf/frame_00000.png" "$T/softf/frame_00001.png" && nok "the stretched frame looks like the rest frame" || ok "the stretched frame differs"
expect_exit 0 "render soft bodies as edges" $I --render "$T/soft.yaml" "$T/soft.npz" --frames "$T/softe" --size 240x180 --mesh edges --json
expect_grep '"mesh":	"edges"' "$T/out" "render json names the mesh style"
cmp -s "$T/softf/frame_00001.png" "$T/softe/frame_00001.png" && nok "edges look like strain" || ok "edges differ from strain"
expect_exit 2 "render soft bodies with too few vertices" $I --render "$T/soft.yaml" "$T/soft_short.npz" --frames "$T/softg"
expect_grep "'softbodies/jelly/x' in $T/soft_short.npz has shape (2, 5, 3), expected (2, 12, 3)" "$T/err" "wrong soft shape named"
expect_exit 2 "render a shell missing from the trajectory" $I --render "$T/soft.yaml" "$T/soft_none.npz" --frames "$T/softg"
expect_grep "no array 'shells/flag/x' in $T/soft_none.npz, and the scene $T/soft.yaml has the shell 'flag'" "$T/err" "missing shell named"
expect_exit 2 "bad --mesh" $I --render "$T/soft.yaml" "$T/soft.npz" --frames "$T/softg" --mesh faces
expect_grep "unknown style 'faces' (use strain or edges)" "$T/err" "bad --mesh named"
expect_exit 2 "--mesh without --render" $I "$T/soft.npz" --mesh edges
expect_grep "option '--mesh' only applies to --render" "$T/err" "misplaced --mesh named"

# --get: values for scripts (sweeps), exact to the last bit.
expect_exit 0 "get one element by particle name" $I "$T/p.npz" --get 'particles/x[-1,ball,0]' --get 'time[-1]'
if $PY -c "
import numpy as np
z = np.load('$T/p.npz')
v = [float(l) for l in open('$T/out')]
assert v == [z['particles/x'][-1, 0, 0], z['time'][-1]], v
" 2>"$T/py"; then ok "get values are exact"; else nok "get values: $(cat "$T/py")"; fi
expect_exit 0 "get an axis" $I "$T/p.npz" --get 'particles/x[0,0,:]'
[ "$(wc -l <"$T/out")" -eq 3 ] && ok "get ':' lists the axis" || nok "get ':' printed $(wc -l <"$T/out") lines"
expect_exit 0 "get csv row" $I "$T/h.csv" --get 'loss[-1]'
[ "$(cat "$T/out")" = "1e-05" ] && ok "get csv row value" || nok "get csv row value: $(cat "$T/out")"
expect_exit 2 "get two ':'" $I "$T/p.npz" --get 'particles/x[:,0,:]'
expect_exit 2 "get unknown column" $I "$T/h.csv" --get 'los[0]'
expect_grep "did you mean 'loss'" "$T/err" "get column suggestion"
expect_exit 2 "get with two files" $I "$T/p.npz" "$T/p.npz" --get time
