# The JSON schemas agree with the loader: every scene and loss validates, every bad file fails.
. tests/cli/lib.sh
if $PY tests/py/validate_schemas.py >"$T/out" 2>&1; then ok "schemas: $(tail -n 1 "$T/out")"; else nok "schemas: $(tail -n 20 "$T/out")"; fi
