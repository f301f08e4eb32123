#!/usr/bin/env bash
# The Hive test's cached virtualenv: PyPI pyspark (Spark's jars, Hive 2.3 among them), DuckDB,
# pytest; prints its path. PostgreSQL's JDBC driver comes from `maven-jars.sh hive`.
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../../venv.sh" hive-venv "$here/requirements.txt"
