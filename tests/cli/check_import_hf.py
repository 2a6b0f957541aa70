#!/usr/bin/env python3
"""Checks a folder written by deal-import against transformers.

    check_import_hf.py MODEL_DIR TOKENS [--max-new-tokens N] [--agree K] [--min-fraction F]

Needs torch and transformers (Debian's python3-torch, transformers 4.44), and
bin/ on PATH. Two checks:
  1. tokenizer: transformers' fast tokenizer loaded from MODEL_DIR and
     `deal-tokenize --encode` give the same ids for a set of awkward strings
     (digits, spaces, special tokens, bytes without a token, other scripts);
  2. model: for every record of the tokens stream TOKENS (deal-tokenize
     --model MODEL_DIR), greedy generation by transformers' LlamaForCausalLM
     and by `deal-predict` agree on the first K tokens (or all, if fewer were
     generated) for at least a fraction F of the records. Our engine has no
     logits output, so generations are compared: a wrong weight layout (Q/K
     rows, transposes) breaks them at once, while float rounding only flips
     near-ties late in a generation.
Prints one line per record and a summary; exits 1 if a check fails.
"""
import argparse
import json
import subprocess
import sys

import torch
from transformers import AutoTokenizer, LlamaForCausalLM

TEXTS = [
    "Hello world! 123", "The year 2024 had 366 days.", "  multiple   spaces\tand\ttabs\n\n",
    "<|im_start|>user\nWhat is 7 * 6?<|im_end|>\n<|im_start|>assistant\n", "<custom> and <|endoftext|>",
    "Café déjà vu: naïve façade", "日本語のテキスト、٣ and ½ and ４２", "emoji 😀👍🏽 done", "a\x04b\x06c",
    "don't won't they're I'll we've", "x = [1, 2, 3]; print(x[0] ** 2)", "",
]


def run(args, stdin):
    return subprocess.run(args, input=stdin, capture_output=True, check=True, text=True).stdout


def check_tokenizer(model_dir):
    tok = AutoTokenizer.from_pretrained(model_dir)
    ours = run(["deal-tokenize", "--tokenizer", f"{model_dir}/tokenizer.json", "--encode"],
               "".join(json.dumps(t) + "\n" for t in TEXTS)).splitlines()
    bad = 0
    for text, line in zip(TEXTS, ours):
        want = tok.encode(text, add_special_tokens=False)
        if json.loads(line) != want:
            bad += 1
            print(f"tokenizer differs on {text!r}: ours {line}, transformers {want}")
    print(f"tokenizer: {len(TEXTS) - bad}/{len(TEXTS)} strings encode the same")
    return tok, bad == 0


def agreement(tok, hf_ids, ours):
    """How many leading tokens of transformers' generation our text reproduces."""
    for k in range(len(hf_ids)):
        text = tok.decode(hf_ids[:k + 1], skip_special_tokens=True)
        if "\0" in text:  # deal-predict's text ends at a NUL byte (a random model's): no more to compare
            return len(hf_ids) if ours == text.split("\0")[0] else k
        if not ours.startswith(text):
            return k
    return len(hf_ids)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("tokens")
    ap.add_argument("--max-new-tokens", type=int, default=12)
    ap.add_argument("--agree", type=int, default=6)
    ap.add_argument("--min-fraction", type=float, default=0.8)
    a = ap.parse_args()
    torch.manual_seed(0)
    tok, tokenizer_ok = check_tokenizer(a.model_dir)

    records = [json.loads(line) for line in run(["deal-cat", a.tokens], None).splitlines()]
    predictions = [json.loads(line) for line in run(
        ["deal-predict", "--model", a.model_dir, "--max-new-tokens", str(a.max_new_tokens), a.tokens],
        None).splitlines()]
    model = LlamaForCausalLM.from_pretrained(a.model_dir, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    eos = model.config.eos_token_id
    good = 0
    for rec, pred in zip(records, predictions):
        with torch.no_grad():
            ids = torch.tensor([rec["source"]])
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=a.max_new_tokens,
                                 do_sample=False, eos_token_id=eos, pad_token_id=eos)
        hf_ids = out[0, len(rec["source"]):].tolist()
        k = agreement(tok, hf_ids, pred["prediction"])
        ok = k >= min(a.agree, len(hf_ids))
        good += ok
        print(f"{rec['id']}: {k}/{len(hf_ids)} tokens agree{'' if ok else '  <-- differs'}\n"
              f"    ours:         {pred['prediction']!r}\n"
              f"    transformers: {tok.decode(hf_ids, skip_special_tokens=True)!r}")
    fraction = good / max(1, len(records))
    print(f"generation: {good}/{len(records)} records agree on the first {a.agree} tokens "
          f"({100 * fraction:.0f}%, at least {100 * a.min_fraction:.0f}% wanted)")
    sys.exit(0 if tokenizer_ok and fraction >= a.min_fraction else 1)


if __name__ == "__main__":
    main()
