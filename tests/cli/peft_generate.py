#!/usr/bin/env python3
"""Greedy generation with Hugging Face transformers + PEFT, for the round-trip tests.

    peft_generate.py MODEL_DIR ADAPTER_DIR TOKENS_JSONL MAX_NEW   > ids.jsonl
    peft_generate.py --make-adapter MODEL_DIR OUT_DIR R ALPHA TARGETS SEED

The first form reads records as deal-cat prints them (one JSON object per line
with "source") and prints, per record, the generated ids (after the decoder
start for T5; the continuation for LLaMA) up to and including the first eos.
The second writes a PEFT LoRA adapter with non-zero random factors.
"""
import json
import sys

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

torch.set_num_threads(2)


def load_base(model_dir):
    cfg = AutoConfig.from_pretrained(model_dir)
    cls = AutoModelForSeq2SeqLM if cfg.model_type == "t5" else AutoModelForCausalLM
    return cls.from_pretrained(model_dir, torch_dtype=torch.float32).eval(), cfg


def make_adapter(model_dir, out, r, alpha, targets, seed):
    base, cfg = load_base(model_dir)
    task = "SEQ_2_SEQ_LM" if cfg.model_type == "t5" else "CAUSAL_LM"
    torch.manual_seed(int(seed))
    m = get_peft_model(base, LoraConfig(r=int(r), lora_alpha=int(alpha), lora_dropout=0.0,
                                        target_modules=targets.split(","), task_type=task))
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    m.save_pretrained(out)


def generate(model_dir, adapter_dir, tokens, max_new):
    base, cfg = load_base(model_dir)
    m = PeftModel.from_pretrained(base, adapter_dir).eval()
    eos = cfg.eos_token_id if isinstance(cfg.eos_token_id, int) else cfg.eos_token_id[0]
    for line in open(tokens):
        src = json.loads(line)["source"]
        ids = torch.tensor([src])
        with torch.no_grad():
            out = m.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=int(max_new),
                             do_sample=False, num_beams=1, eos_token_id=eos, pad_token_id=cfg.pad_token_id or 0)
        new = out[0].tolist()[1:] if cfg.model_type == "t5" else out[0].tolist()[len(src):]
        if eos in new:
            new = new[:new.index(eos) + 1]
        print(json.dumps(new))


if __name__ == "__main__":
    if sys.argv[1] == "--make-adapter":
        make_adapter(*sys.argv[2:])
    else:
        generate(*sys.argv[1:])
