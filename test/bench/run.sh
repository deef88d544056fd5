#!/bin/bash
# run.sh: `make bench` — every benchmark of the repository, then a summary.
#
# Runs, in name order, every test/bench/*.sh except this file and the sourced
# helper streamer_common.sh (streamer_*.sh, plugin_decode.sh, ...), then the
# development server's bench entry point (contrib/devsearch/bench/run.sh, or
# else every executable contrib/devsearch/bench/*.sh).  Each script prints its
# own figures and ratios; lines with a figure ("ratio", "rows/s", "p50",
# "RSS", "req/s", "docs/s", "MB/s") are collected into the summary.
# A script that exits 3, or a piece that does not exist, is reported as
# "not available yet" — never as a number.  Exit status: 0 when nothing
# failed (not-available pieces are not failures, but are listed).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
out=$(mktemp -d /tmp/reindex-bench-run.XXXXXX)
trap 'rm -rf "$out"' EXIT

scripts=()
for f in test/bench/*.sh; do
	case "$(basename "$f")" in
	run.sh | streamer_common.sh) ;;
	*) scripts+=("$f") ;;
	esac
done
if [ -x contrib/devsearch/bench/run.sh ]; then
	scripts+=(contrib/devsearch/bench/run.sh)
elif [ -d contrib/devsearch/bench ]; then
	for f in contrib/devsearch/bench/*.sh; do [ -x "$f" ] && scripts+=("$f"); done
fi

declare -A status
for s in "${scripts[@]}"; do
	echo "======== $s"
	log="$out/$(echo "$s" | tr / _).log"
	start=$(date +%s)
	bash "$s" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	case $rc in
	0) status[$s]="ok ($(($(date +%s) - start)) s)" ;;
	3) status[$s]="not available yet: $(grep -m1 '^not available yet:' "$log" | sed 's/^not available yet: //')" ;;
	*) status[$s]="FAILED (exit $rc)" ;;
	esac
done

echo
echo "======== summary ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
failed=0
for s in "${scripts[@]}"; do
	echo "$s: ${status[$s]}"
	case ${status[$s]} in FAILED*) failed=1 ;; esac
	grep -E 'ratio|rows/s|p50|RSS|req/s|docs/s|MB/s' "$out/$(echo "$s" | tr / _).log" | grep -v '^  ' | sed 's/^/    /'
done
for expected in test/bench/plugin_decode.sh contrib/devsearch/bench; do
	[ -e "$expected" ] || echo "$expected: not available yet (does not exist)"
done
exit $failed
