#!/bin/bash
# plugin_decode.sh: decoding throughput and walsender memory of the `reindex`
# output plugin against wal2json (format 2), test_decoding and pgoutput, all
# on the same WAL in one run.
#   test/bench/plugin_decode.sh [N_BULK [N_TXN]]     (defaults 1000000 200000)
#   REPS=n (default 3, at least 3) repetitions per plugin and workload.
# Workloads: A = one transaction of N_BULK inserts; B = N_TXN single-row
# UPDATE transactions (pgbench, 2 clients).  The WAL is written once: one
# base slot per workload is created before it, and every measured decode
# runs on a fresh copy of that slot (pg_copy_logical_replication_slot), so
# every plugin and repetition decodes exactly the same WAL.  The order of the
# plugins rotates with each repetition (no plugin is always first, with a
# cold cache); the figure is the median rows/s, printed with the coefficient
# of variation (stddev / mean) across repetitions.  Each decode is
# pg_recvlogical --endpos to /dev/null, timed by wall clock.
# Memory: while each plugin decodes A, the walsender's /proc/PID/status is
# sampled (every 0.1 s: the sampling interval of a measurement, not
# synchronisation); reported are its RssAnon (private memory: reorder buffer
# plus plugin) at the start and at the peak, and the peak VmHWM (which also
# counts the shared buffers it touched), max over repetitions, with
# logical_decoding_work_mem = 64MB; test_decoding is the baseline.  Once a
# second the walsender also logs its memory contexts
# (pg_log_backend_memory_contexts); the largest totals of the reorder
# buffer's contexts and of the plugin's own ("reindex ...") are printed.
# Uses its own throwaway cluster (test/pgcluster.sh); needs `make install`.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
N_BULK=${1:-1000000}
N_TXN=${2:-200000}
REPS=${REPS:-3}
[ "$REPS" -ge 3 ] || { echo "plugin_decode.sh: REPS must be at least 3" >&2; exit 2; }
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
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

# plugin variants measured: name -> output plugin and its options
#   reindex          defaults (begin, commit time, one line per message)
#   reindex-lean     what a consumer needs: include_begin false, no commit time
#   reindex-batch    reindex-lean plus batch_bytes 65536
variants=${VARIANTS:-"reindex reindex-lean reindex-batch wal2json test_decoding pgoutput"}
if [ ! -e "$("$PGBIN/pg_config" --pkglibdir)/wal2json.so" ] && [[ " $variants " == *" wal2json "* ]]; then
	echo "wal2json is not installed for this server: left out"
	variants=$(echo " $variants " | sed 's/ wal2json / /')
fi
plugin_of() { case $1 in reindex*) echo reindex ;; *) echo "$1" ;; esac; }
opts_of() {
	case $1 in
	wal2json) echo "-o format-version=2" ;;
	pgoutput) echo "-o proto_version=1 -o publication_names=p" ;;
	reindex-lean) echo "-o include_begin=false -o include_commit_time=false" ;;
	reindex-batch) echo "-o include_begin=false -o include_commit_time=false -o batch_bytes=65536" ;;
	*) echo "" ;;
	esac
}

q() { psql -qXAt -v ON_ERROR_STOP=1 -c "$1"; }
now() { date +%s.%N; }
status_kb() { sed -n "s/^$2:\s*\([0-9]*\) kB/\1/p" "/proc/$1/status" 2>/dev/null || true; }

echo "machine: $(nproc) cores ($(uname -m), Linux $(uname -r)); $("$PGBIN/postgres" --version);" \
	"wal2json $(dpkg-query -W -f '${Version}' postgresql-15-wal2json 2>/dev/null || echo '?');" \
	"reindex $(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$top/reindex.control")" \
	"($(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "workloads: A = 1 transaction of $N_BULK inserts, B = $N_TXN single-row update transactions; $REPS repetitions, rotating order"

# the WAL: base slots first, then the workloads
q "SELECT pg_create_logical_replication_slot('base_a', 'test_decoding')" >/dev/null
psql -qX -c "INSERT INTO items SELECT g, 'item ' || g, g * 1.25, g % 100 FROM generate_series(1, $N_BULK) g"
endA=$(q "SELECT pg_current_wal_lsn()")
q "SELECT pg_create_logical_replication_slot('base_b', 'test_decoding')" >/dev/null
cat >"$dir/update.sql" <<'SQL'
\set id random(1, 1000)
UPDATE counters SET n = n + 1 WHERE id = :id;
SQL
"$PGBIN/pgbench" -n -c 2 -j 2 -t $((N_TXN / 2)) -f "$dir/update.sql" bench >/dev/null
endB=$(q "SELECT pg_current_wal_lsn()")
q "CHECKPOINT" >/dev/null

# a sleep without a fork, so sampling stays cheap: read with a timeout from a
# FIFO nobody writes to
mkfifo "$dir/nap"
exec {nap_fd}<>"$dir/nap"
nap() { read -r -t "$1" -u "$nap_fd" || true; }
# CPU time (ns) a process has run, from the scheduler's own accounting
cpu_ns() { local x; { read -r x _ <"/proc/$1/schedstat"; } 2>/dev/null && echo "$x"; }

# decode_one W VARIANT ENDPOS: one decode of workload W on a fresh slot copy;
# sets $secs (wall), $cpu (the walsender's CPU seconds up to its last sample,
# taken every 20 ms), $spill (bytes); for A also $anon0 $anon $hwm (kB)
decode_one() {
	local w=$1 v=$2 endpos=$3 slot="run_$$" rpid wpid="" a h c lastcpu=0 t0
	q "SELECT pg_copy_logical_replication_slot('base_${w,,}', '$slot', false, '$(plugin_of "$v")')" >/dev/null
	anon0=0 anon=0 hwm=0
	t0=$(now)
	# shellcheck disable=SC2046
	"$PGBIN/pg_recvlogical" -d bench -S "$slot" --start --endpos "$endpos" --no-loop \
		-f /dev/null $(opts_of "$v") &
	rpid=$!
	while [ -z "$wpid" ] && kill -0 $rpid 2>/dev/null; do
		wpid=$(q "SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$slot' AND active_pid IS NOT NULL")
		[ -n "$wpid" ] || nap 0.02	# polled condition: the walsender has started
	done
	local tick=0
	while [ -n "$wpid" ] && kill -0 $rpid 2>/dev/null; do
		c=$(cpu_ns "$wpid") && [ -n "$c" ] && lastcpu=$c
		# once a second, the walsender logs its memory contexts (read below)
		if [ "$w" = A ] && [ $((tick++ % 50)) = 25 ]; then
			q "SELECT pg_log_backend_memory_contexts($wpid)" >/dev/null 2>&1 || true	# it may just have exited
		fi
		if [ "$w" = A ]; then
			a=$(status_kb "$wpid" RssAnon)
			h=$(status_kb "$wpid" VmHWM)
			if [ -n "$a" ]; then
				[ "$anon0" -gt 0 ] || anon0=$a
				[ "$a" -le "$anon" ] || anon=$a
			fi
			[ -z "$h" ] || [ "$h" -le "$hwm" ] || hwm=$h
		fi
		nap 0.02	# sampling interval of a measurement, not synchronisation
	done
	wait $rpid
	secs=$(echo "$(now) - $t0" | bc -l)
	cpu=$(echo "$lastcpu / 1000000000" | bc -l)
	spill=$(q "SELECT coalesce(max(spill_bytes), 0) FROM pg_stat_replication_slots WHERE slot_name = '$slot'")
	# the largest total of each memory context the walsender logged
	ctx_kb=""
	if [ -n "$wpid" ]; then
		ctx_kb=$(grep -a "\[$wpid\].*level: [0-9]*; " "$PGHOST/server.log" |
			sed -n 's/.*level: [0-9]*; \([^:]*\): \([0-9]*\) total.*/\1|\2/p' |
			awk -F'|' '{ if ($2 > m[$1]) m[$1] = $2; n++ }
				END { if (!n) exit;
					for (k in m) {
						if (k ~ /^reindex /) plugin += m[k];
						if (k == "ReorderBuffer" || k == "Change" || k == "TXN" || k == "Tuples") rb += m[k];
					}
					printf "%d %d", plugin / 1024, rb / 1024 }')
	fi
	q "SELECT pg_drop_replication_slot('$slot')" >/dev/null
}

# median and coefficient of variation (%) of the numbers on stdin
stats() {
	sort -g | awk '{ x[NR] = $1; s += $1; ss += $1 * $1 }
		END { m = (NR % 2) ? x[(NR + 1) / 2] : (x[NR / 2] + x[NR / 2 + 1]) / 2;
			mean = s / NR; var = ss / NR - mean * mean; if (var < 0) var = 0;
			printf "%.0f %.1f\n", m, 100 * sqrt(var) / mean }'
}

declare -A rates cpurates anon0s anons hwms spills plugctx rbctx
read -r -a vs <<<"$variants"
nv=${#vs[@]}
for ((r = 0; r < REPS; r++)); do
	order=()
	for ((i = 0; i < nv; i++)); do order+=("${vs[$(((i + r) % nv))]}"); done
	echo "repetition $((r + 1)): ${order[*]}"
	for w in A B; do
		for v in "${order[@]}"; do
			if [ $w = A ]; then decode_one A "$v" "$endA"; n=$N_BULK; else decode_one B "$v" "$endB"; n=$N_TXN; fi
			rates[${w}_$v]+="$(echo "$n / $secs" | bc -l) "
			# no CPU sample: the walsender ended before it was found (tiny runs)
			[ "$(echo "$cpu > 0" | bc -l)" = 0 ] || cpurates[${w}_$v]+="$(echo "$n / $cpu" | bc -l) "
			if [ $w = A ]; then
				[ "${anon0s[$v]:-0}" -ge "$anon0" ] || anon0s[$v]=$anon0
				[ "${anons[$v]:-0}" -ge "$anon" ] || anons[$v]=$anon
				[ "${hwms[$v]:-0}" -ge "$hwm" ] || hwms[$v]=$hwm
				spills[$v]=$spill
				if [ -n "$ctx_kb" ]; then
					read -r pk rk <<<"$ctx_kb"
					[ "${plugctx[$v]:-0}" -ge "$pk" ] || plugctx[$v]=$pk
					[ "${rbctx[$v]:-0}" -ge "$rk" ] || rbctx[$v]=$rk
				fi
			fi
		done
	done
done

# a / b, 0 when either is unknown (0)
ratio() { if [ "$1" = 0 ] || [ "$2" = 0 ]; then echo 0; else echo "$1 / $2" | bc -l; fi; }

declare -A med cv cmed ccv
for v in $variants; do
	for w in A B; do
		read -r m c < <(tr ' ' '\n' <<<"${rates[${w}_$v]}" | grep . | stats)
		med[${w}_$v]=$m cv[${w}_$v]=$c
		m=0 c=0
		[ -z "${cpurates[${w}_$v]:-}" ] ||
			read -r m c < <(tr ' ' '\n' <<<"${cpurates[${w}_$v]}" | grep . | stats)
		cmed[${w}_$v]=$m ccv[${w}_$v]=$c
	done
done

echo
echo "rows/s = rows / wall-clock seconds of the decode (end to end, pg_recvlogical included);"
echo "rows/cpu-s = rows / CPU seconds of the walsender (what the plugin costs the server;"
echo "steadier on a busy machine).  Median of $REPS; CV = stddev / mean over the repetitions."
printf '%-16s %18s %18s   %22s %22s\n' plugin "A wall (CV)" "B wall (CV)" "A walsender (CV)" "B walsender (CV)"
for v in $variants; do
	printf '%-16s %7s rows/s %5s%% %7s rows/s %5s%%   %7s rows/cpu-s %5s%% %7s rows/cpu-s %5s%%\n' "$v" \
		"${med[A_$v]}" "${cv[A_$v]}" "${med[B_$v]}" "${cv[B_$v]}" \
		"${cmed[A_$v]}" "${ccv[A_$v]}" "${cmed[B_$v]}" "${ccv[B_$v]}"
done
echo
for r in $variants; do
	case $r in reindex*) ;; *) continue ;; esac
	for p in wal2json test_decoding pgoutput; do
		[ -n "${med[A_$p]:-}" ] || continue
		printf 'ratio %-16s / %-14s wall A %.2fx B %.2fx   walsender cpu A %.2fx B %.2fx\n' "$r" "$p" \
			"$(ratio "${med[A_$r]}" "${med[A_$p]}")" "$(ratio "${med[B_$r]}" "${med[B_$p]}")" \
			"$(ratio "${cmed[A_$r]}" "${cmed[A_$p]}")" "$(ratio "${cmed[B_$r]}" "${cmed[B_$p]}")"
	done
done
echo "targets: reindex >= 1.20x wal2json and >= 0.80x pgoutput on A and B"

# batching must not change a single line: decode B both ways into files (each
# message is followed by a newline there, so the files must be identical)
case " $variants " in
*" reindex-lean "*reindex-batch*)
	for v in reindex-lean reindex-batch; do
		q "SELECT pg_copy_logical_replication_slot('base_b', 'check_$$', false, 'reindex')" >/dev/null
		# shellcheck disable=SC2046
		"$PGBIN/pg_recvlogical" -d bench -S "check_$$" --start --endpos "$endB" --no-loop \
			-f "$dir/$v.out" $(opts_of "$v")
		q "SELECT pg_drop_replication_slot('check_$$')" >/dev/null
	done
	if cmp -s "$dir/reindex-lean.out" "$dir/reindex-batch.out"; then
		echo "check: reindex-batch writes the same $(wc -l <"$dir/reindex-lean.out") lines as reindex-lean on B: yes"
	else
		echo "check: reindex-batch writes the same lines as reindex-lean on B: NO" >&2
		exit 1
	fi
	rm -f "$dir/reindex-lean.out" "$dir/reindex-batch.out"
	;;
esac
echo
echo "walsender memory while decoding A (logical_decoding_work_mem 64MB; max over $REPS runs):"
printf '%-16s %14s %14s %14s %14s %12s\n' plugin "RssAnon start" "RssAnon peak" "RSS growth" "VmHWM peak" "spilled"
for v in $variants; do
	printf '%-16s %11s kB %11s kB %11s kB %11s kB %9s MB\n' "$v" "${anon0s[$v]}" "${anons[$v]}" \
		"$((anons[$v] - anon0s[$v]))" "${hwms[$v]}" "$((spills[$v] / 1048576))"
done
echo "memory contexts the walsender logged while decoding A (pg_log_backend_memory_contexts once a second, so sampled; largest total of each):"
for v in $variants; do
	printf '  %-16s reorder buffer (ReorderBuffer, Change, TXN, Tuples) %8s kB   reindex plugin contexts %6s kB\n' \
		"$v" "${rbctx[$v]:-?}" "$(case $v in reindex*) echo "${plugctx[$v]:-?}" ;; *) echo - ;; esac)"
done
for r in $variants; do
	case $r in reindex*) ;; *) continue ;; esac
	[ -n "${anons[test_decoding]:-}" ] || continue
	echo "private memory (RSS anon peak) $r minus test_decoding: $((anons[$r] - anons[test_decoding])) kB"
done
