# deal: top-level build.
#   make            lib/ as build/libdeal.a, every tool into bin/
#   make test       the test suite (tests/run.sh)
#   make test-sanitize   the same under ASan and UBSan, in build/sanitize
#   make fuzz       mutation fuzzing of the file readers, likewise
#   make CUDA=0     no CUDA part even where nvcc is found
#   make clean
# Sources are found by their place in the tree: lib/**/*.c|*.cc|*.cu go into
# the library, tools/<name>/*.c become bin/<name>, tests/unit/test_*.c become
# build/tests/test_*.

CC      ?= cc
CXX     ?= c++
CFLAGS  ?= -O2 -g
# -fno-trapping-math: nothing here unmasks floating-point traps, and without
# it GCC cannot vectorise a loop with a compare or a select in it (clamps,
# masks, exp), even under "omp simd".
CFLAGS  += -fopenmp -fno-trapping-math
CXXFLAGS ?= -O2 -g
WARN     = -Wall -Wextra
CPPFLAGS += -Ilib -D_GNU_SOURCE -MMD -MP
LDLIBS  += -lmsgpackc -lzstd -ljansson -lpcre2-8 -lstemmer -ldnnl \
           -lsentencepiece_train -lsentencepiece -lstdc++ -lpthread -lm

# CUDA: built whenever nvcc is found, unless CUDA=0.
NVCC := $(shell command -v nvcc 2>/dev/null)
ifeq ($(CUDA),0)
  NVCC :=
endif
ifneq ($(NVCC),)
  CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(realpath $(NVCC)))
  # Ampere (A100) and Hopper (H100/H200) code, plus PTX that newer GPUs compile on load.
  CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=[sm_90,compute_90]
  NVCCFLAGS ?= -O2 -g -std=c++20 $(CUDA_ARCH)
  CPPFLAGS  += -DDEAL_CUDA=1
  LDLIBS    += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart
  CU_SRC    := $(shell find lib -name '*.cu')
endif

BUILD := build
C_SRC   := $(shell find lib -name '*.c')
CXX_SRC := $(shell find lib -name '*.cc')
LIB_OBJ := $(C_SRC:%.c=$(BUILD)/%.o) $(CXX_SRC:%.cc=$(BUILD)/%.o) $(CU_SRC:%.cu=$(BUILD)/%.o)
LIB     := $(BUILD)/libdeal.a

TOOLS      := $(notdir $(wildcard tools/*))
TOOL_BINS  := $(TOOLS:%=bin/%)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
ifeq ($(NVCC),)
  UNIT_SRC := $(filter-out tests/unit/test_cuda%.c,$(UNIT_SRC))
endif
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test clean
# Keep the test objects, which make would otherwise delete as intermediates. (Not a
# bare .SECONDARY:, which would also let a missing library object, e.g. after
# switching CUDA on, go unbuilt.)
.SECONDARY: $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%.o)
all: $(TOOL_BINS) $(UNIT_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c $< -o $@

$(BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) $(WARN) -c $< -o $@

$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) -Ilib -MMD -MP $(NVCCFLAGS) -Xcompiler -Wall,-Wextra -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# One tool per folder: tools/deal-prep/*.c -> bin/deal-prep.
define tool_rule
bin/$(1): $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/$(1)/*.c)) $(LIB)
	@mkdir -p bin
	$$(CC) $$(CFLAGS) -o $$@ $$^ $$(LDFLAGS) $$(LDLIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

$(BUILD)/tests/unit/%.o: CPPFLAGS += -Itests
$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

test: all
	tests/run.sh

# On a machine with a GPU (CUDA build): the CUDA backend's kernels and whole
# training runs against the CPU's (tests/gpu/check.sh; skipped without one).
.PHONY: test-gpu
test-gpu: all
	PATH="$(CURDIR)/bin:$$PATH" bash tests/gpu/check.sh

# A program of one source file and the library (bench/, tests/fuzz/).
define one_file_program
@mkdir -p $(dir $@)
$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)
endef

# The suite again under AddressSanitizer and UndefinedBehaviorSanitizer, built
# in a copy of the working tree (its files git tracks or would track) in
# build/sanitize, with its own build/ and bin/ (CUDA and SANITIZE exported,
# so that the pipelines' own make calls build the same way): slower than
# make test, so not part of it. CPU only.
SANITIZE ?=
CFLAGS   += $(SANITIZE)
CXXFLAGS += $(SANITIZE)
LDFLAGS  += $(SANITIZE)
SAN_DIR  := $(BUILD)/sanitize
# (sanitized CMD: CMD run in that copy, built and exported as said.)
sanitized = rm -rf $(SAN_DIR) && mkdir -p $(SAN_DIR) && \
    git ls-files -z --cached --others --exclude-standard | tar -c --null --ignore-failed-read -T - -f - | tar -x -C $(SAN_DIR) -f - && \
    cd $(SAN_DIR) && export CUDA=0 SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer" && $(1)
.PHONY: test-sanitize fuzz
test-sanitize:
	$(call sanitized,$(MAKE) all && DEAL_SHARED=$${DEAL_SHARED:-$(abspath ..)/shared} ASAN_OPTIONS=detect_leaks=1 \
	    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 tests/run.sh)

# Mutation fuzzing of the file readers (tests/fuzz/run.sh), FUZZ_ITERATIONS
# inputs per format (default 2000: about a minute), under the sanitizers.
fuzz:
	$(call sanitized,$(MAKE) all $(BUILD)/fuzz/fuzz && FUZZ_BIN=$(BUILD)/fuzz/fuzz tests/fuzz/run.sh)
$(BUILD)/fuzz/fuzz: tests/fuzz/fuzz.c $(LIB)
	$(one_file_program)

clean:
	rm -rf $(BUILD) bin

-include $(shell find $(BUILD) -path $(SAN_DIR) -prune -o -name '*.d' -print 2>/dev/null)

# Regenerate the reference fixtures with transformers + PEFT (tests/reference/README.md).
.PHONY: reference
reference:
	/usr/bin/python3 tests/reference/make_reference.py

# Speed: the matrix products against the machine's peak, then against
# transformers + PEFT (bench/README.md); about an hour on 2 quiet cores.
.PHONY: bench
BENCH_DIR = $(or $(BENCH_OUT),bench/out)
bench: all $(BUILD)/bench/matmul_peak $(BUILD)/bench/bf16_gemm $(BUILD)/bench/attention_kernel $(BUILD)/bench/first_touch
	@mkdir -p $(BENCH_DIR)/results
	$(BUILD)/bench/matmul_peak | tee $(BENCH_DIR)/results/matmul_peak.md
	$(BUILD)/bench/bf16_gemm
	$(BUILD)/bench/attention_kernel
	$(BUILD)/bench/first_touch
	bench/bench_train.sh && bench/bench_generate.sh && bench/products_alone.sh
	bench/bounds.py $(BENCH_DIR)/results $(BENCH_DIR)/setup bin/deal-cat
# matmul_peak: the machine's peaks; bf16_gemm: would bf16 products pay here?
# attention_kernel: the CPU attention by itself; first_touch: what fresh memory
# costs (bench/README.md).
$(BUILD)/bench/%: bench/%.c bench/timing.h $(LIB)
	$(one_file_program)
