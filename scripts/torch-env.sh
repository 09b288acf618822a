#!/usr/bin/env bash
# Prepares a Python with PyTorch and probe_torch (installed from ./python the way a user installs
# it, `pip install ./python`) for the PyTorch tests and the bench. Prints that python on stdout;
# when it cannot be had, prints nothing and one line on stderr saying why (the tests then skip
# with that line).
#
#   scripts/torch-env.sh          Debian's python3-torch 1.13 (apt-get install python3-torch
#                                 libopenblas0-pthread, as root) seen from .venv-torch, a venv
#                                 with the system's site packages, plus pyarrow from pip's index
#   scripts/torch-env.sh wheel    .venv-torch2: a Python 3.11 venv with pip's torch 2.x CPU wheel
#
# Idempotent and quick once done: probe_torch is reinstalled only when python/ changed.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:-debian}
say() { echo "torch-env ($kind): $*" >&2; }
# --retries 0: the default index is unreachable here; the configured local indexes answer at once
pip_q() { "$1" -m pip install -q --retries 0 --timeout 5 --disable-pip-version-check "${@:2}" 2> >(grep -v -e '^WARNING: Retrying' -e 'Location .* is ignored' >&2) >&2; }

case "$kind" in
debian)
  venv="$here/.venv-torch"
  if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    if ! command -v apt-get >/dev/null; then say "no apt-get and no python3-torch: PyTorch tests skip"; exit 0; fi
    if [ "$(id -u)" != 0 ]; then say "python3-torch is not installed and installing it needs root: PyTorch tests skip"; exit 0; fi
    # both in one transaction, so libtorch's libblas.so.3 is OpenBLAS, not the reference BLAS
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends python3-torch libopenblas0-pthread python3-venv >/tmp/torch-env-apt.log 2>&1; then
      apt-get update -q >>/tmp/torch-env-apt.log 2>&1
      apt-get install -y -q --no-install-recommends python3-torch libopenblas0-pthread python3-venv >>/tmp/torch-env-apt.log 2>&1 ||
        { say "apt-get install python3-torch failed (see /tmp/torch-env-apt.log): PyTorch tests skip"; exit 0; }
    fi
  fi
  if ! [ -x "$venv/bin/python" ]; then
    /usr/bin/python3 -m venv --system-site-packages "$venv" >&2 || { say "python3 -m venv failed: PyTorch tests skip"; exit 0; }
  fi
  ;;
wheel)
  venv="$here/.venv-torch2"
  if ! [ -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
    py=""
    for c in python3.11 python3 /usr/bin/python3; do
      if "$c" -c 'import sys, venv; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then py=$c; break; fi
    done
    [ -n "$py" ] || { say "no Python 3.11 (pip's local torch wheel is cp311): torch 2.x tests skip"; exit 0; }
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv" >&2 || { say "$py -m venv failed: torch 2.x tests skip"; exit 0; }
    # the CPU wheel: a plain `pip install torch` may resolve to a CUDA build and its nvidia-* packages
    wheel=$(ls /opt/wheels/torch-2*+cpu-cp311-*.whl 2>/dev/null | sort -V | tail -n1)
    pip_q "$venv/bin/python" "${wheel:-torch}" numpy ||
      { say "pip could not install torch ${wheel:+($wheel)}: torch 2.x tests skip"; exit 0; }
  fi
  ;;
*) say "unknown kind '$kind': give debian or wheel"; exit 2 ;;
esac

py="$venv/bin/python"
# probe_torch as a user installs it; again only when its sources changed
stamp=$(cd "$here/python" && find . -name '*.py' -o -name '*.toml' -o -name '*.md' | sort | xargs cat | sha256sum | cut -c1-16)
if [ "$(cat "$venv/.probe_torch" 2>/dev/null)" != "$stamp" ] || ! "$py" -c 'import probe_torch, pyarrow' 2>/dev/null; then
  pip_q "$py" "$here/python" || { say "pip install ./python failed: PyTorch tests skip"; exit 0; }
  echo "$stamp" >"$venv/.probe_torch"
fi
"$py" -c 'import probe_torch, torch, pyarrow' 2>/dev/null || { say "probe_torch does not import: PyTorch tests skip"; exit 0; }
echo "$py"
