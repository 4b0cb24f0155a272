"""NNP graph -> NNB image: choose the format, optimise, plan memory, serialise."""

from __future__ import annotations

from dataclasses import dataclass

from nnb.emit.nnb import NnbPlan, compat_plan, compatible, write_nnb
from nnb.errors import NnbError
from nnb.ir import Graph
from nnb.passes import optimize
from nnb.plan.arena import ArenaPlan, plan_arena

MODES = ("auto", "compat", "extended")


@dataclass
class Converted:
    image: bytes
    mode: str  # "compat" | "extended"
    graph: Graph  # the graph as written (optimised in extended mode)
    arena: ArenaPlan | None  # extended mode
    buffer_bytes: int  # compat: sum of upstream buffers; extended: arena bytes


def convert(g: Graph, mode: str = "auto", version: int = 2, fuse: bool = True) -> Converted:
    """``auto``: compatible when the upstream runtime can run the model, else extended."""
    if mode not in MODES:
        raise NnbError(f"unknown NNB mode '{mode}' ({', '.join(MODES)})")
    if mode == "auto":
        mode = "compat" if compatible(g) else "extended"
    if mode == "compat":
        plan = compat_plan(g)
        return Converted(write_nnb(g, extended=False, version=version, plan=plan), "compat", g, None,
                         sum(plan.buffer_sizes))
    g2 = optimize(g, fuse=fuse)
    ap = plan_arena(g2)
    plan = NnbPlan([], {}, arena_bytes=ap.arena_bytes, offsets=ap.offsets)
    return Converted(write_nnb(g2, extended=True, plan=plan), "extended", g2, ap, ap.arena_bytes)
