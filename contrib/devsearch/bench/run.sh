#!/bin/sh
# contrib/devsearch/bench/run.sh — _bulk ingest benchmark of devsearch.
#
# Three runs, each against a fresh server: ingest DOCS (default 1M) ~100-byte
# documents in bulk requests of BATCH (default 10000) through ONE keep-alive
# connection.  Prints each run, then the median docs/s (wall clock), the
# median docs per second of server CPU time (user+system: what one core
# sustains, unaffected by other load on the machine) and the largest peak RSS:
#   devsearch bulk: N docs/s (median of 3), peak RSS M MB
# Usage: contrib/devsearch/bench/run.sh [DOCS] [BATCH]
# BENCH_NO_BUILD=1 skips the make step (use the binaries as they are).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ "${BENCH_NO_BUILD:-}" = 1 ] || make -s -C "$here/.." devsearch bench/bulkbench
docs=${1:-1000000}
batch=${2:-10000}
out=$(mktemp)
res=$(mktemp)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -f "$out" "$res"' EXIT

for run in 1 2 3; do
	: >"$out"
	"$here/../devsearch" --port 0 --quiet >"$out" &
	pid=$!
	i=0
	until grep -q listening "$out"; do
		i=$((i + 1)); [ $i -lt 500 ] || { echo "devsearch did not start" >&2; exit 1; }
		sleep 0.01
	done
	port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$out" | head -1)
	"$here/bulkbench" --port "$port" --docs "$docs" --batch "$batch" --pid "$pid" >"$res.run"
	sed "s/^/run $run: /" "$res.run"
	wall=$(sed -n 's/.*docs_per_sec=\([0-9]*\).*/\1/p' "$res.run")
	cpu=$(sed -n 's/.*docs_per_server_cpu_sec=\([0-9]*\).*/\1/p' "$res.run")
	rss=$(sed -n 's/^server_peak_rss[^0-9]*\([0-9]*\).*/\1/p' "$res.run")
	echo "$wall ${cpu:-0} ${rss:-0}" >>"$res"
	rm -f "$res.run"
	kill $pid
	wait $pid 2>/dev/null || true
	pid=
done
wall=$(cut -d' ' -f1 "$res" | sort -n | sed -n 2p)
cpu=$(cut -d' ' -f2 "$res" | sort -n | sed -n 2p)
rss=$(cut -d' ' -f3 "$res" | sort -n | tail -1)
echo "devsearch bulk (server CPU): $cpu docs per CPU second (median of 3)"
echo "devsearch bulk: $wall docs/s (median of 3), peak RSS $((rss / 1024)) MB"
