#!/usr/bin/env bash
# The CUDA backend on a machine with a GPU (make test-gpu; every check is
# skipped, saying why, where there is none), then end to end against the CPU.
# Tiny random T5 and LLaMA models learn the toy task va with LoRA, then vc
# with DEAL over it, once with --device cpu and once with --device cuda, same
# seed and flags. The dropout masks are the same bits on both devices, so the
# runs differ by rounding alone: each step's loss and every tensor of the
# adapters must agree within TOL, and deal-predict on either device must give
# the same answers from the same adapter (near-ties aside: at most 1% differ).
. "$(dirname "$0")/../cli/lib.sh"
CLI=$(dirname "$0")/../cli
GPU=$(dirname "$0")
# Relative error after 40-60 AdamW steps: fp32 rounding in a different order
# (cuBLAS's sums, the kernels' reductions) grows through the updates. The toy
# models' weights have std 0.05 and the rate is 1e-3 because with the command-
# line tests' std 0.2 and 3e-3 T5's training is chaotic: on the CPU alone, a
# 1e-6 relative change of its weights changed the adapter by 120% (std 0.05,
# 1e-3: by 1.5e-5, and 8e-5 after the DEAL task; LLaMA 4e-6 at both).
TOL=1e-3

if [ ! -x build/tests/test_cuda_link ]; then
    skip "CUDA backend" "this build has no CUDA (nvcc was not found when it was built)"; finish; exit
fi
device=$(build/tests/test_cuda_link | sed -n 's/^  //p' | head -n 1)
case $device in
"no CUDA device"*) skip "CUDA backend" "$device"; finish; exit ;;
esac
echo "device: $device"
# The kernels one by one against the reference backend, and the models'
# logits and gradients against transformers' (both also in make test, where
# without a GPU their CUDA parts are skipped).
check "CUDA kernels against the reference backend" build/tests/test_cuda_kernels
check "T5 and LLaMA on CUDA against transformers + PEFT" build/tests/test_model_reference

toy_tasks "$TMP"
for arch in t5 llama; do
    M=$TMP/$arch
    python3 "$CLI/make_tiny_model.py" $arch "$M" --vocab 300 --tokenizer "$TMP/sp.model" --d-model 64 --layers 3 --std 0.05
    toy_streams "$TMP" "$M" "$TMP/$arch."
    TRAIN="deal-train --model $M --batch 8 --accum 2 --lr 1e-3"
    for dev in cpu cuda; do
        R=$TMP/$arch.$dev
        $TRAIN --device $dev --epochs 4 --out "$R.lora" "$TMP/$arch.va.train" 2>"$R.err" &&
            $TRAIN --device $dev --epochs 2 --method deal --init "$R.lora" --out "$R.deal" "$TMP/$arch.vc.train" 2>>"$R.err"
        check "$arch: trains on $dev" test -s "$R.deal/adapter_model.safetensors" || cat "$R.err"
    done
    check "$arch: the log names the device" grep -q '"backend":"cuda"' "$TMP/$arch.cuda.lora.log.jsonl"
    for run in lora deal; do
        if res=$(python3 "$GPU/compare_runs.py" "$TMP/$arch.cuda.$run" "$TMP/$arch.cpu.$run" $TOL); then
            pass "$arch $run: cuda as cpu: $res"
        else
            fail "$arch $run: cuda as cpu" "$res"
        fi
    done
    for dev in cpu cuda; do
        deal-predict --device $dev --model "$M" --adapter "$TMP/$arch.cuda.deal" "$TMP/$arch.both.test" > "$TMP/$arch.$dev.pred" 2>"$TMP/$arch.$dev.perr" ||
            cat "$TMP/$arch.$dev.perr"
    done
    differ=$(python3 - "$TMP/$arch.cpu.pred" "$TMP/$arch.cuda.pred" <<'PY'
import json, sys
a, b = ([json.loads(l)["prediction"] for l in open(p)] for p in sys.argv[1:])
print(sum(x != y for x, y in zip(a, b)) + abs(len(a) - len(b)) if a else 10**6)
PY
)
    check "$arch: predictions on cuda as on cpu ($differ of 400 differ)" test "$differ" -le 4
done
check_fails "--bf16 on cuda" "the cuda backend has no bf16 products" \
    deal-train --device cuda --bf16 --model "$TMP/t5" --out "$TMP/X" "$TMP/t5.va.train"
finish
