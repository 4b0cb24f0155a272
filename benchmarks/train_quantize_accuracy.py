"""Accuracy of LUT-Q and DQ on fmnist_lenet (nnabla float: 88.57 % on the 10k test set).

Each configuration fine-tunes the trained fixture through the quantizer on the
60k Fashion-MNIST training images and reports top-1 on the full test set.
Targets: LUT-Q K=16 >= 88.3, K=4 >= 87.6, K=4 pow2 >= 87.0, K=4 50 % pruning
>= 87.0; DQ at the 2-bit-uniform weight budget >= 87.5 and above fixed 2-bit;
DQ at that weight budget + 5 % with the largest quantized activation (ReLU
outputs, unsigned) limited to half its int8 size (``dq2w5act``) >= 87.0.

usage: OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/train_quantize_accuracy.py [--epochs 1] [--only lutq4,...]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from nnb.nnp.reader import load
from nnb.quantize.dq import KB_BITS, DqConfig, DqHook, activation_targets
from nnb.quantize.layers import weight_params
from nnb.quantize.lutq import LutqConfig, LutqHook
from nnb.train.data import input_array, load_data
from nnb.train.evaluate import accuracy
from nnb.train.trainer import Hook, TrainConfig, Trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENET = os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "trained", "fmnist_lenet.nnp")


def configs(n_weights: int, largest_act: int = 0) -> dict[str, tuple[str, object]]:
    kb2 = 2 * n_weights / KB_BITS
    act_half_int8 = largest_act * 8 / 2 / KB_BITS
    kb3 = 3 * n_weights / KB_BITS
    return {
        "float": ("float", None),
        "lutq16": ("lutq", LutqConfig(k=16)),
        "lutq4": ("lutq", LutqConfig(k=4)),
        "lutq4pow2": ("lutq", LutqConfig(k=4, pow2=True)),
        "lutq4prune50": ("lutq", LutqConfig(k=4, prune=0.5)),
        "fixed2": ("dq", DqConfig(bits=2)),
        "dq2budget": ("dq", DqConfig(budget_kb=kb2)),
        "dq2w5": ("dq", DqConfig(budget_kb=kb2 * 1.05)),  # the budget: 2-bit uniform size + 5 %
        "fixed3": ("dq", DqConfig(bits=3)),
        "dq3budget": ("dq", DqConfig(budget_kb=kb3)),
        "dq2w5act": ("dq", DqConfig(budget_kb=kb2 * 1.05, act_budget_kb=act_half_int8, act_budget_kind="max")),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--only", help="comma-separated configuration names")
    args = ap.parse_args()
    g = load(LENET)
    xtr, ytr = load_data("fashion-mnist", "train")
    xte, yte = load_data("fashion-mnist", "test")
    xtr, xte = input_array(g, xtr), input_array(g, xte)
    names = weight_params(g)
    n_w = sum(g.tensors[n].size for n in names)
    print(f"fixture as loaded: {accuracy(g, xte, yte):.2%} (nnabla: 88.57%); {n_w} weights in {len(names)} layers")
    acts = activation_targets(g)
    todo = configs(n_w, max(acts.values(), default=0))
    if args.only:
        todo = {k: v for k, v in todo.items() if k in args.only.split(",")}
    for label, (method, cfg) in todo.items():
        t0 = time.perf_counter()
        tr = Trainer(g, TrainConfig(epochs=args.epochs, lr=args.lr, schedule="cosine", progress=False))
        hook: Hook
        if method == "lutq":
            hook = LutqHook(tr.params, names, cfg)
        elif method == "dq":
            hook = DqHook(tr.params, names, cfg, act_sizes=acts if cfg.act_budget_kb else None)
        else:
            hook = Hook()
        tr.hook = hook
        before = accuracy(g, xte, yte, tr.inference_params())
        tr.fit(xtr, ytr)
        acc = accuracy(g, xte, yte, tr.inference_params(), act=hook.act_quantizers())
        extra = ""
        if isinstance(hook, DqHook):
            bits = {n.split("/")[0]: q.bits for n, q in hook.layers.items()}
            extra = f" {hook.weight_kb():.2f} kB (budget {hook.cfg.budget_kb or float('nan'):.2f}) bits {bits}"
            if hook.acts:
                extra += (f"; largest activation {hook.act_kb():.3f} kB (budget {hook.cfg.act_budget_kb:.3f}) "
                          f"act bits {list(hook.act_bits().values())}")
        elif isinstance(hook, LutqHook):
            zeros = np.mean([np.mean(q.quantized() == 0) for q in hook.layers.values()])
            extra = f" {sum(q.a.size for q in hook.layers.values()) * cfg.bits / KB_BITS:.2f} kB codes," \
                    f" zero share {zeros:.2f}"
        print(f"{label:14s} before fine-tuning {before:.2%}  after {args.epochs:g} epoch(s) {acc:.2%}"
              f"  ({time.perf_counter() - t0:.0f} s){extra}", flush=True)


if __name__ == "__main__":
    main()
