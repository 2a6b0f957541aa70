#!/usr/bin/env bash
# deal-train and deal-predict end to end on tiny random T5 and LLaMA models
# with a SentencePiece vocabulary trained here: they learn a toy sentiment
# task, runs are reproducible, a stopped run resumes to the same bits, --init
# and --full work, and bad input is refused clearly.
. "$(dirname "$0")/lib.sh"
HERE=$(dirname "$0")
field_of() { python3 -c "import json,sys; print(json.loads(sys.stdin.readline())$1)"; }

python3 - > "$TMP/reviews.jsonl" <<'PY'
import json, random
random.seed(3)
good = "great superb lovely fine excellent wonderful".split()
bad = "awful poor dull broken terrible boring".split()
filler = "the movie plot actor scene music story camera light sound".split()
for i in range(240):
    lab = "positive" if i % 2 else "negative"
    words = [random.choice(filler) for _ in range(random.randint(5, 12))]
    words.insert(random.randrange(len(words)), random.choice(good if lab == "positive" else bad))
    print(json.dumps({"input": " ".join(words), "label": lab, "options": ["negative", "positive"]}))
PY
deal-prep --jsonl "$TMP/reviews.jsonl" --task reviews --limit 0 > "$TMP/ex.msgpack"
deal-tokenize --train-vocab 300 --out "$TMP/sp.model" "$TMP/ex.msgpack"
python3 "$HERE/make_tiny_model.py" t5 "$TMP/t5" --vocab 300 --tokenizer "$TMP/sp.model"
deal-tokenize --model "$TMP/t5" "$TMP/ex.msgpack" > "$TMP/tok"
# lr 5e-3: 80-83% on this task with every seed tried (1-6); at 1e-2 some seeds
# fall into a poor minimum (58-75%), whichever the rounding or dropout masks.
TRAIN="deal-train --model $TMP/t5 --lr 5e-3 --batch 8 --accum 2 --epochs 3"

$TRAIN --out "$TMP/A" "$TMP/tok" 2>"$TMP/err"
check "adapter written" test -s "$TMP/A/adapter_model.safetensors" -a -s "$TMP/A/adapter_config.json"
check "no checkpoint left" test ! -e "$TMP/A.ckpt"
check_eq "log: one line per optimizer step" "$(grep -c '"step"' "$TMP/A.log.jsonl")" 45
check "log: the kernels in use" grep -q '"kernels":"' "$TMP/A.log.jsonl"
first=$(sed -n 2p "$TMP/A.log.jsonl" | field_of '["loss"]'); last=$(tail -n 1 "$TMP/A.log.jsonl" | field_of '["loss"]')
check "the loss falls (from $first to $last)" python3 -c "assert $last < $first / 3"
check_eq "PEFT config" "$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print(c["peft_type"], c["r"], c["target_modules"], c["task_type"])' "$TMP/A/adapter_config.json")" \
    "LORA 16 ['q', 'v'] SEQ_2_SEQ_LM"

deal-predict --model "$TMP/t5" --adapter "$TMP/A" "$TMP/tok" > "$TMP/pred.jsonl"
check_eq "one prediction per record" "$(wc -l < "$TMP/pred.jsonl")" 240
check_eq "prediction fields" "$(head -n 1 "$TMP/pred.jsonl" | python3 -c 'import json,sys; print(sorted(json.load(sys.stdin)))')" \
    "['dataset', 'generated_tokens', 'id', 'label', 'prediction', 'split', 'task']"
acc=$(deal-score "$TMP/pred.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["accuracy"]["reviews"])')
check "the T5 adapter learned the task (accuracy $acc%)" python3 -c "assert $acc >= 75"
# --bf16: the frozen weights' products in bf16, for training and prediction
# (oneDNN has them from AVX-512 on; elsewhere the tools say so).
if grep -qw avx512bw /proc/cpuinfo; then
    $TRAIN --bf16 --out "$TMP/B16" "$TMP/tok" 2>/dev/null
    check "--bf16: the log says so" grep -q '"products":"bf16 (frozen weights)"' "$TMP/B16.log.jsonl"
    deal-predict --bf16 --model "$TMP/t5" --adapter "$TMP/B16" "$TMP/tok" > "$TMP/pred16.jsonl"
    acc16=$(deal-score "$TMP/pred16.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["accuracy"]["reviews"])')
    check "--bf16: the adapter learned the task too (accuracy $acc16%)" python3 -c "assert $acc16 >= 75"
else
    check_fails "--bf16 without AVX-512" "need AVX-512" $TRAIN --bf16 --out "$TMP/B16" "$TMP/tok"
fi
check_fails "--bf16 with --full" "bf16 products need frozen weights" deal-train --model "$TMP/t5" --out "$TMP/X" --full --bf16 "$TMP/tok"
deal-predict --model "$TMP/t5" "$TMP/tok" > "$TMP/pred0.jsonl"
acc0=$(deal-score "$TMP/pred0.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["accuracy"]["reviews"])')
check "without the adapter it does not ($acc0%)" python3 -c "assert $acc0 < 60"

$TRAIN --out "$TMP/A2" "$TMP/tok" 2>/dev/null
check "same seed, same adapter bits" cmp -s "$TMP/A/adapter_model.safetensors" "$TMP/A2/adapter_model.safetensors"
$TRAIN --out "$TMP/A3" --seed 2 "$TMP/tok" 2>/dev/null
check "another seed, another adapter" test "$(md5sum < "$TMP/A/adapter_model.safetensors")" != "$(md5sum < "$TMP/A3/adapter_model.safetensors")"

# A run stopped half-way resumes to the same bits as an uninterrupted one.
$TRAIN --out "$TMP/R" --save-every 5 --stop-after 17 "$TMP/tok" 2>"$TMP/err"
check "stopped: no adapter yet" test ! -e "$TMP/R"
check "stopped: checkpoint left" test -s "$TMP/R.ckpt/state.json"
check_eq "stopped: log so far" "$(grep -c '"step"' "$TMP/R.log.jsonl")" 17
$TRAIN --out "$TMP/R" --save-every 5 --resume "$TMP/tok" 2>"$TMP/err"
check "resume says where it starts" grep -q "resuming from .*R.ckpt at step 17" "$TMP/err"
check "resumed run: same adapter bits" cmp -s "$TMP/A/adapter_model.safetensors" "$TMP/R/adapter_model.safetensors"
check_eq "resumed run: same losses" "$(python3 -c 'import json,sys; print([json.loads(l).get("loss") for l in open(sys.argv[1])])' "$TMP/R.log.jsonl")" \
    "$(python3 -c 'import json,sys; print([json.loads(l).get("loss") for l in open(sys.argv[1])])' "$TMP/A.log.jsonl")"

# A real kill: whenever it lands, the resumed run ends with the same adapter.
$TRAIN --out "$TMP/K" --save-every 3 "$TMP/tok" 2>/dev/null & pid=$!
for _ in $(seq 200); do [ -e "$TMP/K.ckpt/state.json" ] && break; sleep 0.01; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
$TRAIN --out "$TMP/K" --save-every 3 --resume "$TMP/tok" 2>/dev/null
check "killed and resumed: same adapter bits" cmp -s "$TMP/A/adapter_model.safetensors" "$TMP/K/adapter_model.safetensors"

# --init continues an adapter; at lr 0 it is unchanged.
deal-train --model "$TMP/t5" --init "$TMP/A" --lr 0 --out "$TMP/I" "$TMP/tok" 2>/dev/null
check "--init at lr 0 keeps the adapter" cmp -s "$TMP/A/adapter_model.safetensors" "$TMP/I/adapter_model.safetensors"
deal-predict --model "$TMP/t5" --adapter "$TMP/I" "$TMP/tok" > "$TMP/predI.jsonl"
check "--init adapter predicts the same" cmp -s "$TMP/pred.jsonl" "$TMP/predI.jsonl"

# --full: every weight trains; the result is a model folder deal-predict reads.
deal-train --model "$TMP/t5" --full --lr 1e-3 --batch 8 --accum 1 --epochs 1 --out "$TMP/F" "$TMP/tok" 2>/dev/null
check "--full writes a model folder" test -s "$TMP/F/model.safetensors" -a -s "$TMP/F/config.json" -a -s "$TMP/F/spiece.model"
check "--full model predicts" deal-predict --model "$TMP/F" "$TMP/tok" -o "$TMP/predF.jsonl"

# LLaMA: the decoder-only path end to end.
python3 "$HERE/make_tiny_model.py" llama "$TMP/llama" --vocab 300 --tokenizer "$TMP/sp.model"
check_fails "t5 tokens for a llama model" "tokens in the t5 convention, but .*llama is a llama model" \
    deal-train --model "$TMP/llama" --out "$TMP/L" "$TMP/tok"
deal-tokenize --model "$TMP/llama" "$TMP/ex.msgpack" > "$TMP/ltok"
# 10 epochs: with 6, one seed in three ends at chance, depending on the dropout masks.
deal-train --model "$TMP/llama" --lr 1e-2 --batch 8 --accum 2 --epochs 10 --out "$TMP/L" "$TMP/ltok" 2>/dev/null
check_eq "llama adapter: PEFT names and targets" "$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print(c["r"], c["target_modules"], c["task_type"])' "$TMP/L/adapter_config.json")" \
    "32 ['q_proj', 'v_proj'] CAUSAL_LM"
deal-predict --model "$TMP/llama" --adapter "$TMP/L" "$TMP/ltok" > "$TMP/lpred.jsonl"
lacc=$(deal-score "$TMP/lpred.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["accuracy"]["reviews"])')
# Two classes (chance 50%). The tiny LLaMA needs 6 epochs: after 3 it sits at
# 58-75% depending on the seed, after 6 at 80-83% (seeds 1-3).
check "the LLaMA adapter learned the task (accuracy $lacc%)" python3 -c "assert $lacc >= 75"

# Bad input.
deal-tokenize --train-vocab 295 --out "$TMP/sp2.model" "$TMP/ex.msgpack"
deal-tokenize --tokenizer "$TMP/sp2.model" "$TMP/ex.msgpack" > "$TMP/tok2"
check_fails "tokens from another tokenizer" "made with another tokenizer" deal-train --model "$TMP/t5" --out "$TMP/X" "$TMP/tok2"
check_fails "an examples stream" "a stream of examples, expected tokens" deal-train --model "$TMP/t5" --out "$TMP/X" "$TMP/ex.msgpack"
check_fails "unknown option" "unrecognized option" deal-train --model "$TMP/t5" --out "$TMP/X" --nope
check_fails "unknown device" "--device tpu: unknown device" deal-train --model "$TMP/t5" --out "$TMP/X" --device tpu "$TMP/tok"
# --device cuda trains where there is a GPU, and otherwise says why it cannot.
if deal-train --model "$TMP/t5" --out "$TMP/gpu" --device cuda --stop-after 1 "$TMP/tok" 2>"$TMP/gpu.err"; then
    check "--device cuda: a checkpoint after one step" test -f "$TMP/gpu.ckpt"
else
    check "--device cuda without a GPU: says why" grep -Eq -- "--device cuda: (no CUDA device|this build has no CUDA)" "$TMP/gpu.err"
fi
check_fails "missing --model" "--model DIR and --out DIR are required" deal-train --out "$TMP/X" "$TMP/tok"
check_fails "bad rank" "--lora-r: expected an integer" deal-train --model "$TMP/t5" --out "$TMP/X" --lora-r 0 "$TMP/tok"
check_fails "no model folder" "nowhere/config.json" deal-train --model "$TMP/nowhere" --out "$TMP/X" "$TMP/tok"
check_fails "targets matching nothing" "no linear layer matches the LoRA targets" \
    deal-train --model "$TMP/t5" --out "$TMP/X" --targets nothing "$TMP/tok"
cp -r "$TMP/t5" "$TMP/nan"
python3 - "$TMP/nan/model.safetensors" <<'PY'
import json, struct, sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); off = 8 + n + h["lm_head.weight"]["data_offsets"][0]
b[off + 4 * 7:off + 4 * 8] = struct.pack("<f", float("nan")); open(p, "wb").write(b)
PY
check_fails "NaN in the weights" "model.safetensors: tensor lm_head.weight: element 7 is NaN" \
    deal-train --model "$TMP/nan" --out "$TMP/X" "$TMP/tok"
head -c 5000 "$TMP/t5/model.safetensors" > "$TMP/nan/model.safetensors"
check_fails "truncated safetensors" "model.safetensors" deal-train --model "$TMP/nan" --out "$TMP/X" "$TMP/tok"
check "nothing written after errors" test ! -e "$TMP/X"
check_fails "predict: an examples stream" "a stream of examples, expected tokens" deal-predict --model "$TMP/t5" "$TMP/ex.msgpack"
check_fails "predict: adapter for another model" "the model has no module" deal-predict --model "$TMP/t5" --adapter "$TMP/L" "$TMP/tok"
finish
