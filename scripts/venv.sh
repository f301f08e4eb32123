#!/usr/bin/env bash
# Usage: venv.sh NAME REQUIREMENTS_FILE
# A virtualenv under ~/.cache/chainx/NAME with the requirements installed, rebuilt only when the
# file changes; prints its path. The Python test suites and the benchmark peers use it.
set -euo pipefail
name=${1:?usage: venv.sh NAME REQUIREMENTS_FILE}
requirements=${2:?usage: venv.sh NAME REQUIREMENTS_FILE}
venv="${CHAINX_CACHE:-$HOME/.cache/chainx}/$name"
stamp="$venv/.installed-$(sha256sum "$requirements" | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q -r "$requirements" >&2
  touch "$stamp"
fi
echo "$venv"
