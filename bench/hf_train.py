#!/usr/bin/python3
"""The reference side of bench/bench_train.sh: LoRA training with transformers + PEFT
in a plain PyTorch loop (no Trainer), on exactly the token ids and batches deal-train
uses, printing one JSON line of throughput.

    /usr/bin/python3 bench/hf_train.py --model DIR --tokens FILE [--dtype fp32|bf16] ...

The batches: deal-train's epoch_batches (lib/train/trainer.c) re-done here, same
xoshiro256** generator, same seed: a seeded shuffle, a sort by source+target length
(longest first, ties in shuffled order) inside windows of 50 batches, then the
batches in a seeded random order. Padding as HF expects it:
  T5     input_ids = sources right-padded with pad, attention_mask, labels = targets
         right-padded with -100 (HF makes decoder_input_ids from them);
  LLaMA  input_ids = source ++ target right-padded with pad, attention_mask, labels =
         -100 on the source and the padding, the ids on the target.
Per micro-batch: HF's loss (mean over the batch's target tokens), backward,
clip_grad_norm_(LoRA params, clip), AdamW step (weight decay 0, as deal-train's
default), zero_grad. --dtype bf16 runs forward and loss under
torch.autocast(device, dtype=torch.bfloat16) (weights and optimizer stay fp32).
--device cuda: the model and each batch on the GPU (bench/bench_gpu.sh); the
loss's .item() each step waits for the GPU, so the timer counts its work.

--method deal trains DEAL (docs/deal-method.md) over the LoRA adapter --init: its
factors frozen, each one's branch (heat-kernel filter over its singular values,
J = 4, then the rank-space update MLP, hidden max(128, r/2)) made into the factor
PEFT uses at every forward, through torch's parametrisations; the loss adds
lambda1 ||theta1||_10 + lambda2 ||theta2||_2 (0.01, 0.001) per branch. The SVD is
set-up, outside the timer, as in deal-train.

Throughput counts source + target tokens (no padding), over the loop only: model
load, PEFT set-up and reading the stream are outside the timer, as deal-train's
log excludes them.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_common  # noqa: E402
import torch  # noqa: E402

M64 = (1 << 64) - 1


class Rng:
    """lib/base/rng.c: xoshiro256** seeded through splitmix64."""

    def __init__(self, seed):
        x, self.s = seed & M64, []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & M64

    def next(self):
        s = self.s
        result = (self.rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self.rotl(s[3], 45)
        return result

    def below(self, n):
        limit = M64 - M64 % n
        while True:
            x = self.next()
            if x < limit:
                return x % n


def shuffle(a, r):
    for i in range(len(a), 1, -1):
        j = r.below(i)
        a[i - 1], a[j] = a[j], a[i - 1]


def epoch_batches(records, batch, seed, epoch=0):
    """lib/train/trainer.c epoch_batches: a list of batches of record indices."""
    n = len(records)
    r = Rng((seed * 0x9E3779B97F4A7C15 + epoch) & M64)
    order = list(range(n))
    shuffle(order, r)
    rank = [0] * n
    for i, o in enumerate(order):
        rank[o] = i
    length = [len(x["source"]) + len(x["target"]) for x in records]
    window = batch * 50
    for w in range(0, n, window):
        order[w:w + window] = sorted(order[w:w + window], key=lambda i: (-length[i], rank[i]))
    nb = (n + batch - 1) // batch
    perm = list(range(nb))
    shuffle(perm, r)
    return [order[k * batch:(k + 1) * batch] for k in perm]


def make_batch(kind, recs, pad):
    if kind == "t5":
        S = max(len(x["source"]) for x in recs)
        T = max(len(x["target"]) for x in recs)
        ids = [x["source"] + [pad] * (S - len(x["source"])) for x in recs]
        mask = [[1] * len(x["source"]) + [0] * (S - len(x["source"])) for x in recs]
        labels = [x["target"] + [-100] * (T - len(x["target"])) for x in recs]
    else:
        seqs = [x["source"] + x["target"] for x in recs]
        L = max(len(s) for s in seqs)
        ids = [s + [pad] * (L - len(s)) for s in seqs]
        mask = [[1] * len(s) + [0] * (L - len(s)) for s in seqs]
        labels = [[-100] * len(x["source"]) + x["target"] + [-100] * (L - len(s)) for x, s in zip(recs, seqs)]
    t = lambda v: torch.tensor(v, dtype=torch.long)  # noqa: E731
    return {"input_ids": t(ids), "attention_mask": t(mask), "labels": t(labels)}


class DealBranch(torch.nn.Module):
    """DEAL's branch over a frozen factor Y [d, r] (docs/deal-method.md): Y' = X + W2 relu(W1 X + b1) + b2
    with X = U diag(sig m(sig)) V^T, m(sig) = 1 + sum_j g_j exp(-(sig - c_j)^2 / (2 w_j^2)); identity at start."""

    def __init__(self, Y, kernels=4):
        super().__init__()
        d, r = Y.shape
        U, S, Vh = torch.linalg.svd(Y.detach().double(), full_matrices=False)
        top, bottom = S.max().item(), S.min().item()
        self.register_buffer("P", (U * S).float())  # Y V
        self.register_buffer("Vt", Vh.float())
        self.register_buffer("sig", S.float())
        self.register_buffer("w", torch.tensor([(top if top > 0 else 1.0) / 2 ** j for j in range(kernels)]))
        self.register_buffer("c0", torch.linspace(bottom, top, kernels))
        self.gain = torch.nn.Parameter(torch.zeros(kernels))
        self.shift = torch.nn.Parameter(torch.zeros(kernels))
        hidden = max(128, r // 2)
        self.up = torch.nn.Linear(r, hidden)  # W1: torch's kaiming-uniform, as deal-train
        self.down = torch.nn.Linear(hidden, r)
        torch.nn.init.zeros_(self.up.bias)
        torch.nn.init.zeros_(self.down.weight)
        torch.nn.init.zeros_(self.down.bias)

    def forward(self):
        z = (self.sig[None, :] - (self.c0 + self.shift)[:, None]) / self.w[:, None]
        m = 1 + (self.gain[:, None] * torch.exp(-0.5 * z * z)).sum(0)
        X = (self.P * m) @ self.Vt
        return X + self.down(torch.relu(self.up(X)))

    def regularizer(self, lambda1=0.01, lambda2=0.001):
        theta1 = torch.cat([self.gain, self.shift])
        theta2 = torch.cat([p.reshape(-1) for p in (self.up.weight, self.up.bias, self.down.weight, self.down.bias)])
        return lambda1 * torch.linalg.vector_norm(theta1, 10) + lambda2 * torch.linalg.vector_norm(theta2, 2)


class FactorOf(torch.nn.Module):
    """A parametrisation: PEFT's lora_A / lora_B weight replaced by its branch's output."""

    def __init__(self, branch, transposed):
        super().__init__()
        self.branch, self.transposed = branch, transposed

    def forward(self, _frozen):
        y = self.branch()
        return y.t() if self.transposed else y


def add_deal(model):
    """A DEAL branch on both factors of every LoRA layer (A: Y = A^T, B: Y = B); the factors frozen."""
    from torch.nn.utils import parametrize
    branches = []
    for module in list(model.modules()):
        if not (hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {})):
            continue
        for lin, transposed in ((module.lora_A["default"], True), (module.lora_B["default"], False)):
            w = lin.weight.detach()
            b = DealBranch(w.t() if transposed else w)
            lin.weight.requires_grad_(False)
            parametrize.register_parametrization(lin, "weight", FactorOf(b, transposed))
            lin.parametrizations.weight.original.requires_grad_(False)
            branches.append(b)
    return branches


def main():
    ap = argparse.ArgumentParser(description="transformers + PEFT LoRA training throughput")
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", required=True, help="tokens stream (deal-tokenize output)")
    ap.add_argument("--deal-cat", default="bin/deal-cat")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--lora-alpha", type=float, default=32)
    ap.add_argument("--lora-dropout", type=float, default=0.1)
    ap.add_argument("--targets", help="default q,v (T5) / q_proj,v_proj (LLaMA)")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--max-grad-norm", type=float, default=1.0)
    ap.add_argument("--method", choices=["lora", "deal"], default="lora")
    ap.add_argument("--init", help="PEFT adapter to start from (needed by --method deal)")
    ap.add_argument("--print-batches", action="store_true", help="print the batches (record indices) and exit")
    a = ap.parse_args()

    header, records = hf_common.read_tokens(a.tokens, a.deal_cat)
    batches = epoch_batches(records, a.batch, a.seed)
    if a.print_batches:
        for b in batches:
            print(" ".join(map(str, b)))
        return

    hf_common.set_threads(a.threads)
    import transformers
    from peft import LoraConfig, TaskType, get_peft_model
    transformers.logging.set_verbosity_error()

    kind = header["convention"]
    cls = transformers.T5ForConditionalGeneration if kind == "t5" else transformers.LlamaForCausalLM
    torch.manual_seed(a.seed)
    base = cls.from_pretrained(a.model, torch_dtype=torch.float32)
    if a.init:  # its own r, alpha, dropout and targets
        from peft import PeftModel
        model = PeftModel.from_pretrained(base, a.init, is_trainable=True)
    elif a.method == "deal":
        ap.error("--method deal needs --init (the previous task's LoRA adapter)")
    else:
        targets = (a.targets or ("q,v" if kind == "t5" else "q_proj,v_proj")).split(",")
        cfg = LoraConfig(r=a.lora_r, lora_alpha=a.lora_alpha, lora_dropout=a.lora_dropout, target_modules=targets,
                         task_type=TaskType.SEQ_2_SEQ_LM if kind == "t5" else TaskType.CAUSAL_LM)
        model = get_peft_model(base, cfg)
    branches = add_deal(model) if a.method == "deal" else []
    model.to(a.device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    rss_loaded = hf_common.peak_rss_kib()
    pad = header["pad_id"] if header["pad_id"] >= 0 else 0

    losses, step_s, tokens, samples = [], [], 0, 0
    start = time.perf_counter()
    for b in batches:
        t0 = time.perf_counter()
        recs = [records[i] for i in b]
        inputs = {k: v.to(a.device) for k, v in make_batch(kind, recs, pad).items()}
        with hf_common.autocast(a.dtype, a.device):
            loss = model(**inputs).loss
        total = loss + sum(b.regularizer() for b in branches) if branches else loss
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, a.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        step_s.append(round(time.perf_counter() - t0, 3))
        tokens += sum(len(x["source"]) + len(x["target"]) for x in recs)
        samples += len(recs)
    elapsed = time.perf_counter() - start

    print(json.dumps({
        "impl": f"hf-{a.dtype}", "device": a.device, "method": a.method, "model": kind, "examples": len(records), "steps": len(batches),
        "tokens": tokens, "samples": samples, "elapsed_s": round(elapsed, 3),
        "tokens_per_s": round(tokens / elapsed, 2), "samples_per_s": round(samples / elapsed, 3),
        "first_loss": losses[0], "last_loss": losses[-1], "step_s": step_s,
        "trainable_params": sum(p.numel() for p in params),
        "attn_implementation": getattr(base.config, "_attn_implementation", None),
        "peak_rss_kib": hf_common.peak_rss_kib(), "rss_after_load_kib": rss_loaded,
        "env": hf_common.environment(),
    }))


if __name__ == "__main__":
    main()
