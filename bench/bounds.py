#!/usr/bin/env python3
"""How fast any implementation could run the benchmarks on this machine, and
so the largest speed-up over the reference that is possible at all.

    bench/bounds.py RESULTS_DIR SETUP_DIR DEAL_CAT
    (make bench: bench/out/results, bench/out/setup, bin/deal-cat)

Lower bounds on the time, each generous to "any implementation":
- arithmetic: the matrix products' flops at the measured bf16 peak
  (matmul_peak's vdpbf16ps on registers); attention, norms, the LoRA factors
  and the optimizer are left out;
- memory: a decoding step reads every frozen weight once, 2 bytes each (bf16),
  at the measured read bandwidth; a step of a batch of 16 costs the larger of
  its flops and its reads.
The flops are the work the benchmark requires, counted from the model's
config.json and the token streams (source and target lengths): LoRA training
needs, per token, the forward products and the input-gradient products
(frozen weights get no weight gradient; none below the first layer's
attention, whose inputs need none), the vocabulary projection only on the
rows that predict a target token, and (LLaMA) the last layer's queries,
output projection and feed-forward only on the rows the head reads;
generation needs the prompt's pass (T5: the encoder and the cross-attention
keys and values; LLaMA: the last layer as in training, on the last row) and
one pass of the decoder per new token, the vocabulary projection on one row
per step.
Reads matmul_peak's output from RESULTS_DIR/matmul_peak.md, the runs from
RESULTS_DIR/train.jsonl and generate.jsonl; prints Markdown. With
RESULTS_DIR/products.jsonl (products_alone.sh) a second table: the time
oneDNN's bf16 products take by themselves in deal's training epoch, a bound
for any implementation that uses oneDNN's kernels.
"""
import json
import re
import statistics
import subprocess
import sys


def peaks(path):
    text = open(path).read()
    grab = lambda pattern: float(re.search(pattern, text).group(1))  # noqa: E731
    return grab(r"bf16 peak[^:]*: ([\d.]+) GFLOP/s") * 1e9, grab(r"memory read bandwidth[^:]*: ([\d.]+) GB/s") * 1e9


def lengths(deal_cat, path):
    out = subprocess.run([deal_cat, path], check=True, capture_output=True, text=True).stdout
    return [(len(r["source"]), len(r["target"])) for r in map(json.loads, out.splitlines())]


class Shape:
    """Multiply-accumulates per token of each part of the model."""

    def __init__(self, config):
        c = json.load(open(config))
        self.t5 = "d_model" in c
        if self.t5:
            C, F, inner = c["d_model"], c["d_ff"], c["num_heads"] * c["d_kv"]
            ffn = (3 if c.get("feed_forward_proj", "relu").startswith("gated") else 2) * C * F
            self.encoder = c["num_layers"] * (4 * C * inner + ffn)  # per source token
            self.cross_kv = c["num_decoder_layers"] * 2 * C * inner  # per source token
            self.decoder = c["num_decoder_layers"] * (6 * C * inner + ffn)  # per target token
            self.first_qkv = 3 * C * inner  # the first self-attention's q, k, v (encoder and decoder)
        else:
            C, F, H = c["hidden_size"], c["intermediate_size"], c["num_attention_heads"]
            hs = c.get("head_dim") or C // H
            kv = c.get("num_key_value_heads") or H
            self.kv = 2 * C * kv * hs  # one layer's keys and values
            self.rest = 2 * C * H * hs + 3 * C * F  # its queries, output projection and feed-forward
            self.layers = c["num_hidden_layers"]
            self.decoder = self.layers * (self.kv + self.rest)
            self.first_qkv = C * H * hs + self.kv
        self.head = C * c["vocab_size"]

    def train_flops(self, ls, lt):  # forward + input gradients: 2 x 2 flops per MAC
        if self.t5:
            return (4 * (ls * (self.encoder + self.cross_kv) + lt * (self.decoder + self.head))
                    - 2 * (ls + lt) * self.first_qkv)
        rows, tail = ls + lt, lt + 1  # the tail: the last source token and the target
        return 4 * (rows * (self.decoder - self.rest) + tail * self.rest + lt * self.head) - 2 * rows * self.first_qkv

    def prompt_flops(self, ls):
        if self.t5:
            return 2 * ls * (self.encoder + self.cross_kv)
        return 2 * (ls * (self.decoder - self.rest) + self.rest + self.head)  # the last row: the first new token

    def step_flops(self):  # per record and new token
        return 2 * (self.decoder + self.head)

    def step_bytes(self):  # the decoder's and the head's weights in bf16
        return 2 * (self.decoder + self.head)

    def decode_steps(self, new):  # LLaMA's first new token comes with the prompt's pass
        return new if self.t5 else max(new - 1, 0)


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def lora_epoch_s(train, model, impl):
    """Seconds per LoRA training epoch of one implementation (median), or None without runs."""
    runs = [r for r in train if r["model"] == model and r["impl"] == impl and r.get("method", "lora") == "lora"]
    return median(runs, "tokens") / median(runs, "tokens_per_s") if runs else None


def main():
    results, setup, deal_cat = sys.argv[1:4]
    flops_rate, bandwidth = peaks(f"{results}/matmul_peak.md")
    rows = lambda name: [json.loads(l) for l in open(f"{results}/{name}.jsonl") if l.strip()]  # noqa: E731
    train, generate = rows("train"), rows("generate")
    print(f"bf16 peak {flops_rate / 1e9:.1f} GFLOP/s, read bandwidth {bandwidth / 1e9:.1f} GB/s (matmul_peak).\n")
    print("| model | benchmark | hf-bf16 | deal --bf16 | bound (no implementation faster) | largest possible speed-up over hf-bf16 | deal's |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for model in sorted({r["model"] for r in train + generate}, key=["t5", "llama", "smollm2"].index):
        shape = Shape(f"{setup}/{model}/config.json")
        t_ref, t_ours = lora_epoch_s(train, model, "hf-bf16"), lora_epoch_s(train, model, "deal-bf16")
        if t_ref and t_ours:
            recs = lengths(deal_cat, f"{setup}/{model}.train.tok")
            bound = sum(shape.train_flops(s, t) for s, t in recs) / flops_rate
            print(f"| {model} | LoRA training, s per epoch | {t_ref:.2f} | {t_ours:.2f} | {bound:.2f} | {t_ref / bound:.1f}x | {t_ref / t_ours:.1f}x |")
        for batch in (1, 16):
            ref = [r for r in generate if r["model"] == model and r["impl"] == "hf-bf16" and r["batch"] == batch]
            ours = [r for r in generate if r["model"] == model and r["impl"] == "deal-bf16" and r["batch"] == batch]
            if not ref or not ours:
                continue
            n = ref[0]["examples"]
            recs = lengths(deal_cat, f"{setup}/{model}.test.tok")[:n]
            new = median(ref, "generated_tokens") / n
            steps = shape.decode_steps(new)
            step = max(batch * shape.step_flops() / flops_rate, shape.step_bytes() / bandwidth) / batch
            bound = 1e3 * (sum(shape.prompt_flops(s) for s, _ in recs) / n / flops_rate + steps * step)
            t_ref, t_ours = median(ref, "ms_per_sample"), median(ours, "ms_per_sample")
            print(f"| {model} | generation, batch {batch}, ms per record | {t_ref:.1f} | {t_ours:.1f} | {bound:.1f} | {t_ref / bound:.1f}x | {t_ref / t_ours:.1f}x |")
    try:
        products = {r["model"]: r for r in rows("products")}
    except FileNotFoundError:
        return
    print("\n| model | LoRA training, s per epoch: hf-bf16 | deal --bf16 | its bf16 products alone (oneDNN) | largest speed-up with them | deal's |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for model, p in products.items():
        t_ref, t_ours = lora_epoch_s(train, model, "hf-bf16"), lora_epoch_s(train, model, "deal-bf16")
        if t_ref and t_ours:
            print(f"| {model} | {t_ref:.2f} | {t_ours:.2f} | {p['products_s']:.2f} ({p['products']} products) | {t_ref / p['products_s']:.1f}x | {t_ref / t_ours:.1f}x |")


if __name__ == "__main__":
    main()
