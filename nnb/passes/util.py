"""Helpers shared by the rewrites."""

from __future__ import annotations

import copy

from nnb.ir import Graph, Node


def clone(g: Graph) -> Graph:
    """A copy whose node list and tensors can be edited; parameter arrays are shared, never mutated."""
    g2 = copy.copy(g)
    g2.tensors = {k: copy.copy(t) for k, t in g.tensors.items()}
    g2.nodes = [Node(n.name, n.op, list(n.inputs), list(n.outputs), dict(n.attrs)) for n in g.nodes]
    g2.inputs, g2.outputs = list(g.inputs), list(g.outputs)
    g2.input_specs = dict(g.input_specs)
    return g2


def sole_consumer(g: Graph, name: str) -> Node | None:
    """The one node reading ``name``, if exactly one does and it is not a network output."""
    if name in g.outputs:
        return None
    users = [n for n in g.nodes if name in n.inputs]
    return users[0] if len(users) == 1 and users[0].inputs.count(name) == 1 else None


def drop_unused(g: Graph) -> None:
    used = set(g.inputs) | set(g.outputs) | {x for n in g.nodes for x in n.inputs + n.outputs}
    for k in [k for k in g.tensors if k not in used]:
        del g.tensors[k]
