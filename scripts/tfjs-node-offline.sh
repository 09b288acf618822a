#!/usr/bin/env bash
# Makes @tensorflow/tfjs-node load without its install script, which downloads libtensorflow
# and fails offline. TensorFlow's C library comes from pip's configured index instead: the
# tensorflow-cpu wheel's libtensorflow_cc.so.2 exports the C and eager C APIs tfjs-node binds to.
#
#   1. pip download the wheel; unzip only the two libraries and the headers       (cached)
#   2. npm install --ignore-scripts --no-save the tfjs-node version package-lock.json pins
#   3. build its binding with npm's bundled node-gyp against those headers          (cached)
#   4. deps/lib/ → the cached libraries (symlinks), lib/napi-v8/ ← the cached binding
#
# Cost, measured on this 2-core machine: the first call 1 min 50 s (pip 15 s, unzip ~1 min,
# node-gyp ~35 s), 1.4 GB of disk at its peak, 0.81 GB kept in the cache (the two libraries and
# the binding; wheel and headers are deleted after the build) and 3.6 MB in node_modules.
# `npm ci` removes what npm did not install; after it, steps 2 and 4 re-make it from the cache in
# ~20 s (npm install), and a call with everything in place returns in ~1 s. scripts/test.sh calls this.
#
# Exit 0: tfjs-node loads. Otherwise exit 1 and one line on stderr saying why (the node tests
# then skip with it). Tool output goes to $cache/build.log. Cache: $PROBE_CACHE, default
# ~/.cache/probe. On a machine with internet the ordinary `npm ci` install wins: nothing done.
set -u
cd "$(dirname "$0")/.."
say() { echo "tfjs-node-offline: $*" >&2; }
fail() { say "$*"; exit 1; }

TF_SPEC=${PROBE_TF_WHEEL:-tensorflow-cpu==2.21.*}
pkg=node_modules/@tensorflow/tfjs-node
napi=8
ver=$(node -p "(require('./package-lock.json').packages['node_modules/@tensorflow/tfjs-node'] || {}).version || ''" 2>/dev/null)
[ -n "$ver" ] || fail "package-lock.json pins no @tensorflow/tfjs-node version"
installed() { node -p "require('./$pkg/package.json').version" 2>/dev/null; }
loads() { node -e "require('./$pkg')" >/dev/null 2>&1; }

# An ordinary install (with internet) already brought its own libtensorflow.
if [ "$(installed)" = "$ver" ] && [ ! -e "$pkg/.probe-offline" ] && [ -e "$pkg/deps/lib" ] && loads; then exit 0; fi

cache=${PROBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/probe}/tfjs-node-$ver
stamp="$ver napi-v$napi $(cat "$cache/tf-version" 2>/dev/null)"
if [ -f "$pkg/.probe-offline" ] && [ "$(cat "$pkg/.probe-offline")" = "$stamp" ] && [ "$(installed)" = "$ver" ] &&
  cmp -s "$cache/tfjs_binding.node" "$pkg/lib/napi-v$napi/tfjs_binding.node"; then exit 0; fi

mkdir -p "$cache" || fail "cannot create the cache folder $cache"
log="$cache/build.log"
exec 9>"$cache/.lock"
flock 9 # one build per machine; other callers wait, then find it cached
: >"$log"

# 2. the package and its dependencies, without the download script
if [ "$(installed)" != "$ver" ]; then
  npm install --ignore-scripts --no-save --no-audit --no-fund "@tensorflow/tfjs-node@$ver" >>"$log" 2>&1 ||
    fail "npm install --ignore-scripts @tensorflow/tfjs-node@$ver failed (see $log)"
fi

# 1. TensorFlow's C library and headers from the wheel
if [ ! -f "$cache/lib/libtensorflow_cc.so.2" ] || [ ! -f "$cache/tfjs_binding.node" ]; then
  command -v python3 >/dev/null || fail "no python3, so no pip to get the $TF_SPEC wheel from"
  command -v unzip >/dev/null || fail "no unzip to extract the $TF_SPEC wheel"
  rm -rf "$cache/wheel" "$cache/tf"
  # --retries 0: an unreachable default index fails at once; the configured local index answers
  python3 -m pip download -q --no-deps --retries 0 --timeout 10 -d "$cache/wheel" "$TF_SPEC" >>"$log" 2>&1 ||
    fail "pip could not download $TF_SPEC (see $log)"
  whl=$(ls "$cache"/wheel/tensorflow_cpu-*.whl 2>/dev/null | head -1)
  [ -n "$whl" ] || fail "pip download of $TF_SPEC gave no tensorflow_cpu wheel"
  unzip -q -o "$whl" 'tensorflow/libtensorflow_cc.so.2' 'tensorflow/libtensorflow_framework.so.2' 'tensorflow/include/*' -d "$cache/tf" >>"$log" 2>&1 ||
    fail "unzip of $(basename "$whl") failed (disk full? see $log)"
  basename "$whl" | cut -d- -f2 >"$cache/tf-version"
  mkdir -p "$cache/lib"
  mv "$cache/tf/tensorflow/libtensorflow_cc.so.2" "$cache/tf/tensorflow/libtensorflow_framework.so.2" "$cache/lib/"
  rm -rf "$cache/wheel" "$cache/tfjs_binding.node"
fi

# deps/lib as tfjs-node's binding.gyp links and its rpath ($ORIGIN/../../deps/lib) loads:
# -ltensorflow resolves to libtensorflow_cc.so.2, the wheel library's SONAME.
rm -rf "$pkg/deps/lib" && mkdir -p "$pkg/deps/lib" || fail "cannot write $pkg/deps/lib"
for n in libtensorflow_cc.so.2 libtensorflow.so libtensorflow.so.2; do ln -s "$cache/lib/libtensorflow_cc.so.2" "$pkg/deps/lib/$n"; done
for n in libtensorflow_framework.so.2 libtensorflow_framework.so; do ln -s "$cache/lib/libtensorflow_framework.so.2" "$pkg/deps/lib/$n"; done

# 3. the binding, built once
if [ ! -f "$cache/tfjs_binding.node" ]; then
  gyp="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js"
  [ -f "$gyp" ] || fail "npm's bundled node-gyp is not at $gyp"
  command -v g++ >/dev/null && command -v make >/dev/null || fail "no g++/make to build the tfjs-node binding"
  nodedir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  [ -f "$nodedir/include/node/node_api.h" ] || fail "no Node headers at $nodedir/include/node"
  [ -d "$cache/tf/tensorflow/include" ] || fail "the wheel's headers are missing from $cache/tf; delete $cache and retry"
  rm -rf "$pkg/deps/include" && ln -s "$cache/tf/tensorflow/include" "$pkg/deps/include"
  (cd "$pkg" && node "$gyp" rebuild --nodedir="$nodedir" --module_name=tfjs_binding \
    --module_path="lib/napi-v$napi" --napi_build_version=$napi) >>"$log" 2>&1 ||
    fail "node-gyp could not build the tfjs-node binding (see $log)"
  cp "$pkg/build/Release/tfjs_binding.node" "$cache/tfjs_binding.node.tmp" && mv "$cache/tfjs_binding.node.tmp" "$cache/tfjs_binding.node"
  rm -rf "$pkg/build" "$pkg/deps/include" "$cache/tf"
fi

# 4. the binding where node-pre-gyp finds it
mkdir -p "$pkg/lib/napi-v$napi" && cp "$cache/tfjs_binding.node" "$pkg/lib/napi-v$napi/tfjs_binding.node" ||
  fail "cannot copy the binding into $pkg/lib/napi-v$napi"
loads || fail "@tensorflow/tfjs-node $ver does not load with the offline binding: $(node -e "require('./$pkg')" 2>&1 | grep -m1 -i error)"
echo "$ver napi-v$napi $(cat "$cache/tf-version")" >"$pkg/.probe-offline"
exit 0
