#!/usr/bin/env bash
# Fetches Apache Kafka (KRaft)'s jars from Maven Central once (cached by the pom's hash) and prints
# the folder; testkit::kafka runs a broker from them (Java 17).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache="${CHAINX_CACHE:-$HOME/.cache/chainx}/kafka/$(sha256sum "$here/kafka/pom.xml" | cut -c1-12)"
if [ ! -f "$cache/.complete" ]; then
  mkdir -p "$cache"
  (cd "$here/kafka" && mvn -B -q dependency:copy-dependencies -DoutputDirectory="$cache/lib") >&2
  touch "$cache/.complete"
fi
echo "$cache/lib"
