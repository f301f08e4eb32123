#!/usr/bin/env bash
# `make test`: every suite runs even when one before it fails (cargo's own with --no-fail-fast),
# then one line names the failed suites (and cargo's failed test targets); exit 1 if any failed.
# Run after scripts/setup.sh and scripts/chain.sh (the Makefile does). CHAINX_TEST_SUITES
# (e.g. `cargo,hive`) runs only those suites.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
target="${CARGO_TARGET_DIR:-$root/target}"
export CHAINX_BIN="$target/debug/chainx"

failed=()
suites=0
suite() { # suite NAME COMMAND...
  local name=$1
  shift
  if [ -n "${CHAINX_TEST_SUITES:-}" ] && [[ ",$CHAINX_TEST_SUITES," != *",$name,"* ]]; then return 0; fi
  suites=$((suites + 1))
  echo "== $name: $*"
  "$@" || failed+=("$name")
}
# shellcheck disable=SC2317 # called through `suite`
pytest_in() { # pytest_in VENV_SCRIPT TESTS: the suite's cached venv (setup.sh built it)
  local venv
  venv=$("$root/$1") || return 1
  "$venv/bin/python" -m pytest -q "$2"
}

cargo_log=$(mktemp)
trap 'rm -f "$cargo_log"' EXIT
# shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
# pipefail: the suite fails when cargo does, not when tee does.
suite cargo bash -o pipefail -c 'cargo test --workspace --no-fail-fast 2>&1 | tee "$0"' "$cargo_log"
suite setup pytest_in tests/readers/setup.sh tests/setup
suite readers pytest_in tests/readers/setup.sh tests/readers
suite airflow pytest_in airflow/setup.sh airflow/tests
suite hive pytest_in scripts/services/hive/setup.sh tests/hive

# cargo ends a --no-fail-fast run with "error: N targets failed:" and one "`-p crate --test x`"
# line per target.
# shellcheck disable=SC2016 # backquotes to match, not to expand
targets=$(sed -n '/targets\? failed:/,$p' "$cargo_log" | grep -o '`[^`]*`' | tr -d '`' | paste -sd, - | sed 's/,/, /g')
if [ ${#failed[@]} -eq 0 ]; then
  echo "make test: all $suites suites passed"
  exit 0
fi
summary="make test: ${#failed[@]} of $suites suites failed: ${failed[*]}"
[ -z "$targets" ] || summary="$summary (cargo: $targets)"
echo "$summary"
exit 1
