"""Collapse chains of Reshape and drop Reshapes that keep the shape.

``Reshape(Reshape(x))`` is one Reshape of ``x`` when the inner result has no
other reader; a Reshape to its input's own shape is removed (its readers read
the input), unless its output is a network output that cannot be renamed.
"""

from __future__ import annotations

from nnb.ir import Graph
from nnb.passes.canon_common import producer_of, rename_reads
from nnb.passes.util import clone, drop_unused, sole_consumer


def collapse_reshapes(g: Graph) -> tuple[Graph, int]:
    g = clone(g)
    count = 0
    for n in [n for n in g.nodes if n.op == "Reshape"]:
        src = producer_of(g, n.inputs[0])
        if src is not None and src.op == "Reshape" and sole_consumer(g, src.outputs[0]) is n:
            n.inputs = [src.inputs[0]]
            g.nodes.remove(src)
            count += 1
    for n in [n for n in g.nodes if n.op == "Reshape"]:
        x, y = n.inputs[0], n.outputs[0]
        if g.tensors[x].shape != g.tensors[y].shape:
            continue
        if y not in g.outputs:
            rename_reads(g, y, x)
            g.nodes.remove(n)
            count += 1
            continue
        src = producer_of(g, x)  # an output: let the producer write the output's name
        if src is not None and sole_consumer(g, x) is n and x not in g.outputs:
            src.outputs = [y if o == x else o for o in src.outputs]
            g.nodes.remove(n)
            count += 1
    drop_unused(g)
    return g, count
