#!/usr/bin/env python3
"""Writes a small random T5 or LLaMA checkpoint in Hugging Face format.

    make_tiny_model.py t5|llama OUT_DIR --vocab N [--tokenizer FILE] [--seed S]
                       [--d-model C] [--layers L] [--std X]

Only the standard library: the command-line tests need no torch. The weights
are random (normal, std 0.2 unless --std; embeddings std 1), enough to exercise training and generation end
to end; numerics against transformers are checked elsewhere (tests/reference).
"""
import argparse
import json
import os
import random
import shutil
import struct
from array import array


def write_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        shape, values = tensors[name]
        data = array("f", values).tobytes()
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("arch", choices=["t5", "llama"])
    ap.add_argument("out")
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--tokenizer")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--d-model", type=int, default=32)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--std", type=float, default=0.2, help="of the weight matrices")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    C, H, hs, F, V, L = a.d_model, 4, a.d_model // 4, 2 * a.d_model, a.vocab, a.layers
    t = {}

    def w(name, *shape, std=a.std, value=None):
        n = 1
        for d in shape:
            n *= d
        t[name] = (list(shape), [value] * n if value is not None else [rnd.gauss(0, std) for _ in range(n)])

    if a.arch == "t5":
        config = {"model_type": "t5", "architectures": ["T5ForConditionalGeneration"], "vocab_size": V,
                  "d_model": C, "d_kv": hs, "d_ff": F, "num_layers": L, "num_decoder_layers": L, "num_heads": H,
                  "relative_attention_num_buckets": 8, "relative_attention_max_distance": 32,
                  "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False, "dropout_rate": 0.0,
                  "layer_norm_epsilon": 1e-6, "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0}
        w("shared.weight", V, C, std=1.0)
        w("lm_head.weight", V, C)
        for stack, n_sub in (("encoder", 2), ("decoder", 3)):
            w(f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight", 8, H)
            w(f"{stack}.final_layer_norm.weight", C, value=1.0)
            for l in range(L):
                p = f"{stack}.block.{l}.layer"
                attns = [("0", "SelfAttention")] + ([("1", "EncDecAttention")] if stack == "decoder" else [])
                for sub, kind in attns:
                    w(f"{p}.{sub}.layer_norm.weight", C, value=1.0)
                    for m in "qkv":
                        w(f"{p}.{sub}.{kind}.{m}.weight", H * hs, C)
                    w(f"{p}.{sub}.{kind}.o.weight", C, H * hs)
                ff = str(n_sub - 1)
                w(f"{p}.{ff}.layer_norm.weight", C, value=1.0)
                w(f"{p}.{ff}.DenseReluDense.wi_0.weight", F, C)
                w(f"{p}.{ff}.DenseReluDense.wi_1.weight", F, C)
                w(f"{p}.{ff}.DenseReluDense.wo.weight", C, F)
    else:
        config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": V, "hidden_size": C,
                  "intermediate_size": F, "num_hidden_layers": L, "num_attention_heads": H,
                  "num_key_value_heads": H // 2, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
                  "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": True,
                  "bos_token_id": 1, "eos_token_id": 2}
        if a.tokenizer and a.tokenizer.endswith(".model"):  # deal-tokenize --train-vocab's ids (T5's)
            config.update({"bos_token_id": None, "eos_token_id": 1, "pad_token_id": 0})
        w("model.embed_tokens.weight", V, C, std=1.0)
        w("model.norm.weight", C, value=1.0)
        for l in range(L):
            p = f"model.layers.{l}"
            w(f"{p}.input_layernorm.weight", C, value=1.0)
            w(f"{p}.post_attention_layernorm.weight", C, value=1.0)
            w(f"{p}.self_attn.q_proj.weight", H * hs, C)
            w(f"{p}.self_attn.k_proj.weight", H // 2 * hs, C)
            w(f"{p}.self_attn.v_proj.weight", H // 2 * hs, C)
            w(f"{p}.self_attn.o_proj.weight", C, H * hs)
            w(f"{p}.mlp.gate_proj.weight", F, C)
            w(f"{p}.mlp.up_proj.weight", F, C)
            w(f"{p}.mlp.down_proj.weight", C, F)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(a.out, "model.safetensors"), t)
    if a.tokenizer:
        name = "spiece.model" if a.tokenizer.endswith(".model") else "tokenizer.json"
        shutil.copy(a.tokenizer, os.path.join(a.out, name))


if __name__ == "__main__":
    main()
