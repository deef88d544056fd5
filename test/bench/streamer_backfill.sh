#!/bin/bash
# streamer_backfill.sh: backfill throughput of 1M rows of about 100 bytes into
# the development server, side by side with the baseline
#   COPY (SELECT to_jsonb(t) FROM t) TO STDOUT   read by psql into /dev/null.
# Each streamer run is a fresh reindex_begin (new alias and index) completed by
# `reindex_streamer --once` (slot with exported snapshot, parallel chunked
# reads through reindex.document, _bulk into devsearch, ready); the wall time
# covers all of it.  Ratio = streamer rows/s / baseline rows/s (target >= 0.7).
# Medians of BENCH_RUNS runs, with the default workers and with 1 worker.
. "$(dirname "$0")/streamer_common.sh"
ROWS=${BENCH_BACKFILL_ROWS:-1000000}

bench_setup backfill
table_b "$ROWS"
b=$(copy_baseline "$ROWS")

rss=()
n=0
for workers in default 1; do
	rates=()
	for i in $(seq 1 "$RUNS"); do
		n=$((n + 1))
		job=$(q "SELECT reindex.reindex_begin('b', 'b$n', 'b${n}_v1')")
		args=(--once)
		[ "$workers" = default ] || args+=("--backfill-workers=$workers")
		run_streamer "$bench_work/run.json" "${args[@]}" ||
			{ echo "streamer failed: $(tail -n 20 "$bench_work/streamer.log")"; exit 1; }
		s=$(jfield "$bench_work/run.json" elapsed_s)
		rss+=("$(jfield "$bench_work/run.json" maxrss_kb)")
		got=$(q "SELECT rows_backfilled FROM reindex.target WHERE index_name = 'b${n}_v1'")
		[ "$got" = "$ROWS" ] || { echo "backfill of b${n}_v1 wrote $got rows, expected $ROWS"; exit 1; }
		rates+=("$($PY -c "print(round($ROWS / $s))")")
		echo "  streamer (workers: $workers) run $i: ${s}s"
		# free the server's memory and the slot for the next run
		q "SELECT reindex.reindex_cancel($job)" >/dev/null 2>&1
		q "SELECT pg_drop_replication_slot(slot_name) FROM reindex.target t JOIN pg_replication_slots s USING (slot_name) WHERE t.index_name = 'b${n}_v1' AND NOT s.active" >/dev/null 2>&1
		curl -s -XDELETE "$ES_URL/b${n}_v1" >/dev/null
	done
	s=$(median "${rates[@]}")
	echo "backfill $ROWS rows (workers: $workers): streamer $s rows/s vs COPY to_jsonb $b rows/s; ratio $(ratio "$s" "$b") (target >= 0.7)"
done
peak_rss_report "${rss[@]}"
