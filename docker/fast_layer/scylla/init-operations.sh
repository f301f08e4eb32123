#!/usr/bin/env bash
# Applies operations.cql to the node at $CQL_HOST (default scylla), waiting for it to answer.
# REPLICATION overrides the replication factor (1 for a single dev node).
set -euo pipefail
host="${CQL_HOST:-scylla}"
cql=/etc/chainx/operations.cql
if [ -n "${REPLICATION:-}" ]; then
  sed "s/'replication_factor': 3/'replication_factor': ${REPLICATION}/" "$cql" > /tmp/operations.cql
  cql=/tmp/operations.cql
fi
for _ in $(seq 60); do
  if cqlsh "$host" -e 'DESCRIBE KEYSPACES' >/dev/null 2>&1; then
    exec cqlsh "$host" -f "$cql"
  fi
  sleep 5
done
echo "init-operations: no CQL server at $host after 5 minutes" >&2
exit 1
