#!/usr/bin/python3
"""Builds the two benchmark checkpoints with torch + transformers.

    /usr/bin/python3 bench/make_bench_model.py OUT_DIR --tokenizer spiece.model [--seed 0]

Writes OUT_DIR/t5 and OUT_DIR/llama (or OUT_DIR/KIND with --only KIND), each a Hugging Face folder
(config.json, generation_config.json, model.safetensors via
save_pretrained, in safetensors) plus the SentencePiece vocabulary
given with --tokenizer, copied in as spiece.model (bench/common.sh trains it
with `deal-tokenize --train-vocab 8000`; its ids, pad 0 / eos 1 / unk 2, are
all below 8000 < vocab 32128, so both models accept its tokens).

  t5     T5 v1.1 style: gated-gelu, untied lm_head; d_model 512, d_kv 64, 8 heads,
         d_ff 1024, 6 encoder + 6 decoder layers, vocab 32128, 32 relative
         buckets, max distance 128.                              (~70 M parameters)
  llama  LLaMA style: hidden 512, 8 heads (head_dim 64), 4 KV heads, intermediate
         1408, 8 layers, vocab 32128, tied embeddings, rope_theta 10000.
                                                                  (~40 M parameters)
  t5-large  flan-t5-large's shape: d_model 1024, 16 heads, d_ff 2816, 24 + 24
         layers (~780 M parameters); only on request (--only), for bench_gpu.sh.

Weights: transformers' own random init under torch.manual_seed(seed) (T5's
lm_head then scaled by d_model**-0.5; output rows of ids >= the tokenizer's size
zeroed so generation only emits ids deal-predict can decode; see build()). Every
dropout of the model itself is 0 (T5's dropout_rate defaults to 0.1, which HF
would apply in training mode and deal does not), so both implementations do the
same arithmetic; the LoRA dropout (0.1) is the only dropout in the benchmark.
"""
import argparse
import os
import shutil
import warnings

import torch

warnings.filterwarnings("ignore")

import transformers  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration  # noqa: E402

transformers.logging.set_verbosity_error()

VOCAB = 32128

CONFIGS = {
    "t5": (T5Config, T5ForConditionalGeneration, dict(
        vocab_size=VOCAB, d_model=512, d_kv=64, num_heads=8, d_ff=1024, num_layers=6,
        num_decoder_layers=6, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
        relative_attention_num_buckets=32, relative_attention_max_distance=128,
        dropout_rate=0.0, layer_norm_epsilon=1e-6, initializer_factor=1.0,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)),
    # The SentencePiece vocabulary has no bos piece: deal-tokenize's llama
    # convention then starts the source with the prompt itself; eos is its id 1.
    "llama": (LlamaConfig, LlamaForCausalLM, dict(
        vocab_size=VOCAB, hidden_size=512, intermediate_size=1408, num_hidden_layers=8,
        num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=2048,
        rms_norm_eps=1e-5, rope_theta=10000.0, hidden_act="silu", tie_word_embeddings=True,
        attention_dropout=0.0, attention_bias=False, mlp_bias=False,
        bos_token_id=None, eos_token_id=1, pad_token_id=0)),
}
# flan-t5-large's shape (750 M parameters), for bench/bench_gpu.sh.
CONFIGS["t5-large"] = (T5Config, T5ForConditionalGeneration, dict(
    CONFIGS["t5"][2], d_model=1024, num_heads=16, d_ff=2816, num_layers=24, num_decoder_layers=24))


def vocab_of(path):
    """Number of pieces of a SentencePiece .model (a protobuf; field 1 = pieces)."""
    data, i, n = open(path, "rb").read(), 0, 0

    def varint(i):
        v, shift = 0, 0
        while True:
            b = data[i]
            v |= (b & 0x7F) << shift
            i, shift = i + 1, shift + 7
            if b < 0x80:
                return v, i

    while i < len(data):
        key, i = varint(i)
        wire = key & 7
        if wire == 0:
            _, i = varint(i)
        elif wire == 2:
            length, i = varint(i)
            n += key >> 3 == 1
            i += length
        elif wire == 5:
            i += 4
        elif wire == 1:
            i += 8
        else:
            raise ValueError(f"{path}: not a SentencePiece model")
    return n


def build(kind, out, tokenizer, seed):
    config_cls, model_cls, kw = CONFIGS[kind]
    torch.manual_seed(seed)
    model = model_cls(config_cls(**kw)).eval()
    with torch.no_grad():
        if kind.startswith("t5"):
            # HF initialises an untied T5 lm_head with std 1 (t5-v1_1 checkpoints
            # are trained from there); scaled to std d_model**-0.5 the random
            # model's logits and loss are of a trained model's order (~10, not ~100).
            model.lm_head.weight.mul_(kw["d_model"] ** -0.5)
        # Output rows of ids the tokenizer does not have (>= its size) are zero:
        # their logits are 0 while the largest of the other 8000 is positive, so
        # greedy decoding stays inside the vocabulary deal-predict decodes with.
        # The matrices keep their full 32128 rows: the arithmetic is unchanged.
        head = model.get_output_embeddings().weight  # LLaMA: = embed_tokens (tied)
        head[vocab_of(tokenizer):].zero_()
    n = sum(p.numel() for p in model.parameters())
    if os.path.exists(out):
        shutil.rmtree(out)
    model.save_pretrained(out)  # safetensors (the default since transformers 4.35)
    shutil.copy(tokenizer, os.path.join(out, "spiece.model"))
    print(f"{out}: {kind}, {n / 1e6:.1f} M parameters, output rows {vocab_of(tokenizer)}.. zero")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--tokenizer", required=True, help="SentencePiece .model to copy in as spiece.model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=sorted(CONFIGS))
    a = ap.parse_args()
    for kind in [a.only] if a.only else ["t5", "llama"]:
        build(kind, os.path.join(a.out, kind), a.tokenizer, a.seed + (1 if kind == "llama" else 0))


if __name__ == "__main__":
    main()
