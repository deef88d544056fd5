#!/bin/bash
# run-majors.sh: `make test` without PG=: the suites on every supported major
# that this machine can run, one after the other, and which of them failed.
#   PostgreSQL 18 (make test PG=18: the wheel's server, only what depends on
#   PostgreSQL), then 15 (make test PG=15: Debian's server, everything), so
#   the checkout is left built for 15.  Each run's output is shown as it goes
#   and kept in tmp_install/test-pgN.log.
# Ends with one line per major and the totals, "N passed, N failed", as CI
# reads them; exit status non-zero when any run failed, or ended without its
# summary line (a build or install failure).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mkdir -p tmp_install

passed=0
failed=0
failed_majors=()
summary=()
for major in 18 15; do
	log="tmp_install/test-pg$major.log"
	make --no-print-directory test PG=$major 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
	if [ -n "$line" ]; then
		p=$(echo "$line" | awk '{print $1}')
		f=$(echo "$line" | awk '{print $3}')
	else
		p=0 f=1
		line="no summary (exit $rc)"
	fi
	[ "$rc" = 0 ] || [ "$f" != 0 ] || f=1
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" = 0 ] || failed_majors+=("$major")
	summary+=("PostgreSQL $major: $line")
done

echo
echo "======== make test"
printf '%s\n' "${summary[@]}"
if [ ${#failed_majors[@]} -gt 0 ]; then
	echo "failed on PostgreSQL ${failed_majors[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
