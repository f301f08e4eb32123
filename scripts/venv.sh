#!/usr/bin/env bash
# Usage: venv.sh [--check] NAME REQUIREMENTS_FILE
# A virtualenv under ~/.cache/chainx/NAME with the requirements installed, rebuilt only when the
# file changes; prints its path. The Python test suites and the benchmark peers use it.
# --check: exit 0 if it is built and current, 1 if not; installs and prints nothing.
set -euo pipefail
check=false
if [ "${1:-}" = --check ]; then check=true; shift; fi
name=${1:?usage: venv.sh [--check] NAME REQUIREMENTS_FILE}
requirements=${2:?usage: venv.sh [--check] NAME REQUIREMENTS_FILE}
venv="${CHAINX_CACHE:-$HOME/.cache/chainx}/$name"
stamp="$venv/.installed-$(sha256sum "$requirements" | cut -c1-12)"
if $check; then [ -f "$stamp" ]; exit; fi
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q -r "$requirements" >&2
  touch "$stamp"
fi
echo "$venv"
