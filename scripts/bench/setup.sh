#!/usr/bin/env bash
# Installs the benchmark peers into a cached virtualenv (~/.cache/chainx/bench-venv).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv="${CHAINX_CACHE:-$HOME/.cache/chainx}/bench-venv"
stamp="$venv/.installed-$(sha256sum "$here/requirements.txt" | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$here/requirements.txt"
  # ethereum-etl 2.4.2 pins parsimonious 0.8, which uses inspect.getargspec (gone in 3.11).
  "$venv/bin/pip" install -q --no-deps parsimonious==0.9.0 regex
  touch "$stamp"
fi
echo "$venv"
