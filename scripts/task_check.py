#!/usr/bin/python3
"""Check that a dp-optimize run met its task's criterion.

usage: task_check.py RESULT.json [--loss-below X] [--below-initial F] [--max-iter N]
                     [--param PATH=VALUE ...]
                     [--rel-tol R] [--reproduce SCENE.yaml LOSS.json DIFFERENTIATE.json]
                     [--trajectory NPZ] [--final ARRAY[I]=VALUE+-TOL ...]
                     [--final-angle ARRAY[I]=VALUE+-TOL ...]

RESULT.json is the --json output of dp-optimize. --param checks an optimized parameter
(a history column name such as particles.bob.mass or particles.ball.velocity[0]) against a
known value within --rel-tol (default 0.01). --reproduce compares the loss that
`dp-differentiate OPTIMIZED.yaml LOSS --json` printed (DIFFERENTIATE.json) with the loss
dp-optimize reported. --final checks the last frame of an array of the optimized trajectory
(--trajectory, the NPZ of dp-optimize --trajectory) against VALUE within an absolute TOL, with
indices into the remaining axes separated by commas: bodies/qd[1]=0+-0.1 is the velocity
coordinate 1 at the last step, bodies/xpos[2,0]=1+-1e-3 the x of body 2 (± may stand for +-).
--final-angle is the same for an angle in rad, compared modulo 2π: bodies/q[1]=3.14159+-0.05
accepts −π too. Prints one line per check; exits 1 when one fails.
"""
import ast
import json
import math
import re
import struct
import sys
import zipfile


def read_npy(npz, name):
    """The array NAME of an NPZ file as (shape, flat list of floats); float64 only, no numpy."""
    with zipfile.ZipFile(npz) as z:
        data = z.read(name + ".npy")
    if data[:6] != b"\x93NUMPY":
        raise ValueError(f"{npz}: {name} is not an NPY array")
    if data[6] == 1:
        hlen, start = struct.unpack("<H", data[8:10])[0], 10
    else:
        hlen, start = struct.unpack("<I", data[8:12])[0], 12
    header = ast.literal_eval(data[start:start + hlen].decode("latin1"))
    if header["descr"] != "<f8" or header["fortran_order"]:
        raise ValueError(f"{npz}: {name}: expected little-endian float64 in C order")
    shape = tuple(header["shape"])
    n = math.prod(shape)
    body = data[start + hlen:]
    return shape, list(struct.unpack(f"<{n}d", body[:8 * n]))


def final_value(npz, spec):
    """Parse ARRAY[I,...]=VALUE+-TOL; return (label, value of the last frame, VALUE, TOL)."""
    m = re.fullmatch(r"([^\[=]+)(?:\[([-0-9, ]*)\])?=([^+±]+)(?:\+-|±)(.+)", spec)
    if not m:
        raise ValueError(f"bad --final {spec!r} (expected ARRAY[I,...]=VALUE+-TOL)")
    name, idx, want, tol = m.group(1), m.group(2), float(m.group(3)), float(m.group(4))
    shape, flat = read_npy(npz, name)
    index = [shape[0] - 1] + ([int(i) for i in idx.split(",")] if idx else [])
    if len(index) != len(shape):
        raise ValueError(f"--final {spec!r}: {name} has shape {shape}, {len(index)} indices given")
    off = 0
    for k, (i, n) in enumerate(zip(index, shape)):
        if not -n <= i < n:
            raise ValueError(f"--final {spec!r}: index {i} out of range for axis {k} of {shape}")
        off = off * n + (i % n)
    label = f"{name}[{idx}]" if idx else name
    return label, flat[off], want, tol


def main(argv):
    args = argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    with open(args[0]) as f:
        res = json.load(f)
    name = res.get("scene", args[0])
    fails = 0
    i = 1
    rel_tol = 0.01
    checks = []
    traj = None
    while i < len(args):
        a = args[i]
        if a == "--rel-tol":
            rel_tol = float(args[i + 1]); i += 2
        elif a in ("--loss-below", "--max-iter", "--param", "--below-initial"):
            checks.append((a, args[i + 1])); i += 2
        elif a in ("--reproduce", "--final", "--final-angle"):
            checks.append((a, args[i + 1])); i += 2
        elif a == "--trajectory":
            traj = args[i + 1]; i += 2
        else:
            print(f"task_check: unknown argument {a!r}", file=sys.stderr)
            return 2
    for kind, val in checks:
        if kind == "--loss-below":
            ok = res["loss"] < float(val)
            msg = f"loss {res['loss']:.3e} < {float(val):.0e}"
        elif kind == "--below-initial":
            ok = res["loss"] <= float(val) * res["initial_loss"]
            msg = (f"loss {res['loss']:.3e} <= {float(val):g} x initial {res['initial_loss']:.3e} "
                   f"(a {res['initial_loss'] / max(res['loss'], 1e-300):.3g}x reduction)")
        elif kind == "--max-iter":
            ok = res["iterations"] <= int(val)
            msg = f"{res['iterations']} iterations <= {val} ({res['stop_reason']})"
        elif kind == "--param":
            path, want = val.rsplit("=", 1)
            got = res["parameters"][path]
            err = abs(got - float(want)) / abs(float(want))
            ok = err <= rel_tol
            msg = f"{path} = {got:.6g}, true {float(want):g}: error {100 * err:.3f} % <= {100 * rel_tol:g} %"
        elif kind in ("--final", "--final-angle"):
            if traj is None:
                print(f"task_check: {kind} needs --trajectory", file=sys.stderr)
                return 2
            try:
                label, got, want, tol = final_value(traj, val)
            except (OSError, KeyError, ValueError) as e:
                print(f"task_check: {e}", file=sys.stderr)
                return 2
            d = got - want
            if kind == "--final-angle":
                d = math.remainder(d, 2 * math.pi)
            ok = abs(d) < tol
            what = " (mod 2π)" if kind == "--final-angle" else ""
            msg = f"final {label} = {got:.6g}: |{got:.6g} - {want:g}|{what} = {abs(d):.3g} < {tol:g}"
        else:
            with open(val) as f:
                again = json.load(f)["loss"]
            d = abs(again - res["loss"]) / max(abs(res["loss"]), 1e-300)
            ok = d <= 1e-12
            msg = f"the optimized scene reproduces the loss ({again:.17g} vs {res['loss']:.17g})"
        print(f"{name}: {'ok' if ok else 'FAILED'}: {msg}")
        fails += not ok
    print(f"{name}: {res['iterations']} iterations, {res['wall_time_s']:.3f} s "
          f"({1e3 * res['time_per_iteration_s']:.3f} ms/iteration)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
