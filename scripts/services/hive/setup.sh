#!/usr/bin/env bash
# The Hive test's cached virtualenv: PyPI pyspark 4.0.1 (Spark's jars, Hive 2.3 among them), DuckDB,
# PyHive, pytest; prints its path. PostgreSQL's JDBC driver and delta-spark come from `maven-jars.sh hive`.
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../../venv.sh" hive-venv "$here/requirements.txt"
