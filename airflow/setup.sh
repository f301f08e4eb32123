#!/usr/bin/env bash
# A cached virtualenv with Airflow 3.3 (and pytest) for the DAG tests; prints its path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv="${CHAINX_CACHE:-$HOME/.cache/chainx}/airflow-venv"
stamp="$venv/.installed-$(sha256sum "$here/requirements.txt" | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --upgrade pip >&2
  "$venv/bin/pip" install -q -r "$here/requirements.txt" >&2
  touch "$stamp"
fi
echo "$venv"
