# The TC benchmark: 3 text-classification tasks (benchmarks.md).
#   make -f pipelines/tc.mk [METHOD=deal] [QUICK=1] [MODEL=DIR] ...   (see common.mk)
BENCH := tc
TASKS := dbpedia yahoo agnews
include $(dir $(lastword $(MAKEFILE_LIST)))common.mk
