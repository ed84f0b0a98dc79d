# steppergo: PGXS build of the StepperGO marketplace extension.
#
#   make                      build the shared library and the SQL scripts
#   make install              install into the PostgreSQL that pg_config names
#   make test-regress         pg_regress suites (sql/, expected/)
#   make test-isolation       isolation specs (test/specs, test/expected)
#   make test-tap             TAP tests (test/t)
#   make bench                pgbench scenarios against bare-SQL baselines (test/bench)
#
# The test targets run against a PostgreSQL install tree named by TEST_INSTALL
# (a relocated copy of the system's PostgreSQL plus this extension, built by
# test/run); without it they use the system's install.  See README.md.

EXTENSION   = steppergo
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" steppergo.control)

MODULE_big  = steppergo
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c src/*/*.c)))
PG_CPPFLAGS = -I$(srcdir)/src
SHLIB_LINK  = -lsodium -lcrypt

# ---------------------------------------------------------------------------
# SQL: the install script is assembled from per-domain sources, in this order.
# A domain keeps its tables in src/<domain>/schema.sql (release 0.1) and its
# functions in src/<domain>/<domain>.sql (release 0.2), next to its C.
# Released full scripts are frozen under src/releases/ and never edited: every
# later change ships as an update script, built from the sources of that
# release alone (see the upgrade TAP test, test/t/002_upgrade.pl).
# ---------------------------------------------------------------------------
DOMAINS = core identity drivers dispatch trips payouts messaging activities admin security

SQL_HEADER = src/core/header.sql
SQL_0.1    = $(foreach d,$(DOMAINS),$(wildcard src/$(d)/schema.sql))
SQL_0.2    = $(foreach d,$(DOMAINS),$(wildcard src/$(d)/$(d).sql))
# From 0.3 on, a release's changes are per-domain update sources
# src/<domain>/update-<version>.sql; its full script is the previous frozen
# full script followed by them, so a fresh install and an update run the
# very same statements.
SQL_0.3    = $(foreach d,$(DOMAINS),$(wildcard src/$(d)/update-0.3.sql))

ifeq ($(EXTVERSION),0.3)
SQL_UPDATES = $(EXTENSION)--0.2--0.3.sql
else
$(error no SQL recipe for version $(EXTVERSION))
endif

# Released scripts (full and update) are frozen in src/releases/.
RELEASED    = $(wildcard src/releases/$(EXTENSION)--*.sql)

# the current version's scripts are built (and checked against their frozen
# copies when frozen), the older ones installed as frozen
DATA        = $(filter-out src/releases/$(EXTENSION)--$(EXTVERSION).sql $(addprefix src/releases/,$(SQL_UPDATES)),$(RELEASED))
DATA_built  = $(EXTENSION)--$(EXTVERSION).sql $(SQL_UPDATES)
EXTRA_CLEAN = $(EXTENSION)--*.sql

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# A released version's scripts are frozen in src/releases/: building them
# from sources that no longer give the same text fails (the change belongs
# in the next version's update sources).
define check_frozen
	@if [ -f src/releases/$@ ] && ! cmp -s $@ src/releases/$@; then \
	  echo "$@ differs from the frozen src/releases/$@: release $(EXTVERSION) has shipped;" \
	       "put the change in the next version's update sources" >&2; \
	  rm -f $@; exit 1; fi
endef

$(EXTENSION)--0.3.sql: src/releases/$(EXTENSION)--0.2.sql $(SQL_0.3) steppergo.control
	cat src/releases/$(EXTENSION)--0.2.sql $(SQL_0.3) > $@
	$(check_frozen)

$(EXTENSION)--0.2--0.3.sql: $(SQL_HEADER) $(SQL_0.3)
	cat $(SQL_HEADER) $(SQL_0.3) > $@
	$(check_frozen)

# How the frozen releases were built (kept for the record; their sources,
# src/*/schema.sql and src/*/<domain>.sql, must not change):
#   0.1        = header + SQL_0.1
#   0.2        = header + SQL_0.1 + SQL_0.2
#   0.1--0.2   = header + SQL_0.2

# Freeze a release: copy its built script into src/releases/ (done once,
# when the version ships; from then on its sources must not change, and every
# later change ships as an update script).
freeze-%: $(EXTENSION)--%.sql $(SQL_UPDATES)
	mkdir -p src/releases && cp $(EXTENSION)--$*.sql src/releases/
	for f in $(EXTENSION)--*--$*.sql; do [ ! -f "$$f" ] || cp "$$f" src/releases/; done

# ---------------------------------------------------------------------------
# Tests.  TEST_INSTALL is the root of a relocated install tree (test/run
# builds one); TEST_BINDIR is where initdb, postgres and psql are taken from.
# ---------------------------------------------------------------------------
TEST_INSTALL ?=
TEST_BINDIR   = $(TEST_INSTALL)$(bindir)
TEST_CONF     = $(srcdir)/test/postgresql.conf
PGXS_BIN      = $(dir $(PGXS))../../src/test
REGRESS_TESTS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
ISO_TESTS     = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
TEST_EXTS     = --load-extension=postgis --load-extension=pg_cron --load-extension=steppergo

.PHONY: test-regress test-isolation test-tap bench

test-regress:
	mkdir -p tmp_check
	$(PGXS_BIN)/regress/pg_regress --inputdir=$(srcdir) --bindir='$(TEST_BINDIR)' \
	  --temp-instance=tmp_check/regress --temp-config=$(TEST_CONF) \
	  --dbname=contrib_regression $(TEST_EXTS) $(REGRESS_TESTS)

test-isolation:
	mkdir -p tmp_check
	$(PGXS_BIN)/isolation/pg_isolation_regress --inputdir=$(srcdir)/test \
	  --outputdir=test --bindir='$(TEST_BINDIR)' \
	  --temp-instance=tmp_check/isolation --temp-config=$(TEST_CONF) \
	  --dbname=contrib_regression $(TEST_EXTS) $(ISO_TESTS)

test-tap:
	rm -rf '$(CURDIR)'/tmp_check/tap && mkdir -p '$(CURDIR)'/tmp_check/tap && \
	TESTDIR='$(CURDIR)' PATH="$(TEST_BINDIR):$$PATH" PGPORT='65432' \
	  PG_REGRESS='$(PGXS_BIN)/regress/pg_regress' TEST_CONF='$(TEST_CONF)' \
	  $(PROVE) -I $(PGXS_BIN)/perl -I $(srcdir)/test/t $(PROVE_FLAGS) \
	  $(if $(PROVE_TESTS),$(PROVE_TESTS),test/t/*.pl)

bench:
	TEST_BINDIR='$(TEST_BINDIR)' bash $(srcdir)/test/bench/run $(BENCH_ARGS)
