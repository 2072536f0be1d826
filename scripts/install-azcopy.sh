#!/usr/bin/env bash
# Links azcopy (Microsoft's Azure Storage copy tool) into .tools/bin: the baseline
# of bench/azure.ts. The binary comes from the pinned dev dependency
# @azure-tools/azcopy-linux, whose tarball ships it without the execute bit, so it
# is copied with one. azcopy links libsecret-1 (for its credential store, unused
# here); where the library is missing and this runs as root with apt-get, the
# Debian package libsecret-1-0 is installed. Run when the benchmark first needs
# it, never by the tests' setup. Idempotent.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
package="$root/node_modules/@azure-tools/azcopy-linux"
bindir="$root/.tools/bin"
mkdir -p "$bindir"

if [[ ! -f "$package/dist/bin/azcopy_linux_amd64" ]]; then
  echo "install-azcopy: $package is missing: run 'npm install' (azcopy is a dev dependency)" >&2
  exit 1
fi
version=$(node -p "require('$package/package.json').version")
install -m 0755 "$package/dist/bin/azcopy_linux_amd64" "$bindir/azcopy"

if ldd "$bindir/azcopy" | grep -q 'libsecret-1.so.0 => not found'; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log="$root/.tools/libsecret.apt.log"
    echo "install-azcopy: azcopy needs libsecret-1.so.0; installing the Debian package libsecret-1-0 with apt-get (log: $log)..." >&2
    if ! { apt-get install -y --no-install-recommends libsecret-1-0 || { apt-get update && apt-get install -y --no-install-recommends libsecret-1-0; }; } >"$log" 2>&1; then
      echo "install-azcopy: apt-get could not install libsecret-1-0 (log: $log)" >&2
      exit 1
    fi
  else
    echo "install-azcopy: azcopy needs libsecret-1.so.0: install the package libsecret-1-0 (Debian/Ubuntu) and run again" >&2
    exit 1
  fi
fi
printf '%-16s %-40s %s\n' azcopy "$("$bindir/azcopy" --version | sed -n 's/^azcopy version //p')" "npm @azure-tools/azcopy-linux $version"
