#!/usr/bin/env bash
# Prepares .venv with pyarrow, so tests can check that traces open in the library most users
# read them with. Prints the venv's python on stdout; prints nothing (and explains on stderr)
# when Python or the package cannot be had, and the pyarrow test then skips itself.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/.venv"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import pyarrow' 2>/dev/null; then
  echo "$venv/bin/python"; exit 0
fi
if ! command -v python3 >/dev/null; then echo "python-env: no python3; skipping the pyarrow check" >&2; exit 0; fi
python3 -m venv "$venv" >&2 || { echo "python-env: python3 -m venv failed; skipping the pyarrow check" >&2; exit 0; }
# --retries 0: the default index is unreachable here; the configured local index answers at once
if "$venv/bin/pip" install -q --retries 0 --timeout 5 pyarrow >&2 2> >(grep -v -e '^WARNING: Retrying' -e 'Location .* is ignored' >&2); then
  echo "$venv/bin/python"
else
  echo "python-env: pip could not install pyarrow; skipping the pyarrow check" >&2
fi
