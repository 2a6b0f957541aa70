#!/usr/bin/env python3
"""Compares two training runs of the same job on different devices.

    compare_runs.py RUN_A RUN_B TOLERANCE

RUN_A and RUN_B are deal-train --out folders (their logs beside them, as
RUN.log.jsonl). Prints the largest relative error over every tensor of every
*.safetensors file (||a - b|| / ||b||) and over each optimizer step's loss,
and exits 1 if either is above TOLERANCE (or a tensor is missing, shaped
differently or not finite). Standard library only.
"""
import glob
import json
import math
import os
import struct
import sys
from array import array


def tensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", f"{path}: {name} is {t['dtype']}, expected F32"
        lo, hi = t["data_offsets"]
        out[name] = (t["shape"], array("f", blob[8 + n + lo:8 + n + hi]))
    return out


def rel_err(a, b):
    diff = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    norm = math.sqrt(sum(y * y for y in b))
    return diff / norm if norm > 0 else diff


def losses(run):
    with open(run + ".log.jsonl") as f:
        return [json.loads(line)["loss"] for line in f if '"step"' in line]


def main():
    a, b, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
    worst_t, worst_name, bad = 0.0, "", []
    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(b, "*.safetensors")))
    if not files:
        bad.append(f"{b}: no safetensors file")
    for fname in files:
        ta, tb = tensors(os.path.join(a, fname)), tensors(os.path.join(b, fname))
        if sorted(ta) != sorted(tb):
            bad.append(f"{fname}: different tensor names")
            continue
        for name in tb:
            (sa, va), (sb, vb) = ta[name], tb[name]
            if sa != sb or not all(math.isfinite(x) for x in va):
                bad.append(f"{fname}: {name}: shape {sa} vs {sb} or not finite")
                continue
            e = rel_err(va, vb)
            if e >= worst_t:
                worst_t, worst_name = e, f"{fname}:{name}"
    la, lb = losses(a), losses(b)
    if len(la) != len(lb) or not la:
        bad.append(f"{len(la)} vs {len(lb)} logged steps")
    worst_l = max((abs(x - y) / abs(y) for x, y in zip(la, lb)), default=0.0)
    print(f"adapter tensors: worst relative error {worst_t:.2e} ({worst_name}); "
          f"losses of {len(lb)} steps: worst {worst_l:.2e}")
    for line in bad:
        print("  " + line)
    sys.exit(0 if not bad and worst_t <= tol and worst_l <= tol else 1)


if __name__ == "__main__":
    main()
