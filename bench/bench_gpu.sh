#!/usr/bin/env bash
# bench_gpu.sh: LoRA training on a GPU, deal-train --device cuda against
# transformers + PEFT on the same GPU (bench/hf_train.py --device cuda, in fp32
# and under bf16 autocast), on the same checkpoints, token ids and batches as
# bench_train.sh (256 agnews records, batch 8, one epoch, LoRA r 16 on q,v);
# and deal-predict's greedy generation on the GPU (64 test records, batch 16,
# start-up and model load subtracted).
#
#   bench/bench_gpu.sh        (on a machine with a CUDA device and the CUDA build)
#
# Settings (environment): BENCH_GPU_MODELS (t5 llama t5-large; t5-large is
# flan-t5-large's shape, random, made here by make_bench_model.py and fed t5's
# token streams), BENCH_GPU_IMPLS (deal-cuda hf-cuda-fp32 hf-cuda-bf16; also
# deal-cpu: deal-train on this machine's cores, OMP_NUM_THREADS), BENCH_REPS (3), BENCH_PYTHON (python3: torch with CUDA,
# transformers, peft), DEAL_BIN, BENCH_OUT. $BENCH_OUT/setup must hold what
# bench/common.sh's setup makes from the benchmark data (spiece.model and
# MODEL.{train,test,empty}.tok for t5 and llama): run bench_train.sh once on
# any machine with the data, or copy that folder. The models are made here if
# absent. One JSON line per run goes to results/gpu.jsonl; the table is printed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${DEAL_BIN:-$ROOT/bin}
PY=${BENCH_PYTHON:-python3}
OUT=${BENCH_OUT:-$ROOT/bench/out}
S=$OUT/setup
REPS=${BENCH_REPS:-3}
MODELS=${BENCH_GPU_MODELS:-t5 llama t5-large}
IMPLS=${BENCH_GPU_IMPLS:-deal-cuda hf-cuda-fp32 hf-cuda-bf16}
R=$OUT/results/gpu.jsonl
TRAIN_ARGS=(--batch 8 --accum 1 --epochs 1 --lora-r 16 --lora-alpha 32 --lora-dropout 0.1 --lr 1e-4 --max-grad-norm 1
    --seed 1)
mkdir -p "$OUT/results"
: > "$R"
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT

run_deal() {  # MODEL REP IMPL: deal-train on the GPU (deal-cuda) or on this machine's CPU cores (deal-cpu)
    local m=$1 tok=$S/${1%-large}
    rm -rf "$WORK/A" "$WORK/A.log.jsonl"
    "$BIN/deal-train" --device "${3#deal-}" --model "$S/$m" --out "$WORK/A" "${TRAIN_ARGS[@]}" "$tok.train.tok" \
        2> "$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
    "$PY" "$ROOT/bench/deal_log.py" "$WORK/A.log.jsonl" bench=train model="$m" impl="$3" rep="$2" >> "$R"
}

run_hf() {  # MODEL REP DTYPE: transformers + PEFT on the GPU
    local m=$1 tok=$S/${1%-large}
    "$PY" "$ROOT/bench/hf_train.py" --device cuda --dtype "$3" --model "$S/$m" --tokens "$tok.train.tok" \
        --deal-cat "$BIN/deal-cat" --batch 8 --seed 1 --lora-r 16 --lora-alpha 32 --lora-dropout 0.1 --lr 1e-4 \
        --max-grad-norm 1 | "$PY" -c 'import json, sys; r = json.load(sys.stdin); r.update(bench="train", model=sys.argv[1], rep=int(sys.argv[2]), impl="hf-cuda-" + r["impl"][3:]); print(json.dumps(r))' \
        "$m" "$2" >> "$R"
}

for m in $MODELS; do
    tok=$S/${m%-large}  # t5-large reads t5's streams: the same vocabulary and convention
    [ -s "$tok.train.tok" ] || { echo "bench_gpu: no $tok.train.tok (see the settings above)" >&2; exit 1; }
    [ -s "$S/$m/config.json" ] || "$PY" "$ROOT/bench/make_bench_model.py" "$S" --only "$m" --tokenizer "$S/spiece.model"
    for rep in $(seq 1 "$REPS"); do
        echo "bench_gpu: $m rep $rep/$REPS" >&2
        for impl in $IMPLS; do
            case $impl in
            deal-cuda | deal-cpu) run_deal "$m" "$rep" "$impl" ;;
            hf-cuda-fp32 | hf-cuda-bf16) run_hf "$m" "$rep" "${impl#hf-cuda-}" ;;
            *) echo "bench_gpu: unknown implementation $impl" >&2; exit 1 ;;
            esac
        done
        # Generation: the wall time on the 64 records minus that on none (start-up and load), as bench_generate.sh.
        t0=$(date +%s%N)
        "$BIN/deal-predict" --device cuda --batch 16 --model "$S/$m" "$tok.empty.tok" > /dev/null 2> "$WORK/err" ||
            { cat "$WORK/err" >&2; exit 1; }
        t1=$(date +%s%N)
        "$BIN/deal-predict" --device cuda --batch 16 --model "$S/$m" "$tok.test.tok" > "$WORK/pred" 2> "$WORK/err" ||
            { cat "$WORK/err" >&2; exit 1; }
        t2=$(date +%s%N)
        "$PY" -c 'import json, sys; n = sum(1 for _ in open(sys.argv[5])); print(json.dumps({"bench": "generate", "model": sys.argv[1], "impl": "deal-cuda", "rep": int(sys.argv[2]), "records": n, "batch": 16, "startup_s": int(sys.argv[3]) / 1e9, "ms_per_record": int(sys.argv[4]) / 1e6 / n}))' \
            "$m" "$rep" "$((t1 - t0))" "$((t2 - t1 - (t1 - t0)))" "$WORK/pred" >> "$R"
    done
done

"$PY" - "$R" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda m, impl, key: statistics.median([r[key] for r in rows if r["model"] == m and r["impl"] == impl and key in r] or [float("nan")])
print("| model | deal cuda tokens/s | deal cpu | hf cuda fp32 | hf cuda bf16 | deal / hf fp32 | deal / hf bf16 | first, last loss (deal cuda; hf fp32) | deal-predict ms/record (b16) |")
print("|---|---|---|---|---|---|---|---|---|")
for m in dict.fromkeys(r["model"] for r in rows):
    d, c, f, b = (med(m, i, "tokens_per_s") for i in ("deal-cuda", "deal-cpu", "hf-cuda-fp32", "hf-cuda-bf16"))
    loss = "; ".join(f"{med(m, i, 'first_loss'):.3f}, {med(m, i, 'last_loss'):.3f}" for i in ("deal-cuda", "hf-cuda-fp32"))
    print(f"| {m} | {d:.0f} | {c:.0f} | {f:.0f} | {b:.0f} | {d / f:.2f} | {d / b:.2f} | {loss} | {med(m, 'deal-cuda', 'ms_per_record'):.1f} |")
PY
