#!/bin/sh
# tmp-install.sh: a private PostgreSQL installation for the tests, the demo
# and the benchmarks of one checkout, so that they never use (or overwrite)
# what `make install` put into the system tree, and two checkouts on one
# machine can test side by side.
#
#   test/tmp-install.sh PG_CONFIG DIR
#
# DIR receives the server's installation under the same paths as the
# system's (e.g. DIR/usr/lib/postgresql/15/bin): PostgreSQL finds its share
# and lib folders relative to the location of its programs, so the programs
# in DIR use DIR's share and lib.  Programs are copied (a symlink would be
# resolved back to the system's folder); libraries, headers and share files
# are symlinks to the system's, except anything named reindex*, which
# `make install DESTDIR=DIR` (run by the Makefile after this script) puts in.
# Idempotent and quick when DIR is already up to date.  Prints nothing.
#
#   test/tmp-install.sh --where CHECKOUT
#
# prints the DIR the Makefile uses: CHECKOUT/tmp_install, unless we are root
# and the postgres user (the server's, see test/pgcluster.sh) cannot enter
# CHECKOUT (a clone in /root, mode 700): then
# /var/tmp/reindex-tmp_install.<checksum of CHECKOUT's path>, made by root and
# refused when it is somebody else's or a symlink.
set -eu
if [ "${1:-}" = --where ]; then
	checkout=${2:?usage: tmp-install.sh --where CHECKOUT}
	if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$checkout" 2>/dev/null; then
		echo "/var/tmp/reindex-tmp_install.$(printf %s "$checkout" | cksum | cut -d ' ' -f 1)"
	else
		echo "$checkout/tmp_install"
	fi
	exit 0
fi
pg_config=${1:?usage: tmp-install.sh PG_CONFIG DIR}
dir=${2:?usage: tmp-install.sh PG_CONFIG DIR}

bindir=$("$pg_config" --bindir)
pkglibdir=$("$pg_config" --pkglibdir)
sharedir=$("$pg_config" --sharedir)

mkdir -p "$dir"
if [ -L "$dir" ] || [ "$(stat -c %u "$dir")" != "$(id -u)" ]; then
	echo "tmp-install: $dir is a symlink or belongs to another user; remove it" >&2
	exit 1
fi
stamp="$dir/.source"
want="$bindir $pkglibdir $sharedir $(ls -l --time-style=+%s "$bindir/postgres" | awk '{print $6}')"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi

# link_tree SRC DST: DST mirrors SRC with symlinks, reindex* left out
link_tree() {
	mkdir -p "$2"
	(cd "$1" && find . -type d) | while read -r d; do mkdir -p "$2/$d"; done
	(cd "$1" && find . ! -type d ! -name 'reindex*') | while read -r f; do
		[ -e "$2/$f" ] || [ -L "$2/$f" ] || ln -s "$1/${f#./}" "$2/$f"
	done
}

rm -rf "$dir$bindir"
mkdir -p "$dir$bindir"
for f in "$bindir"/*; do
	case "$(basename "$f")" in
	reindex*) ;;
	*) cp -p "$f" "$dir$bindir/" ;;
	esac
done
link_tree "$pkglibdir" "$dir$pkglibdir"
link_tree "$sharedir" "$dir$sharedir"
# PGXS builds and pg_regress read the server headers through pg_config
includedir=$("$pg_config" --includedir-server)
[ -d "$dir$includedir" ] || link_tree "$includedir" "$dir$includedir"

# the copy must answer with its own paths, or it would use the system's files
got=$("$dir$bindir/pg_config" --sharedir)
if [ "$got" != "$dir$sharedir" ]; then
	echo "tmp-install: $dir$bindir/pg_config answers $got, not $dir$sharedir" >&2
	exit 1
fi
chmod -R a+rX "$dir"
echo "$want" >"$stamp"
