#!/usr/bin/env bash
# Installs hyper2kvm, pinned, into its own virtualenv (.tools/venv-hyper2kvm): the
# real client of the original hypersdk that test/compat runs unchanged against
# hypervisord. --no-deps: the tests use only its hyperctl transport
# (hyper2kvm/vmware/transports/hyperctl_common.py), which needs nothing beyond the
# standard library; its declared dependencies serve the parts we never load.
# Idempotent (scripts/install-venv.sh).
set -euo pipefail

HYPER2KVM_VERSION=0.2.1

exec bash "$(dirname "${BASH_SOURCE[0]}")/install-venv.sh" hyper2kvm "$HYPER2KVM_VERSION" 3.10 "hyper2kvm==$HYPER2KVM_VERSION" --no-deps
