"""Shared by bench/hf_train.py and bench/hf_generate.py: reading a deal tokens
stream (through `deal-cat`), thread and BLAS set-up, and what the process
reports about its torch build (threads, oneDNN, OpenBLAS kernel set, RSS)."""
import ctypes
import json
import os
import resource
import subprocess
import sys
import warnings

import torch

warnings.filterwarnings("ignore")


def read_tokens(path, deal_cat):
    """(header, records) of a tokens stream, as deal-cat prints them."""
    out = subprocess.run([deal_cat, "--header", path], check=True, stdout=subprocess.PIPE).stdout
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    header, records = lines[0], lines[1:]
    if header.get("kind") != "tokens":
        sys.exit(f"{path}: not a tokens stream")
    return header, records


def set_threads(n):
    torch.set_num_threads(n)
    torch.set_num_interop_threads(1)


def openblas_core():
    """The kernel set OpenBLAS chose in this process (torch's fp32 GEMMs go through it)."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        lib.openblas_get_num_threads.restype = ctypes.c_int
        return lib.openblas_get_corename().decode(), lib.openblas_get_num_threads()
    except OSError:
        return None, None


def peak_rss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def environment():
    import peft
    import transformers
    core, blas_threads = openblas_core()
    info = torch.__config__.parallel_info()
    return {
        "torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
        "torch_threads": torch.get_num_threads(),
        "mkldnn_available": torch.backends.mkldnn.is_available(),
        "mkldnn_enabled": torch.backends.mkldnn.enabled,
        "mkldnn_version": next((line.strip() for line in info.splitlines() if "MKL-DNN" in line), None),
        "mkl": "MKL not found" not in info,
        "cpu_capability": next((line.split(":", 1)[1].strip() for line in torch.__config__.show().splitlines()
                                if "CPU capability usage" in line), None),
        "openblas_core": core, "openblas_threads": blas_threads,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }


def autocast(dtype, device="cpu"):
    if dtype == "bf16":
        return torch.autocast(device, dtype=torch.bfloat16)
    return torch.autocast(device, enabled=False)
