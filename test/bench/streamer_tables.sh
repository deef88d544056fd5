#!/bin/bash
# streamer_tables.sh: decoding cost against the number of indexed tables
# (issue 13).  K tables (1, 4, 16, 64; BENCH_TABLES) each with a live index
# (reindex_begin, swap, finish), fed by one streamer through the database's
# shared slot; then pgbench updates ONLY the first table at about 1,000
# transactions/s (BENCH_TABLES_TPS) for BENCH_TABLES_SECONDS (default 10), and
# a probe measures commit -> acknowledged (the shared slot's confirmed
# position reaching the commit, streamer_latency_probe.py --ack-slot).
# Printed for each K: replication slots in use, walsender CPU seconds (every
# walsender of the cluster, from /proc, between the load's start and the
# moment the slot has confirmed the load's last commit), streamer CPU
# seconds, and the latency.  Goal: walsender CPU at 16 and 64 tables at most
# 1.2x the single-table figure, latency unchanged.  With one slot per target
# (before the shared slot) the walsender CPU grew with K: 2.5x at 4 tables and
# 6.7x at 16 (the issue's measurement).
. "$(dirname "$0")/streamer_common.sh"
TABLES=${BENCH_TABLES:-1 4 16 64}
RATE=${BENCH_TABLES_TPS:-1000}
SECONDS_RUN=${BENCH_TABLES_SECONDS:-10}
ROWS=${BENCH_TABLES_ROWS:-2000}
HZ=$(getconf CLK_TCK)

bench_setup tables "max_replication_slots = 20" "max_wal_senders = 24"
"$PGBINDIR/pgbench" --version >/dev/null 2>&1 || not_available "pgbench is not installed"

# CPU ticks (user + system) of one process
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
walsender_ticks() {
	local pm total=0 p
	pm=$(head -n 1 "$bench_work/pg/data/postmaster.pid")
	for p in $(pgrep -P "$pm"); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q walsender && total=$((total + $(ticks "$p")))
	done
	echo "$total"
}
secs() { awk -v t="$1" -v hz="$HZ" 'BEGIN { printf "%.2f", t / hz }'; }

"$STREAMER" -d "$DSN" --no-progress --log-format=json >>"$bench_work/streamer.log" 2>&1 &
spid=$!
bench_bg_pids+=("$spid")

# the loaded table is lat (the probe's), the others t2 .. tK
make_table() {	# make_table NAME
	q "CREATE TABLE $1 (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0, pad text)" >/dev/null
	q "INSERT INTO $1 SELECT g, 0, md5(g::text) FROM generate_series(0, $ROWS) g" >/dev/null
}
index_tables() {	# index_tables NAME...: a live index each, at most 8 reindexes at once
	local names=("$@") jobs=() i n
	for ((i = 0; i < ${#names[@]}; i += 8)); do
		jobs=()
		for n in "${names[@]:i:8}"; do
			jobs+=("$(q "SELECT reindex.reindex_begin('$n', '$n', '${n}_v1')")")
		done
		for j in "${jobs[@]}"; do wait_job "$j" ready 300 || { tail -n 20 "$bench_work/streamer.log"; exit 1; }; done
		for n in "${names[@]:i:8}"; do q "SELECT reindex.reindex_swap_alias('$n')" >/dev/null || exit 1; done
		for j in "${jobs[@]}"; do q "SELECT reindex.reindex_finish($j)" >/dev/null || exit 1; done
	done
}
# wait until the only slot is the shared one and every target is fed by it
wait_shared_only() {
	local deadline=$(($(date +%s) + 300))
	until [ "$(q "SELECT count(*) = 1 AND bool_and(slot_name LIKE 'reindex_shared_%') FROM pg_replication_slots")" = t ] &&
		[ "$(q "SELECT count(*) FROM reindex.target WHERE state = 'streaming' AND feed <> 'shared'")" = 0 ]; do
		[ "$(date +%s)" -le "$deadline" ] || {
			echo "the targets were not all handed over to the shared slot: $(q "SELECT string_agg(slot_name, ', ') FROM pg_replication_slots")"
			exit 1
		}
		sleep 0.2
	done
}

printf '\\set id random(1, %d)\nUPDATE lat SET n = n + 1 WHERE id = :id;\n' "$ROWS" >"$bench_work/update.sql"
have=0
base=""
for k in $TABLES; do
	new=()
	for ((i = have + 1; i <= k; i++)); do
		if [ "$i" = 1 ]; then n=lat; else n=t$i; fi
		make_table "$n"
		new+=("$n")
	done
	[ ${#new[@]} = 0 ] || index_tables "${new[@]}"
	have=$k
	wait_shared_only
	slots=$(q "SELECT count(*) FROM pg_replication_slots")
	shared=$(q "SELECT slot_name FROM pg_replication_slots LIMIT 1")
	w0=$(walsender_ticks)
	s0=$(ticks "$spid")
	"$PGBINDIR/pgbench" -n -c 2 -j 2 -R "$RATE" -T "$SECONDS_RUN" -f "$bench_work/update.sql" bench >"$bench_work/pgbench.out" 2>&1 &
	pg_pid=$!
	res=$($PY test/bench/streamer_latency_probe.py --dsn "$DSN" --es-url "$ES_URL" --index lat_v1 \
		--ack-slot "$shared" --seconds "$((SECONDS_RUN - 1))")
	wait "$pg_pid" || { cat "$bench_work/pgbench.out"; exit 1; }
	end=$(q "SELECT pg_current_wal_lsn()")
	deadline=$(($(date +%s) + 120))
	until [ "$(q "SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = '$shared'")" = t ]; do
		[ "$(date +%s)" -le "$deadline" ] || { echo "the shared slot did not confirm $end"; exit 1; }
		sleep 0.05
	done
	w=$(($(walsender_ticks) - w0))
	s=$(($(ticks "$spid") - s0))
	[ -n "$base" ] || base=$w
	tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$bench_work/pgbench.out" | head -n 1)
	$PY - "$k" "$slots" "$(secs "$w")" "$(secs "$s")" "$(ratio "$w" "$base")" "$tps" "$res" <<'PYEOF'
import json, sys
k, slots, w, s, r, tps, res = sys.argv[1:]
p = json.loads(res)
goal = "" if k in ("1", "4") else " (goal <= 1.2: %s)" % ("met" if float(r) <= 1.2 else "NOT met")
print("%s indexed tables, %s slot(s): walsender CPU %s s, ratio %s to 1 table%s; streamer CPU %s s; %s tps; "
      "commit -> acknowledged p50 %s ms, p99 %s ms" % (k, slots, w, r, goal, s, tps, p["p50_ms"], p["p99_ms"]))
PYEOF
done
kill -TERM "$spid"
wait "$spid"
rc=$?
bench_bg_pids=()
echo "streamer exit status after SIGTERM: $rc"
[ "$rc" = 0 ]
