#!/usr/bin/env bash
# deal-prep and deal-cat from the command line: every dataset, the prompt
# against an independent rendering of benchmarks.md's template, seeded
# selection, user data, and bad input.
. "$(dirname "$0")/lib.sh"

# A small data folder of our own, in the CL_Benchmark layout, for bad-input cases.
mk_data() {
    mkdir -p "$TMP/d/TC/agnews"
    echo '["World", "Sports"]' > "$TMP/d/TC/agnews/labels.json"
    echo "$1" > "$TMP/d/TC/agnews/train.json"
}

mk_data '[{"sentence": "a", "label": "World"}, {"sentence": "b", "label": "Sports"}, {"sentence": "c", "label": "World"}]'
check_eq "own data, all records" "$(deal-prep --data "$TMP/d" agnews --split train | deal-cat --count)" 3
check_eq "limit" "$(deal-prep --data "$TMP/d" agnews --split train --limit 2 | deal-cat --count)" 2
check_eq "DEAL_DATA" "$(DEAL_DATA="$TMP/d" deal-prep agnews --split train | deal-cat --count)" 3
deal-prep --data "$TMP/d" agnews --split train -z -o "$TMP/out.zst"
check_eq "zstd output read back" "$(deal-cat --count "$TMP/out.zst")" 3
check_eq "header" "$(deal-cat --header "$TMP/out.zst" | head -n 1)" \
    '{"format":"deal","version":1,"kind":"examples","task":"agnews","split":"train","source":"CL_Benchmark","count":3}'

check_fails "unknown option" "unrecognized option" deal-prep --bogus agnews --split train
check_fails "unknown task" 'unknown task "nosuch"' deal-prep --data "$TMP/d" nosuch --split train
check_fails "missing split" "split train\|test\|dev is required" deal-prep --data "$TMP/d" agnews
check_fails "bad split" 'expected train, test or dev, got "val"' deal-prep --data "$TMP/d" agnews --split val
check_fails "bad limit" '--limit: expected an integer' deal-prep --data "$TMP/d" agnews --split train --limit x
check_fails "no data folder" "TC/yahoo: no such folder" deal-prep --data "$TMP/d" yahoo --split train
check_fails "missing split file" "test.json: No such file" deal-prep --data "$TMP/d" agnews --split test
mk_data '[{"sentence": "a", "label": "World"}, {"sentence": "b", "label": "Spor'
check_fails "malformed JSON" "train.json: line 1 column [0-9]+: " deal-prep --data "$TMP/d" agnews --split train
mk_data '[{"sentence": "a", "label": "World"}, {"label": "Sports"}]'
check_fails "record without sentence" 'train.json: record 2: missing "sentence"' deal-prep --data "$TMP/d" agnews --split train
mk_data '[{"sentence": "a", "label": "World"}, {"sentence": "b"}]'
check_fails "record without label" 'train.json: record 2: missing "label"' deal-prep --data "$TMP/d" agnews --split train
mk_data '[{"sentence": "a", "label": "Worlds"}]'
check_fails "label not in labels.json" 'record 1: label "Worlds" is not in labels.json' deal-prep --data "$TMP/d" agnews --split train
mk_data '[{"sentence": "a", "label": "World"}, {"sentence": "b", "label": "-"}]'
deal-prep --data "$TMP/d" agnews --split train 2>"$TMP/err" | deal-cat --count > "$TMP/count"
check_eq 'label "-" left out' "$(cat "$TMP/count")" 1
check "label \"-\" counted on stderr" grep -q '1 records labelled "-"' "$TMP/err"
check_fails "nothing written on error" "unknown task" deal-prep --data "$TMP/d" nosuch --split train -o "$TMP/never"
check "no output file after an error" test ! -e "$TMP/never"

# deal-cat on what is not a stream.
echo '{"a": 1}' > "$TMP/json"
check_fails "deal-cat on JSON" "json: header: not a msgpack map" deal-cat "$TMP/json"
head -c 40 "$TMP/out.zst" > "$TMP/cut.zst"
check_fails "deal-cat on a truncated stream" "cut.zst: .*truncated" deal-cat "$TMP/cut.zst"
check_fails "deal-cat unknown option" "unrecognized option" deal-cat --nope

# User data as JSON lines.
cat > "$TMP/mine.jsonl" <<'JSONL'
{"input": "free money now", "label": "spam", "options": ["spam", "ham"]}

{"input": "lunch at noon?", "label": "ham", "options": ["spam", "ham"]}
JSONL
deal-prep --jsonl "$TMP/mine.jsonl" --task mail --instruction "Is this spam? Choose one from the option." > "$TMP/mine.msgpack"
check_eq "jsonl count" "$(deal-cat --count "$TMP/mine.msgpack")" 2
check_eq "jsonl prompt" "$(deal-cat "$TMP/mine.msgpack" | head -n 1 | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["prompt"]))')" \
    '"Task:mail\nDataset:mail\nIs this spam? Choose one from the option.\nOption: spam, ham \nfree money now\nAnswer:"'
echo '{"input": "x", "label": "eggs", "options": ["spam", "ham"]}' > "$TMP/bad.jsonl"
check_fails "jsonl label not an option" 'bad.jsonl: line 1: label "eggs" is not one of its options' \
    deal-prep --jsonl "$TMP/bad.jsonl" --task mail
echo '{"input": "x"' > "$TMP/bad.jsonl"
check_fails "jsonl malformed" "bad.jsonl: line 1: " deal-prep --jsonl "$TMP/bad.jsonl" --task mail
check_fails "jsonl without --task" "needs --task" deal-prep --jsonl "$TMP/mine.jsonl"

# The real benchmark: every dataset, both splits, and the prompt of one record
# of each type rendered independently from benchmarks.md.
if need_data "benchmark datasets"; then
    for t in agnews dbpedia yahoo amazon yelp IMDB SST-2 MNLI RTE CB QQP BoolQA COPA MultiRC WiC; do
        for s in train test; do
            deal-prep --data "$DATA" "$t" --split "$s" 2>/dev/null > "$TMP/$t.$s" || fail "$t $s" "deal-prep failed"
        done
    done
    python3 - "$DATA" "$TMP" > "$TMP/report" <<'PY'
import json, subprocess, sys
data, tmp = sys.argv[1], sys.argv[2]
types = {"agnews": "TC", "dbpedia": "TC", "yahoo": "TC", "amazon": "SC", "yelp": "SC", "IMDB": "SC", "SST-2": "SC",
         "MNLI": "NLI", "RTE": "NLI", "CB": "NLI", "QQP": "QQP", "BoolQA": "BoolQA", "COPA": "COPA",
         "MultiRC": "MultiRC", "WiC": "WiC"}
instr = {
 "NLI": 'What is the logical relationship between the "sentence 1" and the "sentence 2"? Choose one from the option.\n',
 "QQP": 'Whether the "first sentence" and the "second sentence" have the same meaning? Choose one from the option.\n',
 "SC": "What is the sentiment of the following paragraph? Choose one from the option.\n",
 "TC": "What is the topic of the following paragraph? Choose one from the option.\n",
 "BoolQA": "According to the following passage, is the question true or false? Choose one from the option.\n",
 "MultiRC": "According to the following passage and question, is the candidate answer true or false? Choose one from the option.\n",
 "WiC": "Given a word and two sentences, whether the word is used with the same sense in both sentence? Choose one from the option.\n"}
seen_types = set()
for ds, ty in types.items():
    labels = json.load(open(f"{data}/{ty}/{ds}/labels.json"))
    for split, limit in (("train", 1000), ("test", 500)):
        src = json.load(open(f"{data}/{ty}/{ds}/{split}.json"))
        labelled = [r for r in src if r["label"] != "-"]
        out = [json.loads(l) for l in subprocess.run(["deal-cat", f"{tmp}/{ds}.{split}"], capture_output=True, text=True).stdout.split("\n") if l]
        want = min(limit, len(labelled))
        print(f"{ds} {split} count", "ok" if len(out) == want else f"got {len(out)} want {want}")
        ok = True
        for e in out:
            n = int(e["id"].rsplit("-", 1)[1])
            r = src[n - 1]
            head = f"Task:{ty}\nDataset:{ds}\n"
            prompt = head + r["sentence"] + "\nAnswer:" if ty == "COPA" else \
                     head + instr[ty] + "Option: " + ", ".join(labels) + " \n" + r["sentence"] + "\nAnswer:"
            if e["prompt"] != prompt or e["target"] != r["label"] or e["options"] != labels:
                ok = False; print(f"{ds} {split} {e['id']} prompt", "mismatch", repr(e["prompt"][:200])); break
            ps, pe = e["passage_start"], e["passage_end"]
            if prompt.encode()[ps:pe].decode() != r["sentence"]:
                ok = False; print(f"{ds} {split} passage span", "mismatch"); break
        if ok: seen_types.add(ty)
        print(f"{ds} {split} prompts", "ok" if ok else "mismatch")
print("all 8 types", "ok" if len(seen_types) == 8 else f"only {sorted(seen_types)}")
PY
    while read -r line; do
        name=${line% *}; verdict=${line##* }
        if [ "$verdict" == ok ]; then pass "$name"; else fail "$name" "$line"; fi
    done < "$TMP/report"

    deal-prep --data "$DATA" MNLI --split test 2>"$TMP/err" >/dev/null
    check "MNLI \"-\" counted" grep -q '131 records labelled "-" (no gold label) left out' "$TMP/err"
    a=$(deal-prep --data "$DATA" yahoo --split train --seed 7 | md5sum)
    b=$(deal-prep --data "$DATA" yahoo --split train --seed 7 | md5sum)
    c=$(deal-prep --data "$DATA" yahoo --split train --seed 8 | md5sum)
    check_eq "same seed, same bytes" "$a" "$b"
    check "another seed, another sample" test "$a" != "$c"
    check_eq "--limit 0 keeps all" "$(deal-prep --data "$DATA" CB --split train --limit 0 | deal-cat --count)" 250
    check_eq "pipe gives 1,000 records" "$(deal-prep --data "$DATA" agnews --split train | deal-cat | wc -l)" 1000
fi
finish
