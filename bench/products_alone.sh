#!/usr/bin/env bash
# products_alone.sh: how long deal-train --bf16's frozen-weight products take by
# themselves in bench_train.sh's LoRA epoch, as oneDNN times each matmul it
# executes (ONEDNN_VERBOSE=1), summed. With oneDNN's kernels no implementation
# trains faster than that; bounds.py sets it against the reference's time.
#
#   bench/products_alone.sh         (settings: see bench/common.sh)
#
# One JSON line per model to results/products.jsonl.
. "$(dirname "$0")/common.sh"
setup
R=$OUT/results/products.jsonl
: > "$R"
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
for m in $MODELS; do
    ONEDNN_VERBOSE=1 "$BIN/deal-train" --bf16 --model "$SETUP/$m" --out "$WORK/A" "${TRAIN_ARGS[@]}" \
        "$SETUP/$m.train.tok" > "$WORK/verbose" 2> "$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
    awk -F, -v m="$m" '$2 == "exec" && $4 == "matmul" { ms += $NF; n++ }
        END { printf "{\"model\": \"%s\", \"products_s\": %.4f, \"products\": %d}\n", m, ms / 1000, n }' \
        "$WORK/verbose" >> "$R"
done
cat "$R"
