#!/usr/bin/env bash
# Prepare the two PyTorch reference environments used by `npm run bench`:
#   debian: Debian's python3-torch (1.13) on /usr/bin/python3, BLAS = OpenBLAS (pthread)
#   venv:   bench/.venv with the torch 2.x CPU wheel + numpy, on a Python 3.11 (pyenv's)
# Idempotent. Always exits 0; for each environment it ends with one line
#   setup-python: <env>: READY python=<path> torch=<version> blas=<blas>
#   setup-python: <env>: SKIP <reason>
# so the bench can drop that column. Overrides: BENCH_VENV_PYTHON, TORCH_WHEEL.
set -u
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=$BENCH/.venv
STEP=$BENCH/torch_step.py
log() { echo "setup-python: $*"; }
disk_used_kb() { df -Pk / | awk 'NR==2 {print $3}'; }
t0=$(date +%s); d0=$(disk_used_kb)

for v in OPENBLAS_CORETYPE OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS OMP_NUM_THREADS; do
  [ -n "${!v:-}" ] && log "env $v=${!v} (left as is)"
done

# Runs torch_step.py for one tiny step and prints "torch=.. blas=.." from its JSON.
probe() {
  "$1" "$STEP" --combos relu-relu-relu --steps 1 --warmup 1 --repeats 1 2>/dev/null |
    "$1" -c 'import json,sys; j=json.loads(sys.stdin.read()); print("torch=%s blas=%s blas_core=%s" % (j["torch"], j["blas"], j["blas_core"]))'
}

# ---------------------------------------------------------------- (a) Debian
setup_debian() {
  local py=/usr/bin/python3 pkgs="python3-torch libopenblas0-pthread" missing="" p
  command -v apt-get >/dev/null && command -v dpkg-query >/dev/null ||
    { log "debian: SKIP no apt-get/dpkg (not a Debian system)"; return; }
  for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    [ "$(id -u)" = 0 ] || { log "debian: SKIP need root to apt-get install$missing"; return; }
    log "debian: apt-get install$missing"
    export DEBIAN_FRONTEND=noninteractive
    # Both packages in one transaction, so apt satisfies libtorch's libblas.so.3
    # with OpenBLAS rather than pulling netlib's reference libblas3.
    if ! apt-get install -y -q --no-install-recommends $pkgs >/tmp/setup-python-apt.log 2>&1; then
      log "debian: apt-get update (install failed with the current lists)"
      apt-get update -q >>/tmp/setup-python-apt.log 2>&1
      apt-get install -y -q --no-install-recommends $pkgs >>/tmp/setup-python-apt.log 2>&1 ||
        { log "debian: SKIP apt-get install failed, see /tmp/setup-python-apt.log"; return; }
    fi
  else
    log "debian: python3-torch and libopenblas0-pthread already installed"
  fi

  # libtorch links plain libblas.so.3 / liblapack.so.3; Debian resolves those through
  # update-alternatives (auto mode picks the highest priority: openblas 100 > blis 80 >
  # atlas 35 > reference 10). Pin OpenBLAS in case something set it manually.
  local dir arch lib name target cur
  dir=$(ls -d /usr/lib/*-linux-gnu*/openblas-pthread 2>/dev/null | head -n1)
  arch=$(basename "$(dirname "${dir:-/usr/lib/x86_64-linux-gnu/x}")")  # e.g. x86_64-linux-gnu
  for lib in libblas.so.3 liblapack.so.3; do
    name=$lib-$arch
    target=/usr/lib/$arch/openblas-pthread/$lib
    cur=$(update-alternatives --query "$name" 2>/dev/null | awk '/^Value:/ {print $2}')
    if [ "$cur" = "$target" ]; then
      log "debian: $name -> $cur"
    elif [ -e "$target" ]; then
      update-alternatives --set "$name" "$target" >/dev/null 2>&1 &&
        log "debian: $name was ${cur:-unset}, now -> $target" ||
        log "debian: WARNING could not select $target for $name"
    else
      log "debian: WARNING $target missing"
    fi
  done

  local info
  info=$(probe "$py") || { log "debian: SKIP $py cannot import torch / run torch_step.py"; return; }
  case "$info" in
    *blas=OpenBLAS*) log "debian: READY python=$py $info" ;;
    *) log "debian: READY python=$py $info (WARNING: not OpenBLAS, expect ~3x slower)" ;;
  esac
}

# ---------------------------------------------------------------- (b) venv
pick_python() {  # a Python 3.11 with venv (the local torch wheel is cp311), not Debian's first
  local c exe
  for c in ${BENCH_VENV_PYTHON:-} python3 python3.11 /usr/bin/python3; do
    exe=$("$c" -c 'import sys, venv, ensurepip; assert sys.version_info[:2] == (3, 11); print(sys.executable)' 2>/dev/null) || continue
    echo "$exe"; return 0
  done
  return 1
}

setup_venv() {
  local py wheel info
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import torch, numpy' 2>/dev/null; then
    log "venv: $VENV already has torch and numpy"
  else
    py=$(pick_python) || { log "venv: SKIP no Python 3.11 with the venv module found"; return; }
    if [ ! -x "$VENV/bin/python" ]; then
      log "venv: creating $VENV with $py"
      "$py" -m venv "$VENV" || { log "venv: SKIP python -m venv failed"; return; }
    fi
    # Prefer the local CPU-only wheel: a plain `pip install torch` may resolve to a
    # CUDA build whose nvidia-* dependencies are not on the local indexes.
    wheel=${TORCH_WHEEL:-$(ls /opt/wheels/torch-2*+cpu-cp311-*.whl 2>/dev/null | sort -V | tail -n1)}
    log "venv: pip install ${wheel:-torch} numpy"
    "$VENV/bin/python" -m pip install -q --no-input "${wheel:-torch}" numpy >/tmp/setup-python-pip.log 2>&1 ||
      { log "venv: SKIP pip install failed, see /tmp/setup-python-pip.log"; return; }
  fi
  info=$(probe "$VENV/bin/python") || { log "venv: SKIP $VENV/bin/python cannot run torch_step.py"; return; }
  log "venv: READY python=$VENV/bin/python $info"
}

setup_debian
setup_venv
log "done in $(( $(date +%s) - t0 )) s, disk used by this run: $(( ($(disk_used_kb) - d0) / 1024 )) MiB"
[ -d "$VENV" ] && log "venv size: $(du -sh "$VENV" | cut -f1)"
exit 0
