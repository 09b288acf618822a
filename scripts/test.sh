#!/usr/bin/env bash
# `npm test`: build, install what the tests need that npm does not (a Python with pyarrow;
# PyTorch with probe_torch; Debian's chromium for the report's browser test; tfjs-node built
# offline), then run every test with node's runner.
# Artifacts (the report screenshot) land in test-artifacts/.
set -eu
cd "$(dirname "$0")/.."
npm run build --silent
PROBE_PYTHON=$(bash scripts/python-env.sh) || true
PROBE_CHROMIUM=$(bash scripts/chromium.sh) || true
# tfjs-node built offline when its install could not download (cached: seconds after the first
# build); the node-backend tests skip with the one-line reason when it cannot be had.
if why=$(bash scripts/tfjs-node-offline.sh 2>&1); then
  export PROBE_TFJS_NODE=ready
else
  export PROBE_TFJS_NODE_WHY="${why##*$'\n'}"
  echo "$PROBE_TFJS_NODE_WHY" >&2
fi
# PyTorch for probe_torch's tests: Debian's python3-torch 1.13 and pip's torch 2.x wheel; a test
# that cannot have one skips with the reason torch-env.sh gives
torch_env() {
  local err py
  err=$(mktemp)
  py=$(bash scripts/torch-env.sh "$1" 2>"$err") || true
  grep -v '^$' "$err" >&2 || true
  printf '%s\n%s\n' "$py" "$(grep 'torch-env' "$err" | tail -n1)"
  rm -f "$err"
}
{ read -r PROBE_TORCH_PYTHON; read -r PROBE_TORCH_WHY; } < <(torch_env debian)
{ read -r PROBE_TORCH2_PYTHON; read -r PROBE_TORCH2_WHY; } < <(torch_env wheel)
export PROBE_TORCH_PYTHON PROBE_TORCH_WHY PROBE_TORCH2_PYTHON PROBE_TORCH2_WHY
export PROBE_PYTHON PROBE_CHROMIUM
mkdir -p test-artifacts
node --test --test-concurrency=2 --test-timeout=300000 "$@" dist/test/
