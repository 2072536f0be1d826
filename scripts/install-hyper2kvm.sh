#!/usr/bin/env bash
# Installs hyper2kvm, pinned, into its own virtualenv (.tools/venv-hyper2kvm): the
# real client of the original hypersdk that test/compat runs unchanged against
# hypervisord. --no-deps: the tests use only its hyperctl transport
# (hyper2kvm/vmware/transports/hyperctl_common.py), which needs nothing beyond the
# standard library; its declared dependencies serve the parts we never load.
# Idempotent: a venv that already holds the pinned version is left as it is.
set -euo pipefail

HYPER2KVM_VERSION=0.2.1

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.tools/venv-hyper2kvm"
start=$SECONDS

# Written last, so a half-made venv never looks installed.
stamp="$venv/.installed-hyper2kvm"

if [[ -x "$venv/bin/python" && "$(cat "$stamp" 2>/dev/null)" == "$HYPER2KVM_VERSION" ]]; then
  printf '%-16s %-40s cached  (%ss)\n' hyper2kvm "$HYPER2KVM_VERSION" $((SECONDS - start))
  exit 0
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys, venv; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "install-hyper2kvm: hyper2kvm $HYPER2KVM_VERSION needs Python >= 3.10 with the venv module; install it (Debian: apt-get install python3 python3-venv) or set PYTHON=/path/to/python3.10+" >&2
  exit 1
fi

# Made in place (a venv holds its own absolute path), from scratch each time.
"$python" -m venv --clear "$venv"
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "hyper2kvm==$HYPER2KVM_VERSION" >"$venv.log" 2>&1; then
  echo "install-hyper2kvm: 'pip install --no-deps hyper2kvm==$HYPER2KVM_VERSION' failed (log: $venv.log):" >&2
  tail -n 5 "$venv.log" | sed 's/^/  /' >&2
  exit 1
fi
echo "$HYPER2KVM_VERSION" >"$stamp"
printf '%-16s %-40s built   (%ss)\n' hyper2kvm "$HYPER2KVM_VERSION" $((SECONDS - start))
