#!/usr/bin/env bash
# A cached virtualenv with the reader test's packages; prints its path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv="${CHAINX_CACHE:-$HOME/.cache/chainx}/readers-venv"
stamp="$venv/.installed-$(sha256sum "$here/requirements.txt" | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q -r "$here/requirements.txt" >&2
  touch "$stamp"
fi
echo "$venv"
