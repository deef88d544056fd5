#!/bin/bash
# run-all.sh: the whole test suite, as `make test` runs it after `make install`.
# Starts one throwaway PostgreSQL cluster (test/pgcluster.sh), one development
# search server and one real OpenSearch (test/engine/opensearch, started at once
# in the background: its JVM starts while pg_regress runs), runs
#   1. pg_regress (sql/, expected/) through PGXS installcheck,
#   2. the OpenSearch REST conformance suite against the development server,
#      and the server's own search suite in the same format,
#   3. every pytest suite under test/ (integration, faults, fuzz corpus,
#      streamer) on the development server,
#   4. the two YAML suites again on the real OpenSearch (skip-opensearch.txt
#      lists what differs by version, with the engine's answers),
#   5. the integration suites (test/streamer, test/streamer_more, test/extension)
#      again on that OpenSearch, shared by their modules (tests marked
#      devsearch_only are skipped with their reasons, listed in the output),
# prints regression.diffs on failure, and ends with one line CI can read:
# "N passed, N failed".  Exit status is non-zero when anything failed.
# REINDEX_TEST_ENGINE narrows the run: devsearch (steps 1-3), opensearch (1, 4,
# 5), or url (1, and 5 against the cluster at REINDEX_TEST_ES_URL, with the TLS
# and auth settings of test/engine/search_engine.py; the YAML suites wipe every
# index, so they never run on a user's cluster).  A real engine that does not
# start is a failed suite, never a skip.
# PGBIN and PG_CONFIG name the PostgreSQL under test (make test sets them).
# REINDEX_PG_ONLY=1 (make test PG=18) runs only what depends on PostgreSQL:
# pg_regress and the pytest suites with a cluster, not the development
# server's own suites (conformance, devsearch*, engine) and the Makefile's
# (make), the real engine's steps 4 and 5, the real cluster's faults
# (test/cluster) and three tests of the search engine's side alone
# (differential, injected-fault retries, the soak on OpenSearch), run once
# with 15.
# test/crossmajor runs when REINDEX_STREAMER_OTHER names a streamer linked
# with another major's libpq (make test builds both).
# Tests that need a private cluster or server (restarts, faults) start their own.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
PY=/usr/bin/python3
shared=${REINDEX_SHARED:-$top/../shared}

engines=${REINDEX_TEST_ENGINE:-devsearch opensearch}
case " $engines " in
" devsearch opensearch " | " devsearch " | " opensearch " | " url ") ;;
*) echo "REINDEX_TEST_ENGINE=$engines: expected devsearch, opensearch or url"; echo "0 passed, 1 failed"; exit 1 ;;
esac
on() {	# on ENGINE: does this run use it (the real engines only once per make test)
	case "$1" in opensearch | url) [ -z "${REINDEX_PG_ONLY:-}" ] || return 1 ;; esac
	case " $engines " in *" $1 "*) return 0 ;; esac
	return 1
}

work=$(mktemp -d /tmp/reindex-test.XXXXXX)
chmod 755 "$work"
devsearch_pid=""
opensearch_pid=""
cleanup() {
	[ -z "$devsearch_pid" ] || kill "$devsearch_pid" 2>/dev/null
	if [ -n "$opensearch_pid" ]; then
		kill "$opensearch_pid" 2>/dev/null
		wait "$opensearch_pid" 2>/dev/null
	fi
	test/pgcluster.sh destroy "$work/pg" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
suite_failed=()
last_count=$SECONDS
count() {	# count NAME PASSED FAILED [SKIPPED]: skips are shown, never silent; with the suite's time
	passed=$((passed + $2))
	failed=$((failed + $3))
	[ "$3" = 0 ] || suite_failed+=("$1")
	echo "== $1: $2 passed, $3 failed$([ "${4:-0}" = 0 ] || echo ", $4 skipped") ($((SECONDS - last_count)) s)"
	last_count=$SECONDS
}

echo "== PostgreSQL $("${PGBIN:-/usr/lib/postgresql/15/bin}/postgres" --version | awk '{print $3}')"
# The real engine first: its JVM starts (and, on a fresh checkout, Maven builds
# the launcher) while the suites before step 4 run.  It reads commands on stdin
# and stops at end of input: fd 7 holds the pipe open, so a run that dies for
# any reason takes the engine with it.
if on opensearch; then
	mkfifo "$work/opensearch.in"
	test/engine/opensearch --stdin-control <"$work/opensearch.in" >"$work/opensearch.out" 2>"$work/opensearch.err" &
	opensearch_pid=$!
	exec 7>"$work/opensearch.in"
fi
opensearch_url() {	# waits (bounded) for the listen line; prints the URL or fails
	local u
	for _ in $(seq 1 3000); do	# 300 s: the first build downloads the jars
		u=$(sed -n 's/^opensearch listening on \(http:[^ ]*\).*/\1/p' "$work/opensearch.out" 2>/dev/null)
		[ -n "$u" ] && { echo "$u"; return 0; }
		kill -0 "$opensearch_pid" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}

# (the status of eval "$(...)" would be eval's, not pgcluster.sh's)
pgenv=$(test/pgcluster.sh start "$work/pg") || { echo "could not start PostgreSQL"; echo "0 passed, 1 failed"; exit 1; }
eval "$pgenv"
export REINDEX_TOP="$top" REINDEX_SHARED="$shared"
export REINDEX_DEVSEARCH="$top/contrib/devsearch/devsearch"

# the development server of pg_regress (every engine choice runs pg_regress)
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
fi

# 1. pg_regress
if ls sql/*.sql >/dev/null 2>&1; then
	echo "== pg_regress"
	REINDEX_TEST_ES_URL="${url:-http://127.0.0.1:9}" make -s installcheck PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" 2>&1 | tee "$work/regress.out"
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
	$PY test/conformance/runner.py "$@" 2>&1 |
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
if on devsearch && [ -f test/conformance/runner.py ] && [ -z "${REINDEX_PG_ONLY:-}" ]; then
	yaml_suite conformance --server-cmd "$REINDEX_DEVSEARCH --port 0 --flavor opensearch" \
		"$shared/conformance/opensearch/test"
	yaml_suite search-suite --server-cmd "$REINDEX_DEVSEARCH --port 0 --flavor opensearch" \
		--api-dir "$shared/conformance/opensearch/api" test/conformance/devsearch/test
fi

pytest_suite() {	# pytest_suite NAME PYTEST_ARGS...
	local name=$1 line p f s
	shift
	echo "== $name"
	$PY -m pytest -q -rs --durations=8 -p no:cacheprovider "$@" 2>&1 | tee "$work/$name.out"
	line=$(tail -n 1 "$work/$name.out")
	p=$(echo "$line" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+' || true)
	f=$(echo "$line" | grep -Eo '[0-9]+ (failed|errors?)' | awk '{s += $1} END {print s + 0}')
	s=$(echo "$line" | grep -Eo '[0-9]+ skipped' | grep -Eo '[0-9]+' || true)
	if [ -z "$p" ] && [ "$f" = 0 ]; then f=1; fi	# no summary: pytest itself failed
	count "$name" "${p:-0}" "${f:-0}" "${s:-0}"
}

# 3. pytest suites
# The development server's pass runs its modules in REINDEX_TEST_JOBS pytest
# workers (default: the number of cores, at most 4; 1 runs them in order):
# each module starts its own PostgreSQL cluster and server, so modules share
# nothing; a module's tests stay in one worker, in order (--dist loadfile).
# The real cluster's faults (test/cluster: three JVM nodes of their own) run
# after it, alone, so that no worker's load makes a node miss its quorum.
xdist_args() {
	local n=${REINDEX_TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
	[ "$n" -le 4 ] 2>/dev/null || n=4
	[ "$n" -gt 1 ] 2>/dev/null || return 0
	$PY -c 'import xdist' 2>/dev/null || { echo "pytest-xdist is missing (python3-pytest-xdist): one worker" >&2; return 0; }
	echo "-n $n --dist loadfile"
}
if on devsearch && find test -name 'test_*.py' | grep -q .; then
	skip_dirs=""
	deselect=""
	if [ -n "${REINDEX_PG_ONLY:-}" ]; then
		# the real cluster's faults (node stopped, 429s, write block, mapping
		# conflict) are the search engine's side alone too
		skip_dirs="test/devsearch test/devsearch_fuzz test/engine test/conformance test/make test/cluster"
		# the search engine's side only, whatever the major: the answers of
		# devsearch against OpenSearch's, the injected-fault retries and the
		# soak without fault injection on OpenSearch (the devsearch soak, with
		# its Postgres restarts and invalidated slot, runs on both); node ids
		# are relative to test/, the rootdir
		deselect="differential/test_differential.py::test_devsearch_answers_as_opensearch
			streamer/test_streamer_faults.py::test_retryable_faults_converge_and_are_counted
			soak/test_soak.py::test_short_soak_on_a_real_opensearch"
	fi
	if [ -z "${REINDEX_STREAMER_OTHER:-}" ]; then
		echo "test/crossmajor: not run (no streamer linked with another major's libpq; make test builds one)"
		skip_dirs="$skip_dirs test/crossmajor"
	fi
	# shellcheck disable=SC2046
	REINDEX_TEST_ENGINE=devsearch pytest_suite pytest $(xdist_args) $(for d in $skip_dirs test/cluster; do echo "--ignore=$d"; done) \
		$(for t in $deselect; do echo "--deselect=$t"; done) test
	if [ -z "${REINDEX_PG_ONLY:-}" ] && [ -d test/cluster ]; then
		REINDEX_TEST_ENGINE=devsearch pytest_suite cluster-faults test/cluster
	fi
fi

# 4. and 5. the real engine
integration="test/streamer test/streamer_more test/extension"
if on opensearch; then
	if os_url=$(opensearch_url); then
		echo "== opensearch: $os_url ($(curl -s "$os_url" | sed -n 's/.*"number" : "\([^"]*\)".*/\1/p'))"
		yaml_suite conformance-opensearch --url "$os_url" --server-version 2.19.6 \
			--skip-list test/conformance/skip.txt --skip-list test/conformance/skip-opensearch.txt \
			"$shared/conformance/opensearch/test"
		yaml_suite search-suite-opensearch --url "$os_url" --server-version 2.19.6 \
			--skip-list test/conformance/skip.txt --skip-list test/conformance/skip-opensearch.txt \
			--api-dir "$shared/conformance/opensearch/api" test/conformance/devsearch/test
		# shellcheck disable=SC2086
		REINDEX_TEST_ENGINE=opensearch REINDEX_TEST_OPENSEARCH_URL="$os_url" \
			pytest_suite pytest-opensearch $integration
	else
		echo "== opensearch: the real engine did not start (test/engine/opensearch); its stderr:"
		tail -n 40 "$work/opensearch.err"
		count opensearch 0 1
	fi
fi
if on url; then
	# shellcheck disable=SC2086
	pytest_suite pytest-url $integration
fi

if [ ${#suite_failed[@]} -gt 0 ]; then
	echo "failed suites: ${suite_failed[*]}"
fi
echo "== all suites: $SECONDS s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
