#!/usr/bin/python3
"""One JSON line of training throughput from a deal-train log (OUT.log.jsonl),
for bench_train.sh and bench_gpu.sh.

    deal_log.py LOG [KEY=VALUE ...]

tokens (source + target) and samples summed over the step lines, over the last
line's elapsed_s (the training loop, without model load and adapter save); the
first and last loss; the kernels the start line names; then each KEY=VALUE
(a number where it reads as one).
"""
import json
import sys


def value(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


lines = [json.loads(line) for line in open(sys.argv[1])]
steps = [s for s in lines if "step" in s]
tokens, samples, elapsed = sum(s["tokens"] for s in steps), sum(s["samples"] for s in steps), steps[-1]["elapsed_s"]
row = dict(kv.split("=", 1) for kv in sys.argv[2:])
row = {k: value(v) for k, v in row.items()}
row.update(steps=len(steps), tokens=tokens, samples=samples, elapsed_s=elapsed, tokens_per_s=tokens / elapsed,
           samples_per_s=samples / elapsed, first_loss=steps[0]["loss"], last_loss=steps[-1]["loss"],
           kernels=next((s.get("kernels") for s in lines if s.get("start")), None))
print(json.dumps(row))
