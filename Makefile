# bankstream build. One binary from src/ and include/, compiled with mpicc.
#   make            release build -> ./bankstream
#   make SANITIZER=address   ASan+UBSan build -> build-asan/bankstream
#   make deps       install the Debian packages the project needs (idempotent)
#   make test       unit + integration tests (tests/run)
#   make test-hosts the three-host tests in full (make test runs their quick parts)
#   make demo       the whole pipeline on the embedded defaults (scripts/demo.sh)
#   make bench      benchmarks (tests/bench/run)
#   make format     clang-format the tree; make format-check fails on drift
#   make lint       cppcheck over src/ (suppressions are justified in place)
#   make install    the binary, job files, Slurm scripts, kafka.sh and docs under
#                   $(DESTDIR)$(PREFIX) (default PREFIX=/usr/local); make uninstall
#
# Sources live in folders that say who runs them (src/base, src/engine, ...,
# see the README's tour); each header sits in the same folder under include/
# and is included by that path ("engine/rules.h"). Every object records the
# headers it read (-MMD), so a changed header rebuilds exactly its users.

# `bankstream --version` prints VERSION, then `git describe` of the tree when
# there is one (none in a tarball or a Docker build context: pass
# GIT_DESCRIBE=... to make to record it anyway).
VERSION      := 0.1.0
GIT_DESCRIBE := $(shell git describe --tags --always --dirty 2>/dev/null)

CC       := mpicc
PKGS     := rdkafka libpq hdf5-openmpi libcjson inih uuid libmicrohttpd libcrypto libcurl
WARN     := -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
            -Wmissing-prototypes -Wstrict-prototypes -Wformat=2
OPT      ?= -O2 -g
CPPFLAGS := -D_GNU_SOURCE -Iinclude $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread

ifeq ($(SANITIZER),address)
  BUILD  := build-asan
  OPT    := -O1 -g -fno-omit-frame-pointer
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined
else
  BUILD  := build
  SANFLAGS :=
endif

SRCS     := $(wildcard src/*.c src/*/*.c)
OBJS     := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SRCS))
# The dashboard's page and libraries, embedded (scripts/embed-assets.py): web/src
# and the npm packages `make deps` fetched into web/node_modules. Without them
# the build still succeeds and the page says to run `make deps`.
ASSETS_C   := $(BUILD)/gen/dash_assets.c
ASSETS_OBJ := $(BUILD)/obj/gen/dash_assets.o
LIB      := $(BUILD)/libbankstream.a
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
# MPI, PostgreSQL, Avro and benchmark test drivers, linked against the same objects.
DRIVER_SRCS := $(wildcard tests/mpi/*.c tests/pg/*.c tests/bench/*.c tests/avro/*.c)
DRIVER_BINS := $(patsubst tests/%.c,$(BUILD)/%,$(DRIVER_SRCS))
FORMAT_FILES = $(wildcard src/*.c src/*/*.c include/*.h include/*/*.h tests/unit/*.c \
               tests/unit/*.h tests/mpi/*.c tests/pg/*.c tests/bench/*.c tests/fuzz/*.c \
               tests/avro/*.c tests/bench/libavro/*.c)

ifeq ($(SANITIZER),address)
all: $(BUILD)/bankstream $(UNIT_BINS) $(DRIVER_BINS)
else
all: bankstream $(UNIT_BINS) $(DRIVER_BINS)
endif

bankstream: $(BUILD)/bankstream
	@cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/bankstream: $(BUILD)/obj/main.o $(LIB)
	@echo "LD $@"
	@$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(LIB): $(filter-out $(BUILD)/obj/main.o,$(OBJS)) $(ASSETS_OBJ)
	@echo "AR $@"
	@rm -f $@ && ar rcs $@ $^

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CPPFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CPPFLAGS) -MMD -MP -o $@ $< $(LIB) $(LDLIBS) -lcmocka

$(BUILD)/mpi/%: tests/mpi/%.c $(LIB)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CPPFLAGS) -MMD -MP -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/pg/%: tests/pg/%.c $(LIB)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CPPFLAGS) -MMD -MP -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/avro/%: tests/avro/%.c $(LIB)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CPPFLAGS) -MMD -MP -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/bench/%: tests/bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CPPFLAGS) -MMD -MP -o $@ $< $(LIB) $(LDLIBS)

# The asset list is rewritten only when the set of files present changes (npm
# keeps the packages' own old mtimes, so its install record is a dependency too).
$(BUILD)/gen/assets.list: FORCE
	@mkdir -p $(dir $@)
	@python3 scripts/embed-assets.py --deps . >$@.new
	@cmp -s $@.new $@ 2>/dev/null && rm -f $@.new || mv -f $@.new $@

$(ASSETS_C): scripts/embed-assets.py $(BUILD)/gen/assets.list $(wildcard web/src/*) \
             $(shell cat $(BUILD)/gen/assets.list 2>/dev/null) \
             $(wildcard web/node_modules/.package-lock.json)
	@echo "GEN $@"
	@python3 scripts/embed-assets.py $@ .

$(ASSETS_OBJ): $(ASSETS_C)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CPPFLAGS) -MMD -MP -c -o $@ $<

-include $(OBJS:.o=.d) $(UNIT_BINS:=.d) $(DRIVER_BINS:=.d)

# The version reaches one object only, which is rebuilt when the version
# string changes (the stamp is rewritten only then).
VERSION_DEFS := -DBS_VERSION='"$(VERSION)"' -DBS_GIT_DESCRIBE='"$(GIT_DESCRIBE)"'
$(BUILD)/obj/tools/version.o: CPPFLAGS += $(VERSION_DEFS)
$(BUILD)/obj/tools/version.o: $(BUILD)/version.stamp
$(BUILD)/version.stamp: FORCE
	@mkdir -p $(dir $@)
	@echo '$(VERSION_DEFS)' | cmp -s - $@ 2>/dev/null || echo '$(VERSION_DEFS)' >$@
FORCE:

# make install [PREFIX=/usr/local] [DESTDIR=staging]: the layout HPC sites and
# docker/Dockerfile expect. slurm/launch.sh finds $(PREFIX)/bin/bankstream from
# $(PREFIX)/share/bankstream/slurm, so the installed batch scripts need no
# BANKSTREAM_BIN. DESTDIR only stages the files (packages, Docker).
PREFIX   ?= /usr/local
BINDIR   := $(PREFIX)/bin
DATADIR  := $(PREFIX)/share/bankstream
DOCDIR   := $(PREFIX)/share/doc/bankstream

install: bankstream
	install -D -m 0755 bankstream $(DESTDIR)$(BINDIR)/bankstream
	@set -e; for f in $(wildcard jobs/*.ini) slurm/launch.sh; do \
	    echo "install -D -m 0644 $$f $(DESTDIR)$(DATADIR)/$$f"; \
	    install -D -m 0644 $$f $(DESTDIR)$(DATADIR)/$$f; done
	@set -e; for f in $(wildcard slurm/*.sbatch) scripts/kafka.sh; do \
	    echo "install -D -m 0755 $$f $(DESTDIR)$(DATADIR)/$$f"; \
	    install -D -m 0755 $$f $(DESTDIR)$(DATADIR)/$$f; done
	install -D -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -D -m 0644 docker/README.md $(DESTDIR)$(DOCDIR)/docker/README.md

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/bankstream
	rm -f $(addprefix $(DESTDIR)$(DATADIR)/,$(wildcard jobs/*.ini slurm/launch.sh slurm/*.sbatch) scripts/kafka.sh)
	rm -f $(DESTDIR)$(DOCDIR)/README.md $(DESTDIR)$(DOCDIR)/docker/README.md
	-rmdir $(DESTDIR)$(DATADIR)/jobs $(DESTDIR)$(DATADIR)/slurm $(DESTDIR)$(DATADIR)/scripts \
	    $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)/docker $(DESTDIR)$(DOCDIR) 2>/dev/null

# deps also fetches the dashboard's web libraries from npm (web/package-lock.json),
# once: with web/node_modules in step with the lock, nothing is downloaded.
deps:
	@scripts/install-deps.sh
	@if [ ! -f web/node_modules/.package-lock.json ] || \
	    [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then \
	    echo "npm ci (web/: the dashboard's chart and map libraries)"; \
	    cd web && npm ci --no-audit --no-fund --loglevel=error; fi

# test, demo and bench build in a sub-make, so that `make deps test` works on
# a machine where pkg-config could not see the libraries when make started.
test:
	$(MAKE) all
	tests/run

asan:
	$(MAKE) SANITIZER=address

# Under ASan/UBSan: every unit test and every integration test but those
# whose time goes to other programs (a real Kafka broker's faults, Slurm's
# scheduling, the Docker entrypoints, the install tree, kafka.sh): they run
# in `make test`; here they would add about 10 minutes to CI for little C.
ASAN_SKIP := 12-kafka-sh 90-slurm 94-install 95-docker 96-kafka 99-hosts-slurm
ASAN_TESTS := test_ $(filter-out $(ASAN_SKIP),$(basename $(notdir $(wildcard tests/integration/*.sh))))
test-asan:
	$(MAKE) SANITIZER=address
	ASAN_OPTIONS=detect_leaks=0 BANKSTREAM_BIN=$(CURDIR)/build-asan/bankstream UNIT_DIR=$(CURDIR)/build-asan/tests tests/run $(ASAN_TESTS)

# The tests whose behaviour depends on the broker, again against a real
# Apache Kafka broker (scripts/kafka.sh) instead of the embedded mock
# (98-hosts: kafka.sh start --listen, the broker other hosts reach).
KAFKA_TESTS := 50-run 60-determinism 70-restart 75-run-snapshot 85-archive 88-replay 90-slurm \
               98-hosts
test-kafka:
	$(MAKE) all
	BS_TEST_BROKER=kafka tests/run $(KAFKA_TESTS)

# The three-host tests (98-hosts, 99-hosts-slurm) in full, on the embedded
# broker and on Apache Kafka (about 4 minutes). Every other target runs
# their quick parts (about 1.5 minutes together): see each test's header.
test-hosts:
	$(MAKE) all
	BS_TEST_HOSTS_FULL=1 tests/run 98-hosts 99-hosts-slurm
	BS_TEST_HOSTS_FULL=1 BS_TEST_BROKER=kafka tests/run 98-hosts

# What CI runs (the README's test command is `make deps check`).
check:
	$(MAKE) format-check
	$(MAKE) lint
	$(MAKE) test
	$(MAKE) test-kafka
	$(MAKE) test-asan

demo:
	$(MAKE) all
	scripts/demo.sh

bench:
	$(MAKE) all
	tests/bench/run

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

# cppcheck: every finding fails the build; a suppression names its reason
# where it is made (// cppcheck-suppress id  -- why).
lint:
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,performance,portability \
	    --inline-suppr --suppress=missingIncludeSystem -D_GNU_SOURCE -Iinclude src

clean:
	rm -rf build build-asan bankstream

.PHONY: all deps check test test-kafka test-hosts asan test-asan demo bench format format-check lint clean \
        install uninstall FORCE
