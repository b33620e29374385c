# ToggleMaster — build, run and test.
#
#   make            build build/togglemaster
#   make run        install missing packages, build, migrate, serve on :5000
#   make test       install missing packages, run the whole suite
#   make clean
#
# Variants share the sources and differ in compiler and flags; each builds
# into its own directory: build/ (gcc, release), build/clang (clang, to keep
# both compilers warning-free), build/asan (ASan + UBSan for the API suite).

VERSION    := 0.1.0
GIT_REV    := $(shell git rev-parse --short HEAD 2>/dev/null)
TM_VERSION := $(VERSION)$(if $(GIT_REV),+g$(GIT_REV))

CC         = gcc
BUILD      ?= build
PKGS       := libmicrohttpd jansson sqlite3 libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
OPT        ?= -O2
CFLAGS     := -std=c17 $(OPT) -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
              -D_GNU_SOURCE -pthread -MMD -MP $(PKG_CFLAGS) $(EXTRA_CFLAGS) \
              -DTM_VERSION='"$(TM_VERSION)"'
LDFLAGS    := -pthread $(EXTRA_LDFLAGS)
LDLIBS     := $(PKG_LIBS)

SRC        := $(wildcard src/*.c src/api/*.c src/store/*.c)
OBJ        := $(SRC:%.c=$(BUILD)/obj/%.o)
LIB_OBJ    := $(filter-out $(BUILD)/obj/src/main.o,$(OBJ))
UNIT_SRC   := $(wildcard tests/unit/*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
# The parsers the fuzz targets exercise are pure modules: link them directly.
FUZZ_DEPS  := src/flag.c src/router.c src/config.c

.PHONY: all run test unit fuzz deps clean image-test deb deb-test FORCE
all: $(BUILD)/togglemaster

$(BUILD)/togglemaster: $(OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# main.c prints the version: rebuild it when the git revision moves.
$(BUILD)/obj/src/main.o: $(BUILD)/version.txt
$(BUILD)/version.txt: FORCE
	@mkdir -p $(BUILD)
	@echo '$(TM_VERSION)' | cmp -s - $@ || echo '$(TM_VERSION)' > $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/unit/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -o $@ $(filter %.c %.o,$^) $(LDFLAGS) $(LDLIBS)

unit: $(UNIT_BIN)

# libFuzzer targets for every parser (request bodies, paths, numbers), with
# ASan+UBSan; `make test` runs each briefly, `make fuzz FUZZ_SECONDS=600`
# longer.
build/fuzz/%: tests/fuzz/%.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	clang -std=c17 -O1 -g -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $^ $(PKG_LIBS)

fuzz: $(FUZZ_BIN)
	@tests/fuzz/run.sh

deps:
	@scripts/install-deps.sh vpc

run: deps
	@$(MAKE) --no-print-directory all
	@mkdir -p data
	$(BUILD)/togglemaster migrate
	$(BUILD)/togglemaster serve

# The suite: unit tests, API tests on SQLite and PostgreSQL, the API suite
# again under ASan+UBSan, a clang -Werror build, the OpenAPI lint and the
# smoke script. tests/run-all.sh prints the closing "N passed, N failed".
test: deps
	@$(MAKE) --no-print-directory all unit
	@$(MAKE) --no-print-directory BUILD=build/asan CC=clang OPT=-O1 \
	    EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    EXTRA_LDFLAGS="-fsanitize=address,undefined" build/asan/togglemaster build/asan/unit/test_snapshot
	@$(MAKE) --no-print-directory BUILD=build/tsan CC=clang OPT=-O1 \
	    EXTRA_CFLAGS="-fsanitize=thread" EXTRA_LDFLAGS="-fsanitize=thread" build/tsan/unit/test_snapshot
	@$(MAKE) --no-print-directory BUILD=build/clang CC=clang build/clang/togglemaster
	@$(MAKE) --no-print-directory $(FUZZ_BIN)
	@tests/run-all.sh

# Builds the real Dockerfile with buildah on local debootstrap stand-ins for
# the debian base images, then runs the image's entrypoint (chroot, as the
# image's user) against a throwaway PostgreSQL and passes the smoke test.
image-test: all
	@scripts/install-deps.sh image
	@tests/image/run.sh

# Debian package (binary with Debian's hardening flags, systemd unit,
# conffile, man page), then its checks: systemd-analyze verify, lintian,
# install + run + smoke test in a debootstrapped chroot.
deb:
	@scripts/install-deps.sh deb
	@packaging/deb/build.sh

deb-test: deb
	@tests/deb/run.sh

clean:
	rm -rf build

-include $(OBJ:.o=.d) $(UNIT_BIN:=.d)

# Benchmark against ceilings measured in the same run (nginx for reads,
# pgbench for writes): prints a table, writes bench/results/latest.json and
# latest.png. Starts and stops its own PostgreSQL, nginx and service on free
# loopback ports; about 4-5 minutes. Never part of `make test` / CI.
.PHONY: bench
bench:
	@scripts/install-deps.sh bench
	@$(MAKE) --no-print-directory all
	@python3 bench/run.py $(BENCH_ARGS)
	@$(MAKE) --no-print-directory build/bench/snapshot_bench
	@build/bench/snapshot_bench

build/bench/snapshot_bench: bench/snapshot_bench.c src/snapshot.c src/flag.c
	@mkdir -p $(dir $@)
	$(CC) -std=c17 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -pthread -Isrc $(PKG_CFLAGS) -o $@ $^ $(PKG_LIBS)
