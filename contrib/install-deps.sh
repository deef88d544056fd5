#!/bin/sh
# install-deps.sh: installs the Debian packages that building, testing, the demo
# and the benchmarks need, and nothing else.  Idempotent: packages already
# installed are not touched, so a prepared machine pays one dpkg-query.
#   contrib/install-deps.sh            install what is missing (sudo when not root)
#   contrib/install-deps.sh --check    exit 1 if something is missing, install nothing
set -eu

PACKAGES="make gcc pkg-config postgresql-15 postgresql-client-15 postgresql-server-dev-15
libpq-dev libcurl4-openssl-dev libjansson-dev libmicrohttpd-dev zlib1g-dev
libipc-run-perl python3 python3-pytest python3-psycopg2 python3-yaml
postgresql-15-wal2json curl"

missing=""
for p in $PACKAGES; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = "installed" ] || missing="$missing $p"
done

if [ -z "$missing" ]; then
	exit 0
fi
if [ "${1:-}" = "--check" ]; then
	echo "missing Debian packages:$missing" >&2
	exit 1
fi

if [ "$(id -u)" = 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "install-deps: need root or sudo to install:$missing" >&2
	exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# a fresh machine has no package lists yet; refresh them once, quietly
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
