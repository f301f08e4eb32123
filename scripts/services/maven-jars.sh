#!/usr/bin/env bash
# Usage: maven-jars.sh [--check] SERVICE (kafka | cassandra | hdfs | hive).
# Fetches the service's jars from Maven Central once (cached by its pom's hash) and prints the
# folder; testkit runs the service from them with Java 17.
# --check: exit 0 if they are fetched, 1 if not; fetches and prints nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
check=false
if [ "${1:-}" = --check ]; then check=true; shift; fi
service=${1:?usage: maven-jars.sh [--check] kafka|cassandra|hdfs|hive}
[ -f "$here/$service/pom.xml" ] || { echo "no pom for '$service' under $here" >&2; exit 2; }
cache="${CHAINX_CACHE:-$HOME/.cache/chainx}/$service/$(sha256sum "$here/$service/pom.xml" | cut -c1-12)"
if $check; then [ -f "$cache/.complete" ]; exit; fi
if [ ! -f "$cache/.complete" ]; then
  mkdir -p "$cache"
  (cd "$here/$service" && mvn -B -q dependency:copy-dependencies -DoutputDirectory="$cache/lib") >&2
  touch "$cache/.complete"
fi
echo "$cache/lib"
