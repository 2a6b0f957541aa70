#!/usr/bin/env bash
# bench_train.sh: training throughput of LoRA and of DEAL, deal-train vs
# transformers + PEFT (bench/hf_train.py) on the same checkpoint, token ids and batches.
#
#   bench/bench_train.sh            (settings: see bench/common.sh; results in $BENCH_OUT/results)
#
# Both sides: 256 agnews train records (--max-source 256), batch 8, accum 1, one
# epoch (32 optimizer steps), LoRA r 16, alpha 32, dropout 0.1 on q,v (T5) /
# q_proj,v_proj (LLaMA), AdamW lr 1e-4 (weight decay 0), clip 1.0, seed 1, and
# BENCH_THREADS threads. Methods (BENCH_METHODS): lora, a fresh adapter; deal,
# DEAL over a LoRA adapter (setup/MODEL.lora, made once by deal-train on the same
# records) as the second task of a sequence: deal-train --method deal --init, and
# hf_train.py --method deal --init (its DEAL in PyTorch over PEFT). Each repetition
# runs every variant (BENCH_VARIANTS) and method once, the variants in an order
# rotated from one repetition to the next.
#   deal       throughput from its log (OUT.log.jsonl): the sum of the step lines'
#              "tokens" (source + target) / the last line's "elapsed_s", i.e. the
#              training loop without model load and adapter save
#   hf-fp32    the loop timed inside hf_train.py (also without load and set-up)
#   hf-bf16    the same under torch.autocast("cpu", dtype=torch.bfloat16)
# Peak RSS: deal from /usr/bin/time -v, HF from getrusage in its process.
# One JSON line per run goes to results/train.jsonl; bench/summarize.py makes the table.
. "$(dirname "$0")/common.sh"
setup
machine
R=$OUT/results/train.jsonl
: > "$R"
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT

# The LoRA adapter DEAL starts from: the first task of the sequence.
if [[ " $METHODS " == *" deal "* ]]; then
    for m in $MODELS; do
        [ -s "$SETUP/$m.lora/adapter_config.json" ] ||
            "$BIN/deal-train" --model "$SETUP/$m" --out "$SETUP/$m.lora" "${TRAIN_ARGS[@]}" "$SETUP/$m.train.tok" \
                2> /dev/null
    done
fi
method_flags() {  # METHOD MODEL: deal-train's and hf_train.py's flags for it
    if [ "$1" = deal ]; then echo "--method deal --init $SETUP/$2.lora"; fi
}

run_deal() {  # MODEL CORETYPE WAIT REP IMPL (deal, or deal-bf16: --bf16) METHOD
    local m=$1 c=$2 w=$3 rep=$4 impl=$5 method=$6 la flags=() mflags; la=$(loadavg)
    [ "$impl" = deal-bf16 ] && flags=(--bf16)
    read -r -a mflags <<< "$(method_flags "$method" "$m")"
    flags+=("${mflags[@]}")
    rm -rf "$WORK/A" "$WORK/A.log.jsonl"
    with_env "$c" "$w" /usr/bin/time -v -o "$WORK/time" "$BIN/deal-train" --model "$SETUP/$m" --out "$WORK/A" \
        "${TRAIN_ARGS[@]}" "${flags[@]}" "$SETUP/$m.train.tok" 2> "$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
    "$PY" "$ROOT/bench/deal_log.py" "$WORK/A.log.jsonl" bench=train model="$m" impl="$impl" method="$method" \
        coretype="$c" wait="$w" rep="$rep" wall_s="$(time_field "$WORK/time" wall)" \
        peak_rss_kib="$(time_field "$WORK/time" rss)" loadavg_before="$la" >> "$R"
}

run_hf() {  # MODEL DTYPE CORETYPE WAIT REP METHOD
    local m=$1 d=$2 c=$3 w=$4 rep=$5 la mflags; la=$(loadavg)
    read -r -a mflags <<< "$(method_flags "$6" "$m")"
    with_env "$c" "$w" "$PY" "$ROOT/bench/hf_train.py" --model "$SETUP/$m" --tokens "$SETUP/$m.train.tok" "${mflags[@]}" \
        --deal-cat "$BIN/deal-cat" --dtype "$d" --threads "$THREADS" --batch 8 --seed 1 --lora-r 16 --lora-alpha 32 \
        --lora-dropout 0.1 --lr 1e-4 --max-grad-norm 1 > "$WORK/hf.json"
    "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); r.update(bench="train", coretype=sys.argv[2], wait=sys.argv[3], rep=int(sys.argv[4]), loadavg_before=float(sys.argv[5]), model=sys.argv[6]); print(json.dumps(r))' \
        "$WORK/hf.json" "$c" "$w" "$rep" "$la" "$m" >> "$R"
}

read -r -a variants <<< "$VARIANTS"
for rep in $(seq 1 "$REPS"); do
    for m in $MODELS; do
        while IFS=/ read -r impl c w; do
            for method in $METHODS; do
                echo "bench_train: rep $rep/$REPS $m $method $impl OPENBLAS_CORETYPE=$c OMP_WAIT_POLICY=$w (load $(loadavg))" >&2
                case $impl in
                deal | deal-bf16) run_deal "$m" "$c" "$w" "$rep" "$impl" "$method" ;;
                hf-fp32 | hf-bf16) run_hf "$m" "${impl#hf-}" "$c" "$w" "$rep" "$method" ;;
                *) echo "bench_train: unknown variant $impl/$c/$w" >&2; exit 1 ;;
                esac
                tail -n 1 "$R" | "$PY" -c 'import json, sys; r = json.load(sys.stdin); print("  %.1f tokens/s, %.2f samples/s, peak RSS %d MiB" % (r["tokens_per_s"], r["samples_per_s"], r["peak_rss_kib"] // 1024))' >&2
            done
        done < <(rotate "$((rep - 1))" "${variants[@]}")
    done
done
"$PY" "$ROOT/bench/summarize.py" "$OUT/results"
