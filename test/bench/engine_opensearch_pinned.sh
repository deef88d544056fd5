#!/bin/bash
# engine_opensearch_pinned.sh: engine_opensearch.sh with the engine on cores of
# its own: the upper half of the CPUs for OpenSearch, the lower half for
# PostgreSQL, the streamer, the loader and the probe (on 2 cores: one each).
# The engine then has the same cores in the ceiling's runs and in the
# streamer's, as on a cluster of its own machines; unpinned, PostgreSQL's
# decoding and COPY take their CPU from the engine, which the ceiling's runs
# (the engine alone) do not pay.  Needs at least 2 CPUs and taskset.
n=$(nproc)
if [ "$n" -lt 2 ] || ! command -v taskset >/dev/null; then
	echo "not available yet: pinning needs 2 CPUs and taskset (this machine: $n CPUs)"
	exit 3
fi
half=$((n / 2))
export BENCH_OTHER_CPUS="0-$((half - 1))"
export BENCH_ENGINE_CPUS="$half-$((n - 1))"
exec bash "$(dirname "$0")/engine_opensearch.sh" "$@"
