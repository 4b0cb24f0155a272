"""Helpers shared by the canonicalisation rewrites (nnb/passes/canon_*.py).

Every canonicalisation rewrite is a function ``Graph -> (Graph, count)``: it
returns an edited copy and how many times it fired, so ``nnb inspect`` can say
which rewrites changed the graph.  A replacement node always writes the last
replaced node's output name, so network output names never change.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nnb.ir import Graph, Node, Tensor
from nnb.passes.util import sole_consumer

Rewrite = Callable[[Graph], tuple[Graph, int]]


def producer_of(g: Graph, name: str) -> Node | None:
    return next((n for n in g.nodes if name in n.outputs), None)


def const(g: Graph, name: str) -> np.ndarray | None:
    """The data of a parameter, None for anything computed at run time."""
    t = g.tensors.get(name)
    return t.data if t is not None and t.kind == "param" and t.data is not None else None


def next_op(g: Graph, name: str, ops: set[str] | tuple[str, ...]) -> Node | None:
    """The sole reader of ``name`` if its op is one of ``ops``."""
    n = sole_consumer(g, name)
    return n if n is not None and n.op in ops else None


def add_param(g: Graph, name: str, data: np.ndarray) -> str:
    """A new float32 parameter; a unique name derived from ``name``."""
    base, k = name, 1
    while name in g.tensors:
        name, k = f"{base}_{k}", k + 1
    arr = np.ascontiguousarray(data, dtype=np.float32)
    g.tensors[name] = Tensor(name, tuple(arr.shape), kind="param", data=arr, need_grad=False)
    return name


def replace_nodes(g: Graph, old: list[Node], new: Node) -> None:
    """Put ``new`` where the last of ``old`` (in graph order) was; drop the rest."""
    pos = max(g.nodes.index(n) for n in old)
    g.nodes[pos] = new
    for n in old:
        if n in g.nodes and n is not new:
            g.nodes.remove(n)


def rename_reads(g: Graph, old: str, new: str) -> None:
    for n in g.nodes:
        n.inputs = [new if i == old else i for i in n.inputs]
