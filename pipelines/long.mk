# The Long benchmark: 15 tasks in one of three orders (benchmarks.md).
#   make -f pipelines/long.mk ORDER=4|5|6 [METHOD=deal] ...   (see common.mk)
ORDER ?= 4
BENCH := long$(ORDER)
TASKS := $(or $(strip $(file < $(dir $(lastword $(MAKEFILE_LIST)))../data/orders/order$(ORDER).txt)),$(error ORDER must be 4, 5 or 6))
include $(dir $(lastword $(MAKEFILE_LIST)))common.mk
