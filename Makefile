# bankstream build. One binary from src/ and include/, compiled with mpicc.
#   make            release build -> ./bankstream
#   make SANITIZER=address   ASan+UBSan build -> build-asan/bankstream
#   make deps       install the Debian packages the project needs (idempotent)
#   make test       unit + integration tests (tests/run)
#   make demo       the whole pipeline on the embedded defaults (scripts/demo.sh)
#   make bench      benchmarks (tests/bench/run)
#   make format     clang-format the tree; make format-check fails on drift
#   make lint       cppcheck over src/ (suppressions are justified in place)
#
# Sources live in folders that say who runs them (src/base, src/engine, ...,
# see the README's tour); each header sits in the same folder under include/
# and is included by that path ("engine/rules.h"). Every object records the
# headers it read (-MMD), so a changed header rebuilds exactly its users.

CC       := mpicc
PKGS     := rdkafka libpq hdf5-openmpi libcjson inih uuid libmicrohttpd libcrypto
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
LIB      := $(BUILD)/libbankstream.a
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
# MPI, PostgreSQL and benchmark test drivers, linked against the same objects.
DRIVER_SRCS := $(wildcard tests/mpi/*.c tests/pg/*.c tests/bench/*.c)
DRIVER_BINS := $(patsubst tests/%.c,$(BUILD)/%,$(DRIVER_SRCS))
FORMAT_FILES = $(wildcard src/*.c src/*/*.c include/*.h include/*/*.h tests/unit/*.c \
               tests/unit/*.h tests/mpi/*.c tests/pg/*.c tests/bench/*.c tests/fuzz/*.c)

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

$(LIB): $(filter-out $(BUILD)/obj/main.o,$(OBJS))
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

$(BUILD)/bench/%: tests/bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CPPFLAGS) -MMD -MP -o $@ $< $(LIB) $(LDLIBS)

-include $(OBJS:.o=.d) $(UNIT_BINS:=.d) $(DRIVER_BINS:=.d)

deps:
	@scripts/install-deps.sh

# test, demo and bench build in a sub-make, so that `make deps test` works on
# a machine where pkg-config could not see the libraries when make started.
test:
	$(MAKE) all
	tests/run

asan:
	$(MAKE) SANITIZER=address

test-asan:
	$(MAKE) SANITIZER=address
	ASAN_OPTIONS=detect_leaks=0 BANKSTREAM_BIN=$(CURDIR)/build-asan/bankstream UNIT_DIR=$(CURDIR)/build-asan/tests tests/run

# What CI runs (the README's test command is `make deps check`).
check:
	$(MAKE) format-check
	$(MAKE) lint
	$(MAKE) test
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

.PHONY: all deps check test asan test-asan demo bench format format-check lint clean
