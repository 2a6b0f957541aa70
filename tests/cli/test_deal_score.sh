#!/usr/bin/env bash
# Command-line tests of deal-score: a 3-task sequence with known accuracies
# (JSON, Markdown, SVG), pooled scoring, and bad input.
. "$(dirname "$0")/lib.sh"

# emit TASK CORRECT WRONG: prediction lines of TASK (its dataset has the same
# name), CORRECT of them right up to case and punctuation, WRONG of them wrong.
emit() {
    local k
    for ((k = 0; k < $2; k++)); do
        printf '{"id":"%s-%d","task":"%s","dataset":"%s","split":"test","label":"Label %d","prediction":"label %d."}\n' "$1" "$k" "$1" "$1" "$k" "$k"
    done
    for ((k = 0; k < $3; k++)); do
        printf '{"id":"%s-w%d","task":"%s","dataset":"%s","split":"test","label":"Label","prediction":"other","extra":1}\n' "$1" "$k" "$1" "$1"
    done
}

# The accuracy matrix (rows: task; columns: after training dbpedia, yahoo, agnews):
#   100  75  50
#     -  50  75
#     -   -  25
# AA = (50 + 75 + 25) / 3 = 50; BWT = ((50 - 100) + (75 - 50)) / 2 = -12.5;
# F = ((100 - 50) + (50 - 75)) / 2 = 12.5.
emit dbpedia 4 0 >"$TMP/after1.jsonl"
{ emit dbpedia 3 1; emit yahoo 2 2; } >"$TMP/after2.jsonl"
# agnews after the last task: 1 right, 1 half-right ("World News" for "world":
# not a match; ROUGE-1 P = 1, R = 1/2, F = 2/3), 2 wrong. ROUGE-1 of agnews:
# (1 + 2/3) / 4 = 41.6667 %.
{ emit yahoo 3 1; emit dbpedia 2 2; emit agnews 1 2
  echo '{"id":"x","task":"agnews","dataset":"agnews","split":"test","label":"World News","prediction":"world"}'
} >"$TMP/after3.jsonl"
seq3=("$TMP/after1.jsonl" "$TMP/after2.jsonl" "$TMP/after3.jsonl")

# json_get FILE EXPR: EXPR evaluated in Python on the JSON document d.
json_get() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

check "sequence runs" deal-score --sequence "${seq3[@]}" --out "$TMP/seq.json" --svg "$TMP/seq.svg"
check_eq "sequence tasks" "$(json_get "$TMP/seq.json" 'd["tasks"]')" "['dbpedia', 'yahoo', 'agnews']"
check_eq "sequence matrix" "$(json_get "$TMP/seq.json" 'd["matrix"]')" \
    "[[100.0, 75.0, 50.0], [None, 50.0, 75.0], [None, None, 25.0]]"
check_eq "sequence aa bwt forgetting" "$(json_get "$TMP/seq.json" '(d["aa"], d["bwt"], d["forgetting"])')" \
    "(50.0, -12.5, 12.5)"
check_eq "sequence per-dataset accuracy (last file)" "$(json_get "$TMP/seq.json" 'd["accuracy"]')" \
    "{'yahoo': 75.0, 'dbpedia': 50.0, 'agnews': 25.0}"
check_eq "sequence per-dataset rouge1" "$(json_get "$TMP/seq.json" '{k: round(v, 4) for k, v in d["rouge1"].items()}')" \
    "{'yahoo': 75.0, 'dbpedia': 50.0, 'agnews': 41.6667}"
check_eq "sequence counts" "$(json_get "$TMP/seq.json" '(d["n"], d["predictions"])')" \
    "({'yahoo': 4, 'dbpedia': 4, 'agnews': 4}, 12)"
check_eq "sequence means" "$(json_get "$TMP/seq.json" '(d["mean_accuracy"], round(d["mean_rouge1"], 4))')" \
    "(50.0, 55.5556)"
check_eq "no temporary files left" "$(ls "$TMP" | grep -c '\.tmp\.')" "0"

check "svg is well-formed XML naming every task" python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
for task in ("dbpedia", "yahoo", "agnews"):
    assert texts.count(task) == 2, (task, texts)  # a row and a column label
for value in ("100.0", "75.0", "25.0"):
    assert value in texts, value
' "$TMP/seq.svg"

deal-score --sequence --markdown "${seq3[@]}" >"$TMP/seq.md"
check "markdown matrix header" grep -qF '| task | after dbpedia | after yahoo | after agnews |' "$TMP/seq.md"
check "markdown matrix rows" grep -qF '| yahoo | | 50.0 | 75.0 |' "$TMP/seq.md"
check "markdown summary" grep -qF '| 50.00 | -12.50 | 12.50 |' "$TMP/seq.md"
check "markdown per dataset" grep -qF '| agnews | 4 | 25.00 | 41.67 |' "$TMP/seq.md"

check_eq "explicit --tasks gives the same matrix" \
    "$(deal-score --sequence --tasks dbpedia,yahoo,agnews "${seq3[@]}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["matrix"])')" \
    "[[100.0, 75.0, 50.0], [None, 50.0, 75.0], [None, None, 25.0]]"
# Evaluated ahead of training: allowed with --tasks (left out of the matrix).
{ emit dbpedia 4 0; emit yahoo 0 4; } >"$TMP/ahead1.jsonl"
check_eq "--tasks allows tasks not trained yet" \
    "$(deal-score --sequence --tasks dbpedia,yahoo "$TMP/ahead1.jsonl" "$TMP/after2.jsonl" | python3 -c 'import json, sys; print(json.load(sys.stdin)["matrix"])')" \
    "[[100.0, 75.0], [None, 50.0]]"
check_fails "two new tasks without --tasks" 'ahead1.jsonl: 2 new tasks \("dbpedia", "yahoo"\)' \
    deal-score --sequence "$TMP/ahead1.jsonl" "$TMP/after2.jsonl"
check_eq "one task: bwt and forgetting are 0" \
    "$(deal-score --sequence "$TMP/after1.jsonl" | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["aa"], d["bwt"], d["forgetting"])')" \
    "100.0 0.0 0.0"

deal-score "${seq3[@]}" >"$TMP/pool.json"
# Pooled: dbpedia (4 + 3 + 2) / 12, yahoo (2 + 3) / 8, agnews 1 / 4.
check_eq "pooled accuracy" "$(json_get "$TMP/pool.json" 'd["accuracy"]')" \
    "{'dbpedia': 75.0, 'yahoo': 62.5, 'agnews': 25.0}"
check_eq "pooled has no matrix" "$(json_get "$TMP/pool.json" '("matrix" in d, d["predictions"])')" "(False, 24)"
deal-score --help >"$TMP/help.txt"
check_eq "help exits 0" "$?" "0"
check "help prints usage" grep -q "^usage: deal-score" "$TMP/help.txt"

# Bad input.
{ emit dbpedia 1 0; echo '{"id": "2", "task": '; } >"$TMP/bad.jsonl"
check_fails "malformed JSON line" 'deal-score: .*bad.jsonl: line 2: invalid JSON' deal-score "$TMP/bad.jsonl"
echo '{"id":"1","task":"t","dataset":"t","split":"test","label":"a"}' >"$TMP/missing.jsonl"
check_fails "missing field" 'missing.jsonl: line 1: field "prediction" missing' deal-score "$TMP/missing.jsonl"
echo '{"id":"1","task":"t","dataset":"t","split":"test","label":3,"prediction":"3"}' >"$TMP/number.jsonl"
check_fails "non-string field" 'number.jsonl: line 1: field "label" is not a string' deal-score "$TMP/number.jsonl"
echo '["not", "an", "object"]' >"$TMP/array.jsonl"
check_fails "not an object" 'array.jsonl: line 1: expected a JSON object' deal-score "$TMP/array.jsonl"
: >"$TMP/empty.jsonl"
check_fails "empty file" 'empty.jsonl: no predictions' deal-score "$TMP/empty.jsonl"
check_fails "nonexistent file" 'nope.jsonl: No such file' deal-score "$TMP/nope.jsonl"
check_fails "unknown option" 'unknown option --frobnicate' deal-score --frobnicate "$TMP/after1.jsonl"
check_fails "no files" 'no prediction files' deal-score
check_fails "--svg without --sequence" '--svg needs --sequence' deal-score --svg "$TMP/x.svg" "$TMP/after1.jsonl"
check_fails "file adding no task" 'after1.jsonl: no new task' \
    deal-score --sequence "$TMP/after1.jsonl" "$TMP/after1.jsonl"
emit yahoo 1 0 >"$TMP/yahoo_only.jsonl"
check_fails "file lacking a trained task" 'yahoo_only.jsonl: no predictions for task "dbpedia"' \
    deal-score --sequence "$TMP/after1.jsonl" "$TMP/yahoo_only.jsonl"
check_fails "--tasks count" '--tasks names 2 tasks, but 3 files' deal-score --sequence --tasks dbpedia,yahoo "${seq3[@]}"
check_fails "task outside --tasks" 'after3.jsonl: task "agnews" is not in --tasks' \
    deal-score --sequence --tasks dbpedia,yahoo,news "${seq3[@]}"
check_fails "error leaves no output" 'line 2' deal-score --out "$TMP/never.json" "$TMP/bad.jsonl"
check_eq "no output after an error" "$(ls "$TMP" | grep -c never)" "0"

finish
