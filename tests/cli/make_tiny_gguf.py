#!/usr/bin/env python3
"""Writes a small random LLaMA model as llama.cpp would: a GGUF file.

    make_tiny_gguf.py OUT.gguf REF.safetensors [--arch A] [--pre P] [--untied] [--bias] [--seed S]

Only the standard library. The model has a byte-level BPE vocabulary (control
tokens, the 256 bytes, a few merges), tensors in every type deal-import reads
(F32, F16, BF16, Q8_0, Q4_0, Q4_1), and the rows of Q and K permuted the way
llama.cpp's convert_hf_to_gguf.py does. REF.safetensors gets the weights a
correct import must give back, under their Hugging Face names: the original
weights, un-permuted, after quantization (the dequantized values are exact in
float32, so they compare bit for bit).
"""
import argparse
import random
import struct

from make_tiny_model import write_safetensors  # the reference weights, as the other tiny models

C, H, KV, F, L = 64, 4, 2, 96, 2  # hidden, heads, key/value heads, feed-forward, layers
HD = C // H

# GGUF metadata value types and ggml tensor types.
U32, I32, F32V, BOOL, STR, ARR = 4, 5, 6, 7, 8, 9
T_F32, T_F16, T_Q4_0, T_Q4_1, T_Q8_0, T_BF16 = 0, 1, 2, 3, 8, 30


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def f16(x):
    return struct.unpack("<e", struct.pack("<e", x))[0]


# ---- quantization: bytes as ggml lays them out, and the values they decode to

def quantize(row, kind):
    """Returns (bytes, dequantized values) of one row."""
    if kind == T_F32:
        vals = [f32(x) for x in row]
        return struct.pack(f"<{len(row)}f", *vals), vals
    if kind == T_F16:
        vals = [f16(x) for x in row]
        return struct.pack(f"<{len(row)}e", *vals), vals
    if kind == T_BF16:
        bits = [struct.unpack("<I", struct.pack("<f", x))[0] >> 16 for x in row]  # truncated
        vals = [struct.unpack("<f", struct.pack("<I", b << 16))[0] for b in bits]
        return struct.pack(f"<{len(row)}H", *bits), vals
    data, vals = b"", []
    for b in range(0, len(row), 32):
        x = row[b:b + 32]
        if kind == T_Q8_0:
            d = f16(max(abs(v) for v in x) / 127)
            q = [max(-127, min(127, round(v / d))) if d else 0 for v in x]
            data += struct.pack("<e32b", d, *q)
            vals += [f32(v * d) for v in q]
        elif kind == T_Q4_0:
            d = f16(max(x, key=abs) / -8)
            q = [max(0, min(15, round(v / d) + 8)) if d else 8 for v in x]
            data += struct.pack("<e", d) + bytes(q[j] | q[j + 16] << 4 for j in range(16))
            vals += [f32((v - 8) * d) for v in q]
        else:  # Q4_1
            lo = min(x)
            d, m = f16((max(x) - lo) / 15), f16(lo)
            q = [max(0, min(15, round((v - m) / d))) if d else 0 for v in x]
            data += struct.pack("<ee", d, m) + bytes(q[j] | q[j + 16] << 4 for j in range(16))
            vals += [f32(v * d + m) for v in q]
    return data, vals


def permute(rows, n_head):
    """llama.cpp's LlamaModel.permute on a list of rows:
    reshape(n_head, 2, hd/2, ...).swapaxes(1, 2).reshape(...)."""
    hd = len(rows) // n_head
    return [rows[h * hd + s * hd // 2 + j] for h in range(n_head) for j in range(hd // 2) for s in range(2)]


# ---- the vocabulary ---------------------------------------------------------

def byte_standins():
    """GPT-2's bytes_to_unicode."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    out, n = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + n)
            n += 1
    return [out[b] for b in range(256)]


MERGES = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ s", "r e", "a t", "e n", "n d", "Ġa nd",
          "i s", "o r", "e s", "n g", "in g", "Ġ o", "Ġo f", "1 2", "Ġ p", "o s", "i t", "i v", "Ġ m"]


def vocabulary():
    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + byte_standins()
    types = [3, 3, 3] + [1] * 256
    for m in MERGES:
        tokens.append(m.replace(" ", ""))
        types.append(1)
    tokens.append("<custom>")  # a user-defined (type 4) token, not special
    types.append(4)
    return tokens, types


# ---- GGUF writing -----------------------------------------------------------

def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, value):
    out = gstr(key) + struct.pack("<I", vtype)
    if vtype == ARR:
        etype, items = value
        out += struct.pack("<IQ", etype, len(items))
        for x in items:
            out += gstr(x) if etype == STR else struct.pack("<i" if etype == I32 else "<I", x)
        return out
    if vtype == STR:
        return out + gstr(value)
    return out + struct.pack({U32: "<I", I32: "<i", F32V: "<f", BOOL: "<?"}[vtype], value)


def write_gguf(path, metadata, tensors, align=32):
    """tensors: list of (name, ne, ggml type, data bytes)."""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata)) + b"".join(metadata)
    blob, infos = b"", b""
    for name, ne, kind, data in tensors:
        blob += b"\0" * (-len(blob) % align)
        infos += gstr(name) + struct.pack(f"<I{len(ne)}QIQ", len(ne), *ne, kind, len(blob))
        blob += data
    head += infos
    with open(path, "wb") as f:
        f.write(head + b"\0" * (-len(head) % align) + blob)


def unpermute(rows, n_head):
    """The inverse of permute: row i of the result is the one permute moved away from i."""
    out = [None] * len(rows)
    for dst, src in enumerate(permute(list(range(len(rows))), n_head)):
        out[src] = rows[dst]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("ref")
    ap.add_argument("--arch", default="llama")
    ap.add_argument("--pre", default="smollm")
    ap.add_argument("--untied", action="store_true", help="write output.weight")
    ap.add_argument("--bias", action="store_true", help="add an attention bias (not importable)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    tokens, types = vocabulary()
    V = len(tokens)
    gguf_tensors, ref = [], {}

    def matrix(gguf_name, hf_name, rows, cols, kind, heads=0, std=0.2):
        w = [[rnd.gauss(0, std) for _ in range(cols)] for _ in range(rows)]
        quant = [quantize(r, kind) for r in (permute(w, heads) if heads else w)]
        vals = [q[1] for q in quant]
        if heads:  # what the importer must give back: the rows in HF order
            vals = unpermute(vals, heads)
        gguf_tensors.append((gguf_name, [cols, rows], kind, b"".join(q[0] for q in quant)))
        ref[hf_name] = ([rows, cols], [v for r in vals for v in r])

    def vector(gguf_name, hf_name, n):
        w = [1.0 + rnd.gauss(0, 0.1) for _ in range(n)]
        data, vals = quantize(w, T_F32)
        gguf_tensors.append((gguf_name, [n], T_F32, data))
        ref[hf_name] = ([n], vals)

    matrix("token_embd.weight", "model.embed_tokens.weight", V, C, T_Q8_0, std=1.0)
    vector("output_norm.weight", "model.norm.weight", C)
    if a.untied:
        matrix("output.weight", "lm_head.weight", V, C, T_Q8_0)
    for l in range(L):
        b, p = f"blk.{l}", f"model.layers.{l}"
        vector(f"{b}.attn_norm.weight", f"{p}.input_layernorm.weight", C)
        vector(f"{b}.ffn_norm.weight", f"{p}.post_attention_layernorm.weight", C)
        matrix(f"{b}.attn_q.weight", f"{p}.self_attn.q_proj.weight", H * HD, C, T_Q4_1, heads=H)
        matrix(f"{b}.attn_k.weight", f"{p}.self_attn.k_proj.weight", KV * HD, C, T_Q4_1, heads=KV)
        matrix(f"{b}.attn_v.weight", f"{p}.self_attn.v_proj.weight", KV * HD, C, T_F16)
        matrix(f"{b}.attn_output.weight", f"{p}.self_attn.o_proj.weight", C, H * HD, T_Q4_0)
        matrix(f"{b}.ffn_gate.weight", f"{p}.mlp.gate_proj.weight", F, C, T_BF16)
        matrix(f"{b}.ffn_up.weight", f"{p}.mlp.up_proj.weight", F, C, T_F32)
        matrix(f"{b}.ffn_down.weight", f"{p}.mlp.down_proj.weight", C, F, T_Q8_0)
    if a.bias:
        gguf_tensors.append(("blk.0.attn_q.bias", [H * HD], T_F32, bytes(4 * H * HD)))

    metadata = [
        kv("general.architecture", STR, a.arch),
        kv("general.name", STR, "tiny"),
        kv("general.alignment", U32, 64),
        kv(f"{a.arch}.block_count", U32, L),
        kv(f"{a.arch}.context_length", U32, 512),
        kv(f"{a.arch}.embedding_length", U32, C),
        kv(f"{a.arch}.feed_forward_length", U32, F),
        kv(f"{a.arch}.attention.head_count", U32, H),
        kv(f"{a.arch}.attention.head_count_kv", U32, KV),
        kv(f"{a.arch}.rope.freq_base", F32V, 10000.0),
        kv(f"{a.arch}.attention.layer_norm_rms_epsilon", F32V, 1e-5),
        kv(f"{a.arch}.vocab_size", U32, V),
        kv(f"{a.arch}.rope.dimension_count", U32, HD),
        kv("tokenizer.ggml.model", STR, "gpt2"),
        kv("tokenizer.ggml.pre", STR, a.pre),
        kv("tokenizer.ggml.tokens", ARR, (STR, tokens)),
        kv("tokenizer.ggml.token_type", ARR, (I32, types)),
        kv("tokenizer.ggml.merges", ARR, (STR, MERGES)),
        kv("tokenizer.ggml.bos_token_id", U32, 1),
        kv("tokenizer.ggml.eos_token_id", U32, 2),
        kv("tokenizer.ggml.unknown_token_id", U32, 0),
        kv("tokenizer.ggml.padding_token_id", U32, 2),
        kv("tokenizer.ggml.add_bos_token", BOOL, False),
    ]
    write_gguf(a.out, metadata, gguf_tensors, align=64)
    write_safetensors(a.ref, ref)


if __name__ == "__main__":
    main()
