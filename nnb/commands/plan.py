"""``nnb plan``: the one-arena memory plan."""

from __future__ import annotations

import argparse

from nnb.commands.common import add_model_verb, int8_model, load


def cmd_plan(args: argparse.Namespace) -> int:
    from nnb.passes import optimize
    from nnb.plan.arena import plan_arena
    from nnb.plan.report import plan_picture, plan_summary, plan_table

    g = load(args)
    m = int8_model(args.model, g)
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
    sp = add_model_verb(sub, "plan", help_, cmd_plan)
    sp.add_argument("--no-fuse", action="store_true", help="plan the graph as it is in the file")
    sp.add_argument("--width", type=int, default=64, help="columns of the picture (default 64)")
