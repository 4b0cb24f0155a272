"""``nnb quantize``: build the quantizer, fine-tune through it, write the .nnq (and a float NNP)."""

from __future__ import annotations

import argparse
import sys

from nnb.errors import NnbError
from nnb.quantize.layers import weight_params
from nnb.quantize.qmodel import QuantizedModel, save_quantized


def build_hook(args: argparse.Namespace, params: dict, names: list[str]):  # noqa: ANN201 - LutqHook | DqHook
    if args.method == "lutq":
        from nnb.quantize.lutq import LutqConfig, LutqHook

        return LutqHook(params, names, LutqConfig(k=args.k, pow2=args.pow2, prune=args.prune,
                                                  symmetric=args.symmetric))
    from nnb.quantize.dq import DqConfig, DqHook, parse_size

    budget = parse_size(args.weight_budget) if args.weight_budget else None
    return DqHook(params, names, DqConfig(budget_kb=budget, bits=args.bits, pow2_step=args.pow2_step))


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
    trainer.hook = build_hook(args, trainer.params, names)
    if not run_training(trainer, args, g):
        return 130
    hook = trainer.hook
    q = hook.qlayers() if args.method == "lutq" else hook.qlayers(trainer.params)
    out_graph = trainer.trained_graph()
    info = {"method": args.method, "epochs": args.epochs, "history": trainer.history}
    model = QuantizedModel(out_graph, args.method, q, info)
    save_quantized(args.output, model)
    total = sum(t.size for t in g.params() if t.name in q)
    kb = sum(x.size_bits for x in q.values()) / 8192
    for name, layer in q.items():
        print(f"  {name}: {layer.kind} {layer.bits} bit x {layer.codes.size}", file=sys.stderr)
    print(f"quantized {len(q)} weight tensors ({total} weights): {kb:.2f} kB with dictionaries/steps "
          f"(float32: {total * 4 / 1024:.2f} kB)")
    if args.method == "dq" and not hook.within_budget():
        print(f"nnb: warning: weight memory {hook.weight_kb():.2f} kB is above the budget "
              f"{hook.cfg.budget_kb:.2f} kB; train longer", file=sys.stderr)
    if args.export_nnp:
        save(out_graph, args.export_nnp)
        print(f"wrote {args.export_nnp}")
    print(f"wrote {args.output}")
    return 0
