#!/usr/bin/env bash
# Prepares .venv with pyarrow, duckdb, polars and pandas, so tests can check that traces and
# exports open in the tools researchers read them with. Prints the venv's python on stdout;
# prints nothing (and explains on stderr) when Python or pyarrow cannot be had: the Python tests
# then skip themselves. duckdb and polars are tried separately: a test that needs one skips,
# naming it, when only it is missing.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/.venv"
have() { "$venv/bin/python" -c "import $1" 2>/dev/null; }
# --retries 0: the default index is unreachable here; the configured local index answers at once
pip_install() { "$venv/bin/pip" install -q --retries 0 --timeout 5 "$@" 2> >(grep -v -e '^WARNING: Retrying' -e 'Location .* is ignored' >&2) >&2; }
if ! [ -x "$venv/bin/python" ]; then
  if ! command -v python3 >/dev/null; then echo "python-env: no python3; skipping the Python checks" >&2; exit 0; fi
  python3 -m venv "$venv" >&2 || { echo "python-env: python3 -m venv failed; skipping the Python checks" >&2; exit 0; }
fi
if ! have pyarrow && ! pip_install pyarrow; then
  echo "python-env: pip could not install pyarrow; skipping the Python checks" >&2; exit 0
fi
for pkg in pandas duckdb polars; do
  have "$pkg" || pip_install "$pkg" || echo "python-env: pip could not install $pkg; tests that need it skip" >&2
done
echo "$venv/bin/python"
