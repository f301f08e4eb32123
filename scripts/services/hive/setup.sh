#!/usr/bin/env bash
# A cached virtualenv with PyPI pyspark (Spark's jars, Hive 2.3 among them) plus PostgreSQL's
# JDBC driver for the metastore; prints the venv's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache="${CHAINX_CACHE:-$HOME/.cache/chainx}"
venv="$cache/hive-venv"
stamp="$venv/.installed-$(sha256sum "$here/requirements.txt" | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q -r "$here/requirements.txt" >&2
  touch "$stamp"
fi
echo "$venv"
