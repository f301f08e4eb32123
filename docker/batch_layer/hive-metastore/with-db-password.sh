#!/usr/bin/env bash
# Hands the metastore its PostgreSQL password from the Docker secret (never an environment
# variable of the compose file), then runs the image's own entrypoint.
set -euo pipefail
secret=/run/secrets/postgres_password
if [ "${SERVICE_NAME:-}" = metastore ] && [ -r "$secret" ]; then
  SERVICE_OPTS="${SERVICE_OPTS:-} -Djavax.jdo.option.ConnectionPassword=$(cat "$secret")"
  export SERVICE_OPTS
fi
exec /entrypoint.sh "$@"
