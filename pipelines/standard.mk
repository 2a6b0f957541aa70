# The Standard benchmark: 4 tasks in one of three orders (benchmarks.md).
#   make -f pipelines/standard.mk ORDER=1|2|3 [METHOD=deal] ...   (see common.mk)
ORDER ?= 1
BENCH := standard$(ORDER)
TASKS := $(or $(strip $(file < $(dir $(lastword $(MAKEFILE_LIST)))../data/orders/order$(ORDER).txt)),$(error ORDER must be 1, 2 or 3))
include $(dir $(lastword $(MAKEFILE_LIST)))common.mk
