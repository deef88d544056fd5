#!/bin/sh
# pgcluster.sh: throwaway PostgreSQL clusters (the server of $PGBIN: Debian's 15 by
# default, 18 under make ... PG=18) for the tests, the demo and the
# benchmarks.  Works as root (initdb refuses root, so the cluster is owned and
# run by the postgres user) and as a normal user.  Every cluster has
# wal_level=logical, room for slots and walsenders, and, where the server has
# the setting, output_plugin_libraries listing the reindex plugin next to the
# built-in ones.  Nothing outside DIR is touched.
#
#   eval "$(test/pgcluster.sh start DIR [EXTRA_CONF_LINE...])"
#        creates (if needed) and starts the cluster in DIR; prints
#        export PGHOST=... PGPORT=... PGUSER=... PGDATABASE=postgres
#   test/pgcluster.sh env DIR       prints the same exports for a running cluster
#   test/pgcluster.sh stop DIR [MODE]    pg_ctl stop (MODE fast|immediate|smart)
#   test/pgcluster.sh restart DIR
#   test/pgcluster.sh destroy DIR   stop and remove DIR
set -eu

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: pgcluster.sh start|env|stop|restart|destroy DIR}
dir=${2:?usage: pgcluster.sh start|env|stop|restart|destroy DIR}
shift 2

if [ "$(id -u)" = 0 ]; then
	RUNAS="runuser -u postgres --"
	SUPERUSER=postgres
else
	RUNAS=""
	SUPERUSER=$(id -un)
fi

pgctl() {
	$RUNAS "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" "$@" >/dev/null
}

print_env() {
	port=$(sed -n 's/^port = \([0-9]*\).*/\1/p' "$dir/data/postgresql.auto.conf" "$dir/data/reindex_test.conf" 2>/dev/null | tail -n 1)
	echo "export PGHOST='$dir' PGPORT='$port' PGUSER='$SUPERUSER' PGDATABASE=postgres"
}

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

case "$cmd" in
start)
	dir=$(mkdir -p "$dir" && cd "$dir" && pwd)
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		[ -z "$RUNAS" ] || chown postgres "$dir"
		$RUNAS "$PGBIN/initdb" -D "$dir/data" -A trust -U "$SUPERUSER" -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
			{ cat "$dir/initdb.log" >&2; exit 1; }
		port=$(free_port)
		conf="$dir/data/reindex_test.conf"
		{
			echo "port = $port"
			echo "listen_addresses = '127.0.0.1'"
			echo "unix_socket_directories = '$dir'"
			echo "wal_level = logical"
			echo "max_replication_slots = 32"
			echo "max_wal_senders = 32"
			echo "max_connections = 100"
			echo "max_prepared_transactions = 10"
			echo "fsync = off"
			echo "synchronous_commit = on"
			echo "full_page_writes = off"
			echo "shared_buffers = 256MB"
			echo "max_wal_size = 4GB"
			echo "autovacuum_naptime = 1d"
			echo "log_min_messages = warning"
			echo "log_line_prefix = '%m [%p] %q%a '"
			# the allow-list exists from 15.20 on; an unknown setting would stop the server
			if "$PGBIN/postgres" --describe-config 2>/dev/null | grep -q '^output_plugin_libraries'; then
				echo "output_plugin_libraries = 'pgoutput, test_decoding, reindex, wal2json'"
			fi
			for line in "$@"; do echo "$line"; done
		} >"$conf"
		[ -z "$RUNAS" ] || chown postgres "$conf"
		echo "include 'reindex_test.conf'" >>"$dir/data/postgresql.conf"
	fi
	pgctl -w -t 60 start || { cat "$dir/server.log" >&2; exit 1; }
	print_env
	;;
env)
	print_env
	;;
stop)
	pgctl -w -m "${1:-fast}" stop
	;;
restart)
	pgctl -w -t 60 restart || { cat "$dir/server.log" >&2; exit 1; }
	;;
destroy)
	if [ -f "$dir/data/postmaster.pid" ]; then pgctl -w -m immediate stop || true; fi
	rm -rf "$dir"
	;;
*)
	echo "pgcluster.sh: unknown command \"$cmd\"" >&2
	exit 2
	;;
esac
