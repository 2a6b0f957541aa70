#!/usr/bin/python3
"""The reference side of bench/bench_generate.sh: greedy generation with transformers'
model.generate on exactly the token ids deal-predict reads, printing one JSON line.

    /usr/bin/python3 bench/hf_generate.py --model DIR --tokens FILE --batch N [--dtype fp32|bf16]

Batches as deal-predict makes them: the records sorted by source length, longest
first (ties in input order), then cut into batches of N. Inputs:
  T5     the sources right-padded with pad, attention_mask 0 on the padding
         (decoding starts from decoder_start_token_id);
  LLaMA  the sources left-padded with pad, attention_mask 0 on the padding
         (generate then starts each row at position 0).
Greedy (do_sample False, num_beams 1), max_new_tokens, the stream's eos and pad ids.
--dtype bf16 runs generate under torch.autocast("cpu", dtype=torch.bfloat16).
The timer covers the generate calls only (not loading), like deal-predict's time
minus its start-up time on an empty stream. --ids FILE writes the new ids of every
record (cut after the first eos), in input order, as JSON lines, so the script can
compare them with deal-predict's output.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_common  # noqa: E402
import torch  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description="transformers greedy generation speed")
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--deal-cat", default="bin/deal-cat")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=8)
    ap.add_argument("--ids", help="write the generated ids here (JSON lines, input order)")
    a = ap.parse_args()

    header, records = hf_common.read_tokens(a.tokens, a.deal_cat)
    hf_common.set_threads(a.threads)
    import transformers
    transformers.logging.set_verbosity_error()
    kind = header["convention"]
    cls = transformers.T5ForConditionalGeneration if kind == "t5" else transformers.LlamaForCausalLM
    model = cls.from_pretrained(a.model, torch_dtype=torch.float32).eval()
    rss_loaded = hf_common.peak_rss_kib()
    pad, eos = max(header["pad_id"], 0), header["eos_id"]

    n = len(records)
    order = sorted(range(n), key=lambda i: (-len(records[i]["source"]), i))
    gen = [None] * n
    start = time.perf_counter()
    for at in range(0, n, a.batch):
        idx = order[at:at + a.batch]
        srcs = [records[i]["source"] for i in idx]
        L = max(len(s) for s in srcs)
        if kind == "t5":
            ids = [s + [pad] * (L - len(s)) for s in srcs]
            mask = [[1] * len(s) + [0] * (L - len(s)) for s in srcs]
        else:
            ids = [[pad] * (L - len(s)) + s for s in srcs]
            mask = [[0] * (L - len(s)) + [1] * len(s) for s in srcs]
        ids, mask = torch.tensor(ids), torch.tensor(mask)
        with torch.no_grad(), hf_common.autocast(a.dtype):
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=a.max_new_tokens,
                                 do_sample=False, num_beams=1, eos_token_id=eos, pad_token_id=pad)
        new = out[:, 1:] if kind == "t5" else out[:, L:]  # T5: drop the decoder start
        for i, row in zip(idx, new.tolist()):
            cut = row.index(eos) + 1 if eos in row else len(row)
            gen[i] = row[:cut]
    elapsed = time.perf_counter() - start

    if a.ids:
        with open(a.ids, "w") as f:
            for g in gen:
                f.write(json.dumps(g) + "\n")
    print(json.dumps({
        "impl": f"hf-{a.dtype}", "model": kind, "batch": a.batch, "examples": n,
        "generated_tokens": sum(len(g) for g in gen), "elapsed_s": round(elapsed, 4),
        "ms_per_sample": round(1000 * elapsed / n, 3),
        "peak_rss_kib": hf_common.peak_rss_kib(), "rss_after_load_kib": rss_loaded,
        "env": hf_common.environment(),
    }))


if __name__ == "__main__":
    main()
