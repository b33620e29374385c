# ToggleMaster — build, run and test.
#
#   make            build build/togglemaster
#   make run        install missing packages, build, migrate, serve on :5000
#   make test       install missing packages, run the whole suite
#   make bench      benchmarks against ceilings measured in the same run
#   make release    one release of this commit in dist/ (.deb, image, release.json)
#   make clean
#
# Variants share the sources and differ in compiler and flags; each builds
# into its own directory: build/ (gcc, release), build/clang (clang, to keep
# both compilers warning-free), build/asan (ASan + UBSan), build/tsan.

# What the binary reports (src/version.h): VERSION, the release number, and
# GIT_REV, the commit (the Dockerfile passes both in: its context has no
# .git). The release's artifacts are named RELEASE_VERSION, the two joined
# the way Debian versions allow: 0.2.0+gf3e6970.
VERSION    := 0.2.0
GIT_REV    := $(shell git rev-parse --short HEAD 2>/dev/null)
RELEASE_VERSION := $(VERSION)$(if $(GIT_REV),+g$(GIT_REV))

CC         = gcc
BUILD      ?= build
PKGS       := jansson sqlite3 libpq openssl libmurmurhash
# llhttp, Node.js's HTTP parser: compiled from the C sources Debian's
# node-llhttp package ships (never copied into this repository).
LLHTTP_SRC := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -I$(LLHTTP_INC)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
OPT        ?= -O2
WARNINGS   := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
CFLAGS     := -std=c17 $(OPT) -g $(WARNINGS) -D_GNU_SOURCE -pthread -MMD -MP $(PKG_CFLAGS) $(EXTRA_CFLAGS) \
              -DTM_VERSION='"$(VERSION)"' -DTM_GIT_REVISION='"$(or $(GIT_REV),unknown)"'
LDFLAGS    := -pthread $(EXTRA_LDFLAGS)
LDLIBS     := $(PKG_LIBS) -lm

SRC        := $(wildcard src/*.c src/api/*.c src/store/*.c src/http/*.c src/eval/*.c)
# The web console (console/) is embedded: a generated source with its bytes.
CONSOLE_GEN := $(BUILD)/gen/console_assets.c
OBJ        := $(SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/console_assets.o
LLHTTP_OBJ := $(BUILD)/obj/llhttp/llhttp.o $(BUILD)/obj/llhttp/api.o $(BUILD)/obj/llhttp/http.o

.PHONY: all run test unit fuzz deps clean image-test deb deb-test release release-test release-version bench FORCE
all: $(BUILD)/togglemaster

$(BUILD)/togglemaster: $(OBJ) $(LLHTTP_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Every source that includes version.h (main.c prints the version,
# api/ops.c reports it in /metrics) is rebuilt when the version or the git
# revision moves.
$(BUILD)/version.txt: FORCE
	@mkdir -p $(BUILD)
	@echo '$(RELEASE_VERSION)' | cmp -s - $@ || echo '$(RELEASE_VERSION)' > $@
$(patsubst %.c,$(BUILD)/obj/%.o,$(shell grep -lE '"(\.\./)*version\.h"' $(SRC))): $(BUILD)/version.txt

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(CONSOLE_GEN): scripts/embed-console.sh $(wildcard console/*)
	@mkdir -p $(dir $@)
	sh scripts/embed-console.sh console $@

$(BUILD)/obj/gen/console_assets.o: $(CONSOLE_GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -c -o $@ $<

# llhttp's generated code is not held to our warning flags.
$(BUILD)/obj/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c17 $(OPT) -g -w -I$(LLHTTP_INC) $(EXTRA_CFLAGS) -c -o $@ $<

# Unit tests. Each links only the objects of the modules it tests and what
# they need, so a module that starts to depend on another fails to link its
# test: the build checks the layering. fake_store.c is an in-memory store
# backend for the tests of the write path and the sync thread.
# (The link line names its inputs itself: the .d files add every header and
# #included source to the prerequisites.)
define unit_test
$(BUILD)/unit/$(1): tests/unit/$(1).c $(patsubst %,$(BUILD)/obj/src/%.o,$(2)) $(3)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) -Isrc -Itests/unit -o $$@ tests/unit/$(1).c $(patsubst %,$(BUILD)/obj/src/%.o,$(2)) $(3) \
	    $$(LDFLAGS) $$(LDLIBS)
UNIT_NAMES += $(1)
endef
STORE_CORE := store/store store/migrations
EVAL       := eval/value eval/logic eval/flagd
FLAG       := flag flagset text usage perthread $(EVAL)
$(eval $(call unit_test,test_config,config))
$(eval $(call unit_test,test_text,text))
$(eval $(call unit_test,test_flag,$(FLAG) flagdoc))
$(eval $(call unit_test,test_log,log))
$(eval $(call unit_test,test_router,router text))
$(eval $(call unit_test,test_loop,http/loop))
$(eval $(call unit_test,test_logic,$(EVAL)))
$(eval $(call unit_test,test_snapshot,$(FLAG) auth))
$(eval $(call unit_test,test_auth,auth guard text))
$(eval $(call unit_test,test_usage,metrics buf $(FLAG)))
$(eval $(call unit_test,test_events,events))
$(eval $(call unit_test,test_catalog,catalog events snapshot $(FLAG) auth guard app log metrics buf $(STORE_CORE),tests/unit/fake_store.c))
$(eval $(call unit_test,test_sync,sync catalog events snapshot $(FLAG) auth guard app log metrics buf $(STORE_CORE),tests/unit/fake_store.c))
UNIT_BIN   := $(UNIT_NAMES:%=$(BUILD)/unit/%)

unit: $(UNIT_BIN)

# libFuzzer targets with ASan+UBSan: configuration, request bodies, paths
# and routing, JsonLogic rules and contexts, and the whole request path (bytes -> llhttp -> router ->
# handler). `make test` runs each briefly, `make fuzz FUZZ_SECONDS=600`
# longer.
FUZZ_CFLAGS := -std=c17 -O1 -g -D_GNU_SOURCE -pthread -Isrc -Itests/unit $(PKG_CFLAGS) \
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_BIN   := build/fuzz/fuzz_config build/fuzz/fuzz_request build/fuzz/fuzz_path build/fuzz/fuzz_http \
              build/fuzz/fuzz_logic build/fuzz/fuzz_auth
FUZZ_HTTP_SRC := $(filter-out src/main.c src/keycmd.c src/store/open.c src/store/sqlite.c src/store/postgres.c,$(SRC)) \
               tests/unit/fake_store.c build/gen/console_assets.c $(LLHTTP_SRC)/llhttp.c $(LLHTTP_SRC)/api.c $(LLHTTP_SRC)/http.c
build/fuzz/fuzz_config: tests/fuzz/fuzz_config.c src/config.c
build/fuzz/fuzz_request: tests/fuzz/fuzz_request.c src/flagdoc.c src/flag.c src/flagset.c src/text.c \
                         src/eval/value.c src/eval/logic.c src/eval/flagd.c
build/fuzz/fuzz_path: tests/fuzz/fuzz_path.c src/router.c src/text.c src/flag.c src/flagset.c src/config.c \
                      src/eval/value.c src/eval/logic.c src/eval/flagd.c
build/fuzz/fuzz_http: tests/fuzz/fuzz_http.c $(FUZZ_HTTP_SRC)
build/fuzz/fuzz_logic: tests/fuzz/fuzz_logic.c src/eval/value.c src/eval/logic.c src/eval/flagd.c
build/fuzz/fuzz_auth: tests/fuzz/fuzz_auth.c src/auth.c src/guard.c src/text.c
build/fuzz/%:
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) $(PKG_LIBS) -lm

fuzz: $(FUZZ_BIN)
	@tests/fuzz/run.sh

deps:
	@scripts/install-deps.sh vpc

run: deps
	@$(MAKE) --no-print-directory all
	@mkdir -p data
	$(BUILD)/togglemaster migrate
	$(BUILD)/togglemaster serve

SAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# The suite: unit tests (also under ASan+UBSan and TSan where threads
# meet), the API and protocol suites on SQLite and PostgreSQL, the API suite
# again under ASan+UBSan, a clang -Werror build, fuzzing, and the checks of
# the shipped artefacts. tests/run-all.sh prints the closing
# "N passed, N failed".
test: deps
	@$(MAKE) --no-print-directory all unit
	@$(MAKE) --no-print-directory BUILD=build/asan CC=clang OPT=-O1 EXTRA_CFLAGS="$(SAN_FLAGS)" \
	    EXTRA_LDFLAGS="-fsanitize=address,undefined" build/asan/togglemaster \
	    build/asan/unit/test_snapshot build/asan/unit/test_catalog build/asan/unit/test_sync \
	    build/asan/unit/test_log build/asan/unit/test_config build/asan/unit/test_loop build/asan/unit/test_logic \
	    build/asan/unit/test_auth build/asan/unit/test_usage build/asan/unit/test_events
	@$(MAKE) --no-print-directory BUILD=build/tsan CC=clang OPT=-O1 \
	    EXTRA_CFLAGS="-fsanitize=thread" EXTRA_LDFLAGS="-fsanitize=thread" \
	    build/tsan/unit/test_snapshot build/tsan/unit/test_catalog build/tsan/unit/test_sync build/tsan/unit/test_log \
	    build/tsan/unit/test_loop build/tsan/unit/test_usage build/tsan/unit/test_events
	@$(MAKE) --no-print-directory BUILD=build/clang CC=clang build/clang/togglemaster
	@$(MAKE) --no-print-directory $(FUZZ_BIN)
	@tests/run-all.sh

# Builds the real Dockerfile with buildah on local debootstrap stand-ins for
# the debian base images, then runs the image's entrypoint (chroot, as the
# image's user) against a throwaway PostgreSQL and passes the smoke test.
# TM_IMAGE_ARCHIVE=dist/togglemaster-<release>.docker.tar tests that image
# (the released one) instead of building one.
image-test: all
	@scripts/install-deps.sh image
	@tests/image/run.sh

# Debian package (binary with Debian's hardening flags, systemd unit,
# conffile, man page), then its checks: systemd-analyze verify, lintian,
# install + run + smoke test in a debootstrapped chroot.
deb:
	@scripts/install-deps.sh deb
	@packaging/deb/build.sh

# TM_DEB=dist/togglemaster_<release>_amd64.deb tests that package (the
# released one) instead of building build/deb's.
deb-test: $(if $(TM_DEB),,deb)
	@scripts/install-deps.sh deb
	@tests/deb/run.sh

# The version a release of this checkout is named by (packaging/deb/build.sh,
# scripts/release.sh).
release-version:
	@echo '$(RELEASE_VERSION)'

# Build -> release -> run. `make release` builds this commit once into
# dist/: the .deb, the container image as a docker-archive, and
# dist/release.json (version, git revision, build time, sha256 of each);
# it refuses uncommitted changes. `make release-test` then checks that the
# artifacts are that one release: each one's binary reports the build
# tree's version and `git rev-parse --short HEAD`, the sums match.
release:
	@scripts/install-deps.sh deb image
	@scripts/release.sh

release-test: release
	@tests/release/run.sh

clean:
	rm -rf build dist

-include $(OBJ:.o=.d) $(UNIT_BIN:=.d)

# Benchmark against ceilings measured in the same run (nginx for reads over
# HTTP and HTTPS, pgbench for writes): prints a table, writes
# bench/results/latest.json and latest.png. Starts and stops its own
# PostgreSQL, nginx and service on free loopback ports. Never part of
# `make test` / CI.
bench:
	@scripts/install-deps.sh bench
	@$(MAKE) --no-print-directory all build/bench/snapshot_bench build/bench/eval_bench
	@python3 bench/run.py $(BENCH_ARGS)
	@build/bench/snapshot_bench

build/bench/eval_bench: bench/eval_bench.c src/flag.c src/flagset.c src/text.c src/eval/value.c src/eval/logic.c \
                        src/eval/flagd.c
	@mkdir -p $(dir $@)
	$(CC) -std=c17 -O2 -g $(WARNINGS) -D_GNU_SOURCE -pthread -Isrc $(PKG_CFLAGS) -o $@ $^ $(PKG_LIBS) -lm

build/bench/snapshot_bench: bench/snapshot_bench.c src/snapshot.c src/auth.c src/flag.c src/flagset.c src/text.c \
                            src/usage.c src/perthread.c \
                            src/eval/value.c src/eval/logic.c src/eval/flagd.c
	@mkdir -p $(dir $@)
	$(CC) -std=c17 -O2 -g $(WARNINGS) -D_GNU_SOURCE -pthread -Isrc $(PKG_CFLAGS) -o $@ $^ $(PKG_LIBS) -lm
