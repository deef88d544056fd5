#!/bin/bash
# streamer_compress.sh: `--compress` (gzip of _bulk bodies) against plain
# bodies on the same backfill: BENCH_COMPRESS_ROWS rows (default 300,000) of
# about 100 bytes, each run a fresh reindex_begin completed by
# `reindex_streamer --once`.  Reports, medians of BENCH_RUNS runs, rows/s and
# the _bulk body bytes on the wire (logged by the streamer at exit), so the
# CPU the compression costs is seen next to the bytes it saves.  On loopback
# the network is free, so rows/s can only lose here; over a real link the
# saved bytes are what counts.
. "$(dirname "$0")/streamer_common.sh"
ROWS=${BENCH_COMPRESS_ROWS:-300000}

bench_setup compress
q "CREATE TABLE c (id bigint PRIMARY KEY, name text NOT NULL, qty int NOT NULL, price numeric(10,2), at timestamptz NOT NULL, note text)" >/dev/null
q "INSERT INTO c SELECT g, 'name ' || g, g % 1000, g / 100.0, '2026-01-01'::timestamptz + g * interval '1 s', md5(g::text) FROM generate_series(1, $ROWS) g" >/dev/null
q "VACUUM ANALYZE c" >/dev/null
echo "# table c: $ROWS rows"

n=0
declare -A rate_of bytes_of raw_of
for mode in plain gzip; do
	rates=()
	sent=()
	raws=()
	for i in $(seq 1 "$RUNS"); do
		n=$((n + 1))
		job=$(q "SELECT reindex.reindex_begin('c', 'c$n', 'c${n}_v1')")
		args=(--once)
		[ "$mode" = gzip ] && args+=(--compress)
		: >"$bench_work/streamer.log"
		run_streamer "$bench_work/run.json" "${args[@]}" ||
			{ echo "streamer failed: $(tail -n 20 "$bench_work/streamer.log")"; exit 1; }
		s=$(jfield "$bench_work/run.json" elapsed_s)
		got=$(q "SELECT rows_backfilled FROM reindex.target WHERE index_name = 'c${n}_v1'")
		[ "$got" = "$ROWS" ] || { echo "backfill of c${n}_v1 wrote $got rows, expected $ROWS"; exit 1; }
		line=$(grep -o '_bulk bodies: [0-9]* bytes sent, [0-9]* before compression' "$bench_work/streamer.log" | tail -n 1)
		[ -n "$line" ] || { echo "the streamer logged no _bulk byte count"; exit 1; }
		sent+=("$(echo "$line" | awk '{print $3}')")
		raws+=("$(echo "$line" | awk '{print $6}')")
		rates+=("$($PY -c "print(round($ROWS / $s))")")
		echo "  $mode run $i: ${s}s, $(echo "$line" | awk '{print $3}') bytes sent"
		q "SELECT reindex.reindex_cancel($job)" >/dev/null 2>&1
		q "SELECT pg_drop_replication_slot(slot_name) FROM reindex.target t JOIN pg_replication_slots s USING (slot_name) WHERE t.index_name = 'c${n}_v1' AND NOT s.active" >/dev/null 2>&1
		curl -s -XDELETE "$ES_URL/c${n}_v1" >/dev/null
	done
	rate_of[$mode]=$(median "${rates[@]}")
	bytes_of[$mode]=$(median "${sent[@]}")
	raw_of[$mode]=$(median "${raws[@]}")
done
mb() { $PY -c "print('%.1f' % ($1 / 1048576))"; }
echo "backfill $ROWS rows, plain _bulk: ${rate_of[plain]} rows/s, $(mb "${bytes_of[plain]}") MB on the wire"
echo "backfill $ROWS rows, --compress: ${rate_of[gzip]} rows/s, $(mb "${bytes_of[gzip]}") MB on the wire (of $(mb "${raw_of[gzip]}") MB)"
echo "--compress: bytes ratio $(ratio "${bytes_of[gzip]}" "${bytes_of[plain]}"), rows/s ratio $(ratio "${rate_of[gzip]}" "${rate_of[plain]}")"
