#!/bin/bash
# plugin_decode.sh: decoding throughput of the `reindex` output plugin against
# wal2json (format 2), test_decoding and pgoutput, on the same WAL in one run.
# Workloads: A = one transaction of N_BULK inserts; B = N_TXN single-row
# UPDATE transactions (pgbench).  Each plugin has its own slot, created before
# the workload; each workload is decoded by pg_recvlogical --endpos to
# /dev/null.  Prints rows/s per plugin and workload, the ratios of reindex to
# the others, and the walsender's peak memory (VmHWM) while reindex decodes A.
# Uses its own throwaway cluster (test/pgcluster.sh); needs `make install`.
#   test/bench/plugin_decode.sh [N_BULK [N_TXN]]     (defaults 1000000 200000)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
N_BULK=${1:-1000000}
N_TXN=${2:-200000}
PGBIN=/usr/lib/postgresql/15/bin
dir=$(mktemp -d /tmp/reindex-bench-decode.XXXXXX)
chmod 755 "$dir"
trap '"$top/test/pgcluster.sh" destroy "$dir/pg" >/dev/null 2>&1; rm -rf "$dir"' EXIT
eval "$("$top/test/pgcluster.sh" start "$dir/pg" "logical_decoding_work_mem = 64MB")"
export PGDATABASE=bench
"$PGBIN/createdb" bench
psql -qX -v ON_ERROR_STOP=1 <<SQL
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric NOT NULL,
	qty int NOT NULL, updated timestamptz NOT NULL DEFAULT now());
CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL);
INSERT INTO counters SELECT g, 0 FROM generate_series(1, 1000) g;
CREATE PUBLICATION p FOR ALL TABLES;
SQL

plugins="reindex wal2json test_decoding pgoutput"
opts_of() {
	case $1 in
	wal2json) echo "-o format-version=2" ;;
	pgoutput) echo "-o proto_version=1 -o publication_names=p" ;;
	*) echo "" ;;
	esac
}

lsn() { psql -qXAt -c "SELECT pg_current_wal_lsn()"; }
now() { date +%s.%N; }

# decode the slots of workload W (A or B) from their position to ENDPOS
declare -A secs
decode_all() {	# W ENDPOS
	for p in $plugins; do
		slot="bench_${1,,}_$p"
		# shellcheck disable=SC2046
		t0=$(now)
		if [ "$p" = reindex ] && [ "$1" = A ]; then
			"$PGBIN/pg_recvlogical" -d bench -S "$slot" --start --endpos "$2" --no-loop -f /dev/null $(opts_of "$p") &
			rpid=$!
			# the walsender serving this slot; sample its peak RSS at the end
			wpid=""
			while [ -z "$wpid" ] && kill -0 $rpid 2>/dev/null; do
				wpid=$(psql -qXAt -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$slot' AND active_pid IS NOT NULL")
			done
			hwm=0
			anon=0
			while kill -0 $rpid 2>/dev/null; do
				[ -z "$wpid" ] || h=$(sed -n 's/^VmHWM:\s*\([0-9]*\) kB/\1/p' /proc/$wpid/status 2>/dev/null || true)
				[ -z "${h:-}" ] || hwm=$h
				a=$(sed -n 's/^RssAnon:\s*\([0-9]*\) kB/\1/p' /proc/$wpid/status 2>/dev/null || true)
				[ -z "${a:-}" ] || [ "$a" -le "$anon" ] || anon=$a
				sleep 0.2	# sampling interval of a measurement, not synchronisation
			done
			wait $rpid
			spill=$(psql -qXAt -c "SELECT spill_bytes FROM pg_stat_replication_slots WHERE slot_name = '$slot'")
			echo "walsender while reindex decoded A: VmHWM ${hwm} kB (includes shared buffers it touched), peak sampled RssAnon ${anon} kB (private memory: reorder buffer + plugin) (reorder buffer spilled ${spill} bytes; logical_decoding_work_mem 64MB)"
		else
			"$PGBIN/pg_recvlogical" -d bench -S "$slot" --start --endpos "$2" --no-loop -f /dev/null $(opts_of "$p")
		fi
		t1=$(now)
		secs[$1_$p]=$(echo "$t1 - $t0" | bc -l)
	done
}

for w in A B; do
	for p in $plugins; do
		"$PGBIN/pg_recvlogical" -d bench -S "bench_${w,,}_$p" --create-slot -P "$p"
	done
done

# workload A: one transaction of N_BULK inserts
psql -qX -c "INSERT INTO items SELECT g, 'item ' || g, g * 1.25, g % 100 FROM generate_series(1, $N_BULK) g"
endA=$(lsn)
# workload B: N_TXN single-row update transactions
cat >"$dir/update.sql" <<'SQL'
\set id random(1, 1000)
UPDATE counters SET n = n + 1 WHERE id = :id;
SQL
"$PGBIN/pgbench" -n -c 2 -j 2 -t $((N_TXN / 2)) -f "$dir/update.sql" bench >/dev/null
endB=$(lsn)

# the A slots skip B's WAL and the B slots skip A's: advance B's slots past A
for p in $plugins; do
	psql -qXAt -c "SELECT pg_replication_slot_advance('bench_b_$p', '$endA')" >/dev/null
done
decode_all A "$endA"
decode_all B "$endB"

printf '\n%-14s %14s %14s\n' plugin "A rows/s" "B rows/s"
for p in $plugins; do
	printf '%-14s %14.0f %14.0f\n' "$p" \
		"$(echo "$N_BULK / ${secs[A_$p]}" | bc -l)" "$(echo "$N_TXN / ${secs[B_$p]}" | bc -l)"
done
echo
for p in wal2json test_decoding pgoutput; do
	printf 'reindex / %-14s A %.2fx   B %.2fx\n' "$p" \
		"$(echo "${secs[A_$p]} / ${secs[A_reindex]}" | bc -l)" \
		"$(echo "${secs[B_$p]} / ${secs[B_reindex]}" | bc -l)"
done
echo "targets: reindex >= 1.20x wal2json and >= 0.80x pgoutput on A and B"
