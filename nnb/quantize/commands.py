"""``nnb quantize``: build the quantizer, fine-tune through it, write the .nnq (and a float NNP)."""

from __future__ import annotations

import argparse
import os
import sys

from nnb.errors import NnbError
from nnb.quantize.layers import weight_params
from nnb.quantize.qmodel import QuantizedModel, save_quantized


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


def quantize_main(args: argparse.Namespace) -> int:
    from nnb.nnp.writer import save
    from nnb.train.commands import _train_config, load_model, run_training
    from nnb.train.trainer import Trainer

    if not args.output.endswith(".nnq"):
        raise NnbError(f"-o {args.output}: the quantized model file must end in .nnq (use --export-nnp for a "
                       "float NNP)")
    g = load_model(args.model)
    trainer = Trainer(g, _train_config(args))
    names = weight_params(g)
    if getattr(args, "act_budget", None) and args.method != "dq":
        raise NnbError("--act-budget needs --method dq")
    trainer.hook = build_hook(args, trainer.params, names, g)
    if not run_training(trainer, args, g):
        return 130
    hook = trainer.hook
    q = hook.qlayers() if args.method == "lutq" else hook.qlayers(trainer.params)
    out_graph = trainer.trained_graph()
    info = {"method": args.method, "epochs": args.epochs, "history": trainer.history}
    if getattr(hook, "acts", None):
        info["activations"] = hook.activations_info()
        info["act_budget"] = {"kb": hook.cfg.act_budget_kb, "kind": hook.cfg.act_budget_kind}
    model = QuantizedModel(out_graph, args.method, q, info)
    save_quantized(args.output, model)
    total = sum(t.size for t in g.params() if t.name in q)
    kb = sum(x.size_bits for x in q.values()) / 8192
    for name, layer in q.items():
        print(f"  {name}: {layer.kind} {layer.bits} bit x {layer.codes.size}", file=sys.stderr)
    print(f"quantized {len(q)} weight tensors ({total} weights): {kb:.2f} kB with dictionaries/steps "
          f"(float32: {total * 4 / 1024:.2f} kB)")
    if getattr(hook, "acts", None):
        acts = ", ".join(f"{n} {a.bits} bit" for n, a in hook.acts.items())
        print(f"activations ({hook.cfg.act_budget_kind} {hook.act_kb():.3f} kB, budget {hook.cfg.act_budget_kb:.3f} "
              f"kB): {acts}")
    if args.method == "dq" and not hook.within_budget():
        print(f"nnb: warning: weight memory {hook.weight_kb():.2f} kB (budget {hook.cfg.budget_kb or 0:.2f} kB) or "
              f"activation memory {hook.act_kb():.3f} kB is above its budget; train longer", file=sys.stderr)
    if getattr(args, "report", None):
        from nnb.quantize.report import options_text, render_report, write_report

        last = trainer.history[-1] if trainer.history else {}
        final = f"Final validation accuracy {last['val_acc']:.2%}." if "val_acc" in last else ""
        write_report(args.report, render_report(g, model, trainer.steps, trainer.history,
                                                title=os.path.basename(args.output), options=options_text(args),
                                                final=final))
        print(f"wrote {args.report}")
    if args.export_nnp:
        save(out_graph, args.export_nnp)
        print(f"wrote {args.export_nnp}")
    print(f"wrote {args.output}")
    return 0
