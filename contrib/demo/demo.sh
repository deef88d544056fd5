#!/bin/bash
# demo.sh: `make demo` — a zero-downtime reindex of real data, end to end.
#
# Owns the demo's whole run, on a machine where `make demo` has just built and
# installed the extension, the streamer and the development server:
#   1. a throwaway PostgreSQL cluster (test/pgcluster.sh) and devsearch, both
#      on free loopback ports;
#   2. the Debian package catalog of this machine (dpkg status + apt lists,
#      tens of thousands of rows nobody here wrote) in table `packages`;
#   3. reindex_begin of the first index, the streamer, the swap, and a search
#      through the alias;
#   4. a reindex into an index with changed mappings and settings while a
#      bounded write load updates and deletes packages; swap when
#      reindex_status says ready;
#   5. per-document verification of both indexes against Postgres with
#      reindex_verify (ids, versions and sources; reindex_verify_wait);
#   6. reindex_status, the timings, then teardown — or, with DEMO_KEEP=1,
#      everything left running and how to reach and stop it.
# Invariants: it never pretends.  A piece that is not built or installed yet
# is detected, the steps that need it are listed as SKIPPED, and the demo
# says it is incomplete.  Exit 0 only when every step it attempted succeeded.
# Settings: DEMO_KEEP=1, DEMO_ROWS=N (limit the packages loaded),
# DEMO_TIMEOUT=S (per wait, default 300), DEMO_DIR=path (default mktemp),
# DEMO_ENGINE=devsearch (default) or opensearch: a real OpenSearch 2.19 node
# (test/engine/opensearch; its first start builds it with Maven).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
PY=/usr/bin/python3
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PGBINDIR=$($PG_CONFIG --bindir)
TIMEOUT=${DEMO_TIMEOUT:-300}
KEEP=${DEMO_KEEP:-0}
work=${DEMO_DIR:-$(mktemp -d /tmp/reindex-demo.XXXXXX)}
mkdir -p "$work" && chmod 755 "$work"

skipped=()
failed=0
devsearch_pid=""
streamer_pid=""
load_pid=""
t_start=$(date +%s.%N)
declare -A timing

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
info() { printf '   %s\n' "$*"; }
skip() { skipped+=("$1"); printf '   SKIPPED: %s\n' "$1"; }
fail() { printf '   FAILED: %s\n' "$*"; failed=1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
psqlc() { "$PGBINDIR/psql" -X -v ON_ERROR_STOP=1 -q -d demo "$@"; }
psqlv() { psqlc -At -c "$1" 2>>"$work/psql.err"; }

cleanup() {
	[ -z "$load_pid" ] || kill "$load_pid" 2>/dev/null
	if [ "$KEEP" = 1 ] && [ "$failed" = 0 ]; then
		return
	fi
	[ -z "$streamer_pid" ] || { kill -TERM "$streamer_pid" 2>/dev/null; wait "$streamer_pid" 2>/dev/null; }
	[ -z "$devsearch_pid" ] || kill "$devsearch_pid" 2>/dev/null
	test/pgcluster.sh destroy "$work/pg" >/dev/null 2>&1
	if [ "$failed" = 0 ] && [ -z "${DEMO_DIR:-}" ]; then
		rm -rf "$work"
	else
		echo "demo files kept in $work (server.log, streamer.log, devsearch.err)"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# poll "SQL returning t" until true or timeout; prints progress from STATUS_SQL
wait_until() {	# wait_until WHAT SQL [STATUS_SQL]
	local what=$1 sql=$2 status=${3:-} deadline last=""
	deadline=$(($(date +%s) + TIMEOUT))
	while [ "$(psqlv "$sql")" != t ]; do
		if [ -n "$status" ]; then
			local s
			s=$(psqlv "$status")
			[ "$s" = "$last" ] || info "$s"
			last=$s
		fi
		if [ -n "$streamer_pid" ] && ! kill -0 "$streamer_pid" 2>/dev/null; then
			fail "the streamer exited while waiting for $what; its log:"
			tail -n 30 "$work/streamer.log"
			return 1
		fi
		if [ "$(date +%s)" -gt "$deadline" ]; then
			fail "timed out after ${TIMEOUT}s waiting for $what"
			return 1
		fi
		sleep 0.2
	done
}

# ------------------------------------------------------------ what exists?
say "Checking the pieces"
ENGINE=${DEMO_ENGINE:-devsearch}
case "$ENGINE" in
devsearch) ENGINE_CMD=$top/contrib/devsearch/devsearch; ENGINE_NAME="development server"; ENGINE_THE="the development server" ;;
opensearch) ENGINE_CMD=$top/test/engine/opensearch; ENGINE_NAME="OpenSearch"; ENGINE_THE="a real OpenSearch node" ;;
*) echo "DEMO_ENGINE=$ENGINE: expected devsearch or opensearch" >&2; exit 2 ;;
esac
STREAMER=""
for c in ${REINDEX_STREAMER:-} "$PGBINDIR/reindex_streamer" "$top/src/streamer/reindex_streamer"; do
	[ -x "$c" ] && { STREAMER=$c; break; }
done
have_ext=0
[ -f "$($PG_CONFIG --sharedir)/extension/reindex.control" ] && [ -f "$($PG_CONFIG --pkglibdir)/reindex.so" ] && have_ext=1
[ -x "$ENGINE_CMD" ] && info "$ENGINE_NAME: $ENGINE_CMD" || info "$ENGINE_NAME: NOT BUILT ($ENGINE_CMD)"
[ "$have_ext" = 1 ] && info "extension reindex: installed in $($PG_CONFIG --sharedir)/extension" || info "extension reindex: NOT INSTALLED"
[ -n "$STREAMER" ] && info "streamer: $STREAMER" || info "streamer: NOT BUILT (src/streamer)"

# ------------------------------------------------------- Postgres + search
say "Starting a throwaway PostgreSQL cluster and $ENGINE_THE"
if ! eval "$(test/pgcluster.sh start "$work/pg")"; then
	fail "could not start PostgreSQL"
	exit 1
fi
"$PGBINDIR/createdb" demo || { fail "createdb"; exit 1; }
export PGDATABASE=demo
info "PostgreSQL $("$PGBINDIR/postgres" --version | awk '{print $3}') on port $PGPORT (socket $PGHOST)"
ES_URL=""
if [ -x "$ENGINE_CMD" ]; then
	"$ENGINE_CMD" --port 0 >"$work/devsearch.out" 2>"$work/devsearch.err" &
	devsearch_pid=$!
	# devsearch answers at once; a JVM takes seconds (and a first Maven build)
	for _ in $(seq 1 $([ "$ENGINE" = devsearch ] && echo 200 || echo 6000)); do
		ES_URL=$(sed -n 's/^[a-z]* listening on \(http:[^ ]*\).*/\1/p' "$work/devsearch.out")
		[ -n "$ES_URL" ] && break
		kill -0 "$devsearch_pid" 2>/dev/null || break
		sleep 0.05
	done
	[ -n "$ES_URL" ] && info "$ENGINE_NAME at $ES_URL" || fail "$ENGINE_NAME did not start: $(tail -n 30 "$work/devsearch.err")"
else
	skip "$ENGINE_NAME (not built): no index can be built"
fi

# the extension, and an audit slot made before any write, so the verification
# can check every document's version against its row's last commit
have_api=0
if [ "$have_ext" = 1 ]; then
	if psqlc -c "CREATE EXTENSION reindex" 2>"$work/ext.err"; then
		info "CREATE EXTENSION reindex: ok (version $(psqlv "SELECT extversion FROM pg_extension WHERE extname = 'reindex'"))"
		missing_fn=""
		for fn in reindex_begin reindex_status reindex_swap_alias document; do
			[ "$(psqlv "SELECT count(*) > 0 FROM pg_proc WHERE pronamespace = 'reindex'::regnamespace AND proname = '$fn'")" = t ] || missing_fn="$missing_fn $fn"
		done
		ENDPOINT_FN=$(psqlv "SELECT proname FROM pg_proc WHERE pronamespace = 'reindex'::regnamespace AND proname ~ 'endpoint' AND proname ~ '(add|create)' ORDER BY proname LIMIT 1")
		[ -n "$ENDPOINT_FN" ] || missing_fn="$missing_fn endpoint_add"
		if [ -z "$missing_fn" ]; then
			have_api=1
		else
			skip "SQL API functions not available yet:$missing_fn"
		fi
	else
		fail "CREATE EXTENSION reindex: $(cat "$work/ext.err")"
	fi
else
	skip "extension reindex (not installed): no reindex_begin, no swap"
fi

# --------------------------------------------------------------- real data
say "Loading the Debian package catalog of this machine"
t0=$(now)
psqlc <<'SQL' || { fail "create table"; exit 1; }
CREATE TABLE packages (
	package		text PRIMARY KEY,
	version		text NOT NULL,
	architecture text,
	section		text,
	priority	text,
	maintainer	text,
	installed_size_kb bigint,
	depends		text[],
	homepage	text,
	summary		text,
	description text,
	installed	boolean NOT NULL,
	updated_at	timestamptz NOT NULL DEFAULT now()
);
SQL
if ! $PY contrib/demo/load_packages.py ${DEMO_ROWS:-} |
	psqlc -c "COPY packages (package, version, architecture, section, priority, maintainer, installed_size_kb, depends, homepage, summary, description, installed) FROM STDIN WITH (FORMAT csv, NULL '')"; then
	fail "loading the package catalog"
	exit 1
fi
psqlc -c "ANALYZE packages"
timing[load]=$(elapsed "$t0" "$(now)")
info "$(psqlv "SELECT count(*) || ' packages (' || count(*) FILTER (WHERE installed) || ' installed here), ' || pg_size_pretty(pg_total_relation_size('packages')) FROM packages") in ${timing[load]} s"

if [ "$have_api" != 1 ] || [ -z "$ES_URL" ]; then
	say "Stopping early"
	for s in "reindex_begin of packages_v1" "streamer run" "swap" "search through the alias" \
		"reindex into packages_v2 under writes" "verification" "reindex_status"; do
		skip "$s (needs the extension's SQL API and the development server)"
	done
	say "INCOMPLETE DEMO: ${#skipped[@]} steps skipped because pieces are missing; everything attempted succeeded"
	[ "$failed" = 0 ]
	exit $?
fi

psqlc -c "SELECT reindex.$ENDPOINT_FN('default', '$ES_URL')" >/dev/null || { fail "registering the endpoint"; exit 1; }

# ------------------------------------------------------------ first index
say "reindex_begin: build packages_v1 behind alias 'packages'"
t0=$(now)
JOB1=$(psqlv "SELECT reindex.reindex_begin('packages', 'packages', 'packages_v1', 'default',
	'{\"mappings\": {\"properties\": {\"package\": {\"type\": \"keyword\"}, \"description\": {\"type\": \"text\"}, \"section\": {\"type\": \"keyword\"}}}}')")
[ -n "$JOB1" ] || { fail "reindex_begin: $(tail -n 3 "$work/psql.err")"; exit 1; }
info "job $JOB1 created; state $(psqlv "SELECT state FROM reindex.job WHERE id = $JOB1")"

if [ -z "$STREAMER" ]; then
	for s in "streamer run (reindex_streamer not built)" "swap" "search through the alias" \
		"reindex into packages_v2 under writes" "verification" ; do skip "$s"; done
	say "reindex_status (no streamer: the job waits for one)"
	psqlc -x -c "SELECT * FROM reindex.reindex_status()"
	say "INCOMPLETE DEMO: ${#skipped[@]} steps skipped because the streamer is not built; everything attempted succeeded"
	[ "$failed" = 0 ]
	exit $?
fi

say "Starting reindex_streamer"
"$STREAMER" -d "host=$PGHOST port=$PGPORT user=$PGUSER dbname=demo" --no-progress --id=demo \
	>"$work/streamer.log" 2>&1 &
streamer_pid=$!
info "pid $streamer_pid, log $work/streamer.log"
STATUS_SQL="SELECT format('job %s: %s, %s/%s rows, lag %s bytes', job_id, state, rows_backfilled, rows_estimated, lag_bytes) FROM reindex.reindex_status('packages') ORDER BY job_id DESC LIMIT 1"
wait_until "job $JOB1 to be ready" "SELECT state = 'ready' FROM reindex.job WHERE id = $JOB1" "$STATUS_SQL" || exit 1
timing[build_v1]=$(elapsed "$t0" "$(now)")
info "packages_v1 ready in ${timing[build_v1]} s"

t0=$(now)
psqlc -c "SELECT reindex.reindex_swap_alias('packages')" >/dev/null || { fail "swap to packages_v1"; exit 1; }
timing[swap_v1]=$(elapsed "$t0" "$(now)")
# an initial build has no old index to retire: finishing it closes the job
psqlc -c "SELECT reindex.reindex_finish($JOB1)" >/dev/null || { fail "reindex_finish($JOB1)"; exit 1; }
info "alias packages -> $(curl -s "$ES_URL/_alias/packages" | $PY -c 'import json,sys; print(",".join(json.load(sys.stdin)))')"

search() {	# search QUERY
	curl -s -XPOST "$ES_URL/packages/_refresh" >/dev/null
	curl -s -H 'Content-Type: application/json' -XPOST "$ES_URL/packages/_search" -d "{
		\"query\": {\"match\": {\"description\": {\"query\": \"$1\", \"operator\": \"and\"}}}, \"size\": 5,
		\"_source\": [\"package\", \"version\", \"summary\"]}" |
		$PY -c '
import json, sys
r = json.load(sys.stdin)
if "hits" not in r:
    print("   search failed:", r); sys.exit(1)
t = r["hits"]["total"]
print("   %s%s hits for \"%s\" (all words); first %d:" % (t["value"], "+" if t.get("relation") == "gte" else "", sys.argv[1], len(r["hits"]["hits"])))
for h in r["hits"]["hits"]:
    s = h["_source"]
    print("     %-28s %-24s %s" % (s.get("package"), s.get("version"), s.get("summary")))
sys.exit(0 if r["hits"]["hits"] else 1)' "$1"
}
say "Searching through the alias: match description \"compression library\""
search "compression library" || fail "search through the alias found nothing"

# ------------------------------------------- reindex under a write load
say "reindex_begin: packages_v2 with changed mappings and settings, under writes"
t0=$(now)
JOB2=$(psqlv "SELECT reindex.reindex_begin('packages', 'packages', 'packages_v2', 'default',
	'{\"settings\": {\"number_of_shards\": 2},
	  \"mappings\": {\"properties\": {\"package\": {\"type\": \"keyword\"}, \"section\": {\"type\": \"keyword\"},
	                                 \"maintainer\": {\"type\": \"keyword\"}, \"installed_size_kb\": {\"type\": \"long\"},
	                                 \"summary\": {\"type\": \"text\"}, \"description\": {\"type\": \"text\"}}}}')")
[ -n "$JOB2" ] || { fail "reindex_begin v2: $(tail -n 3 "$work/psql.err")"; exit 1; }
$PY contrib/demo/write_load.py --max-ops "${DEMO_WRITES:-6000}" --max-seconds 60 --rate 200 --stop-file "$work/stop-load" \
	>"$work/load.out" 2>&1 &
load_pid=$!
info "job $JOB2; write load running (pid $load_pid; 200 transactions/s, at most ${DEMO_WRITES:-6000} or 60 s, until the swap)"
wait_until "job $JOB2 to be ready" "SELECT state = 'ready' FROM reindex.job WHERE id = $JOB2" "$STATUS_SQL" || exit 1
timing[build_v2]=$(elapsed "$t0" "$(now)")
t1=$(now)
psqlc -c "SELECT reindex.reindex_swap_alias('packages')" >/dev/null || { fail "swap to packages_v2"; exit 1; }
timing[swap_v2]=$(elapsed "$t1" "$(now)")
info "ready in ${timing[build_v2]} s; swapped while the writes went on (swap took ${timing[swap_v2]} s)"
info "alias packages -> $(curl -s "$ES_URL/_alias/packages" | $PY -c 'import json,sys; print(",".join(json.load(sys.stdin)))')"
touch "$work/stop-load"
wait "$load_pid" || fail "the write load failed: $(cat "$work/load.out")"
load_pid=""
info "$(cat "$work/load.out")"
search "compression library" || fail "search through the alias found nothing"

# ------------------------------------------------------------- verify
say "Verifying every row against its document in both indexes (reindex_verify)"
t0=$(now)
for ix in packages_v1 packages_v2; do
	run=$(psqlv "SELECT reindex.reindex_verify('$ix')")
	if [ -z "$run" ]; then
		fail "reindex_verify('$ix'): $(tail -n 3 "$work/psql.err")"
		continue
	fi
	info "$(psqlv "SELECT format('%s: %s, %s rows and %s documents checked: %s missing, %s extra, %s stale, %s mismatched (%s changed while it ran)%s',
	                            index_name, state, rows_checked, docs_checked, missing, extra, stale, mismatched, changed,
	                            coalesce(': ' || error, ''))
	               FROM reindex.reindex_verify_wait($run, '$TIMEOUT s')")"
	[ "$(psqlv "SELECT state = 'done' AND missing + extra + stale + mismatched = 0 FROM reindex.verify_run WHERE id = $run")" = t ] ||
		fail "reindex_verify found differences in $ix (or did not finish)"
done
timing[verify]=$(elapsed "$t0" "$(now)")

say "reindex_status('packages') (soak: packages_v1 is still fed, a rollback is possible)"
psqlc -x -c "SELECT * FROM reindex.reindex_status('packages')"

say "reindex_finish: stop feeding packages_v1 and drop its slot"
psqlc -c "SELECT reindex.reindex_finish($JOB2)" >/dev/null || fail "reindex_finish($JOB2)"
wait_until "the old target to retire" "SELECT state IN ('retired', 'dropped') FROM reindex.target WHERE index_name = 'packages_v1'" ||
	fail "packages_v1 did not retire"
info "job $JOB2: $(psqlv "SELECT state FROM reindex.job WHERE id = $JOB2"); replication slots left: $(psqlv "SELECT string_agg(slot_name, ', ') FROM pg_replication_slots")"

say "Timings (seconds)"
for k in load build_v1 swap_v1 build_v2 swap_v2 verify; do
	printf '   %-10s %s\n' "$k" "${timing[$k]:-}"
done
printf '   %-10s %s\n' total "$(elapsed "$t_start" "$(now)")"

if [ "$failed" != 0 ]; then
	say "DEMO FAILED (see above; files in $work)"
	exit 1
fi
if [ ${#skipped[@]} -gt 0 ]; then
	say "INCOMPLETE DEMO: ${#skipped[@]} steps skipped"
fi
if [ "$KEEP" = 1 ]; then
	say "Left running (DEMO_KEEP=1)"
	info "psql:    psql -h $PGHOST -p $PGPORT -U $PGUSER demo"
	info "search:  curl '$ES_URL/packages/_search?q=description:compression'"
	info "status:  psql -h $PGHOST -p $PGPORT -U $PGUSER demo -c 'SELECT * FROM reindex.reindex_status()'"
	info "stop:    kill $streamer_pid $devsearch_pid; $top/test/pgcluster.sh destroy $work/pg; rm -rf $work"
else
	say "Demo complete; tearing everything down"
fi
exit 0
