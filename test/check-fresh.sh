#!/bin/bash
# check-fresh.sh: `make check-fresh` — the README's two commands on a brand-new
# Debian 12 machine, whatever is installed on this one.
#
#   1. debootstrap a minimal bookworm root (minbase plus git, make, sudo and
#      ca-certificates) in a temporary folder, from the Debian mirror this
#      machine's apt uses (its sources and the Acquire settings that reach it),
#      with this machine's way out (resolv.conf, hosts, locally added CA
#      certificates);
#   2. clone the current commit (HEAD: uncommitted changes are not part of it)
#      into the root's /root/reindex, with a copy of ../shared beside it;
#   3. as root in the root: `make test` as the very first command; every
#      major's run must end without failure, the one on PostgreSQL 15 (which
#      runs everything) with at least what a normal run counts (the pg_regress
#      tests, the YAML suites' passes on the clone's development server built
#      here, and every pytest test collected: nothing may be skipped), and the
#      last line must be "N passed, 0 failed";
#   4. `make demo`, which must exit 0 and be complete.
# Each step's time is printed as it ends and again in a table at the end.
#
# Invariants: everything runs in one temporary folder (CHECK_FRESH_TMPDIR,
# default /var/tmp) that is removed at the end, also on failure and Ctrl-C.
# The root's commands run in their own mount and PID namespaces (unshare):
# the root (bound onto itself: a mount point, as / is on any machine), /proc,
# /sys and /dev are mounted only there, and every process started in
# the root is killed with its namespace when the step ends, so nothing is
# left mounted or running.  A daemon that a package would start at install
# time is refused (policy-rc.d): a chroot is not a booted machine.
# Needs root (re-runs itself under sudo) and debootstrap (installed through
# contrib/install-deps.sh if missing).
set -u -o pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

if [ "$(id -u)" != 0 ]; then
	exec sudo --preserve-env=CHECK_FRESH_TMPDIR,REINDEX_SHARED "$0" "$@"
fi

SUITE=bookworm
PY=/usr/bin/python3
shared=$(readlink -f "${REINDEX_SHARED:-$top/../shared}")
PATH_IN_ROOT=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

work=""
reference=""
child=""
steps=()
say() { echo "== check-fresh: $*"; }

# processes whose root directory is in the fresh root (ours: started there)
root_pids() {
	[ -n "$work" ] || return 0
	local p r
	for p in /proc/[0-9]*; do
		r=$(readlink "$p/root" 2>/dev/null) || continue
		case "$r" in "$work/root" | "$work/root/"*) echo "${p#/proc/}" ;; esac
	done
}

# mount points at or below DIR in this mount namespace
mounts_below() {
	awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo
}

cleanup() {
	local pids n
	trap '' INT TERM
	# unshare's death kills the first process of the root's namespaces, and
	# with it every process there
	[ -z "$child" ] || kill -KILL "$child" 2>/dev/null
	[ -n "$work" ] && [ -d "$work" ] || return 0
	# the namespaces die with their first process; wait for the rest, then kill
	for n in $(seq 1 100); do
		pids=$(root_pids)
		[ -z "$pids" ] && break
		[ "$n" = 50 ] && kill -KILL $pids 2>/dev/null
		sleep 0.1
	done
	for m in $(mounts_below "$work" | sort -r); do
		umount -l "$m" 2>/dev/null
	done
	if [ -n "$(mounts_below "$work")" ]; then
		say "NOT removing $work: still mounted there:"
		mounts_below "$work"
		return 1
	fi
	rm -rf --one-file-system "$work"
}
trap 'finish 130 "INTERRUPTED (everything it made is being removed)"' INT TERM
trap 'cleanup' EXIT

# step NAME COMMAND...: run COMMAND, print and record its time
step() {
	local name=$1 t0 t rc
	shift
	say "$name"
	t0=$(date +%s)
	"$@"
	rc=$?
	t=$(($(date +%s) - t0))
	steps+=("$(printf '%-32s %3d:%02d  %s' "$name" $((t / 60)) $((t % 60)) \
		"$([ $rc = 0 ] && echo ok || echo "FAILED (exit $rc)")")")
	say "$name: $(printf '%d:%02d' $((t / 60)) $((t % 60)))$([ $rc = 0 ] || echo ", FAILED (exit $rc)")"
	return $rc
}

finish() {	# finish STATUS MESSAGE
	echo
	say "step times (min:s)"
	printf '   %s\n' "${steps[@]}"
	say "$2"
	exit "$1"
}

# "URI SUITE COMPONENT" of every Debian bookworm source this machine's apt uses
debian_sources() {
	apt-cache policy | awk -v suite="$SUITE" '
		/^ *[0-9]+ [a-z+]+:\/\// { uri = $2; split($3, sc, "/"); next }
		uri != "" && /release / && /o=Debian/ && (sc[1] == suite || index(sc[1], suite "-") == 1) {
			print uri, sc[1], sc[2] }
		{ uri = "" }' | sort -u
}

prepare_host() {
	contrib/install-deps.sh debootstrap || return 1
	command -v unshare >/dev/null && command -v git >/dev/null || { echo "unshare and git are needed"; return 1; }
	if [ -z "$(debian_sources)" ]; then
		apt-get update -qq || return 1
	fi
	[ -n "$(debian_sources)" ] || { echo "apt here uses no Debian $SUITE source"; return 1; }
	[ -d "$shared" ] || { echo "no $shared (../shared of the checkout)"; return 1; }
	work=$(mktemp -d "${CHECK_FRESH_TMPDIR:-/var/tmp}/reindex-fresh.XXXXXX") || return 1
	chmod 755 "$work"
	echo "working in $work"
	debian_sources | sed 's/^/apt source: /'
}

bootstrap() {
	local mirror
	mirror=$(debian_sources | awk -v s="$SUITE" '$2 == s { print $1; exit }')
	[ -n "$mirror" ] || { echo "no mirror for $SUITE itself"; return 1; }
	# in a mount namespace of its own: its mounts of the root's /proc and
	# /sys go with it, even when it is interrupted
	unshare --mount --propagation private -- \
		debootstrap --variant=minbase --include=git,make,sudo,ca-certificates \
		"$SUITE" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
		{ tail -n 30 "$work/debootstrap.log"; return 1; }
	tail -n 1 "$work/debootstrap.log"
	# the same sources as this machine, and the Acquire settings that reach them
	debian_sources | awk '{ print "deb", $1, $2, $3 }' >"$work/root/etc/apt/sources.list"
	apt-config dump | grep -E '^Acquire::(https?::Proxy|Check-Valid-Until|Check-Date)' \
		>"$work/root/etc/apt/apt.conf.d/99check-fresh-host" || true
	cp /etc/resolv.conf "$work/root/etc/resolv.conf"
	cp /etc/hosts "$work/root/etc/hosts"
	# certificate authorities added here (a TLS-inspecting egress, say):
	# Maven Central is reached over https; Java's trust store is built from
	# these when make test installs the JDK
	if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
		cp /usr/local/share/ca-certificates/*.crt "$work/root/usr/local/share/ca-certificates/" &&
			chroot "$work/root" update-ca-certificates >/dev/null || return 1
	fi
	printf '#!/bin/sh\n# check-fresh: a chroot is not a booted machine\nexit 101\n' \
		>"$work/root/usr/sbin/policy-rc.d"
	chmod 755 "$work/root/usr/sbin/policy-rc.d"
}

clone() {
	local head
	head=$(git rev-parse HEAD) || return 1
	[ -z "$(git status --porcelain --untracked-files=no)" ] ||
		echo "note: uncommitted changes here are not part of the check (it tests $head)"
	git clone -q --no-hardlinks "$top" "$work/root/root/reindex" &&
		git -C "$work/root/root/reindex" checkout -q --detach "$head" &&
		mkdir "$work/root/root/shared" && cp -a "$shared/." "$work/root/root/shared/" || return 1
	echo "cloned $(git log --oneline -1 "$head")"
}

# in_root COMMAND: COMMAND by bash -c as root in /root/reindex of the fresh
# root, with a login's environment; its output is shown and kept in
# $work/last.log.  Its first process is PID 1 of a new PID namespace (a bash
# that reaps orphans) and dies with unshare, taking every process with it.
in_root() {
	local rc
	: >"$work/last.log"
	unshare --mount --pid --fork --kill-child --propagation private -- /bin/sh -c '
		set -e
		r=$1
		# the root is a mount point, as on a booted machine or in a
		# container: Java finds the file store of a path by walking up to
		# a mount point in /proc/self/mountinfo, and OpenSearch needs it
		# ("Mount point not found" in a plain chroot)
		mount --bind "$r" "$r"
		mount -t proc proc "$r/proc"
		mount --rbind /sys "$r/sys"
		mount --rbind /dev "$r/dev"
		exec chroot "$r" /usr/bin/env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/bash \
			TERM="${TERM:-dumb}" PATH="$3" \
			/bin/bash -c "cd /root/reindex && { $2; } & wait \$!"' \
		sh "$work/root" "$1" "$PATH_IN_ROOT" >"$work/last.log" 2>&1 </dev/null &
	child=$!
	tail -n +1 -f --pid="$child" "$work/last.log"
	wait "$child"
	rc=$?
	child=""
	return $rc
}

# what a normal run of the clone on PostgreSQL 15 counts (the run of make
# test that runs everything; the one on 18 runs only what depends on the
# server), computed here: its pg_regress tests, the YAML suites' passes on
# this clone's development server built here, and every pytest test
# collected (a normal run skips none)
reference_count() {
	local clone=$work/root/root/reindex regress collected yaml=0 line args devsearch
	devsearch=$work/host-build/contrib/devsearch/devsearch
	git clone -q --no-hardlinks "$clone" "$work/host-build" &&
		make -s -C "$work/host-build/contrib/devsearch" >"$work/host-build.log" 2>&1 ||
		{ tail -n 20 "$work/host-build.log"; echo "could not build the clone's development server here"; return 1; }
	regress=$(ls "$clone"/sql/*.sql 2>/dev/null | wc -l)
	collected=$($PY -m pytest --collect-only -q -p no:cacheprovider "$clone/test" 2>/dev/null |
		sed -n 's/^\([0-9][0-9]*\) tests\{0,1\} collected.*/\1/p')
	[ -n "$collected" ] || { echo "pytest could not collect the suite"; return 1; }
	for args in "$shared/conformance/opensearch/test" \
		"--api-dir $shared/conformance/opensearch/api $clone/test/conformance/devsearch/test"; do
		# shellcheck disable=SC2086
		line=$($PY "$clone/test/conformance/runner.py" \
			--server-cmd "$devsearch --port 0 --flavor opensearch" \
			$args 2>/dev/null | grep -E '^[0-9]+ passed, ' | tail -n 1)
		[ -n "$line" ] || { echo "the YAML suite $args did not run here"; return 1; }
		yaml=$((yaml + ${line%% passed*}))
	done
	reference=$((regress + yaml + collected))
	echo "a normal run on PostgreSQL 15: $regress pg_regress + $yaml YAML + $collected pytest = $reference"
}

# make test ends with one line per major ("PostgreSQL 15: N passed, 0
# failed") and the totals: every run without failure, the one on 15 at least
# a normal run's count, the last line "N passed, 0 failed"
fresh_test() {
	local last n n15 bad
	in_root "make test"
	bad=$(grep -E '^PostgreSQL [0-9]+: ' "$work/last.log" | grep -Ev ': [0-9]+ passed, 0 failed$')
	[ -z "$bad" ] || { echo "a run of make test failed: $bad"; return 1; }
	n15=$(sed -n 's/^PostgreSQL 15: \([0-9][0-9]*\) passed, 0 failed$/\1/p' "$work/last.log" | tail -n 1)
	[ -n "$n15" ] || { echo "make test printed no 'PostgreSQL 15: N passed, 0 failed'"; return 1; }
	[ "$n15" -ge "$reference" ] || { echo "$n15 passed on PostgreSQL 15: fewer than a normal run's $reference"; return 1; }
	last=$(tail -n 1 "$work/last.log")
	n=$(echo "$last" | sed -n 's/^\([0-9][0-9]*\) passed, 0 failed$/\1/p')
	[ -n "$n" ] || { echo "make test's last line is not 'N passed, 0 failed': $last"; return 1; }
	[ "$n" -ge "$n15" ] || { echo "the total $n is less than the run on 15 ($n15)"; return 1; }
	echo "make test on the fresh root: $last (on PostgreSQL 15: $n15; a normal run: $reference)"
}

fresh_demo() {
	in_root "make demo" || return 1
	if grep -q 'INCOMPLETE DEMO' "$work/last.log"; then
		echo "make demo skipped steps"
		return 1
	fi
}

step "host: debootstrap and sources" prepare_host || finish 1 "FAILED: preparing this machine"
step "debootstrap $SUITE (minbase)" bootstrap || finish 1 "FAILED: debootstrap"
step "clone the commit and ../shared" clone || finish 1 "FAILED: clone"
step "count a normal run" reference_count || finish 1 "FAILED: counting a normal run"
step "make test (first command)" fresh_test || finish 1 "FAILED: make test on a fresh machine"
step "make demo" fresh_demo || finish 1 "FAILED: make demo on a fresh machine"
finish 0 "PASSED: make test and make demo work on a fresh Debian 12"
