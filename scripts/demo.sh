#!/usr/bin/env bash
# The main job on embedded defaults: start the local fixture chain, backfill all of it into
# ./lake, and print counts and a few rows. Run from a fresh checkout: `make demo`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/chain.sh
cargo build -q -p chainx
chainx="${CARGO_TARGET_DIR:-$root/target}/debug/chainx"

port="${CHAINX_DEMO_PORT:-8545}"
anvil=$(printf '%s\n' scripts/chain/node_modules/@foundry-rs/anvil-*/bin/anvil | head -n1)
"$anvil" --host 127.0.0.1 --port "$port" --order fifo --silent --load-state .chain/state.json &
anvil_pid=$!
trap 'kill $anvil_pid 2>/dev/null || true' EXIT
url="http://127.0.0.1:$port"
for _ in $(seq 1 600); do
  curl -sf -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}' "$url" >/dev/null && break
  kill -0 $anvil_pid 2>/dev/null || { echo "anvil exited (is port $port taken? set CHAINX_DEMO_PORT)"; exit 1; }
  sleep 0.1
done
last=$(python3 -c "import json;print(json.load(open('.chain/manifest.json'))['last_block'])")

# --to-head: a local dev chain has nothing to reorganise (by default a backfill stops at the
# node's finalized block and leaves the tip to the stream).
"$chainx" backfill --to-head --rpc-url "$url" --from 0 --to "$last"
"$chainx" lake show
echo
echo "The lake is in ./lake (Delta tables, Hive folders block_date=YYYY-MM-DD)."
