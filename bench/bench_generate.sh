#!/usr/bin/env bash
# bench_generate.sh: greedy generation speed, deal-predict vs transformers'
# model.generate (bench/hf_generate.py) on the same checkpoint and token ids.
#
#   bench/bench_generate.sh         (settings: see bench/common.sh; results in $BENCH_OUT/results)
#
# 64 agnews test records, max_new_tokens 8, batch 1 and batch 16 (BENCH_BATCHES),
# batches formed the same way on both sides (longest source first). Each repetition
# runs every variant (BENCH_VARIANTS) once, in an order rotated from one repetition
# to the next.
#   deal       wall time of deal-predict on the 64 records minus its wall time on the
#              same stream with no records (start-up, model and tokenizer load,
#              measured right before), both from /usr/bin/time -v
#   hf-fp32    the generate calls timed inside hf_generate.py
#   hf-bf16    the same under torch.autocast("cpu", dtype=torch.bfloat16)
# ms/sample = that time / 64. Peak RSS: deal from /usr/bin/time -v, HF from getrusage.
# In the first repetition the predictions are compared: HF's new ids decoded by
# deal-tokenize --decode --skip-special against deal-predict's "prediction".
. "$(dirname "$0")/common.sh"
BATCHES=${BENCH_BATCHES:-1 16}
setup
machine
R=$OUT/results/generate.jsonl
C=$OUT/results/generate_check.jsonl
: > "$R"
: > "$C"
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT

run_deal() {  # MODEL BATCH CORETYPE WAIT REP IMPL (deal, or deal-bf16: --bf16)
    local m=$1 b=$2 c=$3 w=$4 rep=$5 impl=$6 la flags=(); la=$(loadavg)
    [ "$impl" = deal-bf16 ] && flags=(--bf16)
    with_env "$c" "$w" /usr/bin/time -v -o "$WORK/time0" "$BIN/deal-predict" --model "$SETUP/$m" --batch "$b" \
        "${flags[@]}" --max-new-tokens 8 "$SETUP/$m.empty.tok" > /dev/null
    with_env "$c" "$w" /usr/bin/time -v -o "$WORK/time" "$BIN/deal-predict" --model "$SETUP/$m" --batch "$b" \
        "${flags[@]}" --max-new-tokens 8 "$SETUP/$m.test.tok" > "$WORK/$impl.$m.$b.jsonl" 2> "$WORK/err" ||
        { cat "$WORK/err" >&2; exit 1; }
    "$PY" - "$WORK/$impl.$m.$b.jsonl" "$m" "$b" "$c" "$w" "$rep" "$(time_field "$WORK/time" rss)" "$(time_field "$WORK/time" wall)" \
        "$(time_field "$WORK/time0" wall)" "$la" "$impl" >> "$R" <<'PY'
import json, sys
pred, m, b, c, w, rep, rss, wall, wall0, la, impl = sys.argv[1:]
rows = [json.loads(l) for l in open(pred)]
gen_s = float(wall) - float(wall0)
print(json.dumps({"bench": "generate", "model": m, "batch": int(b), "impl": impl, "coretype": c, "wait": w,
                  "rep": int(rep),
                  "examples": len(rows), "generated_tokens": sum(r["generated_tokens"] for r in rows),
                  "elapsed_s": gen_s, "ms_per_sample": 1000 * gen_s / len(rows), "wall_s": float(wall),
                  "startup_s": float(wall0), "peak_rss_kib": int(rss), "loadavg_before": float(la)}))
PY
}

run_hf() {  # MODEL BATCH DTYPE CORETYPE WAIT REP
    local m=$1 b=$2 d=$3 c=$4 w=$5 rep=$6 la; la=$(loadavg)
    with_env "$c" "$w" "$PY" "$ROOT/bench/hf_generate.py" --model "$SETUP/$m" --tokens "$SETUP/$m.test.tok" \
        --deal-cat "$BIN/deal-cat" --dtype "$d" --threads "$THREADS" --batch "$b" --max-new-tokens 8 \
        --ids "$WORK/hf-$d.$m.$b.ids" > "$WORK/hf.json"
    "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); r.update(bench="generate", coretype=sys.argv[2], wait=sys.argv[3], rep=int(sys.argv[4]), loadavg_before=float(sys.argv[5]), model=sys.argv[6]); print(json.dumps(r))' \
        "$WORK/hf.json" "$c" "$w" "$rep" "$la" "$m" >> "$R"
}

check_same() {  # MODEL BATCH: deal's predictions vs HF's (fp32 and bf16), as text
    local m=$1 b=$2 d
    for d in fp32 bf16; do
        [ -s "$WORK/hf-$d.$m.$b.ids" ] || continue
        "$BIN/deal-tokenize" --model "$SETUP/$m" --decode --skip-special < "$WORK/hf-$d.$m.$b.ids" > "$WORK/hf.txt"
        "$PY" - "$WORK/deal.$m.$b.jsonl" "$WORK/hf.txt" "$m" "$b" "$d" >> "$C" <<'PY'
import json, sys
ours = [json.loads(l)["prediction"] for l in open(sys.argv[1])]
theirs = [json.loads(l) for l in open(sys.argv[2])]
same = sum(a == b for a, b in zip(ours, theirs))
print(json.dumps({"model": sys.argv[3], "batch": int(sys.argv[4]), "hf": "hf-" + sys.argv[5], "examples": len(ours),
                  "same_prediction": same, "first_difference": next(([a, b] for a, b in zip(ours, theirs) if a != b), None)}))
PY
    done
}

read -r -a variants <<< "$VARIANTS"
for rep in $(seq 1 "$REPS"); do
    for m in $MODELS; do
        for b in $BATCHES; do
            rm -f "$WORK"/*.ids "$WORK"/deal*.jsonl
            while IFS=/ read -r impl c w; do
                echo "bench_generate: rep $rep/$REPS $m batch $b $impl OPENBLAS_CORETYPE=$c OMP_WAIT_POLICY=$w (load $(loadavg))" >&2
                case $impl in
                deal | deal-bf16) run_deal "$m" "$b" "$c" "$w" "$rep" "$impl" ;;
                hf-fp32 | hf-bf16) run_hf "$m" "$b" "${impl#hf-}" "$c" "$w" "$rep" ;;
                *) echo "bench_generate: unknown variant $impl/$c/$w" >&2; exit 1 ;;
                esac
                tail -n 1 "$R" | "$PY" -c 'import json, sys; r = json.load(sys.stdin); print("  %.1f ms/sample, %d tokens, peak RSS %d MiB" % (r["ms_per_sample"], r["generated_tokens"], r["peak_rss_kib"] // 1024))' >&2
            done < <(rotate "$((rep - 1))" "${variants[@]}")
            if [ "$rep" -eq 1 ] && [ -s "$WORK/deal.$m.$b.jsonl" ]; then check_same "$m" "$b"; fi
        done
    done
done
"$PY" "$ROOT/bench/summarize.py" "$OUT/results"
