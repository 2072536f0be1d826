#!/usr/bin/env bash
# Builds coldsnap (the AWS-labs EBS snapshot tool, Rust crate `coldsnap`, pinned)
# with cargo into the per-user tool cache and links it into .tools/bin: the
# baseline of bench/aws.ts. Built when that benchmark first needs it, never by
# the tests' setup (a cold build compiles the AWS SDK for Rust: minutes on 2 cores).
# Idempotent: a cached build is linked in well under a second.
set -euo pipefail

COLDSNAP_VERSION=0.11.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${HYPERSDK_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hypersdk/tools}
dest="$cache/coldsnap/$COLDSNAP_VERSION"
bindir="$root/.tools/bin"
mkdir -p "$bindir"
start=$SECONDS

if [[ -x "$dest/bin/coldsnap" ]]; then
  ln -sfn "$dest/bin/coldsnap" "$bindir/coldsnap"
  printf '%-16s %-40s cached  (%ss)\n' coldsnap "$COLDSNAP_VERSION" $((SECONDS - start))
  exit 0
fi
if ! command -v cargo >/dev/null; then
  echo "build-coldsnap: cargo is needed to build coldsnap $COLDSNAP_VERSION (install Rust: rustup, or Debian's cargo)" >&2
  exit 1
fi
echo "build-coldsnap: building coldsnap $COLDSNAP_VERSION with cargo (a few minutes on 2 cores; once per machine)..." >&2
mkdir -p "$dest.tmp"
if ! cargo install --locked --quiet coldsnap --version "=$COLDSNAP_VERSION" --root "$dest.tmp" >"$dest.log" 2>&1; then
  echo "build-coldsnap: cargo install coldsnap $COLDSNAP_VERSION failed (log: $dest.log):" >&2
  tail -n 5 "$dest.log" | sed 's/^/  /' >&2
  exit 1
fi
rm -rf "$dest" && mv "$dest.tmp" "$dest"   # atomic: a half-built tool never looks cached
ln -sfn "$dest/bin/coldsnap" "$bindir/coldsnap"
printf '%-16s %-40s built   (%ss)\n' coldsnap "$COLDSNAP_VERSION" $((SECONDS - start))
