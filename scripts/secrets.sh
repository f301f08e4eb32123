#!/usr/bin/env bash
# Creates the Docker secrets the compose and swarm files read, under services/secrets/ (git
# ignores it), once: existing files are kept. Passwords are random; `chainx_keys` is a template
# to fill with the API keys' values, one `pseudo_name = "value"` line per key of
# services/app_layer/chainx.toml. Every file is mode 600, owned by uid 10001 (the chainx and
# Airflow containers' user) when run as root, since chainx refuses a secrets file others can read.
set -euo pipefail
dir="$(cd "$(dirname "$0")/.." && pwd)/services/secrets"
mkdir -p "$dir"
chmod 700 "$dir"
umask 077

random() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

write() {
  local name=$1 value=$2
  [ -e "$dir/$name" ] && return 0
  printf '%s\n' "$value" > "$dir/$name"
  if [ "$(id -u)" = 0 ]; then chown 10001 "$dir/$name"; fi
  echo "created services/secrets/$name"
}

# The names the compose files declare (scripts/lint_deploy.py checks they match).
pg=$(cat "$dir/postgres_password" 2>/dev/null || random)
write postgres_password "$pg"
write airflow_db_url "postgresql+psycopg2://chainx:$pg@postgres:5432/airflow"
write airflow_jwt_secret "$(random)"
write airflow_passwords "{\"admin\": \"$(random)\"}"
write grafana_admin_password "$(random)"
write chainx_keys '# pseudo_name = "API key value", one line per key named in chainx.toml
# infura_1 = "..."'
