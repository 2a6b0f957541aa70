# shellcheck shell=bash disable=SC2034  # sourced; the scripts use the settings
# common.sh: set-up shared by bench/bench_train.sh and bench/bench_generate.sh
# (sourced). Settings, all optional, from the environment:
#   DEAL_BIN          our tools (default bin/ of this checkout)
#   DEAL_DATA         the CL_Benchmark folder (default $DEAL_SHARED/data/CL_Benchmark,
#                     else ../shared/data/CL_Benchmark beside the clone, else data/CL_Benchmark)
#   BENCH_OUT         models, token streams and results (default bench/out)
#   BENCH_PYTHON      python with torch 1.13 + transformers 4.44.2 + peft 0.12.0 (default /usr/bin/python3)
#   BENCH_REPS        repetitions; every number is the median of these (default 3)
#   BENCH_THREADS     threads for both sides: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS,
#                     torch.set_num_threads (default 2)
#   BENCH_MODELS      of "t5 llama smollm2" (default all three; smollm2 is the embedded
#                     default model, scripts/get-default-model.sh)
#   BENCH_METHODS     of "lora deal" (bench_train.sh; default both)
#   BENCH_VARIANTS    what runs, each IMPL/CORETYPE/WAIT: IMPL deal, deal-bf16 (--bf16), hf-fp32 or hf-bf16;
#                     CORETYPE the OpenBLAS kernels torch uses (OPENBLAS_CORETYPE; "unset": torch's
#                     OpenBLAS picks; deal ignores it, its products are oneDNN's); WAIT the libgomp
#                     wait policy (OMP_WAIT_POLICY passive or active; "default": unset).
#                     Default: deal/unset/default deal-bf16/unset/default hf-fp32/SkylakeX/default
#                     hf-bf16/SkylakeX/default
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${DEAL_BIN:-$ROOT/bin}
PY=${BENCH_PYTHON:-/usr/bin/python3}
OUT=${BENCH_OUT:-$ROOT/bench/out}
REPS=${BENCH_REPS:-3}
THREADS=${BENCH_THREADS:-2}
MODELS=${BENCH_MODELS:-t5 llama smollm2}
METHODS=${BENCH_METHODS:-lora deal}
# deal-train's flags in the training benchmarks (hf_train.py takes the same settings).
TRAIN_ARGS=(--batch 8 --accum 1 --epochs 1 --lora-r 16 --lora-alpha 32 --lora-dropout 0.1 --lr 1e-4 --max-grad-norm 1
    --seed 1)
VARIANTS=${BENCH_VARIANTS:-deal/unset/default deal-bf16/unset/default hf-fp32/SkylakeX/default hf-bf16/SkylakeX/default}
if [ -z "${DEAL_DATA:-}" ]; then
    for d in "${DEAL_SHARED:-/nonexistent}/data/CL_Benchmark" "$ROOT/../shared/data/CL_Benchmark" "$ROOT/data/CL_Benchmark"; do
        if [ -d "$d" ]; then DEAL_DATA=$d; break; fi
    done
fi
[ -d "${DEAL_DATA:-}" ] || { echo "bench: no CL_Benchmark data (set DEAL_DATA; see data/README.md)" >&2; exit 1; }
export DEAL_DATA OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
for t in deal-prep deal-tokenize deal-cat deal-train deal-predict; do
    [ -x "$BIN/$t" ] || { echo "bench: no $BIN/$t (run make)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "bench: needs GNU time (/usr/bin/time, Debian package time)" >&2; exit 1; }
mkdir -p "$OUT/results"

# with_env CORETYPE WAIT CMD...: run CMD with OPENBLAS_CORETYPE=CORETYPE (none for
# "unset") and OMP_WAIT_POLICY=WAIT (none for "default"). Only the reference reads
# OPENBLAS_CORETYPE (its OpenBLAS, for what torch does not do with oneDNN); deal's
# products are oneDNN's, whose kernels follow the CPU (since a80c8e1).
with_env() {
    local c=$1 w=$2 u=() s=(); shift 2  # env: every -u before the first NAME=VALUE
    if [ "$c" = unset ]; then u+=(-u OPENBLAS_CORETYPE)
    else s+=(OPENBLAS_CORETYPE="$c"); fi
    if [ "$w" = default ]; then u+=(-u OMP_WAIT_POLICY); else s+=(OMP_WAIT_POLICY="$w"); fi
    env "${u[@]}" "${s[@]}" "$@"
}

loadavg() { cut -d' ' -f1 /proc/loadavg; }

# rotate K WORDS...: the words starting at index K mod n (alternates which side runs first).
rotate() {
    local k=$1; shift
    local a=("$@") n=$# i
    for ((i = 0; i < n; i++)); do printf '%s\n' "${a[$(((i + k) % n))]}"; done
}

# time_field FILE NAME: a field of /usr/bin/time -v's report, as a number (wall clock in s).
time_field() {
    case $2 in
    rss) sed -n 's/^\s*Maximum resident set size (kbytes): //p' "$1" ;;
    wall) sed -n 's/^\s*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1" |
        awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }' ;;
    esac
}

# setup: the SentencePiece vocabulary (our trainer, 8000 pieces on all 4,000 agnews
# train records), the random models (smollm2: the installed default model), and per model the token streams: train.tok (the
# first 256 of deal-prep's default 1,000-record train sample, --max-source 256),
# test.tok (the first 64 of the default 500-record test sample), empty.tok (the
# header alone). Made once; delete $OUT/setup to redo.
setup() {
    local S=$OUT/setup m
    mkdir -p "$S"
    if [ ! -s "$S/spiece.model" ]; then
        "$BIN/deal-prep" agnews --split train --limit 0 > "$S/agnews.all.msgpack"
        "$BIN/deal-tokenize" --train-vocab 8000 --out "$S/spiece.model" "$S/agnews.all.msgpack"
    fi
    for m in $MODELS; do
        if [ "$m" = smollm2 ]; then  # the real pre-trained default, with its own tokenizer
            [ -s "$ROOT/models/smollm2-135m-instruct/config.json" ] || "$ROOT/scripts/get-default-model.sh"
            ln -sfn "$ROOT/models/smollm2-135m-instruct" "$S/smollm2"
        elif [ ! -s "$S/$m/model.safetensors" ]; then
            "$PY" "$ROOT/bench/make_bench_model.py" "$S" --only "$m" --tokenizer "$S/spiece.model"
        fi
        if [ ! -s "$S/$m.test.tok" ]; then
            "$BIN/deal-prep" agnews --split train | "$BIN/deal-tokenize" --model "$S/$m" --max-source 256 2>/dev/null |
                "$BIN/deal-cat" --header | "$PY" "$ROOT/tests/cli/json2stream.py" --head 256 > "$S/$m.train.tok"
            "$BIN/deal-prep" agnews --split test | "$BIN/deal-tokenize" --model "$S/$m" --max-source 256 2>/dev/null |
                "$BIN/deal-cat" --header | "$PY" "$ROOT/tests/cli/json2stream.py" --head 64 > "$S/$m.test.tok"
            "$BIN/deal-cat" --header "$S/$m.test.tok" | "$PY" "$ROOT/tests/cli/json2stream.py" --head 0 > "$S/$m.empty.tok"
        fi
    done
    SETUP=$S
}

# machine: what the results were measured on, as one JSON line in $OUT/results/machine.json.
machine() {
    env -u OPENBLAS_CORETYPE "$PY" - "$ROOT" "$BIN" "${OPENBLAS_CORETYPE:-}" > "$OUT/results/machine.json" <<'PY'
import ctypes, datetime, json, os, platform, subprocess, sys
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
lscpu = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True).stdout
field = lambda k: next((l.split(":", 1)[1].strip() for l in lscpu.splitlines() if l.startswith(k + ":")), "?")
flags = open("/proc/cpuinfo").read()
import torch
lib = ctypes.CDLL("libopenblas.so.0"); lib.openblas_get_config.restype = ctypes.c_char_p
auto = subprocess.run([sys.executable, "-c", "import ctypes; l = ctypes.CDLL('libopenblas.so.0'); "
                       "l.openblas_get_corename.restype = ctypes.c_char_p; print(l.openblas_get_corename().decode())"],
                      stdout=subprocess.PIPE, text=True).stdout.strip()
git = lambda *a: subprocess.run(["git", *a], stdout=subprocess.PIPE, text=True, cwd=sys.argv[1]).stdout.strip()
print(json.dumps({
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "cpu": cpu, "lscpu_model_name": field("Model name"), "cpus": os.cpu_count(),
    "cores_per_socket": field("Core(s) per socket"), "threads_per_core": field("Thread(s) per core"),
    "avx512_bf16": "avx512_bf16" in flags, "kernel": platform.release(),
    "openblas": lib.openblas_get_config().decode(), "openblas_autodetected_core": auto,
    "OPENBLAS_CORETYPE_in_environment": sys.argv[3] or None,
    "torch_parallel_info": torch.__config__.parallel_info(),
    "torch_config": torch.__config__.show(),
    "deal_bin": sys.argv[2], "deal_commit": git("rev-parse", "--short", "HEAD"), "deal_tree_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
}))
PY
}
