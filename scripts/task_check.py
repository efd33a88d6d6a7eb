#!/usr/bin/python3
"""Check that a dp-optimize run met its task's criterion.

usage: task_check.py RESULT.json [--loss-below X] [--below-initial F] [--max-iter N]
                     [--param PATH=VALUE ...]
                     [--rel-tol R] [--reproduce SCENE.yaml LOSS.json DIFFERENTIATE.json]

RESULT.json is the --json output of dp-optimize. --param checks an optimized parameter
(a history column name such as particles.bob.mass or particles.ball.velocity[0]) against a
known value within --rel-tol (default 0.01). --reproduce compares the loss that
`dp-differentiate OPTIMIZED.yaml LOSS --json` printed (DIFFERENTIATE.json) with the loss
dp-optimize reported. Prints one line per check; exits 1 when one fails.
"""
import json
import sys


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
    while i < len(args):
        a = args[i]
        if a == "--rel-tol":
            rel_tol = float(args[i + 1]); i += 2
        elif a in ("--loss-below", "--max-iter", "--param", "--below-initial"):
            checks.append((a, args[i + 1])); i += 2
        elif a == "--reproduce":
            checks.append((a, args[i + 1])); i += 2
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
