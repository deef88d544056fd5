# streamer_common.sh: shared setup of the streamer benchmarks (sourced, never run;
# run.sh skips it).
#
# Owns: the throwaway cluster (test/pgcluster.sh, database "bench"), the
# development server on a free loopback port, finding the installed pieces,
# the "not available yet" exit (status 3, which run.sh reports as such and
# never as a figure), medians, and measured streamer runs
# (streamer_measure.py: wall time and peak RSS from wait4).
# Invariant: nothing here prints a number it did not measure in this run.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$top"
PY=/usr/bin/python3
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PGBINDIR=$($PG_CONFIG --bindir)
RUNS=${BENCH_RUNS:-3}
NOT_AVAILABLE=3
bench_work=""
devsearch_pid=""
bench_bg_pids=()

bench_cleanup() {
	for p in "${bench_bg_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	[ -z "$devsearch_pid" ] || { kill "$devsearch_pid" 2>/dev/null; wait "$devsearch_pid" 2>/dev/null; }
	[ -z "$bench_work" ] || { test/pgcluster.sh destroy "$bench_work/pg" >/dev/null 2>&1; rm -rf "$bench_work"; }
}

not_available() {
	echo "not available yet: $*"
	exit $NOT_AVAILABLE
}

# bench_setup NAME [EXTRA_CONF_LINE...]: cluster + devsearch + extension + endpoint
bench_setup() {
	local name=$1
	shift
	STREAMER=""
	for c in ${REINDEX_STREAMER:-} "$PGBINDIR/reindex_streamer" "$top/src/streamer/reindex_streamer"; do
		[ -x "$c" ] && { STREAMER=$c; break; }
	done
	DEVSEARCH=$top/contrib/devsearch/devsearch
	[ -x "$DEVSEARCH" ] || not_available "contrib/devsearch/devsearch is not built"
	[ -n "$STREAMER" ] || not_available "reindex_streamer is not built"
	[ -f "$($PG_CONFIG --sharedir)/extension/reindex.control" ] || not_available "the reindex extension is not installed"
	bench_work=$(mktemp -d "/tmp/reindex-bench-$name.XXXXXX")
	chmod 755 "$bench_work"
	trap bench_cleanup EXIT
	eval "$(test/pgcluster.sh start "$bench_work/pg" "$@")" || { echo "could not start PostgreSQL"; exit 1; }
	"$PGBINDIR/createdb" bench || exit 1
	export PGDATABASE=bench
	DSN="host=$PGHOST port=$PGPORT user=$PGUSER dbname=bench"
	local engine_line="devsearch on loopback (no real Elasticsearch indexing cost)"
	if [ "${BENCH_ENGINE:-devsearch}" = opensearch ]; then
		start_opensearch
		engine_line="a real OpenSearch 2.19 (one node, test/engine/opensearch, heap <= 1 GB)"
	else
		"$DEVSEARCH" --port 0 >"$bench_work/devsearch.out" 2>"$bench_work/devsearch.err" &
		devsearch_pid=$!
		ENGINE_PID=$devsearch_pid
		wait_listen devsearch 200
	fi
	q "CREATE EXTENSION reindex" >/dev/null || not_available "CREATE EXTENSION reindex failed"
	local fn
	fn=$(q "SELECT proname FROM pg_proc WHERE pronamespace = 'reindex'::regnamespace AND proname ~ 'endpoint' AND proname ~ '(add|create)' ORDER BY proname LIMIT 1")
	[ -n "$fn" ] || not_available "no endpoint-adding function in the extension"
	[ "$(q "SELECT count(*) FROM pg_proc WHERE pronamespace = 'reindex'::regnamespace AND proname IN ('reindex_begin', 'reindex_swap_alias')")" = 2 ] ||
		not_available "reindex_begin / reindex_swap_alias are not in the extension"
	q "SELECT reindex.$fn('default', '$ES_URL')" >/dev/null || exit 1
	echo "# $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); PostgreSQL $("$PGBINDIR/postgres" --version | awk '{print $3}'); $engine_line; runs per figure: $RUNS"
}

# start_opensearch: a real OpenSearch node (BENCH_ENGINE=opensearch); sets
# ES_URL and ENGINE_PID (the JVM: the launcher execs it).  Failing to start is
# a failure, never "not available": make bench installs what it needs.
start_opensearch() {
	local pin=()
	[ -z "${BENCH_ENGINE_CPUS:-}" ] || pin=(taskset -c "$BENCH_ENGINE_CPUS")
	"${pin[@]}" "$top/test/engine/opensearch" --port 0 >"$bench_work/opensearch.out" 2>"$bench_work/opensearch.err" &
	ENGINE_PID=$!
	devsearch_pid=$ENGINE_PID	# bench_cleanup stops it
	wait_listen opensearch 6000	# the first start builds the launcher (Maven)
}

# wait_listen NAME TRIES: ES_URL from "NAME listening on URL" in
# $bench_work/NAME.out, polled every 0.05 s while ENGINE_PID lives
wait_listen() {
	ES_URL=""
	for _ in $(seq 1 "$2"); do
		ES_URL=$(sed -n "s/^$1 listening on \(http:[^ ]*\).*/\1/p" "$bench_work/$1.out")
		[ -n "$ES_URL" ] && return 0
		kill -0 "$ENGINE_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "$1 did not start: $(tail -c 3000 "$bench_work/$1.err")"
	exit 1
}

# engine_cpu_s: CPU seconds (user + system) the search engine has used so far
engine_cpu_s() {
	awk -v tck="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / tck }' "/proc/$ENGINE_PID/stat"
}

# pg_cpu_s: CPU seconds (user + system) PostgreSQL has used so far: the
# postmaster with its reaped children (walsenders and backends that ended)
# and every live child
pg_cpu_s() {
	local pm c n
	pm=$(head -n 1 "$bench_work/pg/data/postmaster.pid")
	# a child that exited counts once it is reaped (a zombie's time is in
	# neither place): wait, bounded, until none is left unreaped
	for n in $(seq 1 200); do
		c=$(for c in $(cat "/proc/$pm/task/$pm/children" 2>/dev/null); do
			awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$c/stat" 2>/dev/null; done | grep -c Z)
		[ "$c" = 0 ] && break
		sleep 0.01
	done
	{
		awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$pm/stat"
		for c in $(cat "/proc/$pm/task/$pm/children" 2>/dev/null); do
			awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$c/stat" 2>/dev/null
		done
	} | awk -v tck="$(getconf CLK_TCK)" '{ s += $1 } END { print s / tck }'
}

# engine_peak_rss_mb: the search engine's peak RSS so far (VmHWM)
engine_peak_rss_mb() {
	echo $(($(sed -n 's/^VmHWM:\s*\([0-9]*\) kB/\1/p' "/proc/$ENGINE_PID/status") / 1024))
}

q() { "$PGBINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }

median() { $PY -c 'import statistics,sys; m=statistics.median(float(x) for x in sys.argv[1:]); print(int(m) if m == int(m) else round(m, 3))' "$@"; }
ratio() { $PY -c 'import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print("%.2f" % (a/b if b else 0))' "$1" "$2"; }
jfield() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# run_streamer OUT.json ARGS...: run the streamer to completion, measured
run_streamer() {
	local out=$1
	shift
	$PY test/bench/streamer_measure.py "$out" -- "$STREAMER" -d "$DSN" --no-progress "$@" \
		>>"$bench_work/streamer.log" 2>&1
}

# wait_job JOB STATE TIMEOUT_S
wait_job() {
	local deadline=$(($(date +%s) + $3))
	until [ "$(q "SELECT state FROM reindex.job WHERE id = $1")" = "$2" ]; do
		[ "$(date +%s)" -le "$deadline" ] || { echo "job $1 did not reach $2 (is $(q "SELECT state FROM reindex.job WHERE id = $1"))"; return 1; }
		sleep 0.1
	done
}

peak_rss_report() {	# peak_rss_report KB...
	local max=0
	for k in "$@"; do [ "$k" -gt "$max" ] && max=$k; done
	local mb=$((max / 1024))
	echo "streamer peak RSS: $mb MB (target <= 64 MB: $([ "$mb" -le 64 ] && echo met || echo NOT met))"
}

# table_b ROWS: the 1M-row table of about 100 bytes a row (backfill, verify)
table_b() {
	q "CREATE TABLE b (id bigint PRIMARY KEY, name text NOT NULL, qty int NOT NULL, price numeric(10,2), at timestamptz NOT NULL, note text)" >/dev/null
	q "INSERT INTO b SELECT g, 'name ' || g, g % 1000, g / 100.0, '2026-01-01'::timestamptz + g * interval '1 s', md5(g::text) FROM generate_series(1, $1) g" >/dev/null
	q "VACUUM ANALYZE b" >/dev/null
	echo "# table b: $1 rows, $(q "SELECT pg_size_pretty(pg_relation_size('b'))"), avg row $(q "SELECT avg(pg_column_size(b.*))::int FROM b") bytes"
}

# copy_baseline ROWS: median rows/s of COPY (SELECT to_jsonb(t) FROM b t) TO STDOUT
copy_baseline() {
	local base=() t0 t1 s i
	for i in $(seq 1 "$RUNS"); do
		t0=$(date +%s.%N)
		"$PGBINDIR/psql" -X -q -c "COPY (SELECT to_jsonb(t) FROM b t) TO STDOUT" >/dev/null || exit 1
		t1=$(date +%s.%N)
		s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
		base+=("$($PY -c "print(round($1 / $s))")")
		echo "  baseline run $i: ${s}s" >&2
	done
	median "${base[@]}"
}

# latency_setup TIMEOUT_S [STREAMER_ARGS...]: the latency benchmarks' setup:
# table lat (10,001 rows), a streamer measured in the background (its pid in
# mpid, its figures in $bench_work/latency.json), the alias lat moved to lat_v1
# and a second reindex into lat_v2, so both indexes are fed; the pgbench script
# of single-row updates in $bench_work/update.sql
latency_setup() {
	local timeout=$1
	shift
	q "CREATE TABLE lat (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0, pad text)" >/dev/null
	q "INSERT INTO lat SELECT g, 0, md5(g::text) FROM generate_series(0, 10000) g" >/dev/null
	$PY test/bench/streamer_measure.py "$bench_work/latency.json" -- "$STREAMER" -d "$DSN" --no-progress "$@" \
		>>"$bench_work/streamer.log" 2>&1 &
	mpid=$!
	bench_bg_pids+=("$mpid")
	j1=$(q "SELECT reindex.reindex_begin('lat', 'lat', 'lat_v1')")
	wait_job "$j1" ready "$timeout" || { tail -n 20 "$bench_work/streamer.log"; exit 1; }
	q "SELECT reindex.reindex_swap_alias('lat')" >/dev/null || exit 1
	q "SELECT reindex.reindex_finish($j1)" >/dev/null || exit 1
	j2=$(q "SELECT reindex.reindex_begin('lat', 'lat', 'lat_v2')")
	wait_job "$j2" ready "$timeout" || { tail -n 20 "$bench_work/streamer.log"; exit 1; }
	printf '\\set id random(1, 10000)\nUPDATE lat SET n = n + 1 WHERE id = :id;\n' >"$bench_work/update.sql"
}
