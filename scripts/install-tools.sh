#!/usr/bin/env bash
# Builds the real services the tests and the demo run against (Temporal CLI, vcsim,
# govc, MinIO, toxiproxy) with `go install`, once per tool and version, into a
# per-user cache shared by every clone and by CI. Then links them into ./.tools/bin
# so the project finds them without touching PATH. Idempotent: a warm cache costs
# well under a second per tool.
set -euo pipefail

# ---- pinned versions (change here, nowhere else) ---------------------------------
TEMPORAL_VERSION=v1.5.1            # later CLI tags carry a replace directive
TEMPORAL_FALLBACK_VERSION=v1.1.1   # used only if v1.5.1 cannot be built
GOVC_VERSION=v0.46.3               # last govmomi tag that ships govc inside the main module
VCSIM_GOVMOMI_VERSION=v0.52.0      # simulator library for tools/vcsim (ExportSnapshot needs >= v0.51)
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c   # MinIO publishes no semver tags: a pinned pseudo-version
TOXIPROXY_VERSION=v2.12.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${HYPERSDK_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hypersdk/tools}
bindir="$root/.tools/bin"
mkdir -p "$cache" "$bindir"

if ! command -v go >/dev/null 2>&1; then
  echo "install-tools: Go is not installed or not on PATH. Install Go >= 1.22 (https://go.dev/doc/install) and run again." >&2
  exit 1
fi

# build NAME VERSION BINARY PACKAGE: go install PACKAGE@VERSION into the cache unless
# already there, then link BINARY into .tools/bin under NAME.
build() {
  local name=$1 version=$2 binary=$3 pkg=$4
  local dest="$cache/$name/$version"
  local start=$SECONDS
  if [[ -x "$dest/$binary" ]]; then
    ln -sfn "$dest/$binary" "$bindir/$name"
    printf '%-16s %-40s cached  (%ss)\n' "$name" "$version" $((SECONDS - start))
    return 0
  fi
  mkdir -p "$dest.tmp"
  local log="$dest.log"
  if GOBIN="$dest.tmp" GOFLAGS="${GOFLAGS:-} -buildvcs=false" go install "$pkg@$version" >"$log" 2>&1; then
    rm -rf "$dest" && mv "$dest.tmp" "$dest"   # atomic: a half-built tool never looks cached
    ln -sfn "$dest/$binary" "$bindir/$name"
    printf '%-16s %-40s built   (%ss)\n' "$name" "$version" $((SECONDS - start))
    return 0
  fi
  rm -rf "$dest.tmp"
  echo "install-tools: 'go install $pkg@$version' failed (log: $log):" >&2
  tail -n 5 "$log" | sed 's/^/  /' >&2
  return 1
}

# build_local NAME DIR: go build the module in DIR (inside this repository) into
# the cache, keyed by the hash of its sources, so an edit rebuilds it.
build_local() {
  local name=$1 dir="$root/$2"
  local version
  version=$(cat "$dir"/go.mod "$dir"/go.sum "$dir"/*.go | sha256sum | cut -c1-16)
  local dest="$cache/$name/$version" start=$SECONDS
  if [[ -x "$dest/$name" ]]; then
    ln -sfn "$dest/$name" "$bindir/$name"
    printf '%-16s %-40s cached  (%ss)\n' "$name" "$version" $((SECONDS - start))
    return 0
  fi
  mkdir -p "$dest.tmp"
  if (cd "$dir" && go build -buildvcs=false -o "$dest.tmp/$name" .) >"$dest.log" 2>&1; then
    rm -rf "$dest" && mv "$dest.tmp" "$dest"
    ln -sfn "$dest/$name" "$bindir/$name"
    printf '%-16s %-40s built   (%ss)\n' "$name" "$version" $((SECONDS - start))
    return 0
  fi
  rm -rf "$dest.tmp"
  echo "install-tools: building $2 failed (log: $dest.log):" >&2
  tail -n 5 "$dest.log" | sed 's/^/  /' >&2
  return 1
}

failed=0
if ! build temporal "$TEMPORAL_VERSION" temporal github.com/temporalio/cli/cmd/temporal; then
  echo "install-tools: falling back to Temporal CLI $TEMPORAL_FALLBACK_VERSION" >&2
  build temporal "$TEMPORAL_FALLBACK_VERSION" temporal github.com/temporalio/cli/cmd/temporal || failed=1
fi
build_local vcsim tools/vcsim || failed=1   # govmomi $VCSIM_GOVMOMI_VERSION, pinned in tools/vcsim/go.mod
build govc "$GOVC_VERSION" govc github.com/vmware/govmomi/govc || failed=1
build toxiproxy-server "$TOXIPROXY_VERSION" server github.com/Shopify/toxiproxy/v2/cmd/server || failed=1
build toxiproxy-cli "$TOXIPROXY_VERSION" cli github.com/Shopify/toxiproxy/v2/cmd/cli || failed=1
build minio "$MINIO_VERSION" minio github.com/minio/minio || failed=1
bash "$root/scripts/install-hyper2kvm.sh" || failed=1   # the real client test/compat runs unchanged

if [[ $failed -ne 0 ]]; then
  echo "install-tools: some tools could not be built; see the messages above." >&2
  exit 1
fi
