#!/bin/bash
# streamer_verify.sh: reindex_verify throughput on 1M rows of about 100 bytes
# (the backfill benchmark's table), side by side with the baseline
#   COPY (SELECT to_jsonb(t) FROM t) TO STDOUT   read by psql into /dev/null.
# One streamer backfills the index and keeps streaming; each run is
# reindex_verify(index, options => {"content": true}) waited for with
# reindex_verify_wait: snapshot, rows through reindex.document with _mget by
# id, the scroll of every document with absent_ids.  Rows verified/s = rows
# checked / the run's own time (started_at .. finished_at; the claim wait of
# up to 1 s is left out and shown next to it).  Ratio = verify rows/s /
# baseline rows/s (target >= 0.5).  Also: one ids query of 500 ids on the
# index (devsearch looks ids up by hash).  Medians of BENCH_RUNS runs.
. "$(dirname "$0")/streamer_common.sh"
ROWS=${BENCH_VERIFY_ROWS:-1000000}

bench_setup verify
table_b "$ROWS"
b=$(copy_baseline "$ROWS")

job=$(q "SELECT reindex.reindex_begin('b', 'b', 'b_v1')")
"$STREAMER" -d "$DSN" --no-progress >>"$bench_work/streamer.log" 2>&1 &
bench_bg_pids+=($!)
wait_job "$job" ready 900 || { tail -n 20 "$bench_work/streamer.log"; exit 1; }

rates=()
for i in $(seq 1 "$RUNS"); do
	t0=$(date +%s.%N)
	run=$(q "SELECT reindex.reindex_verify('b_v1')")
	res=$(q "SELECT state, rows_checked, docs_checked, missing + extra + stale + mismatched,
	                extract(epoch FROM finished_at - started_at), extract(epoch FROM started_at - requested_at)
	           FROM reindex.reindex_verify_wait($run)")
	t1=$(date +%s.%N)
	IFS='|' read -r state rows docs diffs secs queued <<<"$res"
	[ "$state" = done ] || { echo "verify run $run: $res"; tail -n 20 "$bench_work/streamer.log"; exit 1; }
	[ "$rows" = "$ROWS" ] && [ "$docs" = "$ROWS" ] && [ "$diffs" = 0 ] ||
		{ echo "verify run $run checked $rows rows and $docs documents and found $diffs differences, expected $ROWS, $ROWS, 0"; exit 1; }
	rates+=("$($PY -c "print(round($ROWS / $secs))")")
	echo "  verify run $i: ${secs}s in the streamer (queued ${queued}s; $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')s wall)"
done
s=$(median "${rates[@]}")
echo "verify $ROWS rows (content on): $s rows/s vs COPY to_jsonb $b rows/s; ratio $(ratio "$s" "$b") (target >= 0.5)"

ids=$($PY -c "import json,random; r=random.Random(1); print(json.dumps({'size': 500, 'query': {'ids': {'values': [str(r.randint(1, $ROWS)) for _ in range(500)]}}}))")
curl -s -XPOST "$ES_URL/b_v1/_refresh" >/dev/null
t=()
for i in $(seq 1 "$RUNS"); do
	ms=$(curl -s -o /dev/null -w '%{time_total}' -XPOST -H 'Content-Type: application/json' --data "$ids" "$ES_URL/b_v1/_search")
	t+=("$($PY -c "print(round($ms * 1000, 1))")")
done
echo "devsearch ids query of 500 ids on $ROWS documents: p50 $(median "${t[@]}") ms"
