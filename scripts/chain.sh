#!/usr/bin/env bash
# Builds (or reuses) the fixture chain and links it at .chain/ in the checkout.
# Cached under ~/.cache/chainx/chain/<hash of the generator>, so a rerun takes a second.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
gen="$root/scripts/chain"
cache="${CHAINX_CACHE:-$HOME/.cache/chainx}"

if [ ! -x "$gen/node_modules/.bin/solcjs" ] || [ "$gen/package-lock.json" -nt "$gen/node_modules/.package-lock.json" ]; then
  (cd "$gen" && npm ci --no-audit --no-fund --loglevel=error)
fi
hash=$(cat "$gen/build.mjs" "$gen/package-lock.json" "$gen"/contracts/*.sol | sha256sum | cut -c1-16)
out="$cache/chain/$hash"
if [ ! -f "$out/manifest.json" ]; then
  echo "building the fixture chain (about a minute) -> $out"
  rm -rf "$out.tmp"
  node "$gen/build.mjs" "$out.tmp"
  mv "$out.tmp" "$out"
fi
ln -sfn "$out" "$root/.chain"
echo "fixture chain ready: $root/.chain ($(python3 -c "import json,sys;m=json.load(open(sys.argv[1]));print(m['block_count'],'blocks,',m['transaction_count'],'txs')" "$out/manifest.json"))"
