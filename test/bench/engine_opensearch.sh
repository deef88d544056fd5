#!/bin/bash
# engine_opensearch.sh: the streamer end to end into a real OpenSearch 2.19 (one
# node, test/engine/opensearch, heap <= 1 GB), measured against the engine's own
# ingest ceiling for the very same documents.
#
# Ceiling: the documents of each workload rendered by reindex.document() (the
# streamer's own rendering) into NDJSON with the streamer's action line
# ({"index":{"_index","_id","version","version_type":"external"}}), written
# to a file before the clock starts, and sent by contrib/devsearch/bench/
# bulkbench (C, BENCH_CEILING_CONNS keep-alive connections, default 4, one
# request in flight each, the streamer's batch size: 5000 documents) into a
# fresh index with the settings the streamer's index has at that stage
# (backfill: refresh_interval -1 and 0 replicas; streaming: the defaults),
# once before and once after the streamer's run: the ceiling is the better
# of the two (whichever runs first on a document shape pays the JVM's
# compiling: seen as up to 35% either way).
# The engine is warmed up first (BENCH_WARMUP_DOCS, default 2M generated
# documents, deleted): a fresh JVM compiles as it goes, and measured here the
# first million documents cost it up to twice the CPU of later ones, which
# decided which side of a ratio ran first.
# Figures (one run each, BENCH_RUNS does not apply: a run takes minutes):
#   backfill   1M rows of table b (streamer_common.sh table_b):
#              reindex_begin + reindex_streamer --once, rows/s and ratio to the ceiling;
#   stream A   the plugin benchmark's workload A (plugin_decode.sh): one
#              transaction of BENCH_W1_ROWS (1M) inserts into items;
#   stream B   its workload B: BENCH_W2_TXNS (100k) single-row update
#              transactions on 1,000 counters (pgbench, 2 clients); its ceiling
#              sends the same number of documents of the same shape over the
#              same 1,000 ids, versions increasing (the WAL's own documents are
#              gone once the rows are updated again), ordered by id so that no
#              id spans two requests (several connections: no version conflict);
#              each as reindex_streamer --until-lsn=L over WAL written while it was
#              stopped (decode, _bulk, acknowledged), rows/s and ratio;
#   latency    commit -> acknowledged in both indexes (old and new, dual-fed
#              after a reindex) at BENCH_LATENCY_TPS (1000) single-row
#              transactions/s: streamer_latency_probe.py --ack-slot (the slots'
#              confirmed LSN, no realtime GET that would force refreshes);
#              p50, p99 (target <= 50 ms);
#   memory     the engine's peak RSS (the JVM's VmHWM) and the streamer's (wait4)
#              separately;
#   CPU        seconds of the engine, of PostgreSQL (walsender decoding, the
#              backfill's COPY) and of the streamer over each run, to say where
#              the time goes: on a machine the engine shares with PostgreSQL,
#              what PostgreSQL spends is not the engine's, so a ratio to a
#              ceiling measured with the engine alone has that bound.
# BENCH_ENGINE_CPUS=1 BENCH_OTHER_CPUS=0 (taskset lists) pin the engine to its
# own cores and everything else (PostgreSQL, the streamer, the loader, the
# probe) to the others: the engine then has the same cores to itself in the
# ceiling and in the streamer's runs, as on a cluster of its own machines.
# BENCH_PARTS (default "backfill stream latency") runs only the parts named;
# BENCH_STREAMER_ARGS adds options to every streamer run (e.g. --max-inflight=4).
# The load average is printed with the figures: the machine may be shared.
. "$(dirname "$0")/streamer_common.sh"
if [ -n "${BENCH_OTHER_CPUS:-}" ]; then
	taskset -cp "$BENCH_OTHER_CPUS" $$ >/dev/null || { echo "taskset -cp $BENCH_OTHER_CPUS failed"; exit 1; }
	echo "# pinned: the engine to CPUs ${BENCH_ENGINE_CPUS:-(any)}, everything else to CPUs $BENCH_OTHER_CPUS"
fi
ROWS=${BENCH_BACKFILL_ROWS:-1000000}
W1_ROWS=${BENCH_W1_ROWS:-1000000}
W2_TXNS=${BENCH_W2_TXNS:-100000}
CONNS=${BENCH_CEILING_CONNS:-4}
BATCH=5000
LAT_SECONDS=${BENCH_LATENCY_SECONDS:-30}
LAT_TPS=${BENCH_LATENCY_TPS:-1000}
BULKBENCH=$top/contrib/devsearch/bench/bulkbench
[ -x "$BULKBENCH" ] || not_available "contrib/devsearch/bench/bulkbench is not built (make builds it)"

BENCH_ENGINE=opensearch
RUNS=1
bench_setup engine "logical_decoding_work_mem = 256MB" "wal_sender_timeout = 0"
srss=()
# a fresh JVM compiles as it goes: warm the engine's indexing path up first
"$BULKBENCH" --port "${ES_URL##*:}" --docs "${BENCH_WARMUP_DOCS:-2000000}" --batch "$BATCH" --conns "$CONNS" >/dev/null ||
	{ echo "warm-up bulk failed"; exit 1; }
curl -s -XDELETE "$ES_URL/bench" >/dev/null

curl_ok() {	# curl_ok METHOD PATH [BODY]: fails the benchmark on an error answer
	local out
	out=$(curl -s -X "$1" "$ES_URL$2" -H 'Content-Type: application/json' ${3:+-d "$3"} -w ' %{http_code}')
	case ${out##* } in 2??) ;; *) echo "$1 $2 failed: $out"; exit 1 ;; esac
}

count_docs() {
	curl -s -XPOST "$ES_URL/$1/_refresh" >/dev/null
	curl -s "$ES_URL/$1/_count" | $PY -c 'import json,sys; print(json.load(sys.stdin)["count"])'
}

# render TABLE INDEX FILE [WHERE]: the table's documents as the streamer renders
# them, with its action line (ids are integers here: the id JSON has no space)
render() {
	"$PGBINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -v FETCH_COUNT=20000 -o "$3" -c "
		SELECT format('{\"index\":{\"_index\":\"%s\",\"_id\":%s,\"version\":1,\"version_type\":\"external\"}}',
		              '$2', substr(d, 1, strpos(d, ' ') - 1)) || E'\n' || substr(d, strpos(d, ' ') + 1)
		  FROM (SELECT reindex.document('$1'::regclass, t, NULL, NULL) AS d FROM $1 t ${4:-}) x" || exit 1
}

# ceiling LABEL INDEX FILE SETTINGS_JSON: bulkbench's docs/s into a fresh index
ceiling() {
	curl_ok PUT "/$2" "$4"
	local c0 c1 res rate
	c0=$(engine_cpu_s)
	res=$("$BULKBENCH" --port "${ES_URL##*:}" --file "$3" --batch "$BATCH" --conns "$CONNS") ||
		{ echo "ceiling $1: bulkbench failed"; exit 1; }
	c1=$(engine_cpu_s)
	rate=$(echo "$res" | sed -n 's/.*docs_per_sec=\([0-9]*\).*/\1/p')
	echo "  ceiling $1: $res; engine CPU $(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.1f", b - a }') s" >&2
	curl_ok DELETE "/$2"
	echo "$rate"
}

# measured NAME ARGS...: a streamer run with the engine's CPU seconds around it
measured() {
	local name=$1 c0 c1 p0 p1
	shift
	c0=$(engine_cpu_s)
	p0=$(pg_cpu_s)
	run_streamer "$bench_work/$name.json" "$@" ||
		{ echo "streamer failed: $(tail -n 20 "$bench_work/streamer.log")"; exit 1; }
	c1=$(engine_cpu_s)
	# the streamer's walsenders end after it: wait for them (bounded)
	for _ in $(seq 1 100); do
		[ "$(q "SELECT count(*) FROM pg_stat_replication")" = 0 ] && break
		sleep 0.05
	done
	p1=$(pg_cpu_s)
	srss+=("$(jfield "$bench_work/$name.json" maxrss_kb)")
	echo "  streamer $name: $(jfield "$bench_work/$name.json" elapsed_s | cut -c1-6) s wall," \
		"streamer CPU $(jfield "$bench_work/$name.json" cpu_s | cut -c1-5) s," \
		"streamer peak RSS $(($(jfield "$bench_work/$name.json" maxrss_kb) / 1024)) MB," \
		"engine CPU $(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.1f", b - a }') s," \
		"PostgreSQL CPU $(awk -v a="$p0" -v b="$p1" 'BEGIN { printf "%.1f", b - a }') s" >&2
}

# better A B: the higher of the ceiling's runs before and after the streamer's
# (whichever runs first on a document shape pays the JVM's compiling)
better() { if [ "$1" -ge "$2" ]; then echo "$1"; else echo "$2"; fi; }

rate_of() { $PY -c "print(round($1 / $(jfield "$bench_work/$2.json" elapsed_s)))"; }

part() { case " ${BENCH_PARTS:-backfill stream latency} " in *" $1 "*) return 0 ;; esac; return 1; }
# shellcheck disable=SC2206
extra=(${BENCH_STREAMER_ARGS:-})
[ ${#extra[@]} -eq 0 ] || echo "# streamer options: ${extra[*]}"

# ---------------------------------------------------------------- backfill
if part backfill; then
table_b "$ROWS"
render b ceil_b "$bench_work/b.ndjson"
bf_settings='{"settings":{"index":{"refresh_interval":"-1","number_of_replicas":0}}}'
c1=$(ceiling "backfill, before" ceil_b "$bench_work/b.ndjson" "$bf_settings")
q "SELECT reindex.reindex_begin('b', 'b', 'b_v1')" >/dev/null
measured backfill --once "${extra[@]}"
c2=$(ceiling "backfill, after" ceil_b "$bench_work/b.ndjson" "$bf_settings")
rm -f "$bench_work/b.ndjson"
ceil_b=$(better "$c1" "$c2")
got=$(q "SELECT rows_backfilled FROM reindex.target WHERE index_name = 'b_v1'")
[ "$got" = "$ROWS" ] || { echo "backfill of b_v1 wrote $got rows, expected $ROWS"; exit 1; }
[ "$(count_docs b_v1)" = "$ROWS" ] || { echo "b_v1 does not hold $ROWS documents"; exit 1; }
r=$(rate_of "$ROWS" backfill)
echo "opensearch backfill $ROWS rows: streamer $r rows/s vs ingest ceiling $ceil_b docs/s; ratio $(ratio "$r" "$ceil_b") (target >= 0.9)"
curl_ok DELETE /b_v1
q "DROP TABLE b" >/dev/null
fi

# ---------------------------------------------------------------- stream A, B
if part stream; then
q "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric NOT NULL,
	qty int NOT NULL, updated timestamptz NOT NULL DEFAULT now())" >/dev/null
q "CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL)" >/dev/null
q "INSERT INTO counters SELECT g, 0 FROM generate_series(1, 1000) g" >/dev/null
ja=$(q "SELECT reindex.reindex_begin('items', 'items', 'items_v1')")
jb=$(q "SELECT reindex.reindex_begin('counters', 'counters', 'counters_v1')")
measured ready --once "${extra[@]}"
wait_job "$ja" ready 60 && wait_job "$jb" ready 60 || exit 1

q "INSERT INTO items SELECT g, 'item ' || g, g * 1.25, g % 100 FROM generate_series(1, $W1_ROWS) g" >/dev/null
lsn=$(q "SELECT pg_current_wal_lsn()")
render items ceil_a "$bench_work/a.ndjson"
c1=$(ceiling "stream A, before" ceil_a "$bench_work/a.ndjson" '{}')
measured stream_a --until-lsn="$lsn" "${extra[@]}"
[ "$(count_docs items_v1)" = "$W1_ROWS" ] || { echo "items_v1 does not hold $W1_ROWS documents"; exit 1; }
c2=$(ceiling "stream A, after" ceil_a "$bench_work/a.ndjson" '{}')
rm -f "$bench_work/a.ndjson"
ceil_a=$(better "$c1" "$c2")
r=$(rate_of "$W1_ROWS" stream_a)
echo "opensearch stream A (1 txn x $W1_ROWS inserts): streamer $r rows/s vs ingest ceiling $ceil_a docs/s; ratio $(ratio "$r" "$ceil_a") (target >= 0.9)"
curl_ok DELETE /items_v1

printf '\\set id random(1, 1000)\nUPDATE counters SET n = n + 1 WHERE id = :id;\n' >"$bench_work/update.sql"
"$PGBINDIR/pgbench" -n -c 2 -j 2 -t $((W2_TXNS / 2)) -f "$bench_work/update.sql" bench >"$bench_work/pgbench.out" 2>&1 ||
	{ cat "$bench_work/pgbench.out"; exit 1; }
"$PGBINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -v FETCH_COUNT=20000 -o "$bench_work/b2.ndjson" -c "
	SELECT format('{\"index\":{\"_index\":\"ceil_b2\",\"_id\":\"%s\",\"version\":%s,\"version_type\":\"external\"}}', i, g)
	       || E'\n' || jsonb_build_object('id', i, 'n', g)::text
	  FROM (SELECT g, 1 + g % 1000 AS i FROM generate_series(1, $W2_TXNS) g) x ORDER BY i, g" || exit 1
c1=$(ceiling "stream B, before" ceil_b2 "$bench_work/b2.ndjson" '{}')
lsn=$(q "SELECT pg_current_wal_lsn()")
measured stream_b --until-lsn="$lsn" "${extra[@]}"
want=$(q "SELECT sum(n) FROM counters")
have=$(curl -s -XPOST "$ES_URL/counters_v1/_refresh" >/dev/null
	curl -s "$ES_URL/counters_v1/_search" -H 'Content-Type: application/json' \
		-d '{"size":0,"aggs":{"n":{"sum":{"field":"n"}}}}' | $PY -c 'import json,sys; print(int(json.load(sys.stdin)["aggregations"]["n"]["value"]))')
[ "$have" = "$want" ] || { echo "counters_v1 sums n to $have, the table to $want: not a valid run"; exit 1; }
c2=$(ceiling "stream B, after" ceil_b2 "$bench_work/b2.ndjson" '{}')
ceil_b2=$(better "$c1" "$c2")
r=$(rate_of "$W2_TXNS" stream_b)
echo "opensearch stream B ($W2_TXNS single-row update txns): streamer $r rows/s vs ingest ceiling $ceil_b2 docs/s; ratio $(ratio "$r" "$ceil_b2") (target >= 0.9)"
curl_ok DELETE /counters_v1

fi

# ---------------------------------------------------------------- latency
probe_rc=0
if part latency; then
latency_setup 300 "${extra[@]}"
slots=()
for s in $(q "SELECT DISTINCT t.slot_name FROM reindex.target t JOIN pg_replication_slots s USING (slot_name)
	WHERE t.index_name IN ('lat_v1', 'lat_v2')"); do slots+=(--ack-slot "$s"); done
[ ${#slots[@]} -gt 0 ] || { echo "no slot feeds lat_v1 / lat_v2"; exit 1; }
"$PGBINDIR/pgbench" -n -c 2 -j 2 -R "$LAT_TPS" -T "$LAT_SECONDS" -f "$bench_work/update.sql" bench >"$bench_work/pgbench.out" 2>&1 &
pg_pid=$!
res=$($PY test/bench/streamer_latency_probe.py --dsn "$DSN" --es-url "$ES_URL" --index lat_v1 --index lat_v2 \
	"${slots[@]}" --seconds "$((LAT_SECONDS - 2))")
probe_rc=$?
wait "$pg_pid" || { cat "$bench_work/pgbench.out"; exit 1; }
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$bench_work/pgbench.out" | head -n 1)
kill -TERM "$mpid"
wait "$mpid"
bench_bg_pids=()
srss+=("$(jfield "$bench_work/latency.json" maxrss_kb)")
# both indexes hold the probe's last value: what was acknowledged is there
k=$(q "SELECT n FROM lat WHERE id = 0")
for ix in lat_v1 lat_v2; do
	v=$(curl -s "$ES_URL/$ix/_doc/0" | $PY -c 'import json,sys; print(json.load(sys.stdin)["_source"]["n"])')
	[ "$v" = "$k" ] || { echo "$ix holds n=$v for the probe row, the table $k"; exit 1; }
done
echo "background load: pgbench -R $LAT_TPS for ${LAT_SECONDS}s: $tps tps achieved; slots: ${slots[*]}"
$PY - "$res" <<'PYEOF'
import json, sys
r = json.loads(sys.argv[1])
ok = r["p99_ms"] is not None and r["p99_ms"] <= 50
print("opensearch latency commit -> acknowledged in both indexes: p50 %s ms, p99 %s ms (target <= 50: %s), max %s ms, %d samples, %d timeouts"
      % (r["p50_ms"], r["p99_ms"], "met" if ok else "NOT met", r["max_ms"], r["samples"], r["timeouts"]))
PYEOF
fi
echo "opensearch peak RSS: engine $(engine_peak_rss_mb) MB (JVM, heap <= 1 GB); $(peak_rss_report "${srss[@]}")"
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$probe_rc" = 0 ]
