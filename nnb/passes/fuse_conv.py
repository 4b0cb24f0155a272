"""Fuse Convolution -> [pooling] -> [Add2 residual] -> [ReLU/ReLU6] into one FusedConv.

The fused node takes the place of the last node it absorbs, so a residual
branch computed after the convolution is ready when it is read.  Every
absorbed intermediate must have exactly one reader and not be a network output.
"""

from __future__ import annotations

from nnb.ir import Graph, Node
from nnb.ops import get_op
from nnb.passes.util import clone, drop_unused, sole_consumer

POOL_OPS = {"MaxPooling": "max", "AveragePooling": "average"}
ACT_OPS = {"ReLU": "relu", "ReLU6": "relu6"}


def fuse_convolutions(g: Graph, pool: bool = True, residual: bool = True, activation: bool = True) -> Graph:
    g = clone(g)
    for conv in [n for n in g.nodes if n.op == "Convolution" and not n.attrs["channel_last"]]:
        a = dict(conv.attrs)
        a.update(pool="", activation="", residual=False, has_bias=len(conv.inputs) > 2)
        inputs = list(conv.inputs)
        absorbed: list[Node] = []
        out = conv.outputs[0]
        nxt = sole_consumer(g, out)
        if pool and nxt is not None and nxt.op in POOL_OPS and not nxt.attrs["channel_last"]:
            a.update(pool=POOL_OPS[nxt.op], pool_kernel=nxt.attrs["kernel"], pool_stride=nxt.attrs["stride"],
                     pool_pad=nxt.attrs["pad"], pool_ignore_border=nxt.attrs["ignore_border"],
                     pool_including_pad=nxt.attrs.get("including_pad", True))
            absorbed.append(nxt)
            out = nxt.outputs[0]
            nxt = sole_consumer(g, out)
        if residual and nxt is not None and nxt.op == "Add2":
            other = nxt.inputs[1] if nxt.inputs[0] == out else nxt.inputs[0]
            if g.tensors[other].shape == g.tensors[nxt.outputs[0]].shape == g.tensors[out].shape:
                a["residual"] = True
                inputs.append(other)
                absorbed.append(nxt)
                out = nxt.outputs[0]
                nxt = sole_consumer(g, out)
        if activation and nxt is not None and nxt.op in ACT_OPS:
            a["activation"] = ACT_OPS[nxt.op]
            absorbed.append(nxt)
            out = nxt.outputs[0]
        if not absorbed:
            continue
        fused = Node(conv.name, "FusedConv", inputs, [out], get_op("FusedConv").normalize(a))
        last = absorbed[-1]
        g.nodes[g.nodes.index(last)] = fused
        for n in [conv] + absorbed[:-1]:
            g.nodes.remove(n)
    drop_unused(g)
    return g
