#!/bin/bash
# streamer_latency.sh: latency commit -> acknowledged in BOTH indexes (old and
# new, dual-fed after a reindex) at about 1,000 single-row transactions/s
# (pgbench -R 1000, 2 clients), measured by streamer_latency_probe.py (a probe
# row updated 20 times a second, polled with realtime GETs in both indexes).
# Targets: p50 <= 10 ms, p99 <= 100 ms.  The streamer runs with its defaults
# (extra options: BENCH_STREAMER_ARGS); its peak RSS comes from wait4.
. "$(dirname "$0")/streamer_common.sh"
SECONDS_RUN=${BENCH_LATENCY_SECONDS:-30}
RATE=${BENCH_LATENCY_TPS:-1000}

bench_setup latency
# shellcheck disable=SC2086
latency_setup 120 ${BENCH_STREAMER_ARGS:-}

"$PGBINDIR/pgbench" -n -c 2 -j 2 -R "$RATE" -T "$SECONDS_RUN" -f "$bench_work/update.sql" bench >"$bench_work/pgbench.out" 2>&1 &
pg_pid=$!
res=$($PY test/bench/streamer_latency_probe.py --dsn "$DSN" --es-url "$ES_URL" --index lat_v1 --index lat_v2 \
	--seconds "$((SECONDS_RUN - 2))")
probe_rc=$?
wait "$pg_pid" || { cat "$bench_work/pgbench.out"; exit 1; }
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$bench_work/pgbench.out" | head -n 1)
kill -TERM "$mpid"
wait "$mpid"
src=$?
bench_bg_pids=()
rc_streamer=$(jfield "$bench_work/latency.json" rc)
echo "background load: pgbench -R $RATE for ${SECONDS_RUN}s: $tps tps achieved"
echo "probe: $res"
$PY - "$res" <<'PYEOF'
import json, sys
r = json.loads(sys.argv[1])
ok50 = r["p50_ms"] is not None and r["p50_ms"] <= 10
ok99 = r["p99_ms"] is not None and r["p99_ms"] <= 100
print("latency commit -> visible in both indexes: p50 %s ms (target <= 10: %s), p99 %s ms (target <= 100: %s), max %s ms, %d samples, %d timeouts"
      % (r["p50_ms"], "met" if ok50 else "NOT met", r["p99_ms"], "met" if ok99 else "NOT met", r["max_ms"], r["samples"], r["timeouts"]))
PYEOF
echo "streamer exit status after SIGTERM: $rc_streamer"
peak_rss_report "$(jfield "$bench_work/latency.json" maxrss_kb)"
[ "$probe_rc" = 0 ] && [ "$src" = 0 ]
