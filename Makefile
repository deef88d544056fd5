# Makefile: builds, installs and tests everything in this repository.
#   reindex.so   the SQL function library and the logical decoding output
#                plugin `reindex` (src/extension, src/plugin; PGXS below)
#   src/streamer     reindex_streamer, the change streamer (own PGXS Makefile)
#   contrib/devsearch    the Elasticsearch-compatible development server
# The version lives in reindex.control only.  `make test`, `make demo` and
# `make bench` install missing Debian packages first (contrib/install-deps.sh).

PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
DEPS_OK := $(shell ./contrib/install-deps.sh --check >/dev/null 2>&1 && echo yes)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
SUBDIRS := $(patsubst %/Makefile,%,$(wildcard src/streamer/Makefile contrib/devsearch/Makefile))

ifneq ($(DEPS_OK),yes)

# A fresh machine: install the Debian packages, then do what was asked.  Every
# target is phony: test/ is a folder, and a target named like a file or folder
# would otherwise be "up to date" and do nothing.
FRESH_TARGETS := all install installcheck test demo bench clean
$(FRESH_TARGETS):
	./contrib/install-deps.sh
	$(MAKE) $@

.PHONY: $(FRESH_TARGETS)

else

EXTENSION = reindex
EXTVERSION := $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" reindex.control)

MODULE_big = reindex
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/extension/*.c src/plugin/*.c src/common/*.c)))
# the install script is assembled from the numbered parts in src/sql/
SQL_PARTS = $(sort $(wildcard src/sql/[0-9][0-9]_*.sql))
DATA_built = src/sql/reindex--$(EXTVERSION).sql
DATA = $(wildcard src/sql/reindex--*--*.sql)

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

# The whole test suite on a throwaway cluster and development server.
test: all
	$(SUDO) $(MAKE) install
	./test/run-all.sh

demo: all
	$(SUDO) $(MAKE) install
	./contrib/demo/demo.sh

bench: all
	$(SUDO) $(MAKE) install
	./test/bench/run.sh

.PHONY: all install installcheck clean test demo bench all-subdirs install-subdirs clean-subdirs

endif
