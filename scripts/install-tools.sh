#!/usr/bin/env bash
# Builds the real services the tests and the demo run against (Temporal CLI, vcsim,
# govc, MinIO, toxiproxy) with `go install`, hyper2kvm (the original's real client,
# from PyPI into a private virtualenv: scripts/install-hyper2kvm.sh) and moto (the
# stand-in for AWS EC2 and EBS direct, likewise: scripts/install-moto.sh), once per tool and version, into a
# per-user cache shared by every clone and by CI. Then links them into ./.tools/bin
# so the project finds them without touching PATH. Idempotent: a warm cache costs
# well under a second per tool.
#
# qemu-img, the independent judge of the disk images the tests write, is not built:
# it comes from the system (Debian/Ubuntu package qemu-utils). When it is missing
# and this runs as root with apt-get, it is installed; otherwise the script stops
# and says which package to install.
#
#   bash scripts/install-tools.sh                     every tool (what the tests need)
#   bash scripts/install-tools.sh temporal vcsim govc only these (what `npm run demo` needs)
#
# Before a cold build it lists what it is about to build and roughly how long each
# takes, so the first minutes are not silent.
set -euo pipefail

# ---- pinned versions (change here, nowhere else) ---------------------------------
TEMPORAL_VERSION=v1.5.1            # later CLI tags carry a replace directive
TEMPORAL_FALLBACK_VERSION=v1.1.1   # used only if v1.5.1 cannot be built
GOVC_VERSION=v0.46.3               # last govmomi tag that ships govc inside the main module
VCSIM_GOVMOMI_VERSION=v0.52.0      # simulator library for tools/vcsim (ExportSnapshot needs >= v0.51)
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c   # MinIO publishes no semver tags: a pinned pseudo-version
TOXIPROXY_VERSION=v2.12.0

ALL_TOOLS=(temporal vcsim govc toxiproxy minio hyper2kvm moto qemu-img)
# Tools that come from elsewhere than `go install`/`go build` (no Go needed for them).
NOT_GO=(hyper2kvm moto qemu-img)
# Rough cold build times in seconds (module download + compile) on a 2-core machine
# with empty Go caches. Measured: vcsim 33 s, govc 32 s; Temporal 683 s on a busy
# machine, about 300 s on the first idle run; MinIO about 220 s and toxiproxy 12 s
# after the others (timestamps of that run). More cores or a warm Go module cache
# (~/go/pkg/mod) make them faster.
# qemu-img: apt-get update + install of qemu-utils (~10 MB of packages), ~1 min on a typical mirror.
# moto: a venv and pip install of moto[server] with its dependencies: ~30 s, 317 MB (measured, 2 cores;
# the same with a warm pip cache: unpacking and byte-compiling dominate).
declare -A ESTIMATE=([temporal]=420 [vcsim]=35 [govc]=35 [toxiproxy]=15 [minio]=240 [hyper2kvm]=15 [moto]=30 [qemu-img]=60)

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${HYPERSDK_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hypersdk/tools}
bindir="$root/.tools/bin"
mkdir -p "$cache" "$bindir"

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

# source_version DIR: the cache key of a module of this repository (hash of its sources).
source_version() {
  cat "$1"/go.mod "$1"/go.sum "$1"/*.go | sha256sum | cut -c1-16
}

# build_local NAME DIR: go build the module in DIR (inside this repository) into
# the cache, keyed by the hash of its sources, so an edit rebuilds it.
build_local() {
  local name=$1 dir="$root/$2"
  local version
  version=$(source_version "$dir")
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

# ---- which tools: the arguments, or all of them ------------------------------------
wanted=("$@")
[[ ${#wanted[@]} -eq 0 ]] && wanted=("${ALL_TOOLS[@]}")
for tool in "${wanted[@]}"; do
  if [[ -z "${ESTIMATE[$tool]:-}" ]]; then
    echo "install-tools: unknown tool '$tool'; the tools are: ${ALL_TOOLS[*]}" >&2
    exit 2
  fi
done
wants() {
  local tool
  for tool in "${wanted[@]}"; do [[ $tool == "$1" ]] && return 0; done
  return 1
}

# is_cached TOOL: its binary for the pinned version is already in the cache.
is_cached() {
  case $1 in
    temporal) [[ -x "$cache/temporal/$TEMPORAL_VERSION/temporal" || -x "$cache/temporal/$TEMPORAL_FALLBACK_VERSION/temporal" ]] ;;
    vcsim) [[ -x "$cache/vcsim/$(source_version "$root/tools/vcsim")/vcsim" ]] ;;
    govc) [[ -x "$cache/govc/$GOVC_VERSION/govc" ]] ;;
    toxiproxy) [[ -x "$cache/toxiproxy-server/$TOXIPROXY_VERSION/server" && -x "$cache/toxiproxy-cli/$TOXIPROXY_VERSION/cli" ]] ;;
    minio) [[ -x "$cache/minio/$MINIO_VERSION/minio" ]] ;;
    hyper2kvm) [[ "$(cat "$root/.tools/venv-hyper2kvm/.installed-hyper2kvm" 2>/dev/null)" == "$(sed -n 's/^HYPER2KVM_VERSION=//p' "$root/scripts/install-hyper2kvm.sh")" ]] ;;
    moto) [[ "$(cat "$root/.tools/venv-moto/.installed-moto" 2>/dev/null)" == "$(sed -n 's/^MOTO_VERSION=//p' "$root/scripts/install-moto.sh")" ]] ;;
    qemu-img) command -v qemu-img >/dev/null 2>&1 ;;
  esac
}
is_go_tool() {
  local tool
  for tool in "${NOT_GO[@]}"; do [[ $tool == "$1" ]] && return 1; done
  return 0
}

human() { # seconds -> "~N s" / "~N min"
  if (( $1 < 90 )); then echo "~$1 s"; else echo "~$(( ($1 + 30) / 60 )) min"; fi
}

# ---- qemu-img: from the system, installed with apt-get where we may ---------------
# Links the system's qemu-img into .tools/bin like the other tools
# (src/devservices/tools.ts finds it there).
link_qemu_img() {
  local path
  path=$(command -v qemu-img)
  ln -sfn "$path" "$bindir/qemu-img"
  printf '%-16s %-40s system  (%s)\n' qemu-img "$(qemu-img --version 2>/dev/null | sed -n '1s/^qemu-img version \([^ ]*\).*/\1/p')" "$path"
}
ensure_qemu_img() {
  if command -v qemu-img >/dev/null 2>&1; then
    link_qemu_img
    return 0
  fi
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    local log="$cache/qemu-utils.apt.log"
    echo "install-tools: qemu-img is missing; installing the Debian package qemu-utils with apt-get ($(human "${ESTIMATE[qemu-img]}"): package lists, then ~10 MB of packages; log: $log)..."
    if DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends qemu-utils >>"$log" 2>&1 &&
      command -v qemu-img >/dev/null 2>&1; then
      link_qemu_img
      return 0
    fi
    echo "install-tools: 'apt-get install qemu-utils' did not give a qemu-img (log: $log):" >&2
    tail -n 5 "$log" | sed 's/^/  /' >&2
    return 1
  fi
  echo "install-tools: qemu-img is not installed; the disk-image tests need it as their judge. Install it, then run again:" >&2
  echo "  Debian/Ubuntu: sudo apt-get install qemu-utils" >&2
  echo "  Fedora:        sudo dnf install qemu-img" >&2
  return 1
}

# ---- say what a cold run is about to do, before doing it ---------------------------
# (qemu-img says its own piece when it has to be installed)
missing=() total=0 needs_go=0
for tool in "${wanted[@]}"; do
  [[ $tool == qemu-img ]] && continue
  if ! is_cached "$tool"; then
    missing+=("$tool")
    total=$(( total + ESTIMATE[$tool] ))
    is_go_tool "$tool" && needs_go=1
  fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "install-tools: building ${#missing[@]} tool(s) from source with Go, once (later runs take a second):"
  for tool in "${missing[@]}"; do printf '  %-12s %s\n' "$tool" "$(human "${ESTIMATE[$tool]}")"; done
  echo "install-tools: $(human $total) in all on 2 cores, less with more; output of each build follows (cache: $cache)"
  # Only a Go build needs Go: cached tools are linked without it.
  if [[ $needs_go == 1 ]] && ! command -v go >/dev/null 2>&1; then
    echo "install-tools: Go is not installed or not on PATH. Install Go >= 1.22 (https://go.dev/doc/install) and run again." >&2
    exit 1
  fi
fi
# Announced just before each build, so a long one never looks stuck.
announce() {
  is_cached "$1" || printf 'install-tools: building %s (%s)...\n' "$1" "$(human "${ESTIMATE[$1]}")"
}

failed=0
# First: it takes a second when present, and a missing one is said before minutes of builds.
if wants qemu-img; then
  ensure_qemu_img || failed=1
fi

if wants temporal; then
  announce temporal
  if ! build temporal "$TEMPORAL_VERSION" temporal github.com/temporalio/cli/cmd/temporal; then
    echo "install-tools: falling back to Temporal CLI $TEMPORAL_FALLBACK_VERSION" >&2
    build temporal "$TEMPORAL_FALLBACK_VERSION" temporal github.com/temporalio/cli/cmd/temporal || failed=1
  fi
fi
if wants vcsim; then
  announce vcsim
  build_local vcsim tools/vcsim || failed=1   # govmomi $VCSIM_GOVMOMI_VERSION, pinned in tools/vcsim/go.mod
fi
if wants govc; then
  announce govc
  build govc "$GOVC_VERSION" govc github.com/vmware/govmomi/govc || failed=1
fi
if wants toxiproxy; then
  announce toxiproxy
  build toxiproxy-server "$TOXIPROXY_VERSION" server github.com/Shopify/toxiproxy/v2/cmd/server || failed=1
  build toxiproxy-cli "$TOXIPROXY_VERSION" cli github.com/Shopify/toxiproxy/v2/cmd/cli || failed=1
fi
if wants minio; then
  announce minio
  build minio "$MINIO_VERSION" minio github.com/minio/minio || failed=1
fi
if wants hyper2kvm; then
  announce hyper2kvm
  bash "$root/scripts/install-hyper2kvm.sh" || failed=1   # the real client test/compat runs unchanged
fi
if wants moto; then
  announce moto
  bash "$root/scripts/install-moto.sh" || failed=1   # EC2 and EBS direct on loopback for test/aws
fi

if [[ $failed -ne 0 ]]; then
  echo "install-tools: some tools could not be built; see the messages above." >&2
  exit 1
fi
