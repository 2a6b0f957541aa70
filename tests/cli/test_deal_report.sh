#!/usr/bin/env bash
# Command-line tests of deal-report: a fake 3-task run folder (scores from
# deal-score on hand-made predictions, training logs, times, run.json), its
# report, a comparison with a second run, and bad input.
. "$(dirname "$0")/lib.sh"

# emit TASK CORRECT WRONG: prediction lines of TASK (its dataset has the same name).
emit() {
    local k
    for ((k = 0; k < $2; k++)); do
        printf '{"id":"%s-%d","task":"%s","dataset":"%s","split":"test","label":"a%d","prediction":"a%d"}\n' "$1" "$k" "$1" "$1" "$k" "$k"
    done
    for ((k = 0; k < $3; k++)); do
        printf '{"id":"%s-w%d","task":"%s","dataset":"%s","split":"test","label":"a","prediction":"b"}\n' "$1" "$k" "$1" "$1"
    done
}

# log TASK STEPS LOSS0: a deal-train log, the loss falling from LOSS0.
log() {
    printf '{"start":true,"method":"deal","backend":"cpu","kernels":"oneDNN 2.6.3, kernels for avx2","examples":%d,"trainable":4096}\n' $(($2 * 8))
    awk -v n="$2" -v l0="$3" 'BEGIN { for (s = 1; s <= n; s++)
        printf "{\"step\":%d,\"epoch\":0,\"loss\":%.6f,\"regularizer\":0,\"grad_norm\":1.5,\"lr\":0.0005,\"tokens\":900,\"samples\":8,\"tokens_per_s\":%.1f,\"samples_per_s\":2.00,\"elapsed_s\":%.3f}\n",
               s, l0 / (1 + 0.2 * s), 400 + s, 2.5 * s }'
}

# make_run DIR METHOD A1 A2 A3: a run folder whose matrix is
#   100  A1  A2
#     -  50  A3
#     -   -  25     (each in quarters: 4 predictions per task)
make_run() {
    local dir=$1
    mkdir -p "$dir/logs" "$dir/p"
    emit dbpedia 4 0 >"$dir/p/after1.jsonl"
    { emit dbpedia "$3" $((4 - $3)); emit yahoo 2 2; } >"$dir/p/after2.jsonl"
    { emit dbpedia "$4" $((4 - $4)); emit yahoo "$5" $((4 - $5)); emit agnews 1 3; } >"$dir/p/after3.jsonl"
    deal-score --sequence --tasks dbpedia,yahoo,agnews --svg "$dir/matrix.svg" --out "$dir/scores.json" \
        "$dir"/p/after{1,2,3}.jsonl
    log dbpedia 40 2.4 >"$dir/logs/1-dbpedia.jsonl"
    log yahoo 25 3.0 >"$dir/logs/2-yahoo.jsonl"
    log agnews 12 1.8 >"$dir/logs/3-agnews.jsonl"
    printf 'prep\tdbpedia.train\t2.5\nprep\tyahoo.train\t3.5\ntrain\t1-dbpedia\t100.25\ntrain\t2-yahoo\t62.5\ntrain\t3-agnews\t30\npredict\tafter1-dbpedia\t4\npredict\tafter2-yahoo\t5.5\n' >"$dir/times.tsv"
    printf '{"benchmark":"tc","method":"%s","model":"/models/smollm2-135m-instruct","seed":1,"command":"make -f pipelines/tc.mk METHOD=%s SEED=1","machine":"2 cores, Test CPU","date":"2026-01-02T03:04Z","train_flags":"--lr 5e-4 --batch 8"}\n' "$2" "$2" >"$dir/run.json"
}

# deal (3, 2, 3): AA (50 + 75 + 25) / 3 = 50, BWT ((50 - 100) + (75 - 50)) / 2 = -12.5;
# lora (2, 1, 1): AA 25, BWT ((25 - 100) + (25 - 50)) / 2 = -50 = -forgetting.
make_run "$TMP/deal" deal 3 2 3
make_run "$TMP/lora" lora 2 1 1

check "run report" deal-report run "$TMP/deal"
md="$TMP/deal/report.md"
check "title" grep -qxF '# tc: deal on smollm2-135m-instruct' "$md"
check "command" grep -qxF 'make -f pipelines/tc.mk METHOD=deal SEED=1' "$md"
check "machine and date" grep -qF '2 cores, Test CPU' "$md"
check "matrix header" grep -qxF '| task | after dbpedia | after yahoo | after agnews |' "$md"
check "matrix row 1" grep -qxF '| dbpedia | 100.0 | 75.0 | 50.0 |' "$md"
check "matrix row 2 (blank above the diagonal)" grep -qxF '| yahoo | | 50.0 | 75.0 |' "$md"
check "matrix row 3" grep -qxF '| agnews | | | 25.0 |' "$md"
check "AA BWT forgetting" grep -qxF '| 50.00 | -12.50 | 12.50 |' "$md"
check "per dataset" grep -qxF '| agnews | 4 | 25.00 | 25.00 |' "$md"
check "heat map link" grep -qxF '![accuracy matrix](matrix.svg)' "$md"
check "loss chart link" grep -qxF '![training loss](loss.svg)' "$md"
# yahoo: 25 steps, final loss 3.0 / 6 = 0.5, 62.5 s, median tokens/s 413.
check "training row" grep -qxF '| yahoo | 200 | 25 | 0.5000 | 1 min 03 s | 413 |' "$md"
check "kernels" grep -qF 'kernels: oneDNN 2.6.3, kernels for avx2' "$md"
check "phase times" grep -qxF '| train | 3 | 3 min 13 s |' "$md"
check "total wall time" grep -qF 'Total wall time: 3 min 28 s' "$md"
check_eq "no temporary files left" "$(ls "$TMP/deal" | grep -c '\.tmp\.')" "0"

# svg_names FILE NAME...: FILE parses as SVG and some <text> of it is each NAME.
svg_names() {
    python3 -c '
import re, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
for name in sys.argv[2:]:
    assert name in texts, (name, texts)
assert not re.search(r"\b(nan|inf)\b", open(sys.argv[1]).read(), re.I), "a non-finite number"
' "$@"
}
check "loss.svg is SVG naming every task" svg_names "$TMP/deal/loss.svg" dbpedia yahoo agnews loss

check "compare" deal-report compare "$TMP/deal" "$TMP/lora/" --out "$TMP/cmp.md"
check "compare header" grep -qF '| method | AA | BWT | forgetting | dbpedia | yahoo | agnews | train time | run |' "$TMP/cmp.md"
check "compare row deal" grep -qF "| deal | 50.00 | -12.50 | 12.50 | 50.0 | 75.0 | 25.0 | 3 min 13 s | $TMP/deal |" "$TMP/cmp.md"
check "compare row lora" grep -qF "| lora | 25.00 | -50.00 | 50.00 | 25.0 | 25.0 | 25.0 | 3 min 13 s | $TMP/lora |" "$TMP/cmp.md"
check "compare chart link" grep -qxF '![AA and BWT of each run](cmp.svg)' "$TMP/cmp.md"
check "compare chart is SVG naming every method" svg_names "$TMP/cmp.svg" deal lora AA BWT 50.0 -12.5

# Optional parts missing: noted, not fatal; a second run of one method is told apart.
cp -r "$TMP/deal" "$TMP/bare"
rm -r "$TMP/bare/logs" "$TMP/bare/times.tsv" "$TMP/bare/run.json" "$TMP/bare/report.md" "$TMP/bare/loss.svg"
check "report without logs, times, run.json" deal-report run "$TMP/bare"
check "notes the missing logs" grep -qF '_No training logs in' "$TMP/bare/report.md"
check "notes the missing times" grep -qF 'times.tsv: the run time is not known' "$TMP/bare/report.md"
check_eq "no loss chart without logs" "$(ls "$TMP/bare" | grep -c loss.svg)" "0"
rm "$TMP/lora/logs/2-yahoo.jsonl"
check "report with one log missing" deal-report run "$TMP/lora"
check "notes the missing log" grep -qF "_No log for task yahoo: $TMP/lora/logs/2-yahoo.jsonl is missing._" "$TMP/lora/report.md"
cp -r "$TMP/deal" "$TMP/deal2"
check "compare two runs of one method" deal-report compare "$TMP/deal" "$TMP/deal2" --out "$TMP/same.md"
check "runs of one method named by folder" grep -qF '| deal (deal2) |' "$TMP/same.md"

deal-report --help >"$TMP/help.txt"
check_eq "help exits 0" "$?" "0"
check "help prints usage" grep -q '^usage: deal-report run OUT' "$TMP/help.txt"

# Bad input: a message naming the file (and line), a non-zero exit, no output.
mkdir -p "$TMP/empty"
check_fails "missing scores.json" 'deal-report: .*empty/scores.json: No such file' deal-report run "$TMP/empty"
check_eq "no report after an error" "$(ls "$TMP/empty")" ""
echo '{"tasks": ["a"], "matrix": [[' >"$TMP/empty/scores.json"
check_fails "malformed scores.json" 'empty/scores.json: line 2: invalid JSON' deal-report run "$TMP/empty"
deal-score "$TMP/deal/p/after1.jsonl" --out "$TMP/empty/scores.json"
check_fails "scores.json without a sequence" 'empty/scores.json: "tasks" missing' deal-report run "$TMP/empty"
cp -r "$TMP/deal" "$TMP/badlog"
sed -i '3s/.*/{"step": 2, "loss": /' "$TMP/badlog/logs/2-yahoo.jsonl"
check_fails "malformed log line" 'badlog/logs/2-yahoo.jsonl: line 3: invalid JSON' deal-report run "$TMP/badlog"
sed -i '3s/.*/{"step": 2, "loss": "low"}/' "$TMP/badlog/logs/2-yahoo.jsonl"
check_fails "log field of the wrong type" '2-yahoo.jsonl: line 3: "loss" is not a number' deal-report run "$TMP/badlog"
sed -i '1d' "$TMP/badlog/logs/2-yahoo.jsonl"
check_fails "log without its start line" "2-yahoo.jsonl: line 1: expected deal-train's start line" deal-report run "$TMP/badlog"
check_eq "report untouched after an error" "$(cmp -s "$TMP/badlog/report.md" "$TMP/deal/report.md" && echo same)" "same"
cp -r "$TMP/deal" "$TMP/badtimes"
printf 'train\t1-dbpedia\tslow\n' >>"$TMP/badtimes/times.tsv"
check_fails "malformed times.tsv" 'badtimes/times.tsv: line 8: expected' deal-report run "$TMP/badtimes"
check_fails "unknown subcommand" 'unknown subcommand "frobnicate"' deal-report frobnicate "$TMP/deal"
check_fails "unknown option" 'unknown option --frobnicate' deal-report run --frobnicate "$TMP/deal"
check_fails "no subcommand" 'no subcommand' deal-report
check_fails "run with two folders" 'run takes one run folder' deal-report run "$TMP/deal" "$TMP/lora"
check_fails "compare without --out" 'compare needs --out' deal-report compare "$TMP/deal"
check_fails "compare with a bad run" 'empty/scores.json' deal-report compare "$TMP/deal" "$TMP/empty" --out "$TMP/bad.md"
check_eq "no comparison after an error" "$(ls "$TMP" | grep -c '^bad\.')" "0"

finish
