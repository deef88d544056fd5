#!/bin/sh
# install-deps.sh: installs the Debian packages that building, testing, the demo
# and the benchmarks need, and nothing else.  Idempotent: packages already
# installed are not touched, so a prepared machine pays one dpkg-query.
#   contrib/install-deps.sh [PACKAGE...]          install what is missing (sudo
#                                                 when not root), and PACKAGEs too
#   contrib/install-deps.sh --check [PACKAGE...]  exit 1 if something is missing,
#                                                 install nothing
# REINDEX_DEPS_PRETEND_MISSING="pkg ..." makes those packages count as missing
# (the Makefile's fresh-machine test uses it with `make -n`; nothing installs).
# clang, its fuzzer and sanitizer runtime (libclang-rt-14-dev) and valgrind are
# for the fuzz corpus replay and the leak checks of the development server.
# Java 17 and Maven build and run the real OpenSearch of the tests (test/engine/).
# systemd: systemd-analyze checks contrib/systemd/reindex_streamer@.service.
# openssl: the TLS tests make their certificates with it.
set -eu

PACKAGES="make gcc pkg-config postgresql-15 postgresql-client-15 postgresql-server-dev-15
libpq-dev libcurl4-openssl-dev libjansson-dev libmicrohttpd-dev zlib1g-dev
libipc-run-perl python3 python3-pytest python3-pytest-xdist python3-psycopg2 python3-yaml python3-pip unzip
postgresql-15-wal2json curl clang libclang-rt-14-dev valgrind
openjdk-17-jdk-headless maven systemd openssl"

check=""
if [ "${1:-}" = "--check" ]; then
	check=yes
	shift
fi

# one dpkg-query for all of them (every make runs this check)
# shellcheck disable=SC2086
installed=" $(dpkg-query -W -f='${Package}:${db:Status-Status} ' $PACKAGES "$@" 2>/dev/null || true) "
missing=""
for p in $PACKAGES "$@"; do
	case "$installed" in *" $p:installed "*) ok=yes ;; *) ok="" ;; esac
	case " ${REINDEX_DEPS_PRETEND_MISSING:-} " in *" $p "*) ok="" ;; esac
	[ -n "$ok" ] || missing="$missing $p"
done

if [ -z "$missing" ]; then
	exit 0
fi
if [ -n "$check" ]; then
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
