#!/usr/bin/env bash
# Installs Debian's chromium when missing (the report's browser test needs a real browser;
# `npx playwright install` cannot download one here). Prints its path on stdout, or nothing
# (with the reason on stderr) when it cannot be had, and that test then skips itself.
set -u
for c in "${PROBE_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; exit 0; }
done
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "chromium.sh: no chromium, and no root apt-get to install it; skipping the browser test" >&2; exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends chromium >/tmp/probe-chromium-apt.log 2>&1; then
  apt-get update -q >>/tmp/probe-chromium-apt.log 2>&1
  apt-get install -y -q --no-install-recommends chromium >>/tmp/probe-chromium-apt.log 2>&1 ||
    { echo "chromium.sh: apt-get install chromium failed (see /tmp/probe-chromium-apt.log); skipping the browser test" >&2; exit 0; }
fi
[ -x /usr/bin/chromium ] && echo /usr/bin/chromium
