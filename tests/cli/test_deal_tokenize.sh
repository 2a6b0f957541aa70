#!/usr/bin/env bash
# deal-tokenize from the command line: a SentencePiece vocabulary trained from a
# stream, both conventions, truncation that spares the instruction and the
# "Answer:" tail, --encode/--decode, the real Llama-3 tokenizer, and bad input.
. "$(dirname "$0")/lib.sh"
J2S="python3 $(dirname "$0")/json2stream.py"
field() { python3 -c "import json,sys; [print(json.dumps(json.loads(l)$1, ensure_ascii=False)) for l in sys.stdin]"; }

# Data of our own: 400 short reviews, a few with very long passages.
python3 - > "$TMP/reviews.jsonl" <<'PY'
import json, random
random.seed(3)
good = "great superb lovely fine excellent wonderful".split()
bad = "awful poor dull broken terrible boring".split()
filler = "the movie plot actor scene music story camera light sound".split()
for i in range(400):
    lab = "positive" if i % 2 else "negative"
    words = [random.choice(filler) for _ in range(random.randint(5, 15))]
    words.insert(random.randrange(len(words)), random.choice(good if lab == "positive" else bad))
    if i % 50 == 0: words = words * 40    # long passages, to exercise truncation
    print(json.dumps({"input": " ".join(words) + " é ü ✓", "label": lab, "options": ["negative", "positive"]}))
PY
deal-prep --jsonl "$TMP/reviews.jsonl" --task reviews --instruction "What is the sentiment? Choose one from the option." \
    --limit 0 > "$TMP/ex.msgpack"
check "train a SentencePiece vocabulary" deal-tokenize --train-vocab 300 --out "$TMP/sp.model" "$TMP/ex.msgpack"
check "no temporary left behind" test -z "$(ls "$TMP" | grep tmp)"

deal-tokenize --tokenizer "$TMP/sp.model" -z < "$TMP/ex.msgpack" > "$TMP/tok.zst" 2>"$TMP/err"
check_eq "t5: record count" "$(deal-cat --count "$TMP/tok.zst")" 400
hdr=$(deal-cat --header "$TMP/tok.zst" | head -n 1)
check_eq "t5: convention and specials" "$(echo "$hdr" | python3 -c 'import json,sys; h=json.load(sys.stdin); print(h["kind"], h["convention"], h["eos_id"], h["pad_id"], h["decoder_start_id"], h["bos_id"], h["vocab_size"], h["tokenizer_type"])')" \
    "tokens t5 1 0 0 -1 300 sentencepiece"
deal-cat "$TMP/tok.zst" > "$TMP/tok.jsonl"
check_eq "t5: every source and target ends with </s>" \
    "$(python3 -c 'import json,sys; print(all(r["source"][-1] == 1 and r["target"][-1] == 1 and 1 not in r["source"][:-1] for r in map(json.loads, open(sys.argv[1]))))' "$TMP/tok.jsonl")" True

# Decoding a source gives back the prompt (SentencePiece normalises white space).
deal-cat "$TMP/ex.msgpack" | sed -n 2,4p | field '["prompt"]' > "$TMP/prompts"
sed -n 2,4p "$TMP/tok.jsonl" | field '["source"]' | deal-tokenize --tokenizer "$TMP/sp.model" --decode --skip-special > "$TMP/decoded"
check_eq "t5: decode(source) is the prompt" "$(python3 -c '
import json,sys
a=[" ".join(json.loads(l).split()) for l in open(sys.argv[1])]; b=[" ".join(json.loads(l).split()) for l in open(sys.argv[2])]
print(a == b)' "$TMP/prompts" "$TMP/decoded")" True

# Truncation: sources fit, the instruction head and the "Answer:" tail survive.
deal-tokenize --tokenizer "$TMP/sp.model" --max-source 150 --max-target 2 < "$TMP/ex.msgpack" 2>"$TMP/err" | deal-cat > "$TMP/short.jsonl"
check "truncation reported on stderr" grep -q "had their passage shortened to fit --max-source 150" "$TMP/err"
check_eq "truncation: lengths" "$(python3 -c '
import json,sys
rs=[json.loads(l) for l in open(sys.argv[1])]
print(max(len(r["source"]) for r in rs) <= 150, max(len(r["target"]) for r in rs) <= 2, sum(r["truncated"] for r in rs) > 0)' "$TMP/short.jsonl")" "True True True"
python3 -c '
import json,sys
rs=[json.loads(l) for l in open(sys.argv[1])]
r=next(r for r in rs if r["truncated"]); print(json.dumps(r["source"]))' "$TMP/short.jsonl" \
    | deal-tokenize --tokenizer "$TMP/sp.model" --decode --skip-special > "$TMP/cut"
check "truncation keeps the instruction" grep -q '^"Task:reviews Dataset:reviews What is the sentiment' "$TMP/cut"
check "truncation keeps Answer:" grep -q 'Answer:"$' "$TMP/cut"
check_fails "head longer than --max-source" "record 1: the prompt without its passage is longer than --max-source 5" \
    deal-tokenize --tokenizer "$TMP/sp.model" --max-source 5 "$TMP/ex.msgpack"

# --encode / --decode round trip.
printf '"the movie was great"\n"é ü ✓ 123"\n' > "$TMP/texts"
deal-tokenize --tokenizer "$TMP/sp.model" --encode "$TMP/texts" > "$TMP/ids"
check_eq "encode gives arrays" "$(head -c 1 "$TMP/ids")" "["
check_eq "encode/decode round trip" "$(deal-tokenize --tokenizer "$TMP/sp.model" --decode "$TMP/ids")" "$(cat "$TMP/texts")"

# Bad input.
deal-tokenize --tokenizer "$TMP/sp.model" < "$TMP/ex.msgpack" > "$TMP/tok.msgpack"
check_fails "wrong stream kind" "stdin: header: a stream of tokens, expected examples" \
    sh -c "deal-tokenize --tokenizer '$TMP/sp.model' < '$TMP/tok.msgpack'"
head -c 3000 "$TMP/ex.msgpack" > "$TMP/cut.msgpack"
check_fails "truncated stream" "cut.msgpack: record [0-9]+: truncated" deal-tokenize --tokenizer "$TMP/sp.model" "$TMP/cut.msgpack"
head -c 2000 /dev/urandom > "$TMP/garbage"
check_fails "garbage bytes" "garbage: header: " deal-tokenize --tokenizer "$TMP/sp.model" "$TMP/garbage"
printf '%s\n%s\n' '{"format":"deal","version":1,"kind":"examples","task":"x","split":"train"}' \
    '{"id":"x-1","task":"x","dataset":"x","type":"x","split":"train","target":"a","options":[],"passage_start":0,"passage_end":0}' \
    | $J2S > "$TMP/noprompt.msgpack"
check_fails "missing field" 'noprompt.msgpack: record 1: missing field "prompt"' deal-tokenize --tokenizer "$TMP/sp.model" "$TMP/noprompt.msgpack"
printf '%s\n' '{"format":"deal","version":2,"kind":"examples","task":"x","split":"train"}' | $J2S > "$TMP/v2.msgpack"
check_fails "future version" "header: stream version 2" deal-tokenize --tokenizer "$TMP/sp.model" "$TMP/v2.msgpack"
check_fails "unknown option" "unrecognized option" deal-tokenize --tokenizer "$TMP/sp.model" --bogus
check_fails "no tokenizer" "give one of --model DIR or --tokenizer PATH" deal-tokenize "$TMP/ex.msgpack"
check_fails "missing tokenizer file" "nope.model" deal-tokenize --tokenizer "$TMP/nope.model" "$TMP/ex.msgpack"
echo "not a model" > "$TMP/bad.model"
check_fails "corrupt tokenizer file" "bad.model" deal-tokenize --tokenizer "$TMP/bad.model" "$TMP/ex.msgpack"
check_fails "bad --encode input" "stdin: line 1: expected a JSON string" sh -c "echo 42 | deal-tokenize --tokenizer '$TMP/sp.model' --encode"
check_fails "bad --decode id" "stdin: line 1: element 1 is not an id" sh -c "echo '[5, 99999]' | deal-tokenize --tokenizer '$TMP/sp.model' --decode"
check_fails "vocabulary too large for the data" "vocab" deal-tokenize --train-vocab 100000 --out "$TMP/big.model" "$TMP/ex.msgpack"
check "no model after a failed training" test ! -e "$TMP/big.model"

# A model folder: config.json decides the convention.
mkdir -p "$TMP/t5model" && cp "$TMP/sp.model" "$TMP/t5model/spiece.model" && cp tests/reference/fixtures/t5_v1_0/config.json "$TMP/t5model/config.json"
check_eq "--model folder" "$(deal-tokenize --model "$TMP/t5model" "$TMP/ex.msgpack" | deal-cat --header | head -n 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["convention"])')" t5

# The real Llama-3.1 tokenizer and the benchmark data.
if [ -f "$LLAMA3_TOKENIZER" ]; then
    deal-tokenize --tokenizer "$LLAMA3_TOKENIZER" "$TMP/ex.msgpack" | deal-cat --header > "$TMP/llama.jsonl"
    check_eq "llama: convention and specials" "$(head -n 1 "$TMP/llama.jsonl" | python3 -c 'import json,sys; h=json.load(sys.stdin); print(h["convention"], h["bos_id"], h["eos_id"], h["vocab_size"], h["tokenizer_type"])')" \
        "llama 128000 128009 128256 bpe"
    check_eq "llama: bos + prompt, label + eos" "$(tail -n +2 "$TMP/llama.jsonl" | python3 -c '
import json,sys
rs=[json.loads(l) for l in sys.stdin]
print(all(r["source"][0] == 128000 and 128000 not in r["source"][1:] and r["target"][-1] == 128009 for r in rs))')" True
    sed -n 3p "$TMP/llama.jsonl" | field '["source"][1:]' | deal-tokenize --tokenizer "$LLAMA3_TOKENIZER" --decode > "$TMP/d"
    check_eq "llama: decode(source) is the prompt exactly" "$(cat "$TMP/d")" "$(deal-cat "$TMP/ex.msgpack" | sed -n 2p | field '["prompt"]')"
    if need_data "Llama-3 pipe on agnews"; then
        check_eq "prep | tokenize | cat gives 1,000 records" \
            "$(deal-prep --data "$DATA" agnews --split train | deal-tokenize --tokenizer "$LLAMA3_TOKENIZER" | deal-cat | wc -l)" 1000
    fi
else
    skip "Llama-3 tokenizer" "no $LLAMA3_TOKENIZER (set DEAL_SHARED)"
fi
finish
