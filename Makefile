# kdc - knowledge-distillation compiler for ONNX.
#
#   make demo    install what is missing, build, run the bundled recipe
#   make test    install what is missing, build, run every test
#   make deps    install build packages, test peers and demo data (apt-get, npm)
#   make         build build/kdc only
#   make asan    build the ASan+UBSan variant into build/asan/
#   make bench   run the benchmarks in bench/
#   make format  clang-format every C file

CC      ?= cc
PKGS    := libprotobuf-c yaml-0.1 openblas
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

ONNX_PROTO ?= /usr/include/onnx/onnx.proto
VERSION := 0.1.0

BUILD   ?= build
# -O2 plus the dynamic vectorizer cost model: GCC 12 at plain -O2 leaves loops of unknown
# trip count scalar (Relu ran 10x slower); FP results do not change (no reassociation).
OPT     ?= -O2 -ftree-vectorize -fvect-cost-model=dynamic
SANFLAGS ?=
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(OPT) -g $(SANFLAGS) \
             -DKDC_VERSION='"$(VERSION)"' -I. -I$(BUILD)/gen $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lpthread -lm $(SANFLAGS)

LIB_DIRS := ir frontend backend passes runtime train recipes
LIB_SRCS := $(wildcard $(addsuffix /*.c,$(LIB_DIRS)))
CLI_SRCS := $(wildcard cli/*.c)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
PROTO_C := $(BUILD)/gen/onnx.pb-c.c
PROTO_H := $(BUILD)/gen/onnx.pb-c.h

LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/onnx.pb-c.o
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps test unit asan demo bench format clean FORCE
all: $(BUILD)/kdc

# one rule makes both files; the header depends on the .c so make runs it once
$(PROTO_C): $(ONNX_PROTO)
	@mkdir -p $(BUILD)/gen
	@echo "  PROTOC  $<"
	@protoc-c --c_out=$(BUILD)/gen -I$(dir $(ONNX_PROTO)) $(ONNX_PROTO)
$(PROTO_H): $(PROTO_C)

$(BUILD)/obj/gen/onnx.pb-c.o: $(PROTO_C) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) -std=c11 $(OPT) -g $(SANFLAGS) -I$(BUILD)/gen -c $< -o $@

# Objects are rebuilt when the compiler flags change, not only when sources do.
FLAGS_STAMP := $(BUILD)/.flags
$(FLAGS_STAMP): FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(OPT) $(SANFLAGS) $(CFLAGS)' | cmp -s - $@ || echo '$(CC) $(OPT) $(SANFLAGS) $(CFLAGS)' > $@
FORCE:

$(BUILD)/obj/%.o: %.c $(PROTO_H) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/libkdc.a: $(LIB_OBJS)
	@rm -f $@ && ar rcs $@ $^

$(BUILD)/kdc: $(CLI_OBJS) $(BUILD)/libkdc.a
	@echo "  LD      $@"
	@$(CC) $(CLI_OBJS) $(BUILD)/libkdc.a $(LDLIBS_ALL) -o $@

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libkdc.a
	@mkdir -p $(dir $@) $(BUILD)/obj/tests
	@echo "  TEST    $@"
	@$(CC) $(CFLAGS_ALL) -MMD -MP -MF $(BUILD)/obj/tests/$(notdir $@).d -MT $@ $< $(BUILD)/libkdc.a $(CMOCKA_LIBS) $(LDLIBS_ALL) -o $@

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

deps:
	@scripts/deps.sh

unit: $(UNIT_BINS)

# The recursive makes re-read this file after deps, when pkg-config can answer.
test: deps
	@$(MAKE) --no-print-directory -j2 all unit
	@$(MAKE) --no-print-directory -j2 asan
	tests/run_all.sh

ASAN_TESTS := $(UNIT_SRCS:tests/unit/%.c=build/asan/tests/%)
asan:
	@$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		build/asan/kdc $(ASAN_TESTS)

demo: deps
	@$(MAKE) --no-print-directory -j2 all
	$(BUILD)/kdc compress recipes/fashion_mnist_cnn.yaml

bench: deps
	@$(MAKE) --no-print-directory -j2 all
	bench/run_all.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
