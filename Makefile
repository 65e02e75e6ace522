# bankstream build. One binary from src/ and include/, compiled with mpicc.
#   make            release build -> ./bankstream
#   make SANITIZER=address   ASan+UBSan build -> ./bankstream (build-asan/)
#   make deps       install the Debian packages the project needs (idempotent)
#   make test       unit + integration tests (tests/run)
#   make demo       the whole pipeline on the embedded defaults (scripts/demo.sh)
#   make bench      benchmarks (tests/bench/run)
#   make format     clang-format the tree; make format-check fails on drift

CC       := mpicc
PKGS     := rdkafka libpq hdf5-openmpi libcjson inih uuid libmicrohttpd
WARN     := -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
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

SRCS := $(wildcard src/*.c)
OBJS := $(patsubst src/%.c,$(BUILD)/%.o,$(SRCS))
LIBOBJS := $(filter-out $(BUILD)/main.o,$(OBJS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

ifeq ($(SANITIZER),address)
all: $(BUILD)/bankstream $(UNIT_BINS)
else
all: bankstream $(UNIT_BINS)
endif

bankstream: $(BUILD)/bankstream
	cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/bankstream: $(OBJS)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: src/%.c $(wildcard include/*.h) | $(BUILD)
	$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CPPFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c tests/unit/testutil.h $(LIBOBJS) | $(BUILD)
	@mkdir -p $(BUILD)/tests
	$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CPPFLAGS) -o $@ $< $(LIBOBJS) $(LDLIBS) -lcmocka

$(BUILD):
	mkdir -p $(BUILD)

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
	$(MAKE) test
	$(MAKE) test-asan

demo:
	$(MAKE) all
	scripts/demo.sh

bench:
	$(MAKE) all
	tests/bench/run

format:
	clang-format -i src/*.c include/*.h tests/unit/*.c tests/unit/*.h

format-check:
	clang-format --dry-run --Werror src/*.c include/*.h tests/unit/*.c tests/unit/*.h

clean:
	rm -rf build build-asan bankstream

.PHONY: all deps check test asan test-asan demo bench format format-check clean
