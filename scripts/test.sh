#!/usr/bin/env bash
# `npm test`: build, install what the tests need that npm does not (a Python with pyarrow;
# Debian's chromium for the report's browser test), then run every test with node's runner.
# Artifacts (the report screenshot) land in test-artifacts/.
set -eu
cd "$(dirname "$0")/.."
npm run build --silent
PROBE_PYTHON=$(bash scripts/python-env.sh) || true
PROBE_CHROMIUM=$(bash scripts/chromium.sh) || true
export PROBE_PYTHON PROBE_CHROMIUM
mkdir -p test-artifacts
node --test --test-concurrency=2 --test-timeout=300000 "$@" dist/test/
