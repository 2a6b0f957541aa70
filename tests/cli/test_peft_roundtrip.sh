#!/usr/bin/env bash
# Adapters cross between deal and Hugging Face PEFT both ways: an adapter
# deal-train writes loads in PEFT and generates what deal-predict generates;
# a PEFT adapter loads in deal-predict and generates what PEFT generates.
# (Logits and gradients are compared with transformers + PEFT in
# tests/unit/test_model_reference.c; this checks the files themselves.)
. "$(dirname "$0")/lib.sh"
HERE=$(dirname "$0")
PY=/usr/bin/python3
if ! $PY -c 'import torch, transformers, peft' 2>/dev/null; then
    skip "PEFT round trip" "no torch/transformers/peft for $PY (scripts/install-deps.sh installs them)"
    finish; exit
fi

python3 - > "$TMP/data.jsonl" <<'PY'
import json, random
random.seed(5)
words = "red green blue cat dog bird one two three sun moon star".split()
for i in range(48):
    lab = ["alpha", "beta", "gamma"][i % 3]
    print(json.dumps({"input": " ".join(random.choice(words) for _ in range(6 + i % 5)), "label": lab,
                      "options": ["alpha", "beta", "gamma"]}))
PY
deal-prep --jsonl "$TMP/data.jsonl" --task toy --limit 0 > "$TMP/ex"
deal-tokenize --train-vocab 290 --out "$TMP/sp.model" "$TMP/ex"

for arch in t5 llama; do
    targets=$([ $arch = t5 ] && echo q,v || echo q_proj,v_proj)
    python3 "$HERE/make_tiny_model.py" $arch "$TMP/$arch" --vocab 290 --tokenizer "$TMP/sp.model"
    deal-tokenize --model "$TMP/$arch" "$TMP/ex" > "$TMP/tok.$arch"
    deal-cat "$TMP/tok.$arch" > "$TMP/tok.$arch.jsonl"

    # deal -> PEFT
    deal-train --model "$TMP/$arch" --out "$TMP/ours.$arch" --lora-r 4 --lr 1e-2 --batch 8 --accum 1 --epochs 2 \
        "$TMP/tok.$arch" 2>/dev/null
    deal-predict --model "$TMP/$arch" --adapter "$TMP/ours.$arch" --max-new-tokens 12 "$TMP/tok.$arch" > "$TMP/p1"
    $PY "$HERE/peft_generate.py" "$TMP/$arch" "$TMP/ours.$arch" "$TMP/tok.$arch.jsonl" 12 2>/dev/null \
        | deal-tokenize --tokenizer "$TMP/sp.model" --decode --skip-special > "$TMP/h1"
    check_eq "$arch: PEFT loads our adapter and generates the same" \
        "$(python3 -c 'import json,sys; print([json.loads(l)["prediction"] for l in open(sys.argv[1])])' "$TMP/p1")" \
        "$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1])])' "$TMP/h1")"

    # PEFT -> deal
    $PY "$HERE/peft_generate.py" --make-adapter "$TMP/$arch" "$TMP/peft.$arch" 4 8 "$targets" 7 2>/dev/null
    deal-predict --model "$TMP/$arch" --adapter "$TMP/peft.$arch" --max-new-tokens 12 "$TMP/tok.$arch" > "$TMP/p2"
    $PY "$HERE/peft_generate.py" "$TMP/$arch" "$TMP/peft.$arch" "$TMP/tok.$arch.jsonl" 12 2>/dev/null \
        | deal-tokenize --tokenizer "$TMP/sp.model" --decode --skip-special > "$TMP/h2"
    check_eq "$arch: deal loads a PEFT adapter and generates the same" \
        "$(python3 -c 'import json,sys; print([json.loads(l)["prediction"] for l in open(sys.argv[1])])' "$TMP/p2")" \
        "$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1])])' "$TMP/h2")"
    check "$arch: the PEFT adapter changes the output" test "$(md5sum < "$TMP/h2")" != "$(md5sum < "$TMP/h1")"
done
finish
