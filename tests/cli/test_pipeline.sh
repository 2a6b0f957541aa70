#!/usr/bin/env bash
# The benchmark pipeline at a tiny budget: a tiny random LLaMA, a vocabulary
# trained here, two synthetic tasks in the CL_Benchmark layout with tens of
# examples. Every output exists and is well-formed, the matrix has the right
# shape, and a run killed half-way finishes with the same scores when re-run.
. "$(dirname "$0")/lib.sh"
HERE=$(dirname "$0"); ROOT=$(cd "$HERE/../.." && pwd)
# Run from `make test`, the outer make's jobserver settings would leak into ours.
unset MAKEFLAGS MFLAGS MAKELEVEL

# Two tasks whose label is given away by a keyword, so even a tiny model learns.
python3 - "$TMP/data" <<'PY'
import json, os, random, sys
root = sys.argv[1]; rnd = random.Random(4)
filler = "the a of report news story people city year new".split()
tasks = {"dbpedia": {"Company": "firm", "Artist": "painter", "Village": "hamlet"},
         "agnews": {"World": "nations", "Sports": "match"}}
for task, labels in tasks.items():
    d = os.path.join(root, "TC", task); os.makedirs(d)
    json.dump(list(labels), open(os.path.join(d, "labels.json"), "w"))
    for split, n in (("train", 48), ("test", 24)):
        recs = []
        for i in range(n):
            lab = list(labels)[i % len(labels)]
            words = [rnd.choice(filler) for _ in range(8)]; words.insert(rnd.randrange(9), labels[lab])
            recs.append({"sentence": " ".join(words), "label": lab})
        json.dump(recs, open(os.path.join(d, split + ".json"), "w"))
PY
(deal-prep --data "$TMP/data" dbpedia --split train --limit 0 | deal-cat; deal-prep --data "$TMP/data" agnews --split train --limit 0 | deal-cat) \
    | python3 -c 'import json,sys; [print(json.dumps({"input": json.loads(l)["prompt"], "label": json.loads(l)["target"]})) for l in sys.stdin]' \
    > "$TMP/text.jsonl"
deal-prep --jsonl "$TMP/text.jsonl" --task vocab --limit 0 | deal-tokenize --train-vocab 300 --out "$TMP/sp.model"
python3 "$HERE/make_tiny_model.py" llama "$TMP/model" --vocab 300 --tokenizer "$TMP/sp.model"

# share-cores: a short spin before waiting threads sleep, unless the user chose.
spin() { env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY "$@" "$ROOT/pipelines/share-cores" sh -c 'echo "${GOMP_SPINCOUNT:-unset}"'; }
check_eq "share-cores: spin count 3000 by default" "$(spin)" 3000
check_eq "share-cores: the user's spin count kept" "$(spin GOMP_SPINCOUNT=5)" 5
check_eq "share-cores: none with OMP_WAIT_POLICY" "$(spin OMP_WAIT_POLICY=active)" unset

run() {  # run OUT [make args...]
    local out=$1; shift
    make -s -f "$ROOT/pipelines/tc.mk" MODEL="$TMP/model" DATA="$TMP/data" TASKS="dbpedia agnews" METHOD=seqlora \
        OUT="$out" CACHE="$TMP/cache" LIMIT_TRAIN=48 LIMIT_TEST=24 \
        TRAIN_FLAGS="--lr 1e-2 --batch 8 --accum 1 --epochs 2" PREDICT_FLAGS="--batch 8 --max-new-tokens 4" "$@"
}
( cd "$TMP" && run "$TMP/out" ) > "$TMP/log" 2>&1 || { fail "pipeline run" "$(tail -n 20 "$TMP/log")"; finish; exit 1; }
pass "pipeline run"
O="$TMP/out"
for f in adapters/1-dbpedia/adapter_model.safetensors adapters/2-agnews/adapter_model.safetensors \
         predictions/after1-dbpedia.jsonl predictions/after2-dbpedia.jsonl predictions/after2-agnews.jsonl \
         predictions/after1.jsonl predictions/after2.jsonl logs/1-dbpedia.jsonl logs/2-agnews.jsonl \
         scores.json matrix.svg report.md loss.svg times.tsv run.json; do
    check "output $f" test -s "$O/$f"
done
check_eq "prediction counts" "$(wc -l < "$O/predictions/after1.jsonl") $(wc -l < "$O/predictions/after2.jsonl")" "24 48"
check_eq "matrix shape" "$(python3 -c '
import json,sys; s=json.load(open(sys.argv[1]))
m=s["matrix"]; print(s["tasks"], len(m), [len(r) for r in m], m[1][0], all(isinstance(v,(int,float)) for v in (m[0][0], m[0][1], m[1][1], s["aa"], s["bwt"], s["forgetting"])))' "$O/scores.json")" \
    "['dbpedia', 'agnews'] 2 [2, 2] None True"
check "SVGs are well-formed" python3 -c 'import sys, xml.etree.ElementTree as E; [E.parse(f) for f in sys.argv[1:]]' "$O/matrix.svg" "$O/loss.svg"
check "report holds the matrix and AA" grep -q "AA" "$O/report.md"
check "timings recorded" grep -q "^train	1-dbpedia	" "$O/times.tsv"
( cd "$TMP" && run "$TMP/out" ) > "$TMP/log2" 2>&1
check "a second run does nothing" test ! -s "$TMP/log2"

# Kill a run half-way (as soon as the first task's adapter exists), then re-run.
# The run has its own process group, so one signal stops make and every tool
# at once (the rest of this tiny run takes well over the polling interval).
export -f run; export ROOT TMP
setsid bash -c 'cd "$TMP" && run "$TMP/k"' > /dev/null 2>&1 & pid=$!
for _ in $(seq 1200); do [ -e "$TMP/k/adapters/1-dbpedia/adapter_config.json" ] && break; sleep 0.02; done
kill -9 -- -$pid 2>/dev/null; { wait $pid; } 2>/dev/null
check "the killed run left no scores" test ! -e "$TMP/k/scores.json"
( cd "$TMP" && run "$TMP/k" ) > "$TMP/log3" 2>&1
check_eq "killed and re-run: the same scores" "$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["matrix"], s["aa"])' "$TMP/k/scores.json")" \
    "$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["matrix"], s["aa"])' "$O/scores.json")"
# The ablation target: two DEAL variants sharing one task-1 adapter, one table.
mkdir -p "$TMP/abl"
( cd "$TMP/abl" && run unused ablation ABLATION="heat-mlp-AB-frozen none-mlp-A-trained" ) > "$TMP/log4" 2>&1 \
    || fail "ablation run" "$(tail -n 20 "$TMP/log4")"
A="$TMP/abl/out/tc-ablation"
for v in heat-mlp-AB-frozen none-mlp-A-trained; do
    check "ablation $v: scores" test -s "$A/$v/scores.json"
    check "ablation $v: task 1 copied, not retrained" cmp -s "$A/first/adapters/1-dbpedia/adapter_model.safetensors" \
        "$A/$v/adapters/1-dbpedia/adapter_model.safetensors"
done
check "ablation variants train differently" bash -c '! cmp -s "$1/heat-mlp-AB-frozen/adapters/2-agnews/adapter_model.safetensors" \
    "$1/none-mlp-A-trained/adapters/2-agnews/adapter_model.safetensors"' _ "$A"
check_eq "ablation table: one row per variant" "$(grep -c '^| deal (' "$A.md")" 2
finish
