#!/usr/bin/env bash
# Installs every system package that deal's build and tests need, on Debian 12
# (bookworm) or a derivative. Run once on a fresh machine (as root or with sudo).
# The CUDA part of the build needs the CUDA toolkit (nvcc, cuBLAS); it is built
# only where nvcc is found and is not installed here.
set -euo pipefail

packages=(
    build-essential pkg-config   # C/C++ compilers, make
    libmsgpack-dev               # streams between tools
    libzstd-dev                  # compressed streams
    libjansson-dev               # JSON
    libpcre2-dev                 # byte-level BPE pre-tokenizer regex
    libsentencepiece-dev         # SentencePiece tokenizers (T5), training too
    libstemmer-dev               # Porter stemming for ROUGE-1
    libdnnl-dev                  # oneDNN: every CPU matrix product (fp32 sgemm, bf16 matmul)
    python3 python3-pip          # test helpers (JSON and XML checks)
    python3-torch python3-numpy python3-yaml python3-requests python3-psutil
                                 # the reference: transformers + PEFT on Debian's torch
)

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"
# transformers and PEFT at the versions the reference fixtures were made with.
# --no-deps: pip would otherwise replace Debian's torch 1.13 with a PyPI one.
$sudo /usr/bin/python3 -m pip install -q --root-user-action=ignore --break-system-packages --no-deps \
    -r "$(dirname "$0")/../tests/reference/requirements.txt"
echo "install-deps: done"
