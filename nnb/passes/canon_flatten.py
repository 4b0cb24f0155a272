"""A Reshape that only flattens an Affine's input is absorbed by the Affine's base axis.

``Affine(Reshape(x, (P, K)), W, base_axis=1)`` is ``Affine(x, W, base_axis=b)``
when x's axes before b hold P values and those from b on hold K (Flatten before
Gemm in every exported classifier head).  The output shape must not change.
"""

from __future__ import annotations

from nnb.ir import Graph
from nnb.ops.registry import prod
from nnb.passes.canon_common import next_op, producer_of
from nnb.passes.util import clone, drop_unused


def absorb_flatten(g: Graph) -> tuple[Graph, int]:
    g = clone(g)
    count = 0
    for r in [n for n in g.nodes if n.op == "Reshape"]:
        aff = next_op(g, r.outputs[0], ("Affine",))
        if aff is None or aff.inputs[0] != r.outputs[0] or producer_of(g, r.inputs[0]) is None and \
                r.inputs[0] not in g.inputs:
            continue
        x, flat = g.tensors[r.inputs[0]].shape, g.tensors[r.outputs[0]].shape
        ba = aff.attrs["base_axis"]
        p, k = prod(flat[:ba]), prod(flat[ba:])
        new_ba = next((b for b in range(1, len(x) + 1) if prod(x[:b]) == p and prod(x[b:]) == k
                       and tuple(x[:b]) == tuple(flat[:ba])), None)
        if new_ba is None:
            continue
        aff.inputs = [r.inputs[0]] + aff.inputs[1:]
        aff.attrs = dict(aff.attrs, base_axis=new_ba)
        g.nodes.remove(r)
        count += 1
    drop_unused(g)
    return g, count
