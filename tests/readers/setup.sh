#!/usr/bin/env bash
# The reader test's cached virtualenv (delta-rs, DuckDB, pyarrow, pytest); prints its path.
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../../scripts/venv.sh" readers-venv "$here/requirements.txt"
