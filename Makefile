# Makefile: builds, installs and tests everything in this repository.
#   reindex.so   the SQL function library and the logical decoding output
#                plugin `reindex` (src/extension, src/plugin; PGXS below)
#   src/streamer     reindex_streamer, the change streamer (own PGXS Makefile)
#   contrib/devsearch    the Elasticsearch-compatible development server
# The version lives in reindex.control only.  `make test`, `make demo` and
# `make bench` install missing Debian packages first (contrib/install-deps.sh).

PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
DEPS_OK := $(shell ./contrib/install-deps.sh --check >/dev/null 2>&1 && echo yes)
SUBDIRS := $(patsubst %/Makefile,%,$(wildcard src/streamer/Makefile contrib/devsearch/Makefile))

ifneq ($(DEPS_OK),yes)

# A fresh machine: install the Debian packages, then do what was asked.  Every
# target is phony: test/ is a folder, and a target named like a file or folder
# would otherwise be "up to date" and do nothing.  install-deps.sh exits 0
# only with everything installed, so the second make does not check again
# (and `make -n` cannot loop).  test/make/test_make_fresh.py checks all this.
FRESH_TARGETS := all install installcheck test demo bench clean tmp-install check-fresh
$(FRESH_TARGETS):
	./contrib/install-deps.sh
	$(MAKE) $@ DEPS_OK=yes

.PHONY: $(FRESH_TARGETS)

else

EXTENSION = reindex
EXTVERSION := $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" reindex.control)

MODULE_big = reindex
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/extension/*.c src/plugin/*.c src/common/*.c)))
# the install script is assembled from the numbered parts in src/sql/
SQL_PARTS = $(sort $(wildcard src/sql/[0-9][0-9]_*.sql))
DATA_built = src/sql/reindex--$(EXTVERSION).sql
# released install scripts are frozen (src/sql/reindex--0.1.sql), upgrade
# scripts lead from each release to the next
DATA = $(filter-out $(DATA_built),$(wildcard src/sql/reindex--*.sql))

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --dbname=reindex_regress

PG_CPPFLAGS = -I$(srcdir)/src/common -DREINDEX_VERSION=\"$(EXTVERSION)\"
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers
SHLIB_LINK = -lcurl

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild every object when a header changes
$(OBJS): $(wildcard src/extension/*.h src/plugin/*.h src/common/*.h)

$(DATA_built): $(SQL_PARTS) reindex.control
	{ echo "-- reindex $(EXTVERSION): generated from src/sql/[0-9][0-9]_*.sql; edit those"; \
	  printf '%s\n' '\echo Use "CREATE EXTENSION reindex" to load this file. \quit'; \
	  for f in $(SQL_PARTS); do echo; echo "-- $$f"; cat $$f; done; } > $@

all: all-subdirs
install: install-subdirs
clean: clean-subdirs

all-subdirs:
	@for d in $(SUBDIRS); do $(MAKE) -C $$d PG_CONFIG=$(PG_CONFIG) all || exit 1; done
install-subdirs:
	@for d in $(SUBDIRS); do $(MAKE) -C $$d PG_CONFIG=$(PG_CONFIG) install || exit 1; done
clean-subdirs:
	@for d in $(SUBDIRS); do $(MAKE) -C $$d clean || exit 1; done
	rm -rf results regression.diffs regression.out

# Tests, demo and benchmarks use a private installation in tmp_install/
# (test/tmp-install.sh: the server's programs copied, the rest linked, this
# build installed over it with DESTDIR), never the system's tree: nothing
# needs root, and checkouts side by side do not overwrite each other.
TMP_INSTALL := $(CURDIR)/tmp_install
TMP_BINDIR := $(TMP_INSTALL)$(shell $(PG_CONFIG) --bindir)
TMP_ENV = PGBIN=$(TMP_BINDIR) PG_CONFIG=$(TMP_BINDIR)/pg_config

tmp-install: all
	./test/tmp-install.sh $(PG_CONFIG) $(TMP_INSTALL)
	$(MAKE) -s install DESTDIR=$(TMP_INSTALL) >/dev/null

# The whole test suite on a throwaway cluster and development server.
test: tmp-install
	$(TMP_ENV) ./test/run-all.sh

demo: tmp-install
	$(TMP_ENV) ./contrib/demo/demo.sh

bench: tmp-install
	$(TMP_ENV) ./test/bench/run.sh

clean: clean-tmp-install
clean-tmp-install:
	rm -rf $(TMP_INSTALL)

# make test and make demo as the first commands on a new Debian 12 root
# (debootstrap; needs root, about half an hour; not part of make test)
check-fresh: all
	./test/check-fresh.sh

.PHONY: all install installcheck clean test demo bench tmp-install clean-tmp-install \
	check-fresh all-subdirs install-subdirs clean-subdirs

endif
