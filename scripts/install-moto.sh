#!/usr/bin/env bash
# Installs moto in server mode (the package moto[server]), pinned, into its own
# virtualenv (.tools/venv-moto): the stand-in for the AWS EC2 and EBS direct APIs
# that the AWS tests run against on loopback. src/devservices/moto.ts starts it
# through src/devservices/moto_launcher.py, which patches the few places where
# moto departs from what AWS documents (src/devservices/moto_patches.py); those
# patches are written against this version's source, so a version bump means
# re-reading moto/ebs/ and running test/aws.
# Idempotent: a venv that already holds the pinned version is left as it is.
set -euo pipefail

MOTO_VERSION=5.2.5

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.tools/venv-moto"
start=$SECONDS

# Written last, so a half-made venv never looks installed.
stamp="$venv/.installed-moto"

if [[ -x "$venv/bin/python" && "$(cat "$stamp" 2>/dev/null)" == "$MOTO_VERSION" ]]; then
  printf '%-16s %-40s cached  (%ss)\n' moto "$MOTO_VERSION" $((SECONDS - start))
  exit 0
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys, venv; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
  echo "install-moto: moto $MOTO_VERSION needs Python >= 3.9 with the venv module; install it (Debian: apt-get install python3 python3-venv) or set PYTHON=/path/to/python3.9+" >&2
  exit 1
fi

# Made in place (a venv holds its own absolute path), from scratch each time.
# pip's own cache (~/.cache/pip) keeps the downloaded wheels: a rebuild downloads
# nothing, though unpacking and byte-compiling ~300 MB still take most of the ~30 s.
"$python" -m venv --clear "$venv"
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >"$venv.log" 2>&1; then
  echo "install-moto: 'pip install moto[server]==$MOTO_VERSION' failed (log: $venv.log):" >&2
  tail -n 5 "$venv.log" | sed 's/^/  /' >&2
  exit 1
fi
echo "$MOTO_VERSION" >"$stamp"
printf '%-16s %-40s built   (%ss)\n' moto "$MOTO_VERSION" $((SECONDS - start))
