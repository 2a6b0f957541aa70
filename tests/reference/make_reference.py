#!/usr/bin/python3
"""Make tiny random Hugging Face checkpoints and reference outputs for deal's C engine.

Run with Debian's python (torch 1.13) and the pins in requirements.txt:

    /usr/bin/python3 tests/reference/make_reference.py [fixture ...]

Writes tests/reference/fixtures/<name>/ for t5_v1_0, t5_v1_1, llama_gqa, llama_tied
(all four when no name is given).  CPU only, fp32, fixed seeds: re-running with the
same pinned versions gives byte-identical files.  The contract the C tests rely on
is tests/reference/README.md.
"""
import os
import sys

# PEFT turns target_modules into a set and writes it back as a list, so the order
# in adapter_config.json follows str hashing: fix the hash seed by re-executing.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import json
import math
import shutil
import warnings

import torch

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)
warnings.filterwarnings("ignore")

import peft  # noqa: E402
import safetensors  # noqa: E402
import transformers  # noqa: E402
from peft import LoraConfig, PeftModel, TaskType, get_peft_model  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import (LlamaConfig, LlamaForCausalLM, T5Config,  # noqa: E402
                          T5ForConditionalGeneration)

transformers.logging.set_verbosity_error()

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")

EMB_STD, OUT_GAIN = 0.5, 3.0
LORA_R, LORA_ALPHA = 4, 8
LORA_B_STD = 0.1
ADAMW = {"lr": 1e-2, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0,
         "max_grad_norm": 1.0, "steps": 3}
MAX_NEW_TOKENS = 8
IGNORE = -100

# Tolerances for the C tests, checked as |c - ref| <= atol + rtol * |ref| elementwise
# (losses: scalars).  The script asserts HF's own fp32 results lie within half of each
# tolerance of the same computation in fp64 (see check_tol); the measured deviations
# are recorded in reference.json ("fp64_max_abs_dev").
TOLERANCES = {
    "logits": {"atol": 1e-4, "rtol": 1e-4},
    "loss": {"atol": 1e-5, "rtol": 1e-5},
    "grad": {"atol": 1e-4, "rtol": 1e-3},
    "full_grad": {"atol": 1e-4, "rtol": 1e-3},
    "adamw_losses": {"atol": 1e-4, "rtol": 1e-4},
    "grad_norms": {"atol": 1e-4, "rtol": 1e-3},
    "adamw_final": {"atol": 1e-3, "rtol": 1e-3},
    "generations": "exact",
}

T5_COMMON = dict(vocab_size=128, d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=2,
                 relative_attention_num_buckets=8, relative_attention_max_distance=20,
                 dropout_rate=0.0, layer_norm_epsilon=1e-6, initializer_factor=1.0,
                 pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
LLAMA_COMMON = dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=4, hidden_act="silu", rms_norm_eps=1e-5,
                    attention_bias=False, mlp_bias=False, attention_dropout=0.0,
                    bos_token_id=1, eos_token_id=2, pad_token_id=0)

FIXTURE_SPECS = {
    "t5_v1_0": dict(
        kind="t5", seed=1000,
        config=dict(T5_COMMON, feed_forward_proj="relu", tie_word_embeddings=True,
                    num_decoder_layers=2),
        src_lens=[24, 17, 9], tgt_lens=[20, 3, 1]),
    "t5_v1_1": dict(
        kind="t5", seed=2000,
        config=dict(T5_COMMON, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                    num_decoder_layers=3),
        src_lens=[24, 17, 9], tgt_lens=[20, 3, 1]),
    "llama_gqa": dict(
        kind="llama", seed=3000,
        # original_max_position_embeddings 256 (with max_position_embeddings 512 so HF does
        # not warn) puts head_dim 8's four RoPE wavelengths (6.3, 167, 4443, 118600) in all
        # three llama3 bands: kept / smoothed / divided by factor.
        config=dict(LLAMA_COMMON, num_key_value_heads=2, rope_theta=500000.0,
                    rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                  "high_freq_factor": 4.0,
                                  "original_max_position_embeddings": 256},
                    max_position_embeddings=512, tie_word_embeddings=False),
        src_lens=[24, 17, 9], tgt_lens=[5, 3, 1]),
    "llama_tied": dict(
        kind="llama", seed=4000,
        config=dict(LLAMA_COMMON, num_key_value_heads=4, rope_theta=10000.0, rope_scaling=None,
                    max_position_embeddings=128, tie_word_embeddings=True),
        src_lens=[24, 17, 9], tgt_lens=[5, 3, 1]),
}


def seeds_of(spec):
    s = spec["seed"]
    return {"data": s + 1, "lora_A": s + 2, "lora_B": s + 3, "weights": s + 100}


# ---------------------------------------------------------------------------------------------
# models


def model_class(kind):
    return T5ForConditionalGeneration if kind == "t5" else LlamaForCausalLM


def init_weights(model, seed):
    """Explicit seeded init, independent of HF's initialiser.

    Every parameter in named_parameters() order (tied weights once), from one
    torch.Generator(seed), z ~ N(0, 1) of the parameter's shape:
      1-D (RMSNorm weights)             1 + 0.1 z   (not all ones, so a missing norm weight shows)
      shared / model.embed_tokens       EMB_STD z
      T5 relative_attention_bias        0.5 z
      lm_head (untied)                  2 z / sqrt(in)
      residual-branch outputs           OUT_GAIN z / sqrt(in)   (T5 o, wo; LLaMA o_proj, down_proj)
      other linears [out, in]           z / sqrt(in)
    Layer outputs dominate the embedding in the residual stream, so tied models do
    not just echo their input token under greedy decoding.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            z = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if p.dim() == 1:
                v = 1.0 + 0.1 * z
            elif name in ("shared.weight", "model.embed_tokens.weight"):
                v = EMB_STD * z
            elif "relative_attention_bias" in name:
                v = 0.5 * z
            elif name == "lm_head.weight":
                v = z * (2.0 / math.sqrt(p.shape[1]))
            elif name.split(".")[-2] in ("o", "wo", "o_proj", "down_proj"):
                v = z * (OUT_GAIN / math.sqrt(p.shape[1]))
            else:
                v = z / math.sqrt(p.shape[1])
            p.copy_(v)


def new_base(spec, weights_seed):
    kind = spec["kind"]
    config = (T5Config if kind == "t5" else LlamaConfig)(**spec["config"])
    config._attn_implementation = "eager"
    torch.manual_seed(weights_seed)
    model = model_class(kind)(config)
    init_weights(model, weights_seed)
    return model.eval()


def add_lora(kind, base, seeds):
    """PEFT LoRA on base (in place): lora_A = PEFT's kaiming-uniform init under
    torch.manual_seed(seeds.lora_A); every lora_B = LORA_B_STD * N(0,1) from
    torch.Generator(seeds.lora_B), in named_parameters() order."""
    torch.manual_seed(seeds["lora_A"])
    model = get_peft_model(base, lora_config(kind))
    g = torch.Generator().manual_seed(seeds["lora_B"])
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(LORA_B_STD * torch.randn(p.shape, generator=g, dtype=torch.float32))
    model.peft_config["default"].base_model_name_or_path = ".."
    return model


def generation_is_varied(rows):
    """Every row has >= min(3, len) distinct ids, >= 6 distinct ids over the batch."""
    return (all(len(set(r)) >= min(3, len(r)) for r in rows)
            and len({t for r in rows for t in r}) >= 6)


def make_checkpoint(spec, batch, source, seeds, outdir):
    """Search weight seeds seeds.weights, +1, ... for the first whose LoRA model's greedy
    generation is varied (random tiny models, tied ones above all, often repeat one
    token); save that base model and its adapter.  Returns (weights seed, tries)."""
    kind = spec["kind"]
    for tries in range(1, 201):
        wseed = seeds["weights"] + tries - 1
        base = new_base(spec, wseed)
        state = {k: v.clone() for k, v in base.state_dict().items()}
        lora = add_lora(kind, base, seeds)
        rows, _ = generate(kind, lora, batch, source, spec["config"], single=False)
        if generation_is_varied(rows):
            break
    else:
        sys.exit(f"no weight seed gives varied greedy generations for {spec}")
    clean = new_base(spec, wseed)
    assert all(torch.equal(clean.state_dict()[k], state[k]) for k in state)
    clean.save_pretrained(outdir, safe_serialization=True)
    lora.save_pretrained(os.path.join(outdir, "adapter"), safe_serialization=True)
    os.remove(os.path.join(outdir, "adapter", "README.md"))  # PEFT's model-card boilerplate
    return wseed, tries


def load_base(kind, outdir, dtype=torch.float32):
    m = model_class(kind).from_pretrained(outdir, torch_dtype=torch.float32,
                                          attn_implementation="eager")
    if dtype != torch.float32:
        m = m.to(dtype)
    return m


def lora_config(kind):
    if kind == "t5":
        return LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=0.0, bias="none",
                          target_modules=["q", "v"], task_type=TaskType.SEQ_2_SEQ_LM)
    return LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=0.0, bias="none",
                      target_modules=["q_proj", "v_proj"], task_type=TaskType.CAUSAL_LM)


def load_lora(kind, outdir, dtype=torch.float32):
    base = load_base(kind, outdir)
    model = PeftModel.from_pretrained(base, os.path.join(outdir, "adapter"), is_trainable=True)
    if dtype != torch.float32:
        model = model.to(dtype)
    return model


def lora_params(model):
    """(saved name, parameter) for every trainable LoRA parameter, named as in
    adapter_model.safetensors (the adapter name 'default' dropped)."""
    out = []
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert ".lora_A.default." in name or ".lora_B.default." in name, name
            out.append((name.replace(".default.", "."), p))
    return out


# ---------------------------------------------------------------------------------------------
# data


def make_examples(spec, seeds, vocab):
    g = torch.Generator().manual_seed(seeds["data"])
    prompts, targets = [], []
    for ls, lt in zip(spec["src_lens"], spec["tgt_lens"]):
        prompts.append(torch.randint(3, vocab, (ls,), generator=g).tolist())
        targets.append(torch.randint(3, vocab, (lt,), generator=g).tolist())
    return prompts, targets


def pad_right(rows, value):
    n = max(len(r) for r in rows)
    return [r + [value] * (n - len(r)) for r in rows]


def pad_left(rows, value):
    n = max(len(r) for r in rows)
    return [[value] * (n - len(r)) + r for r in rows]


def t5_batch(prompts, targets, cfg):
    eos, pad, start = cfg["eos_token_id"], cfg["pad_token_id"], cfg["decoder_start_token_id"]
    source = [p + [eos] for p in prompts]
    target = [t + [eos] for t in targets]
    input_ids = pad_right(source, pad)
    attention_mask = pad_right([[1] * len(s) for s in source], 0)
    labels = pad_right(target, IGNORE)
    decoder_input_ids = [[start] + [pad if x == IGNORE else x for x in row[:-1]] for row in labels]
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels,
             "decoder_input_ids": decoder_input_ids}
    return source, target, batch


def llama_batch(prompts, targets, cfg):
    bos, eos, pad = cfg["bos_token_id"], cfg["eos_token_id"], cfg["pad_token_id"]
    source = [[bos] + p for p in prompts]
    target = [t + [eos] for t in targets]
    seqs = [s + t for s, t in zip(source, target)]
    input_ids = pad_right(seqs, pad)
    attention_mask = pad_right([[1] * len(x) for x in seqs], 0)
    labels = pad_right([[IGNORE] * len(s) + t for s, t in zip(source, target)], IGNORE)
    gen_input_ids = pad_left(source, pad)
    gen_attention_mask = pad_left([[1] * len(s) for s in source], 0)
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels,
             "gen_input_ids": gen_input_ids, "gen_attention_mask": gen_attention_mask}
    return source, target, batch


def model_inputs(kind, batch):
    d = {"input_ids": torch.tensor(batch["input_ids"]),
         "attention_mask": torch.tensor(batch["attention_mask"]),
         "labels": torch.tensor(batch["labels"])}
    if kind == "t5":
        d["decoder_input_ids"] = torch.tensor(batch["decoder_input_ids"])
    return d


# ---------------------------------------------------------------------------------------------
# reference computations


def lora_forward_backward(kind, outdir, batch, dtype):
    model = load_lora(kind, outdir, dtype)
    model.train()
    out = model(**model_inputs(kind, batch))
    out.loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in lora_params(model)}
    return out.logits.detach(), out.loss.item(), grads


def full_forward_backward(kind, outdir, batch, dtype):
    model = load_base(kind, outdir, dtype)
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    out = model(**model_inputs(kind, batch))
    out.loss.backward()
    grads = {}
    for n, p in model.named_parameters():  # tied parameters appear once, under the first name
        grads[n] = p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
    return out.logits.detach(), out.loss.item(), grads


def adamw_run(kind, outdir, batch, dtype):
    model = load_lora(kind, outdir, dtype)
    model.train()
    named = lora_params(model)
    params = [p for _, p in named]
    opt = torch.optim.AdamW(params, lr=ADAMW["lr"], betas=tuple(ADAMW["betas"]), eps=ADAMW["eps"],
                            weight_decay=ADAMW["weight_decay"])
    inputs = model_inputs(kind, batch)
    losses, norms = [], []
    for _ in range(ADAMW["steps"]):
        opt.zero_grad()
        loss = model(**inputs).loss
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, ADAMW["max_grad_norm"])
        losses.append(loss.item())
        norms.append(norm.item())
        opt.step()
    with torch.no_grad():
        losses.append(model(**inputs).loss.item())
    final = {n: p.detach().clone() for n, p in named}
    return losses, norms, final


def cut_at_eos(ids, eos):
    out = []
    for x in ids:
        out.append(int(x))
        if x == eos:
            break
    return out


def generate(kind, model, batch, source, cfg, single=True):
    """Greedy generation, batched (T5: right-padded sources; LLaMA: left-padded) and,
    if single, one example at a time.  Rows are the new ids cut after the first eos."""
    model.eval()
    eos = cfg["eos_token_id"]
    kw = dict(max_new_tokens=MAX_NEW_TOKENS, do_sample=False, num_beams=1,
              eos_token_id=eos, pad_token_id=cfg["pad_token_id"])
    if kind == "t5":
        kw["decoder_start_token_id"] = cfg["decoder_start_token_id"]
        ids, mask = batch["input_ids"], batch["attention_mask"]
    else:
        kw["bos_token_id"] = cfg["bos_token_id"]
        ids, mask = batch["gen_input_ids"], batch["gen_attention_mask"]

    def run(ids, mask):
        ids = torch.tensor(ids)
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=torch.tensor(mask), **kw)
        if kind == "t5":  # decoder start, then the new ids
            assert (out[:, 0] == cfg["decoder_start_token_id"]).all()
            new = out[:, 1:]
        else:  # the prompt, then the new ids
            new = out[:, ids.shape[1]:]
        return [cut_at_eos(row.tolist(), eos) for row in new]

    batched = run(ids, mask)
    singles = None
    if single:
        singles = [run([s], [[1] * len(s)])[0] for s in source]
    return batched, singles


def t5_buckets(model, t_enc, t_dec):
    """The relative-position bucket matrices HF uses ([query i][key j]) for the given lengths."""
    att_enc = model.encoder.block[0].layer[0].SelfAttention
    att_dec = model.decoder.block[0].layer[0].SelfAttention
    res = {}
    for name, att, n, bidir in (("encoder", att_enc, t_enc, True), ("decoder", att_dec, t_dec, False)):
        pos = torch.arange(n)
        rel = pos[None, :] - pos[:, None]  # key - query
        b = att._relative_position_bucket(rel, bidirectional=bidir,
                                          num_buckets=att.relative_attention_num_buckets,
                                          max_distance=att.relative_attention_max_distance)
        res[name] = b.tolist()
    return res


def dump_json(obj, path):
    """json with indent 1, but lists of numbers on one line."""
    def fmt(o, ind):
        pad = " " * ind
        if isinstance(o, dict):
            if not o:
                return "{}"
            items = [f'{pad} {json.dumps(k)}: {fmt(v, ind + 1)}' for k, v in o.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(o, list) and o and not all(isinstance(x, (int, float, str)) for x in o):
            return "[\n" + ",\n".join(pad + " " + fmt(x, ind + 1) for x in o) + "\n" + pad + "]"
        return json.dumps(o)
    with open(path, "w") as f:
        f.write(fmt(obj, 0) + "\n")
    with open(path) as f:
        assert json.load(f) == json.loads(json.dumps(obj))


def max_abs_dev(a, b):
    return float((a.double() - b.double()).abs().max())


def check_tol(name, ref32, ref64, tol):
    """Assert HF's own fp32 result is within HALF the tolerance we hand to the C tests
    (measured against the same computation in fp64), leaving the other half for the
    C engine's own fp32 rounding."""
    ref32, ref64 = torch.as_tensor(ref32).double(), torch.as_tensor(ref64).double()
    diff = (ref32 - ref64).abs()
    bound = tol["atol"] + tol["rtol"] * ref64.abs()
    assert (2 * diff <= bound).all(), (name, float(diff.max()))


# ---------------------------------------------------------------------------------------------


def build_fixture(name, spec):
    kind = spec["kind"]
    cfg = spec["config"]
    seeds = seeds_of(spec)
    outdir = os.path.join(FIXTURES, name)
    if os.path.isdir(outdir):
        shutil.rmtree(outdir)
    os.makedirs(outdir)
    print(f"[{name}]", flush=True)

    prompts, targets = make_examples(spec, seeds, cfg["vocab_size"])
    if kind == "t5":
        source, target, batch = t5_batch(prompts, targets, cfg)
    else:
        source, target, batch = llama_batch(prompts, targets, cfg)

    wseed, tries = make_checkpoint(spec, batch, source, seeds, outdir)
    seeds["weights"] = wseed
    seeds["weights_tries"] = tries
    # the checkpoint round-trips exactly (everything below is computed from the saved files)
    base = load_base(kind, outdir)
    sd0, sd1 = new_base(spec, wseed).state_dict(), base.state_dict()
    assert sd0.keys() == sd1.keys() and all(torch.equal(sd0[k], sd1[k]) for k in sd0)
    adapter_keys = sorted(load_file(os.path.join(outdir, "adapter", "adapter_model.safetensors")))

    tensors = {}
    ref = {"fixture": name, "model_type": kind,
           "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                        "peft": peft.__version__, "safetensors": safetensors.__version__,
                        "python": sys.version.split()[0]},
           "seeds": seeds,
           "lora": {"r": LORA_R, "lora_alpha": LORA_ALPHA, "scaling": LORA_ALPHA / LORA_R,
                    "lora_dropout": 0.0, "target_modules": sorted(lora_config(kind).target_modules),
                    "lora_A_init": "PEFT kaiming_uniform(a=sqrt(5)) under torch.manual_seed(seeds.lora_A)",
                    "lora_B_init": f"N(0, {LORA_B_STD}) from torch.Generator(seeds.lora_B)"},
           "tolerances": TOLERANCES,
           "source": source, "target": target,
           "logits_valid_len": ([len(t) for t in target] if kind == "t5" else
                                [len(s_) + len(t) for s_, t in zip(source, target)]),
           "batch": batch}
    if kind == "t5":  # our decoder_input_ids are exactly HF's shift of the labels
        assert torch.equal(base._shift_right(torch.tensor(batch["labels"])),
                           torch.tensor(batch["decoder_input_ids"]))

    # ---- LoRA forward/backward (fp32 saved, fp64 only to measure fp32 error)
    logits, loss, grads = lora_forward_backward(kind, outdir, batch, torch.float32)
    logits64, loss64, grads64 = lora_forward_backward(kind, outdir, batch, torch.float64)
    assert sorted(grads) == adapter_keys, (sorted(grads), adapter_keys)
    # HF's loss is the mean CE over label != -100 (after the causal shift for LLaMA)
    lab = torch.tensor(batch["labels"])
    if kind == "llama":
        lg, lb = logits[:, :-1], lab[:, 1:]
    else:
        lg, lb = logits, lab
    keep = lb != IGNORE
    manual = torch.nn.functional.cross_entropy(lg[keep], lb[keep]).item()
    assert abs(manual - loss) < 1e-5, (manual, loss)
    check_tol("loss", loss, loss64, TOLERANCES["loss"])
    tensors["logits"] = logits
    ref["loss"] = loss
    for n, gr in grads.items():
        tensors["grad." + n] = gr
    dev = {"logits": max_abs_dev(logits, logits64), "loss": abs(loss - loss64),
           "grad": max(max_abs_dev(grads[n], grads64[n]) for n in grads)}
    check_tol("logits", logits, logits64, TOLERANCES["logits"])
    for n in grads:
        check_tol(n, grads[n], grads64[n], TOLERANCES["grad"])

    # ---- full fine-tuning pass on the base model (no LoRA)
    flogits, floss, fgrads = full_forward_backward(kind, outdir, batch, torch.float32)
    flogits64, floss64, fgrads64 = full_forward_backward(kind, outdir, batch, torch.float64)
    tensors["full_logits"] = flogits
    ref["full_loss"] = floss
    for n, gr in fgrads.items():
        tensors["full_grad." + n] = gr
    ref["full_param_names"] = list(fgrads)
    # one full_grad per tensor of model.safetensors (tied weights stored once there too)
    assert sorted(fgrads) == sorted(load_file(os.path.join(outdir, "model.safetensors"))), \
        sorted(fgrads)
    dev.update({"full_logits": max_abs_dev(flogits, flogits64), "full_loss": abs(floss - floss64),
                "full_grad": max(max_abs_dev(fgrads[n], fgrads64[n]) for n in fgrads)})
    check_tol("full_logits", flogits, flogits64, TOLERANCES["logits"])
    check_tol("full_loss", floss, floss64, TOLERANCES["loss"])
    for n in fgrads:
        check_tol(n, fgrads[n], fgrads64[n], TOLERANCES["full_grad"])

    # ---- AdamW
    losses, norms, final = adamw_run(kind, outdir, batch, torch.float32)
    losses64, norms64, final64 = adamw_run(kind, outdir, batch, torch.float64)
    ref["adamw"] = ADAMW
    ref["adamw_losses"] = losses
    ref["grad_norms"] = norms
    for n, w in final.items():
        tensors["adamw_final." + n] = w
    dev.update({"adamw_losses": max(abs(a - b) for a, b in zip(losses, losses64)),
                "grad_norms": max(abs(a - b) for a, b in zip(norms, norms64)),
                "adamw_final": max(max_abs_dev(final[n], final64[n]) for n in final)})
    for n in final:
        check_tol(n, final[n], final64[n], TOLERANCES["adamw_final"])
    check_tol("adamw_losses", losses, losses64, TOLERANCES["adamw_losses"])
    check_tol("grad_norms", norms, norms64, TOLERANCES["grad_norms"])
    assert abs(losses[0] - loss) < 1e-6

    # ---- greedy generation with the LoRA model
    batched, single = generate(kind, load_lora(kind, outdir), batch, source, cfg)
    ref["generation"] = {"max_new_tokens": MAX_NEW_TOKENS, "do_sample": False, "num_beams": 1,
                         "eos_token_id": cfg["eos_token_id"], "pad_token_id": cfg["pad_token_id"]}
    ref["generations"] = batched
    ref["generations_single"] = single
    ref["generations_batched_equal_single"] = batched == single
    assert batched == single, (batched, single)
    assert generation_is_varied(batched), batched

    # ---- position encodings, for unit tests of the C helpers
    if kind == "t5":
        ref["relative_position_buckets"] = t5_buckets(base, len(batch["input_ids"][0]),
                                                       len(batch["labels"][0]))
    else:
        rot = base.model.rotary_emb
        inv = rot.inv_freq.detach().clone().float()
        hd = cfg["hidden_size"] // cfg["num_attention_heads"]
        plain = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
        tensors["rope_inv_freq"] = inv
        ref["rope_inv_freq"] = inv.tolist()
        ref["rope_inv_freq_unscaled"] = plain.tolist()
        ref["rope_attention_scaling"] = float(getattr(rot, "attention_scaling", 1.0))
        if cfg.get("rope_scaling"):
            assert not torch.equal(inv, plain)

    ref["fp64_max_abs_dev"] = dev
    ref["tensor_names"] = sorted(tensors)

    save_file({k: v.contiguous().to(torch.float32) for k, v in tensors.items()},
              os.path.join(outdir, "reference.safetensors"))
    dump_json(ref, os.path.join(outdir, "reference.json"))
    print(f"  loss {loss:.6f} full_loss {floss:.6f} adamw {['%.5f' % x for x in losses]}")
    print(f"  grad_norms {['%.4f' % x for x in norms]}")
    print(f"  generations {batched}")
    print(f"  fp64 dev {json.dumps({k: float('%.3g' % v) for k, v in dev.items()})}", flush=True)


def main():
    names = sys.argv[1:] or list(FIXTURE_SPECS)
    for n in names:
        if n not in FIXTURE_SPECS:
            sys.exit(f"unknown fixture {n}; known: {' '.join(FIXTURE_SPECS)}")
    os.makedirs(FIXTURES, exist_ok=True)
    for n in names:
        build_fixture(n, FIXTURE_SPECS[n])


if __name__ == "__main__":
    main()
