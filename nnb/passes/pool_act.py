"""Move an activation after the max pooling it feeds: ReLU/ReLU6 -> MaxPooling becomes MaxPooling -> ReLU/ReLU6.

Both activations are non-decreasing, so they commute with a maximum (padding included: the pooling's
padded elements never win over a real one in either order), and the outputs are equal. The point is
fusion: a convolution followed by ReLU -> MaxPooling (ResNet's stem) then reads conv -> pool -> act,
which fuse_convolutions absorbs whole, so the convolution's full-size output is never written. Only
activations whose sole reader is the pooling and whose input comes from a convolution move.
"""

from __future__ import annotations

from nnb.ir import Graph, Node, Tensor
from nnb.passes.util import clone, drop_unused, sole_consumer

ACTS = ("ReLU", "ReLU6")
CONVS = ("Convolution", "DepthwiseConvolution")


def pool_before_activation(g: Graph) -> Graph:
    g = clone(g)
    producer = {o: n for n in g.nodes for o in n.outputs}
    for act in [n for n in g.nodes if n.op in ACTS]:
        src = producer.get(act.inputs[0])
        pool = sole_consumer(g, act.outputs[0])
        if src is None or src.op not in CONVS or sole_consumer(g, act.inputs[0]) is not act:
            continue
        if pool is None or pool.op != "MaxPooling" or pool.attrs.get("channel_last"):
            continue
        out = pool.outputs[0]
        mid = f"{out}/before_{act.op.lower()}"
        if mid in g.tensors:
            continue
        g.tensors[mid] = Tensor(mid, g.tensors[out].shape)
        i = g.nodes.index(act)
        g.nodes[i] = Node(pool.name, "MaxPooling", [act.inputs[0]], [mid], dict(pool.attrs))
        g.nodes[g.nodes.index(pool)] = Node(act.name, act.op, [mid], [out], dict(act.attrs))
    drop_unused(g)
    return g
