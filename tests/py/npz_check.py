#!/usr/bin/python3
"""Check that an NPZ written by dp is readable by numpy alone.

  npz_check.py FILE NAME=SHAPE ...   e.g.  out.npz particles/x=101,1,3 time=101 loss=
      Loads FILE with numpy.load (no pickle); each NAME must exist with that shape (empty:
      scalar), dtype float64 and finite values; the meta.json member must parse as JSON and
      have format_version and tool_version. Exit 0 when all hold, 1 otherwise.
  npz_check.py --write OUT.npz
      Write a small NPZ with numpy (a: float64 (2,3), b: float32 (4,), c: int64 (3,),
      d: bool (2,)) for the C reader's tests.
"""
import json
import sys
import zipfile

try:
    import numpy as np
except ImportError as e:  # the C tests skip when this fails
    print(f"npz_check.py: numpy is not importable: {e}", file=sys.stderr)
    sys.exit(1)

PROG = "npz_check.py"


def fail(msg):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(1)


def write(out):
    np.savez_compressed(
        out,
        a=np.array([[1.5, -2.0, 3.25], [4.0, 5.5, -6.75]], dtype=np.float64),
        b=np.array([0.5, 1.0, -2.5, 1e30], dtype=np.float32),
        c=np.array([-7, 0, 2**40], dtype=np.int64),
        d=np.array([True, False]),
    )
    return 0


def parse_spec(spec):
    if "=" not in spec:
        fail(f"bad argument '{spec}' (expected NAME=SHAPE, e.g. particles/x=101,1,3 or loss=)")
    name, shape_s = spec.rsplit("=", 1)
    try:
        shape = tuple(int(d) for d in shape_s.split(",")) if shape_s.strip() else ()
    except ValueError:
        fail(f"bad shape '{shape_s}' for '{name}' (expected comma-separated integers)")
    return name, shape


def check(path, specs):
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as e:  # numpy raises many kinds for a bad file
        fail(f"{path}: numpy cannot load it: {type(e).__name__}: {e}")
    if not hasattr(z, "files"):
        fail(f"{path}: not an npz archive (numpy loaded a single array)")
    errors = []
    with z:
        names = set(z.files)
        for name, shape in specs:
            if name not in names:
                errors.append(f"'{name}' missing (arrays: {', '.join(sorted(names)) or 'none'})")
                continue
            try:
                a = z[name]
            except Exception as e:
                errors.append(f"'{name}': numpy cannot read it: {type(e).__name__}: {e}")
                continue
            if a.dtype != np.float64:
                errors.append(f"'{name}': dtype {a.dtype}, expected float64")
            if a.shape != shape:
                errors.append(f"'{name}': shape {a.shape}, expected {shape}")
            if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                errors.append(f"'{name}': {int(np.sum(~np.isfinite(a)))} non-finite values")
    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read("meta.json").decode("utf-8"))
        if not isinstance(meta, dict):
            errors.append("meta.json: not a JSON object")
        else:
            for key in ("format_version", "tool_version"):
                if key not in meta:
                    errors.append(f"meta.json: key '{key}' missing")
    except KeyError:
        errors.append("meta.json member missing")
    except (ValueError, UnicodeDecodeError) as e:
        errors.append(f"meta.json: not valid JSON: {e}")
    except zipfile.BadZipFile as e:
        errors.append(f"not a zip archive: {e}")
    if errors:
        for msg in errors:
            print(f"{PROG}: {path}: {msg}", file=sys.stderr)
        return 1
    print(f"{PROG}: {path}: ok ({len(specs)} arrays, meta.json)")
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--write":
        return write(argv[2])
    if len(argv) < 2 or argv[1].startswith("-"):
        print(__doc__.strip(), file=sys.stderr)
        return 1
    return check(argv[1], [parse_spec(s) for s in argv[2:]])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
