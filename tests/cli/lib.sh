# lib.sh: helpers for the command-line tests (sourced by tests/cli/test_*.sh).
# Each check prints "ok NAME" or "FAIL NAME ..."; end the script with `finish`,
# which prints "cli: N passed, N failed, N skipped" for tests/run.sh.
set -u
cli_passed=0 cli_failed=0 cli_skipped=0
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
DATA="${DEAL_SHARED:-}/data/CL_Benchmark"
LLAMA3_TOKENIZER="${DEAL_SHARED:-}/data/tokenizers/llama3_1/tokenizer.json"

pass() { echo "ok   $1"; cli_passed=$((cli_passed + 1)); }
fail() { echo "FAIL $1: $2"; cli_failed=$((cli_failed + 1)); }
skip() { echo "skip $1: $2"; cli_skipped=$((cli_skipped + 1)); }

# check NAME COMMAND...: the command must succeed.
check() { local n=$1; shift; if "$@"; then pass "$n"; else fail "$n" "command failed: $*"; fi; }

# check_eq NAME GOT WANT
check_eq() { if [ "$2" == "$3" ]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi; }

# check_fails NAME PATTERN COMMAND...: the command must exit non-zero and its
# stderr must match the extended regex PATTERN.
check_fails() {
    local n=$1 pat=$2; shift 2
    if "$@" >"$TMP/stdout" 2>"$TMP/stderr"; then
        fail "$n" "succeeded, want an error"; return
    fi
    if grep -Eq -- "$pat" "$TMP/stderr"; then pass "$n"
    else fail "$n" "stderr '$(head -c 300 "$TMP/stderr")' does not match /$pat/"; fi
}

# need_data NAME: true if the shared benchmark data is present, else records a skip.
need_data() {
    if [ -d "$DATA" ]; then return 0; fi
    skip "$1" "no benchmark data at $DATA (set DEAL_SHARED; see README, 'Data')"; return 1
}

# toy_tasks DIR: the two toy tasks of make_toy_tasks.py as JSON lines in DIR,
# and a SentencePiece vocabulary trained on their training text, DIR/sp.model.
toy_tasks() {
    local here; here=$(dirname "${BASH_SOURCE[0]}")
    python3 "$here/make_toy_tasks.py" "$1"
    cat "$1/va.train.jsonl" "$1/vc.train.jsonl" > "$1/vocab.jsonl"
    deal-prep --jsonl "$1/vocab.jsonl" --task va --limit 0 > "$1/vocab.ex"
    deal-tokenize --train-vocab 300 --out "$1/sp.model" "$1/vocab.ex" 2>/dev/null
}

# toy_streams DIR MODEL PREFIX: DIR's toy tasks tokenized for MODEL, as
# PREFIX{va,vc}.{train,test} and PREFIXboth.test (both test sets, va's first).
toy_streams() {
    local here t s; here=$(dirname "${BASH_SOURCE[0]}")
    for t in va vc; do
        for s in train test; do
            deal-prep --jsonl "$1/$t.$s.jsonl" --task $t --split $s --limit 0 | deal-tokenize --model "$2" > "$3$t.$s"
        done
    done
    (deal-cat --header "$3va.test"; deal-cat "$3vc.test") | python3 "$here/json2stream.py" > "$3both.test"
}

finish() {
    echo "cli: $cli_passed passed, $cli_failed failed, $cli_skipped skipped"
    [ "$cli_failed" -eq 0 ]
}
