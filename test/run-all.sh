#!/bin/bash
# run-all.sh: the whole test suite, as `make test` runs it after `make install`.
# Starts one throwaway PostgreSQL cluster (test/pgcluster.sh) and one development
# search server for the suites that share them, runs
#   1. pg_regress (sql/, expected/) through PGXS installcheck,
#   2. the OpenSearch REST conformance suite against the development server,
#      and the server's own search suite in the same format,
#   3. every pytest suite under test/ (integration, faults, fuzz corpus, streamer),
# prints regression.diffs on failure, and ends with one line CI can read:
# "N passed, N failed".  Exit status is non-zero when anything failed.
# PGBIN and PG_CONFIG name the PostgreSQL under test (make test sets them).
# REINDEX_PG_ONLY=1 (make test PG=18) runs only what depends on PostgreSQL:
# pg_regress and the pytest suites with a cluster, not the development
# server's own suites (conformance, devsearch*, engine) and the Makefile's
# (make), run once with 15.
# test/crossmajor runs when REINDEX_STREAMER_OTHER names a streamer linked
# with another major's libpq (make test builds both).
# Tests that need a private cluster or server (restarts, faults) start their own.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
PY=/usr/bin/python3
shared=${REINDEX_SHARED:-$top/../shared}

work=$(mktemp -d /tmp/reindex-test.XXXXXX)
chmod 755 "$work"
devsearch_pid=""
cleanup() {
	[ -z "$devsearch_pid" ] || kill "$devsearch_pid" 2>/dev/null
	test/pgcluster.sh destroy "$work/pg" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
suite_failed=()
count() {	# count NAME PASSED FAILED [SKIPPED]: skips are shown, never silent
	passed=$((passed + $2))
	failed=$((failed + $3))
	[ "$3" = 0 ] || suite_failed+=("$1")
	echo "== $1: $2 passed, $3 failed$([ "${4:-0}" = 0 ] || echo ", $4 skipped")"
}

echo "== PostgreSQL $("${PGBIN:-/usr/lib/postgresql/15/bin}/postgres" --version | awk '{print $3}')"
# (the status of eval "$(...)" would be eval's, not pgcluster.sh's)
pgenv=$(test/pgcluster.sh start "$work/pg") || { echo "could not start PostgreSQL"; echo "0 passed, 1 failed"; exit 1; }
eval "$pgenv"
export REINDEX_TOP="$top" REINDEX_SHARED="$shared"
export REINDEX_DEVSEARCH="$top/contrib/devsearch/devsearch"

if [ -x "$REINDEX_DEVSEARCH" ]; then
	"$REINDEX_DEVSEARCH" --port 0 >"$work/devsearch.out" 2>"$work/devsearch.err" &
	devsearch_pid=$!
	for _ in $(seq 1 200); do
		url=$(sed -n 's/^devsearch listening on \(http:[^ ]*\).*/\1/p' "$work/devsearch.out" 2>/dev/null)
		[ -n "$url" ] && break
		kill -0 "$devsearch_pid" 2>/dev/null || break
		sleep 0.05
	done
	[ -n "${url:-}" ] || { echo "development server did not start"; cat "$work/devsearch.err"; }
	export REINDEX_TEST_ES_URL="${url:-http://127.0.0.1:9}"
fi

# 1. pg_regress
if ls sql/*.sql >/dev/null 2>&1; then
	echo "== pg_regress"
	make -s installcheck PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" 2>&1 | tee "$work/regress.out"
	ok=$(grep -Eo '^# All [0-9]+ tests passed|All [0-9]+ tests passed' "$work/regress.out" | grep -Eo '[0-9]+' | head -n 1)
	bad=$(grep -Eo '[0-9]+ of [0-9]+ tests failed' "$work/regress.out" | head -n 1)
	if [ -n "$ok" ]; then
		count pg_regress "$ok" 0
	elif [ -n "$bad" ]; then
		n_bad=${bad%% of*}; n_all=$(echo "$bad" | awk '{print $3}')
		count pg_regress $((n_all - n_bad)) "$n_bad"
		[ -f regression.diffs ] && cat regression.diffs
	else
		count pg_regress 0 1
		[ -f regression.diffs ] && cat regression.diffs
	fi
fi

# 2. YAML suites replayed by the conformance runner, each on a server of its own
yaml_suite() {	# yaml_suite NAME RUNNER_ARGS...
	local name=$1 line
	shift
	echo "== $name"
	$PY test/conformance/runner.py --server-cmd "$REINDEX_DEVSEARCH --port 0 --flavor opensearch" "$@" 2>&1 |
		tee "$work/$name.out" | grep -v '^PASS'
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$work/$name.out" | tail -n 1)
	if [ -n "$line" ]; then
		count "$name" "$(echo "$line" | awk '{print $1}')" "$(echo "$line" | awk '{print $3}')" \
			"$(echo "$line" | awk '{print $5 + 0}')"
	else
		count "$name" 0 1
	fi
}
# (a development server that is not built fails them: no silent skip)
if [ -f test/conformance/runner.py ] && [ -z "${REINDEX_PG_ONLY:-}" ]; then
	yaml_suite conformance "$shared/conformance/opensearch/test"
	yaml_suite search-suite --api-dir "$shared/conformance/opensearch/api" test/conformance/devsearch/test
fi

# 3. pytest suites
if find test -name 'test_*.py' | grep -q .; then
	echo "== pytest"
	skip_dirs=""
	[ -z "${REINDEX_PG_ONLY:-}" ] || skip_dirs="test/devsearch test/devsearch_fuzz test/engine test/conformance test/make"
	if [ -z "${REINDEX_STREAMER_OTHER:-}" ]; then
		echo "test/crossmajor: not run (no streamer linked with another major's libpq; make test builds one)"
		skip_dirs="$skip_dirs test/crossmajor"
	fi
	# shellcheck disable=SC2046
	# -rs: the reason of every skip in the summary
	$PY -m pytest -q -rs -p no:cacheprovider $(for d in $skip_dirs; do echo "--ignore=$d"; done) test 2>&1 | tee "$work/pytest.out"
	line=$(tail -n 1 "$work/pytest.out")
	p=$(echo "$line" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+' || true)
	f=$(echo "$line" | grep -Eo '[0-9]+ (failed|errors?)' | awk '{s += $1} END {print s + 0}')
	s=$(echo "$line" | grep -Eo '[0-9]+ skipped' | grep -Eo '[0-9]+' || true)
	if [ -z "$p" ] && [ "$f" = 0 ]; then f=1; fi	# no summary: pytest itself failed
	count pytest "${p:-0}" "${f:-0}" "${s:-0}"
fi

if [ ${#suite_failed[@]} -gt 0 ]; then
	echo "failed suites: ${suite_failed[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
