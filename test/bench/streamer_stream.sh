#!/bin/bash
# streamer_stream.sh: end-to-end streaming throughput, side by side with
# pg_recvlogical + wal2json (format-version 2) decoding the same WAL to /dev/null.
#
# Workloads (each run generates fresh WAL, then both consumers read it):
#   W1  one transaction inserting 1M rows (BENCH_W1_ROWS)
#   W2  200k single-row UPDATE transactions (BENCH_W2_TXNS; pgbench, 2 clients)
# For each run: the target is ready and its streamer stopped; a wal2json slot
# is created; the workload runs; L = pg_current_wal_lsn(); then
#   baseline: pg_recvlogical --start --endpos=L -o format-version=2 -f /dev/null
#   streamer: reindex_streamer --until-lsn=L (decode, _bulk into devsearch, ack)
# Rows/s = rows / wall time; ratio = streamer / baseline (target >= 0.8).
# Medians of BENCH_RUNS runs.  The streamer's peak RSS comes from wait4.
. "$(dirname "$0")/streamer_common.sh"
W1_ROWS=${BENCH_W1_ROWS:-1000000}
W2_TXNS=${BENCH_W2_TXNS:-200000}

bench_setup stream "logical_decoding_work_mem = 256MB" "wal_sender_timeout = 0"
q "CREATE TABLE s (id bigint PRIMARY KEY, v text NOT NULL, n int NOT NULL)" >/dev/null
q "INSERT INTO s SELECT g, md5(g::text), 0 FROM generate_series(1, 100000) g" >/dev/null
job=$(q "SELECT reindex.reindex_begin('s', 's', 's_v1')")
run_streamer "$bench_work/init.json" --once || { echo "initial build failed: $(tail -n 20 "$bench_work/streamer.log")"; exit 1; }
wait_job "$job" ready 60 || exit 1
rss=()

one_run() {	# one_run LABEL ROWS WORKLOAD_FUNCTION
	local label=$1 rows=$2 fn=$3 i=$4
	q "SELECT pg_create_logical_replication_slot('w2j', 'wal2json')" >/dev/null
	$fn "$i"
	local lsn
	lsn=$(q "SELECT pg_current_wal_lsn()")
	local t0 t1
	t0=$(date +%s.%N)
	"$PGBINDIR/pg_recvlogical" -d "$DSN" -S w2j --start --endpos="$lsn" -o format-version=2 -f /dev/null --no-loop ||
		{ echo "pg_recvlogical failed"; exit 1; }
	t1=$(date +%s.%N)
	base_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
	q "SELECT pg_drop_replication_slot('w2j')" >/dev/null
	local applied_before
	applied_before=$(q "SELECT events_applied FROM reindex.target WHERE index_name = 's_v1'")
	run_streamer "$bench_work/run.json" --until-lsn="$lsn" ||
		{ echo "streamer failed: $(tail -n 20 "$bench_work/streamer.log")"; exit 1; }
	# a figure counts only if the work was done: every row is in the index
	curl -s -XPOST "$ES_URL/s_v1/_refresh" >/dev/null
	local want have
	want=$(q "SELECT count(*) FROM s")
	have=$(curl -s "$ES_URL/s_v1/_count" | $PY -c 'import json,sys; print(json.load(sys.stdin)["count"])')
	[ "$have" = "$want" ] || { echo "index s_v1 has $have documents, the table $want rows: not a valid run"; exit 1; }
	echo "    (index checked: $have documents; events applied +$(( $(q "SELECT events_applied FROM reindex.target WHERE index_name = 's_v1'") - applied_before )))"
	str_s=$(jfield "$bench_work/run.json" elapsed_s)
	rss+=("$(jfield "$bench_work/run.json" maxrss_kb)")
	base_rate=$($PY -c "print(round($rows / $base_s))")
	str_rate=$($PY -c "print(round($rows / $str_s))")
	echo "  $label run $i: wal2json ${base_s}s ($base_rate rows/s), streamer ${str_s}s ($str_rate rows/s)"
	base_rates+=("$base_rate")
	str_rates+=("$str_rate")
}

w1() { q "INSERT INTO s SELECT g, md5(g::text), 1 FROM generate_series(1000000 * $1 + 100001, 1000000 * $1 + 100000 + $W1_ROWS) g" >/dev/null; }
w2() {
	printf '\\set id random(1, 100000)\nUPDATE s SET n = n + 1 WHERE id = :id;\n' >"$bench_work/update.sql"
	"$PGBINDIR/pgbench" -n -c 2 -j 2 -t $((W2_TXNS / 2)) -f "$bench_work/update.sql" bench >"$bench_work/pgbench.out" 2>&1 ||
		{ cat "$bench_work/pgbench.out"; exit 1; }
}

summary() {	# summary LABEL
	local b s
	b=$(median "${base_rates[@]}")
	s=$(median "${str_rates[@]}")
	echo "$1: streamer $s rows/s vs pg_recvlogical+wal2json $b rows/s; ratio $(ratio "$s" "$b") (target >= 0.8)"
}

echo "W1: one transaction of $W1_ROWS inserts"
base_rates=(); str_rates=()
for i in $(seq 1 "$RUNS"); do one_run W1 "$W1_ROWS" w1 "$i"; done
summary "stream W1 (1 txn x $W1_ROWS inserts)"

echo "W2: $W2_TXNS single-row update transactions"
base_rates=(); str_rates=()
for i in $(seq 1 "$RUNS"); do one_run W2 "$W2_TXNS" w2 "$i"; done
summary "stream W2 ($W2_TXNS single-row update txns)"
peak_rss_report "${rss[@]}"
