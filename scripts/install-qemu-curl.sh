#!/usr/bin/env bash
# Makes qemu-img's http block driver available: the baseline of bench/formats.ts
# section 3 reads its source over loopback HTTP. Debian ships that driver as a
# loadable module in the package qemu-block-extra, which a `--no-install-recommends`
# install of qemu-utils (scripts/install-tools.sh) leaves out. Where the driver is
# missing and this runs as root with apt-get, the package is installed; otherwise
# the script names it. Run when the benchmark first needs it, never by the tests'
# setup. Idempotent: a present driver costs one qemu-img call.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# A URL nothing listens on: qemu-img fails either way, and its message tells
# "no such driver" from "could not connect".
has_http_driver() {
  local said
  said=$(qemu-img info 'json:{"file":{"driver":"http","url":"http://127.0.0.1:9/probe"}}' 2>&1 || true)
  [[ $said != *"Unknown driver 'http'"* ]]
}

if ! command -v qemu-img >/dev/null 2>&1; then
  echo "install-qemu-curl: qemu-img is missing: run 'bash scripts/install-tools.sh qemu-img' first" >&2
  exit 1
fi
if ! has_http_driver; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    mkdir -p "$root/.tools"
    log="$root/.tools/qemu-block-extra.apt.log"
    echo "install-qemu-curl: qemu-img has no http driver; installing the Debian package qemu-block-extra with apt-get (log: $log)..." >&2
    if ! { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends qemu-block-extra ||
      { DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends qemu-block-extra; }; } >"$log" 2>&1; then
      echo "install-qemu-curl: apt-get could not install qemu-block-extra (log: $log)" >&2
      exit 1
    fi
  else
    echo "install-qemu-curl: qemu-img has no http driver: install the package qemu-block-extra (Debian/Ubuntu) and run again" >&2
    exit 1
  fi
  if ! has_http_driver; then
    echo "install-qemu-curl: qemu-img still has no http driver after installing qemu-block-extra" >&2
    exit 1
  fi
fi
printf '%-16s %-40s %s\n' qemu-block-curl "$(qemu-img --version | sed -n '1s/^qemu-img version \([^ ]*\).*/\1/p')" "http driver present"
