#!/usr/bin/env bash
# Installs the OS packages the test suite drives for real: PostgreSQL server binaries,
# promtool (Debian's prometheus package) and Chromium for the dashboard's browser tests
# (kubectl is expected on the image). Idempotent; no-op when present.
set -euo pipefail

need=()
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
# `promtool check metrics` lints the apps' /metrics (tests/promtool.py).
if ! command -v promtool >/dev/null; then
  need+=(prometheus)
fi
# Browser tests drive the OS's Chromium (no browser downloads at test time).
if ! command -v chromium >/dev/null; then
  need+=(chromium)
fi
if [ "${#need[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing OS packages: ${need[*]}; install them (e.g. sudo apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing OS packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
