#!/bin/bash
# cpu_bench.sh: where the CPU goes in the streamer benchmarks.  For the
# backfill of 1M rows and the two stream workloads (1 txn x 1M inserts, 200k
# single-row update transactions) it prints the wall time and the CPU seconds
# spent by the streamer, the development server and PostgreSQL (postmaster and
# every backend/walsender, living or reaped) during the streamer's run, per 1M
# rows.  CPU seconds do not depend on whatever else shares the machine, which
# wall-clock ratios do.  Reuses test/bench/streamer_common.sh for the setup.
#   test/streamer_more/cpu_bench.sh [backfill|stream|all]
#   env: CPU_BENCH_ROWS (default 1000000), CPU_BENCH_TXNS (default 200000),
#        STREAMER_ARGS (extra streamer options), PERF_DIR (record each
#        streamer run with perf record -g into PERF_DIR/<label>.data)
. "$(dirname "$0")/../bench/streamer_common.sh"
WHAT=${1:-all}
ROWS=${CPU_BENCH_ROWS:-1000000}
TXNS=${CPU_BENCH_TXNS:-200000}
HZ=$(getconf CLK_TCK)

# CPU ticks of a process (utime + stime [+ cutime + cstime])
ticks() { awk -v kids="$2" '{ sub(/^.*\) /, ""); t = $12 + $13; if (kids) t += $14 + $15; print t }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# the postmaster's children now (pids), to wait for the ones a run adds
pg_kids() { pgrep -P "$(head -n 1 "$bench_work/pg/data/postmaster.pid")" | sort; }
# wait until every backend started since pg_kids printed $1 has been reaped
pg_settle() {
	local i
	for i in $(seq 1 500); do
		[ -z "$(comm -13 <(echo "$1") <(pg_kids))" ] && return
		sleep 0.01
	done
}
pg_ticks() {
	local pm total=0 p
	pm=$(head -n 1 "$bench_work/pg/data/postmaster.pid")
	total=$(ticks "$pm" 1)
	for p in $(pgrep -P "$pm"); do total=$((total + $(ticks "$p" 0))); done
	echo "$total"
}
ds_ticks() { ticks "$devsearch_pid" 0; }

# measured ROWS LABEL STREAMER_ARGS...: run the streamer, print its CPU split
measured() {
	local rows=$1 label=$2
	shift 2
	local pg0 ds0 pg1 ds1
	kids=$(pg_kids); pg0=$(pg_ticks); ds0=$(ds_ticks)
	/usr/bin/time -f '%e %U %S %M' -o "$bench_work/time.out" \
		${PERF_DIR:+perf record -q -g -o "$PERF_DIR/${label%% *}.data" --} "$STREAMER" -d "$DSN" --no-progress ${STREAMER_ARGS:-} "$@" >>"$bench_work/streamer.log" 2>&1 ||
		{ echo "streamer failed: $(tail -n 20 "$bench_work/streamer.log")"; exit 1; }
	pg_settle "$kids"; pg1=$(pg_ticks); ds1=$(ds_ticks)
	read -r wall su ss rss <"$bench_work/time.out"
	$PY - "$rows" "$label" "$wall" "$su" "$ss" "$rss" "$(( pg1 - pg0 ))" "$(( ds1 - ds0 ))" "$HZ" <<'PYEOF'
import sys
rows, label, wall, su, ss, rss, pg, ds, hz = sys.argv[1:]
rows = int(rows); m = 1e6 / rows; hz = float(hz)
st = float(su) + float(ss); pg = int(pg) / hz; ds = int(ds) / hz
print(f"{label}: {rows} rows in {float(wall):.2f}s = {rows/float(wall):.0f} rows/s; "
      f"CPU s per 1M rows: streamer {st*m:.2f} (user {float(su)*m:.2f}), devsearch {ds*m:.2f}, "
      f"postgres {pg*m:.2f}, total {(st+ds+pg)*m:.2f}; streamer max RSS {int(rss)//1024} MB")
PYEOF
}

if [ "$WHAT" = backfill ] || [ "$WHAT" = all ]; then
	bench_setup cpubf
	q "CREATE TABLE b (id bigint PRIMARY KEY, name text NOT NULL, qty int NOT NULL, price numeric(10,2), at timestamptz NOT NULL, note text)" >/dev/null
	q "INSERT INTO b SELECT g, 'name ' || g, g % 1000, g / 100.0, '2026-01-01'::timestamptz + g * interval '1 s', md5(g::text) FROM generate_series(1, $ROWS) g" >/dev/null
	q "VACUUM ANALYZE b" >/dev/null
	kids=$(pg_kids); pg0=$(pg_ticks); t0=$(date +%s.%N)
	"$PGBINDIR/psql" -X -q -c "COPY (SELECT to_jsonb(t) FROM b t) TO STDOUT" >/dev/null
	t1=$(date +%s.%N); pg_settle "$kids"; pg1=$(pg_ticks)
	echo "baseline COPY to_jsonb: $($PY -c "print(f'{$ROWS/($t1-$t0):.0f} rows/s; postgres CPU s per 1M rows {($pg1-$pg0)/$HZ*1e6/$ROWS:.2f}')")"
	q "SELECT reindex.reindex_begin('b', 'b1', 'b1_v1')" >/dev/null
	measured "$ROWS" "backfill" --once
	got=$(q "SELECT rows_backfilled FROM reindex.target WHERE index_name = 'b1_v1'")
	[ "$got" = "$ROWS" ] || { echo "backfill wrote $got rows, expected $ROWS"; exit 1; }
	bench_cleanup; trap - EXIT; bench_work=""; devsearch_pid=""
fi

if [ "$WHAT" = stream ] || [ "$WHAT" = all ]; then
	bench_setup cpust "logical_decoding_work_mem = 256MB" "wal_sender_timeout = 0"
	q "CREATE TABLE s (id bigint PRIMARY KEY, v text NOT NULL, n int NOT NULL)" >/dev/null
	q "INSERT INTO s SELECT g, md5(g::text), 0 FROM generate_series(1, 100000) g" >/dev/null
	q "SELECT reindex.reindex_begin('s', 's', 's_v1')" >/dev/null
	measured 100000 "initial build" --once
	base() {	# base ROWS LABEL: pg_recvlogical + wal2json v2 on the same WAL
		local lsn=$1 rows=$2 label=$3 pg0 pg1 t0 t1
		kids=$(pg_kids); pg0=$(pg_ticks); t0=$(date +%s.%N)
		/usr/bin/time -f '%U %S' -o "$bench_work/rt.out" "$PGBINDIR/pg_recvlogical" -d "$DSN" -S w2j --start --endpos="$lsn" -o format-version=2 -f /dev/null --no-loop
		t1=$(date +%s.%N); pg_settle "$kids"; pg1=$(pg_ticks)
		read -r ru rs <"$bench_work/rt.out"
		echo "$label baseline wal2json: $($PY -c "print(f'{$rows/($t1-$t0):.0f} rows/s; CPU s per 1M rows: pg_recvlogical {($ru+$rs)*1e6/$rows:.2f}, postgres {($pg1-$pg0)/$HZ*1e6/$rows:.2f}')")"
		q "SELECT pg_drop_replication_slot('w2j')" >/dev/null
	}
	q "SELECT pg_create_logical_replication_slot('w2j', 'wal2json')" >/dev/null
	q "INSERT INTO s SELECT g, md5(g::text), 1 FROM generate_series(100001, 100000 + $ROWS) g" >/dev/null
	lsn=$(q "SELECT pg_current_wal_lsn()")
	base "$lsn" "$ROWS" W1
	measured "$ROWS" "stream W1 (1 txn x $ROWS inserts)" --until-lsn="$lsn"
	q "SELECT pg_create_logical_replication_slot('w2j', 'wal2json')" >/dev/null
	printf '\\set id random(1, 100000)\nUPDATE s SET n = n + 1 WHERE id = :id;\n' >"$bench_work/update.sql"
	"$PGBINDIR/pgbench" -n -c 2 -j 2 -t $((TXNS / 2)) -f "$bench_work/update.sql" bench >"$bench_work/pgbench.out" 2>&1 ||
		{ cat "$bench_work/pgbench.out"; exit 1; }
	lsn=$(q "SELECT pg_current_wal_lsn()")
	base "$lsn" "$TXNS" W2
	measured "$TXNS" "stream W2 ($TXNS single-row update txns)" --until-lsn="$lsn"
	curl -s -XPOST "$ES_URL/s_v1/_refresh" >/dev/null
	want=$(q "SELECT count(*) FROM s")
	have=$(curl -s "$ES_URL/s_v1/_count" | $PY -c 'import json,sys; print(json.load(sys.stdin)["count"])')
	[ "$have" = "$want" ] || { echo "index s_v1 has $have documents, the table $want rows: not a valid run"; exit 1; }
fi
