#!/usr/bin/env bash
# run.sh: fuzzes each file reader (tests/fuzz/fuzz.c) from one valid seed per
# format, made here: a tiny GGUF model (make_tiny_gguf.py), the Hugging Face
# folder deal-import makes of it (model.safetensors, tokenizer.json,
# config.json), and a tokens stream of the toy tasks tokenized for it. Run by
# make fuzz, under the sanitizers, from the repository root with the tools in
# bin/.
#   FUZZ_BIN         the fuzzer (build/fuzz/fuzz)
#   FUZZ_ITERATIONS  inputs per format (default 2000)
#   FUZZ_SEED        the mutations' random seed (default 1)
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/bin:$PATH"
# Sanitizer reports as crashes (die() exits 1, as ASan would by default). An
# allocation too large to make returns NULL, as malloc does outside ASan:
# msgpack-c sizes its objects from a record's claimed counts before it has the
# bytes, and the stream reader refuses the record when that allocation fails
# (while our own xmalloc of a size read from a file would exit 2, a finding).
# Leaks are make test-sanitize's to find: a refused file may leave memory behind.
export ASAN_OPTIONS=abort_on_error=1:allocator_may_return_null=1:detect_leaks=0
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
FUZZ=${FUZZ_BIN:-build/fuzz/fuzz} N=${FUZZ_ITERATIONS:-2000} SEED=${FUZZ_SEED:-1}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
source tests/cli/lib.sh

python3 tests/cli/make_tiny_gguf.py "$WORK/tiny.gguf" "$WORK/ref.safetensors"
deal-import "$WORK/tiny.gguf" "$WORK/tiny" 2>/dev/null
toy_tasks "$WORK"
deal-prep --jsonl "$WORK/va.test.jsonl" --task va --split test --limit 20 | deal-tokenize --model "$WORK/tiny" > "$WORK/seed.tok"

status=0
mkdir -p "$WORK/out"
for t in "gguf $WORK/tiny.gguf" "safetensors $WORK/tiny/model.safetensors" "tokenizer $WORK/tiny/tokenizer.json" \
         "tokens $WORK/seed.tok" "config $WORK/tiny/config.json"; do
    set -- $t
    printf '%s: seed of %s bytes\n' "$1" "$(stat -c %s "$2")"
    "$FUZZ" "$1" "$2" "$N" "$WORK/out" "$SEED" || status=1
done
if [ "$status" -ne 0 ]; then
    mkdir -p build/fuzz/findings && cp "$WORK"/out/finding-* build/fuzz/findings/
    echo "fuzz: findings kept in build/fuzz/findings"
fi
exit "$status"
