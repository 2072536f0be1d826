#!/usr/bin/env bash
# Installs moto in server mode (the package moto[server]), pinned, into its own
# virtualenv (.tools/venv-moto): the stand-in for the AWS EC2 and EBS direct APIs
# that the AWS tests run against on loopback. src/devservices/moto.ts starts it
# through src/devservices/moto_launcher.py, which patches the few places where
# moto departs from what AWS documents (src/devservices/moto_patches.py); those
# patches are written against this version's source, so a version bump means
# re-reading moto/ebs/ and running test/aws.
# Idempotent (scripts/install-venv.sh).
set -euo pipefail

MOTO_VERSION=5.2.5

exec bash "$(dirname "${BASH_SOURCE[0]}")/install-venv.sh" moto "$MOTO_VERSION" 3.9 "moto[server]==$MOTO_VERSION"
