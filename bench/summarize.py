#!/usr/bin/env python3
"""Tables of the benchmark results: medians over repetitions, spreads, ratios.

    bench/summarize.py RESULTS_DIR     (bench/out/results: train.jsonl, generate.jsonl, ...)

Prints Markdown. Every cell is "median (min-max)" over the repetitions. Ratios are
ours / reference of the medians, with the range of the per-repetition ratios
(repetition k of ours against repetition k of the reference, which ran next to it)
in brackets. The fp32 reference of a deal row is hf-fp32 under the same
OMP_WAIT_POLICY (and OPENBLAS_CORETYPE, where measured), else the fastest hf-fp32;
the bf16 reference is the fastest hf-bf16 variant.
Training: ratio > 1 means deal is faster. Generation (ms/sample): ratio < 1 means
deal is faster.
"""
import json
import os
import statistics
import sys


def load(path):
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip()]


def cell(values, fmt):
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt % med
    return (fmt + " (" + fmt + "-" + fmt + ")") % (med, min(values), max(values))


def ratio(ours, ref, key):
    """ours/ref of the medians, and the range of per-repetition ratios."""
    if not ours or not ref:
        return "-"
    med = statistics.median(r[key] for r in ours) / statistics.median(r[key] for r in ref)
    by_rep = {r["rep"]: r[key] for r in ref}
    per = [r[key] / by_rep[r["rep"]] for r in ours if r["rep"] in by_rep]
    if len(per) > 1:
        return "%.2f [%.2f-%.2f]" % (med, min(per), max(per))
    return "%.2f" % med


def label(impl, core, wait):
    return "%s, OPENBLAS_CORETYPE %s, OMP_WAIT_POLICY %s" % (impl, core, wait)


def groups(rows, keys):
    out = {}
    for r in rows:
        out.setdefault(tuple(r.get(k, "default") for k in keys), []).append(r)
    return out


def refs(rows, core, wait, key, higher_better):
    """The reference runs of a deal row: hf-fp32 with the same OMP_WAIT_POLICY (and the
    same OPENBLAS_CORETYPE where measured), and the fastest hf-bf16 variant."""
    g = groups([r for r in rows if r["impl"].startswith("hf-")], ["impl", "coretype", "wait"])
    pick = max if higher_better else min
    fastest = lambda vs: pick(vs, key=lambda v: statistics.median(r[key] for r in v)) if vs else []  # noqa: E731
    all32 = [v for (i, c, w), v in g.items() if i == "hf-fp32"]
    same = [v for v in all32 if v[0]["wait"] == wait]
    f32 = next((v for v in same if v[0]["coretype"] == core), same[0] if same else fastest(all32))
    b16 = fastest([v for (i, c, w), v in g.items() if i == "hf-bf16"])
    return f32, b16


VARIANT = ["impl", "coretype", "wait"]


def ratio_cells(rs, rows, impl, core, wait, key, higher_better):
    """A deal row's two ratio cells (over hf-fp32, over hf-bf16); empty for the reference's rows."""
    if not impl.startswith("deal"):
        return "", ""
    f32, b16 = refs(rows, core, wait, key, higher_better)
    return ratio(rs, f32, key), ratio(rs, b16, key)


def deal_cost(rows):
    """Per variant: LoRA's tokens/s over DEAL's (how much slower DEAL trains), where both ran."""
    out = []
    for (impl, core, wait), rs in groups(rows, VARIANT).items():
        by = groups(rs, ["method"])
        lora, deal = by.get(("lora",)), by.get(("deal",))
        if lora and deal:
            out.append("%s %s" % (impl, ratio(lora, deal, "tokens_per_s")))
    return out


def train_table(rows):
    print("### Training throughput: LoRA, and DEAL over a LoRA adapter\n")
    print("256 agnews records, batch 8, 32 steps; tokens = source + target tokens, no padding. "
          "Ratios: deal's tokens/s over hf-fp32's with the same OMP_WAIT_POLICY (else the fastest hf-fp32), "
          "and over the fastest hf-bf16; [range of the per-repetition ratios].\n")
    for r in rows:
        r.setdefault("method", "lora")  # results from before DEAL was measured
    for model, rows_m in groups(rows, ["model"]).items():
        cost = deal_cost(rows_m)
        for method, mrows in groups(rows_m, ["method"]).items():
            train_model_table(model[0], method[0], mrows)
        if cost:
            print("DEAL's cost (LoRA's tokens/s over DEAL's, per side): " + "; ".join(cost) + "\n")


def train_model_table(model, method, mrows):
    """One model and method: a row per variant."""
    print(f"**{model}, {method}**\n")
    print("| variant | tokens/s | samples/s | peak RSS MiB | step-1 loss | / hf-fp32 | / hf-bf16 | reps | load avg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (impl, core, wait), rs in groups(mrows, VARIANT).items():
        print("| %s | %s | %s | %s | %.4f | %s | %s | %d | %s |" % (
            label(impl, core, wait), cell([r["tokens_per_s"] for r in rs], "%.0f"),
            cell([r["samples_per_s"] for r in rs], "%.2f"),
            cell([r["peak_rss_kib"] / 1024 for r in rs], "%.0f"), rs[0]["first_loss"],
            *ratio_cells(rs, mrows, impl, core, wait, "tokens_per_s", True), len(rs),
            cell([r["loadavg_before"] for r in rs], "%.1f")))
    kern = {(r["coretype"], r.get("kernels")) for r in mrows if r["impl"].startswith("deal") and r.get("kernels")}
    if kern:
        print("\ndeal's BLAS (its log): " + "; ".join("%s: %s" % k for k in sorted(kern)))
    print()


def generate_table(rows, checks):
    print("### Greedy generation\n")
    print("64 agnews test records, max_new_tokens 8; ms per record (the whole run / 64). "
          "Ratios: deal's ms/sample over hf-fp32's with the same OMP_WAIT_POLICY (else the fastest hf-fp32), "
          "and over the fastest hf-bf16 (below 1: deal is faster).\n")
    for (model, batch), mrows in groups(rows, ["model", "batch"]).items():
        print(f"**{model}, batch {batch}**\n")
        print("| variant | ms/sample | new tokens | peak RSS MiB | / hf-fp32 | / hf-bf16 | reps | load avg |")
        print("|---|---|---|---|---|---|---|---|")
        for (impl, core, wait), rs in groups(mrows, VARIANT).items():
            print("| %s | %s | %d | %s | %s | %s | %d | %s |" % (
                label(impl, core, wait), cell([r["ms_per_sample"] for r in rs], "%.1f"), rs[0]["generated_tokens"],
                cell([r["peak_rss_kib"] / 1024 for r in rs], "%.0f"),
                *ratio_cells(rs, mrows, impl, core, wait, "ms_per_sample", False), len(rs),
                cell([r["loadavg_before"] for r in rs], "%.1f")))
        same = [c for c in checks if c["model"] == model and c["batch"] == batch]
        if same:
            print("\nSame greedy output as deal-predict: " + ", ".join(
                "%s %d/%d" % (c["hf"], c["same_prediction"], c["examples"]) for c in same))
        starts = [r["startup_s"] for r in mrows if r["impl"].startswith("deal")]
        if starts:
            print("\ndeal-predict start-up (empty stream, subtracted): " + cell(starts, "%.2f") + " s")
        print()


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "bench/out/results"
    m = os.path.join(d, "machine.json")
    if os.path.exists(m):
        mc = json.load(open(m))
        print(f"Measured {mc['date']} on {mc['lscpu_model_name']} ({mc['cpus']} CPUs, "
              f"{mc['cores_per_socket']} cores/socket, avx512_bf16 {mc['avx512_bf16']}), deal {mc['deal_commit']}"
              + (" + uncommitted changes" if mc["deal_tree_dirty"] else "") + f"; {mc['openblas']}, "
              f"autodetected core {mc['openblas_autodetected_core']}, OPENBLAS_CORETYPE in the environment: "
              f"{mc['OPENBLAS_CORETYPE_in_environment']}.\n")
    train = load(os.path.join(d, "train.jsonl"))
    gen = load(os.path.join(d, "generate.jsonl"))
    if train:
        train_table(train)
    if gen:
        generate_table(gen, load(os.path.join(d, "generate_check.jsonl")))
    hf = next((r for r in train + gen if r["impl"].startswith("hf-")), None)
    if hf:
        e = hf["env"]
        print("torch %s (transformers %s, peft %s): %d threads, MKL %s, %s enabled %s, CPU capability %s, "
              "fp32 GEMM through OpenBLAS (core %s in that run)." % (
                  e["torch"], e["transformers"], e["peft"], e["torch_threads"], "yes" if e["mkl"] else "no",
                  e["mkldnn_version"], e["mkldnn_enabled"], e["cpu_capability"], e["openblas_core"]))


if __name__ == "__main__":
    main()
