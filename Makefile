# dp — build, test, bench, install.
#   make                 build/lib/libdp.a and build/bin/dp-{simulate,differentiate,optimize,inspect}
#   make test            install missing Debian packages, build, run every test
#   make bench           benchmarks (figures on stdout)
#   make demo            the main job on a real scene, outputs under out/
#   make regress         simulate every scene, run every task, compare with tests/golden/
#   make regress-update  rewrite the goldens from this build
#   make tasks           the optimization tasks (scripts/tasks.mk), each checked
#   make check-asan      AddressSanitizer + UndefinedBehaviorSanitizer build running the tests
#   make CUDA=1          also compile lib/cuda/*.cu with nvcc (sm_90 + PTX)
#   make install PREFIX=/usr/local DESTDIR=
#   V=1 shows the commands.

PREFIX ?= /usr/local
DESTDIR ?=
CUDA ?= 0
BUILD ?= build
CC ?= cc
NVCC ?= nvcc
CUDA_HOME ?= /usr/local/cuda

ifeq ($(V),1)
Q :=
else
Q := @
endif

PKGS := yaml-0.1 libcjson zlib libpng libzip
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wmissing-prototypes -Werror
OPT ?= -O2
CFLAGS_ALL := -std=c17 -D_GNU_SOURCE $(OPT) -g $(WARN) -MMD -MP -Ilib/include -Ilib \
              $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS_ALL := $(EXTRA_LDFLAGS)
LIBS := $(PKG_LIBS) -lcsv -lm

LIB_SRC := $(wildcard lib/*.c)
CMD_COMMON := cmd/common.c
TOOLS := $(patsubst cmd/%.c,%,$(filter cmd/dp-%.c,$(wildcard cmd/*.c)))
TEST_SRC := $(wildcard tests/check_*.c) tests/testutil.c

ifeq ($(CUDA),1)
CU_SRC := $(wildcard lib/cuda/*.cu)
CU_OBJ := $(patsubst %.cu,$(BUILD)/obj/%.cu.o,$(CU_SRC))
CFLAGS_ALL += -DDP_HAVE_CUDA=1
LIBS += -L$(CUDA_HOME)/lib64 -lcudart -lstdc++
NVCCFLAGS ?= -O2 -std=c++17 -MMD -MP -Ilib/include -Ilib -DDP_HAVE_CUDA=1 \
             -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
             -Xcompiler -Wall
else
CU_OBJ :=
LIB_SRC += lib/cuda/cuda_stub.c
endif

LIB_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(CU_OBJ)
LIBDP := $(BUILD)/lib/libdp.a
BINS := $(patsubst %,$(BUILD)/bin/%,$(TOOLS))
CHECK_BIN := $(BUILD)/tests/check_dp

.PHONY: all deps test unit cli bench demo check-asan install clean regress regress-update
.SECONDARY:
all: $(LIBDP) $(BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/obj/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  NVCC    $<")
	$(Q)$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(LIBDP): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/%: $(BUILD)/obj/cmd/%.o $(BUILD)/obj/cmd/common.o $(LIBDP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) $(filter %.o,$^) $(LIBDP) $(LIBS) -o $@

$(CHECK_BIN): $(patsubst %.c,$(BUILD)/obj/%.o,$(TEST_SRC)) $(LIBDP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) $(filter %.o,$^) $(LIBDP) $(CHECK_LIBS) $(LIBS) -o $@

$(BUILD)/obj/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) -c $< -o $@

# Install the Debian packages that are missing (says what it installs).
deps:
	$(Q)sh scripts/install-deps.sh

# Unit tests (Check), the command-line tests, then the regression of every scene and task.
test: deps
	$(Q)$(MAKE) --no-print-directory all $(CHECK_BIN)
	$(Q)$(MAKE) --no-print-directory unit cli regress tasks

unit: $(CHECK_BIN)
	$(Q)$(CHECK_BIN)

cli: all
	$(Q)sh tests/run-cli.sh $(BUILD)/bin

regress: all
	$(Q)sh scripts/regress.sh $(BUILD)/bin

regress-update: all
	$(Q)sh scripts/regress.sh --update $(BUILD)/bin

include scripts/tasks.mk

bench: deps
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/bench/bench_dp $(BUILD)/bench/bench_rb \
	  $(BUILD)/bench/bench_fem
	$(Q)sh scripts/bench.sh $(BUILD)

$(BUILD)/bench/%: $(BUILD)/obj/scripts/%.o $(LIBDP)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) $< $(LIBDP) $(LIBS) -o $@

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh scripts/demo.sh $(BUILD)/bin

check-asan: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer" \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" all build-asan/tests/check_dp
	$(Q)CK_DEFAULT_TIMEOUT=600 ASAN_OPTIONS=detect_leaks=1 build-asan/tests/check_dp
	$(Q)ASAN_OPTIONS=detect_leaks=1 sh tests/run-cli.sh build-asan/bin

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/include/dp $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/dp/schemas
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIBDP) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 lib/include/dp/dp.h $(DESTDIR)$(PREFIX)/include/dp/
	install -m 644 man/man1/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/man5/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 644 schemas/*.json $(DESTDIR)$(PREFIX)/share/dp/schemas/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(shell sed -n 's/^#define DP_VERSION "\(.*\)"/\1/p' lib/include/dp/dp.h)|g' \
	  -e 's|@LIBS@|$(LIBS)|g' dp.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/dp.pc

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
