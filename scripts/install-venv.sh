#!/usr/bin/env bash
# Installs one pinned Python package into a virtualenv of its own under .tools/,
# for the install-<tool>.sh scripts (hyper2kvm, moto) that say what and why.
#
#   bash scripts/install-venv.sh NAME VERSION MIN_PYTHON REQUIREMENT [pip args...]
#   e.g.  install-venv.sh moto 5.2.5 3.9 'moto[server]==5.2.5'
#
# Idempotent: a venv that already holds VERSION is left as it is (a stamp file,
# written last, so a half-made venv never looks installed).
set -euo pipefail

name=$1 version=$2 min_python=$3 requirement=$4
shift 4
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.tools/venv-$name"
stamp="$venv/.installed-$name"
start=$SECONDS

if [[ -x "$venv/bin/python" && "$(cat "$stamp" 2>/dev/null)" == "$version" ]]; then
  printf '%-16s %-40s cached  (%ss)\n' "$name" "$version" $((SECONDS - start))
  exit 0
fi

python=${PYTHON:-python3}
if ! "$python" -c "import sys, venv; sys.exit(sys.version_info < tuple(int(p) for p in '$min_python'.split('.')))" 2>/dev/null; then
  echo "install-$name: $name $version needs Python >= $min_python with the venv module; install it (Debian: apt-get install python3 python3-venv) or set PYTHON=/path/to/python$min_python+" >&2
  exit 1
fi

# Made in place (a venv holds its own absolute path), from scratch each time. pip's
# own cache (~/.cache/pip) keeps downloaded wheels, so a rebuild downloads nothing.
"$python" -m venv --clear "$venv"
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" "$requirement" >"$venv.log" 2>&1; then
  echo "install-$name: 'pip install $* $requirement' failed (log: $venv.log):" >&2
  tail -n 5 "$venv.log" | sed 's/^/  /' >&2
  exit 1
fi
echo "$version" >"$stamp"
printf '%-16s %-40s built   (%ss)\n' "$name" "$version" $((SECONDS - start))
