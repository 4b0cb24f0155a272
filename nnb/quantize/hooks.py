"""The training hook of a quantization method: LUT-Q dictionaries or DQ learned step/bitwidth."""

from __future__ import annotations

import argparse


def build_hook(args: argparse.Namespace, params: dict, names: list[str], graph=None):  # noqa: ANN001, ANN201
    if args.method == "lutq":
        from nnb.quantize.lutq import LutqConfig, LutqHook

        return LutqHook(params, names, LutqConfig(k=args.k, pow2=args.pow2, prune=args.prune,
                                                  symmetric=args.symmetric))
    from nnb.quantize.dq import DqConfig, DqHook, activation_targets, parse_size

    budget = parse_size(args.weight_budget) if args.weight_budget else None
    act_budget = parse_size(args.act_budget) if getattr(args, "act_budget", None) else None
    cfg = DqConfig(budget_kb=budget, bits=args.bits, pow2_step=args.pow2_step, act_budget_kb=act_budget,
                   act_budget_kind=getattr(args, "act_budget_kind", "max"))
    acts = activation_targets(graph) if act_budget is not None and graph is not None else None
    return DqHook(params, names, cfg, act_sizes=acts)
