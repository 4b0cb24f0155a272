"""``nnb plan``: the one-arena memory plan."""

from __future__ import annotations

import argparse

from nnb.commands.common import add_model_arg, load


def _int8_model(path: str, g):  # noqa: ANN001, ANN202 - a Graph; an Int8Model or None
    """The int8 model of an int8 .nnb or an int8 (or DQ-deployed) .nnq, else None."""
    low = path.lower()
    if low.endswith(".nnb") and g.executor == "int8":
        from nnb.emit.nnb_int8_read import read_int8_nnb

        with open(path, "rb") as f:
            return read_int8_nnb(f.read(), path)
    if low.endswith(".nnq"):
        from nnb.quantize.int8 import from_quantized, is_int8_model
        from nnb.quantize.qmodel import load_quantized

        qm = load_quantized(path)
        if is_int8_model(qm):
            return from_quantized(qm)
    return None


def cmd_plan(args: argparse.Namespace) -> int:
    from nnb.passes import optimize
    from nnb.plan.arena import plan_arena
    from nnb.plan.report import plan_picture, plan_summary, plan_table

    g = load(args)
    m = _int8_model(args.model, g)
    if m is not None:  # what the C runtime plans for it: the int8 records, int8 tensors at one byte per value
        from nnb.emit import nnb_int8

        d = nnb_int8.deploy(m)
        g, plan = d.graph(), nnb_int8.plan(d)
        bound = plan.lower_bound
        print("int8 model: the plan of its int8 records (int8 tensors 1 byte per value, float ones 4), "
              "as nnb convert writes it")
        print()
    else:
        bound = plan_arena(g).lower_bound
        if not args.no_fuse:
            g = optimize(g)
        plan = plan_arena(g)
    print(plan_table(g, plan))
    print()
    print(plan_picture(g, plan, width=args.width))
    print()
    print(plan_summary(plan, bound))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    help_ = "print the one-arena memory plan (after BN folding and fusion)"
    sp = sub.add_parser("plan", help=help_, description=help_)
    add_model_arg(sp)
    sp.add_argument("--no-fuse", action="store_true", help="plan the graph as it is in the file")
    sp.add_argument("--width", type=int, default=64, help="columns of the picture (default 64)")
    sp.set_defaults(func=cmd_plan)
