#!/usr/bin/python3
"""Keep the JSON Schemas and the loaders in agreement.

Every scenes/*.yaml must validate against schemas/scene.schema.json; every
tests/bad/scenes/*.yaml must fail (to parse as YAML, or the schema), except files whose first
lines say "# schema: valid" (bad for the loader for reasons a schema cannot express). Likewise,
when schemas/loss.schema.json exists: scenes/*.json must validate and tests/bad/losses/*.json
must fail, except the files listed in tests/bad/losses/SCHEMA_VALID (one name a line).

YAML is read with the YAML 1.2 core schema, as libyaml-based dp reads it (PyYAML's default is
YAML 1.1, where 1e4 is a string and yes/no are booleans); duplicate keys are an error, and a
non-finite number (.inf, .nan) has no JSON counterpart, so it fails validation.
Needs Debian's python3-jsonschema and python3-yaml. Exit 0 when all pass, 1 otherwise.
"""
import glob
import json
import math
import os
import re
import sys

import jsonschema
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class CoreLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars and duplicate keys rejected."""


CoreLoader.yaml_implicit_resolvers = {}
for tag, regexp, first in [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^[-+]?[0-9]+$", list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
     r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", list("-+0123456789.")),
]:
    CoreLoader.add_implicit_resolver(tag, re.compile(regexp), first)


def _int(loader, node):
    return int(loader.construct_scalar(node))


def _float(loader, node):
    text = loader.construct_scalar(node).lower()
    if text.endswith(".inf"):
        return -math.inf if text.startswith("-") else math.inf
    if text == ".nan":
        return math.nan
    return float(text)


def _mapping(loader, node):
    loader.flatten_mapping(node)
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, "duplicate key %r" % (key,), key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


CoreLoader.add_constructor("tag:yaml.org,2002:int", _int)
CoreLoader.add_constructor("tag:yaml.org,2002:float", _float)
CoreLoader.add_constructor("tag:yaml.org,2002:map", _mapping)


def _finite(value, where="$"):
    """Raise ValueError at the first non-finite number (not representable in JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("%s: non-finite number %r" % (where, value))
    if isinstance(value, dict):
        for k, v in value.items():
            _finite(v, "%s.%s" % (where, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _finite(v, "%s[%d]" % (where, i))


def _problem(validator, load, path):
    """None when the file loads and validates, else a one-line reason."""
    try:
        with open(path, encoding="utf-8") as f:
            data = load(f)
        _finite(data)
    except (yaml.YAMLError, ValueError, UnicodeDecodeError) as e:
        return "does not parse: %s" % str(e).replace("\n", " ")
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        return "schema: %s at %s" % (error.message, "/".join(map(str, error.absolute_path)) or "/")
    return None


def _schema_valid_marker(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        head = [f.readline() for _ in range(5)]
    return any(line.startswith("# schema: valid") for line in head)


def main():
    os.chdir(ROOT)
    passed = failed = 0

    def report(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL %s" % what)

    with open("schemas/scene.schema.json", encoding="utf-8") as f:
        scene_schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(scene_schema)
    scene = jsonschema.Draft202012Validator(scene_schema)
    load_yaml = lambda f: yaml.load(f, Loader=CoreLoader)  # noqa: E731

    for path in sorted(glob.glob("scenes/*.yaml")):
        why = _problem(scene, load_yaml, path)
        report(why is None, "%s: %s" % (path, why))
    for path in sorted(glob.glob("tests/bad/scenes/*.yaml")):
        why = _problem(scene, load_yaml, path)
        if _schema_valid_marker(path):
            # The marker must stay true: such a file is bad only for the loader.
            report(why is None, "%s: marked '# schema: valid' but %s" % (path, why))
        else:
            report(why is not None, "%s: accepted by the scene schema" % path)

    if os.path.exists("schemas/loss.schema.json"):
        with open("schemas/loss.schema.json", encoding="utf-8") as f:
            loss_schema = json.load(f)
        jsonschema.Draft202012Validator.check_schema(loss_schema)
        loss = jsonschema.Draft202012Validator(loss_schema)
        load_json = lambda f: json.load(f, parse_constant=float)  # noqa: E731
        skip = set()
        if os.path.exists("tests/bad/losses/SCHEMA_VALID"):
            with open("tests/bad/losses/SCHEMA_VALID", encoding="utf-8") as f:
                skip = {line.strip() for line in f if line.strip() and not line.startswith("#")}
        for path in sorted(glob.glob("scenes/*.json")):
            why = _problem(loss, load_json, path)
            report(why is None, "%s: %s" % (path, why))
        for path in sorted(glob.glob("tests/bad/losses/*.json")):
            if os.path.basename(path) in skip:
                continue
            why = _problem(loss, load_json, path)
            report(why is not None, "%s: accepted by the loss schema" % path)

    print("validate_schemas: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
