#!/bin/bash
# plugin_decode_pg18.sh: the decoding comparison of plugin_decode.sh (reindex
# vs pgoutput vs test_decoding, same WAL, same figures) on PostgreSQL 18.
# make bench sets REINDEX_PG18_BIN to the bindir of the PostgreSQL 18 it
# installed the plugin into (tmp_install/pg18, make ... PG=18); wal2json is
# not built for 18 here, so it is left out.  Arguments as plugin_decode.sh.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${REINDEX_PG18_BIN:-}" ] || [ ! -f "$("$REINDEX_PG18_BIN/pg_config" --pkglibdir)/reindex.so" ]; then
	echo "not available yet: PostgreSQL 18 with the plugin installed (make bench installs it)"
	exit 3
fi
export PGBIN=$REINDEX_PG18_BIN PATH="$REINDEX_PG18_BIN:$PATH"
exec "$top/test/bench/plugin_decode.sh" "$@"
