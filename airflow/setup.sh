#!/usr/bin/env bash
# The DAG tests' cached virtualenv (Airflow 3.3, pytest); prints its path.
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../scripts/venv.sh" airflow-venv "$here/requirements.txt"
