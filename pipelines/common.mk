# common.mk: the rules every benchmark shares (included by tc.mk, standard.mk,
# long.mk, which set BENCH and TASKS). For each task in order: prepare and
# tokenize its data (cached), train from the previous task's adapter, predict
# on the test split of every task seen so far; then score the sequence and
# write the report. Make's dependency graph is the cache: after a crash, a
# re-run redoes only what is missing (and a killed training resumes from its
# checkpoint); `make -j` runs independent work, e.g. predictions, in parallel.
#
# Variables (all optional):
#   MODEL     Hugging Face model folder (default: the embedded SmolLM2-135M-Instruct,
#             installed by scripts/get-default-model.sh)
#   TOKENIZER tokenizer file for deal-tokenize (default: the model's own)
#   METHOD    deal | seqlora | inclora | olora | pertask | replay (default deal)
#   DATA      the CL_Benchmark folder (default $DEAL_DATA, else data/CL_Benchmark)
#   OUT       where everything goes (default out/BENCH-METHOD)
#   SEED      seed of the data sample, initialisation, order and dropout (default 1)
#   DEVICE    cpu (default) or cuda: where deal-train and deal-predict run
#   BF16      1: the frozen weights' products in bf16 (--bf16; CPUs with AVX512-BF16
#             run them about 2x faster; results within bf16's precision of fp32)
#   TRAIN_FLAGS, PREDICT_FLAGS   extra flags for deal-train / deal-predict
#   LIMIT_TRAIN, LIMIT_TEST      examples per task (default 1000 / 500; QUICK=1: 200 / 100)
#   MAX_SOURCE                   source tokens kept per example (default 512)

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DELETE_ON_ERROR:
.SECONDARY:

ROOT     := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
BIN      := $(ROOT)/bin
DEFAULT_MODEL := $(ROOT)/models/smollm2-135m-instruct
MODEL    ?= $(DEFAULT_MODEL)
METHOD   ?= deal
# The benchmark data: $DEAL_DATA, else data/CL_Benchmark, else a shared copy beside the clone.
DATA     ?= $(or $(DEAL_DATA),$(firstword $(wildcard data/CL_Benchmark $(ROOT)/data/CL_Benchmark $(ROOT)/../shared/data/CL_Benchmark)),data/CL_Benchmark)
SEED     ?= 1
DEVICE   ?= cpu
ifeq ($(QUICK),1)
  LIMIT_TRAIN ?= 200
  LIMIT_TEST  ?= 100
endif
LIMIT_TRAIN ?= 1000
LIMIT_TEST  ?= 500
MAX_SOURCE  ?= 512
OUT      ?= out/$(BENCH)-$(METHOD)$(if $(filter 1,$(QUICK)),-quick)
CACHE    ?= out/cache/$(notdir $(abspath $(MODEL)))
TOKENIZE := $(BIN)/deal-tokenize $(if $(TOKENIZER),--tokenizer $(TOKENIZER),--model $(MODEL)) --max-source $(MAX_SOURCE)
# Defaults tuned for the small default model on a CPU; the paper's flan-t5-large
# settings are deal-train's own defaults (lr 1e-5, batch 8 x 4).
TRAIN_FLAGS   ?= --lr 5e-4 --batch 8 --accum 1
PREDICT_FLAGS ?= --batch 16 --max-new-tokens 20
# Each tool runs with its share of the cores under make -jN (pipelines/share-cores).
PRECISION := $(if $(filter 1,$(BF16)),--bf16)
TRAIN    := $(ROOT)/pipelines/share-cores $(BIN)/deal-train --model $(MODEL) --device $(DEVICE) $(PRECISION) \
            --method $(METHOD) --seed $(SEED) --save-every 10 --resume $(TRAIN_FLAGS)
PREDICT  := $(ROOT)/pipelines/share-cores $(BIN)/deal-predict --model $(MODEL) --device $(DEVICE) $(PRECISION) \
            $(PREDICT_FLAGS)

N        := $(words $(TASKS))
INDICES  := $(shell seq 1 $(N))
task      = $(word $(1),$(TASKS))
adapter   = $(OUT)/adapters/$(1)-$(call task,$(1))
tokens    = $(CACHE)/$(1).$(2).n$(if $(filter train,$(2)),$(LIMIT_TRAIN),$(LIMIT_TEST)).s$(SEED).m$(MAX_SOURCE).msgpack.zst
after     = $(OUT)/predictions/after$(1).jsonl
# Runs a command and appends "<phase>\t<name>\t<seconds>" to OUT/times.tsv.
timed     = start=$$(date +%s.%N); $(3); awk -v a=$$start -v b=$$(date +%s.%N) 'BEGIN { printf "$(1)\t$(2)\t%.3f\n", b - a }' >> $(OUT)/times.tsv

.PHONY: all scores report compare zeroshot ablation clean tools
all: report

# The tools and the default model are built or fetched on first use.
tools:
	$(MAKE) -C $(ROOT) -j2 --no-print-directory $(addprefix bin/,deal-prep deal-tokenize deal-train deal-predict deal-score deal-report)
$(DEFAULT_MODEL)/config.json:
	$(ROOT)/scripts/get-default-model.sh
MODEL_READY := $(if $(filter $(DEFAULT_MODEL),$(MODEL)),$(DEFAULT_MODEL)/config.json)
$(DATA):
	@echo "no benchmark data at $(DATA): get the CL_Benchmark folder (see data/README.md) and set DATA=..." >&2; exit 1

# ---- data ------------------------------------------------------------------------------
$(CACHE)/%.msgpack.zst: | $(MODEL_READY) $(DATA) tools
	@mkdir -p $(@D)
	$(eval parts := $(subst ., ,$*))
	$(BIN)/deal-prep --data $(DATA) $(word 1,$(parts)) --split $(word 2,$(parts)) \
	    --limit $(patsubst n%,%,$(word 3,$(parts))) --seed $(SEED) | $(TOKENIZE) -z -o $@

# ---- training: task i starts from task i-1's adapter (except pertask) --------------------
define train_rule
$(call adapter,$(1))/adapter_config.json: $(call tokens,$(call task,$(1)),train) \
    $(if $(filter-out 1,$(1)),$(if $(filter pertask,$(METHOD)),,$(call adapter,$(shell echo $$(($(1) - 1))))/adapter_config.json))
	@mkdir -p $(OUT)/adapters $(OUT)/logs
	$$(call timed,train,$(1)-$(call task,$(1)),$$(TRAIN) \
	    $(if $(filter-out 1,$(1)),$(if $(filter pertask,$(METHOD)),,--init $(call adapter,$(shell echo $$(($(1) - 1)))))) \
	    --out $(call adapter,$(1)) --log $(OUT)/logs/$(1)-$(call task,$(1)).jsonl $$<)
endef
$(foreach i,$(INDICES),$(eval $(call train_rule,$(i))))

# ---- predictions: after task i, every task j <= i ------------------------------------------
define predict_rule
$(OUT)/predictions/after$(1)-$(call task,$(2)).jsonl: $(call adapter,$(1))/adapter_config.json \
    $(call tokens,$(call task,$(2)),test)
	@mkdir -p $(OUT)/predictions
	$$(call timed,predict,after$(1)-$(call task,$(2)),$$(PREDICT) \
	    --adapter $(call adapter,$(1)) -o $$@ $(call tokens,$(call task,$(2)),test))
endef
# pertask is the oracle: task j is answered by task j's own adapter whatever
# came after, so the predictions after task i > j are those made right after j.
define same_predictions_rule
$(OUT)/predictions/after$(1)-$(call task,$(2)).jsonl: $(OUT)/predictions/after$(2)-$(call task,$(2)).jsonl
	cp $$< $$@.tmp && mv $$@.tmp $$@
endef
$(foreach i,$(INDICES),$(foreach j,$(shell seq 1 $(i)),$(eval $(call \
    $(if $(and $(filter pertask,$(METHOD)),$(filter-out $(i),$(j))),same_predictions_rule,predict_rule),$(i),$(j)))))

define after_rule
$(call after,$(1)): $(foreach j,$(shell seq 1 $(1)),$(OUT)/predictions/after$(1)-$(call task,$(j)).jsonl)
	cat $$^ > $$@.tmp && mv $$@.tmp $$@
endef
$(foreach i,$(INDICES),$(eval $(call after_rule,$(i))))

# ---- scores and report ---------------------------------------------------------------------
scores: $(OUT)/scores.json
$(OUT)/scores.json: $(foreach i,$(INDICES),$(call after,$(i)))
	$(BIN)/deal-score --sequence --tasks $(subst $(eval) ,$(comma),$(TASKS)) --svg $(OUT)/matrix.svg --out $@ $^

comma := ,
report: $(OUT)/report.md
$(OUT)/report.md: $(OUT)/scores.json $(OUT)/run.json
	$(BIN)/deal-report run $(OUT)
	@echo "report: $@"

$(OUT)/run.json:
	@mkdir -p $(OUT)
	printf '{"benchmark":"%s","method":"%s","model":"%s","seed":%s,"command":"%s","machine":"%s","date":"%s","train_flags":"%s"}\n' \
	    "$(BENCH)" "$(METHOD)" "$(MODEL)" "$(SEED)" \
	    "make -f pipelines/$(BENCH).mk METHOD=$(METHOD) SEED=$(SEED)$(if $(QUICK), QUICK=$(QUICK))$(if $(filter 1,$(BF16)), BF16=1)$(if $(filter-out cpu,$(DEVICE)), DEVICE=$(DEVICE))$(if $(filter command line,$(origin MODEL)), MODEL=$(MODEL))" \
	    "$$(nproc) cores, $$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)" "$$(date -u +%Y-%m-%dT%H:%MZ)" "$(TRAIN_FLAGS)" > $@

# The untouched model on every task's test split, for context (no adapter).
ZEROSHOT := out/$(BENCH)-zeroshot$(if $(filter 1,$(QUICK)),-quick)
zeroshot: $(ZEROSHOT)/scores.json
$(ZEROSHOT)/scores.json: $(foreach t,$(TASKS),$(ZEROSHOT)/$(t).jsonl)
	$(BIN)/deal-score --out $@ $^
	$(BIN)/deal-score --markdown $^
$(ZEROSHOT)/%.jsonl: $(call tokens,%,test)
	@mkdir -p $(@D)
	$(PREDICT) -o $@ $<

# Every method on this benchmark, then one comparison table and chart.
METHODS ?= deal seqlora inclora olora pertask replay
compare:
	for m in $(METHODS); do $(MAKE) -f $(firstword $(MAKEFILE_LIST)) METHOD=$$m OUT=out/$(BENCH)-$$m$(if $(filter 1,$(QUICK)),-quick) report; done
	$(BIN)/deal-report compare $(foreach m,$(METHODS),out/$(BENCH)-$(m)$(if $(filter 1,$(QUICK)),-quick)) --out out/$(BENCH)-compare.md

# The ablation of docs/deal-method.md: DEAL with its parts switched, named
# RETENTION-UPDATE-BRANCHES-FACTORS (heat|haar|none, mlp|none, AB|A|B,
# frozen|trained; none-none-*-frozen has nothing to train and is left out), on
# this benchmark and seed; then one table and chart with the other methods'
# runs where they exist (make compare). Task 1 is plain LoRA in every variant:
# it is trained once (in ABLATION_DIR/first) and copied into each variant.
# ABLATION=... runs a subset.
ABLATION_DIR := out/$(BENCH)-ablation$(if $(filter 1,$(QUICK)),-quick)
ABLATION ?= $(filter-out none-none-%-frozen,$(foreach r,heat haar none,$(foreach u,mlp none,\
    $(foreach b,AB A B,$(foreach f,frozen trained,$(r)-$(u)-$(b)-$(f))))))
comma := ,
part_of   = $(word $(2),$(subst -, ,$(1)))
deal_flags = --retention $(call part_of,$(1),1) --update $(call part_of,$(1),2) \
    --branches $(subst AB,A$(comma)B,$(call part_of,$(1),3))$(if $(filter trained,$(call part_of,$(1),4)), --deal-train-factors)
FIRST     = $(ABLATION_DIR)/first
TASK1     = 1-$(call task,1)
define ablation_run
	mkdir -p $(ABLATION_DIR)/$(1)/adapters $(ABLATION_DIR)/$(1)/logs $(ABLATION_DIR)/$(1)/predictions
	cp -a $(FIRST)/adapters/$(TASK1) $(ABLATION_DIR)/$(1)/adapters/
	cp -a $(FIRST)/logs/$(TASK1).jsonl $(ABLATION_DIR)/$(1)/logs/
	cp -a $(FIRST)/predictions/after1-$(call task,1).jsonl $(FIRST)/predictions/after1.jsonl $(ABLATION_DIR)/$(1)/predictions/
	grep -qs "after1-" $(ABLATION_DIR)/$(1)/times.tsv || cat $(FIRST)/times.tsv >> $(ABLATION_DIR)/$(1)/times.tsv
	$(MAKE) -f $(firstword $(MAKEFILE_LIST)) METHOD=deal OUT=$(ABLATION_DIR)/$(1) \
	    TRAIN_FLAGS="$(TRAIN_FLAGS) $(call deal_flags,$(1))" report

endef
ablation:
	$(MAKE) -f $(firstword $(MAKEFILE_LIST)) METHOD=deal OUT=$(FIRST) $(FIRST)/predictions/after1.jsonl
	$(foreach v,$(ABLATION),$(call ablation_run,$(v)))
	$(BIN)/deal-report compare $(addprefix $(ABLATION_DIR)/,$(ABLATION)) \
	    $(wildcard $(foreach m,$(filter-out deal,$(METHODS)),out/$(BENCH)-$(m)$(if $(filter 1,$(QUICK)),-quick))) \
	    --out $(ABLATION_DIR).md

clean:
	rm -rf $(OUT)
