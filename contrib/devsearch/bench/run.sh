#!/bin/sh
# contrib/devsearch/bench/run.sh — start devsearch, ingest 1M ~100-byte docs
# through one keep-alive connection, print docs/s and the server's peak RSS.
# Usage: contrib/devsearch/bench/run.sh [DOCS] [BATCH]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
make -s -C "$here/.." devsearch bench/bulkbench
out=$(mktemp)
"$here/../devsearch" --port 0 --quiet >"$out" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$out"' EXIT
i=0
until grep -q listening "$out"; do
	i=$((i + 1)); [ $i -lt 500 ] || { echo "devsearch did not start" >&2; exit 1; }
	sleep 0.01
done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$out" | head -1)
"$here/bulkbench" --port "$port" --docs "${1:-1000000}" --batch "${2:-10000}" --pid "$pid"
