"""Fuse Convolution -> [pooling] -> [Add2 residual] -> [ReLU/ReLU6] into one FusedConv.

A DepthwiseConvolution followed by something to absorb becomes the same
FusedConv as a grouped convolution (group = channels, weight [C*m, 1, K...]).
The fused node takes the place of the last node it absorbs, so a residual
branch computed after the convolution is ready when it is read.  Every
absorbed intermediate must have exactly one reader and not be a network output.
"""

from __future__ import annotations

from nnb.ir import Graph, Node, Tensor
from nnb.ops import get_op
from nnb.passes.util import clone, drop_unused, sole_consumer

POOL_OPS = {"MaxPooling": "max", "AveragePooling": "average"}
ACT_OPS = {"ReLU": "relu", "ReLU6": "relu6"}


def fuse_convolutions(g: Graph, pool: bool = True, residual: bool = True, activation: bool = True) -> Graph:
    g = clone(g)
    convs = [n for n in g.nodes if (n.op == "Convolution" and not n.attrs["channel_last"])
             or (n.op == "DepthwiseConvolution" and g.tensors[n.inputs[1]].data is not None)]
    for conv in convs:
        inputs = list(conv.inputs)
        if conv.op == "DepthwiseConvolution":
            a, inputs[1] = _depthwise_as_grouped(g, conv)
        else:
            a = dict(conv.attrs)
        a.update(pool="", activation="", residual=False, has_bias=len(conv.inputs) > 2)
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


def _depthwise_as_grouped(g: Graph, conv: Node) -> tuple[dict, str]:
    """Convolution attributes and a [C*m, 1, K...] weight tensor equal to the depthwise layer."""
    w = g.tensors[conv.inputs[1]]
    m = conv.attrs["multiplier"]
    name = f"{w.name}/grouped"
    if name not in g.tensors:
        g.tensors[name] = Tensor(name, (w.shape[0], 1) + tuple(w.shape[1:]), kind="param",
                                 data=w.data.reshape((w.shape[0], 1) + tuple(w.shape[1:])),
                                 need_grad=w.need_grad)
    a = {k: conv.attrs[k] for k in ("base_axis", "pad", "stride", "dilation")}
    a.update(group=w.shape[0] // m, channel_last=False)
    return a, name
