"""Merge an explicit zero Pad into the padding of the convolution or average pooling after it.

Equivalent only where the layer's own padding can say the same thing: constant
mode with value 0, nothing padded outside the spatial axes, the same width on
both sides of each axis.  AveragePooling then counts the padding
(``including_pad``), as dividing a zero-padded window by its full size does;
that needs ``ignore_border`` and either no padding of its own or padding that
is counted already.  MaxPooling pads with -inf, so only a -inf Pad merges
into it (the ONNX reader writes one for unequal MaxPool pads).
"""

from __future__ import annotations

from nnb.ir import Graph, Node
from nnb.passes.canon_common import next_op, replace_nodes
from nnb.passes.util import clone, drop_unused

_TARGETS = ("Convolution", "DepthwiseConvolution", "AveragePooling", "MaxPooling")


def _spatial_pad(pad: Node, ndim: int, nsp: int, value: float) -> tuple[int, ...] | None:
    pw = tuple(pad.attrs["pad_width"] or ())
    if (pad.attrs["mode"] or "constant") != "constant" or float(pad.attrs["constant_value"]) != value or len(pw) % 2:
        return None
    pairs = [(0, 0)] * (ndim - len(pw) // 2) + [(pw[2 * i], pw[2 * i + 1]) for i in range(len(pw) // 2)]
    if any(lo or hi for lo, hi in pairs[:ndim - nsp]) or any(lo != hi for lo, hi in pairs[ndim - nsp:]):
        return None
    return tuple(lo for lo, _ in pairs[ndim - nsp:])


def _n_spatial(layer: Node, ndim: int) -> int | None:
    if layer.op == "MaxPooling":
        a = layer.attrs
        return len(a["kernel"]) if not a["channel_last"] and a["ignore_border"] else None
    if layer.op == "AveragePooling":
        a = layer.attrs
        ok = not a["channel_last"] and a["ignore_border"] and (a["including_pad"] or not any(a["pad"] or ()))
        return len(a["kernel"]) if ok else None
    if layer.op == "Convolution" and layer.attrs["channel_last"]:
        return None
    return ndim - layer.attrs["base_axis"] - 1


def merge_pad(g: Graph) -> tuple[Graph, int]:
    g = clone(g)
    count = 0
    for pad in [n for n in g.nodes if n.op == "Pad"]:
        layer = next_op(g, pad.outputs[0], _TARGETS)
        if layer is None or layer.inputs[0] != pad.outputs[0]:
            continue
        ndim = len(g.tensors[pad.inputs[0]].shape)
        nsp = _n_spatial(layer, ndim)
        extra = _spatial_pad(pad, ndim, nsp, float("-inf") if layer.op == "MaxPooling" else 0.0) if nsp else None
        if extra is None:
            continue
        a = dict(layer.attrs)
        old = tuple(a["pad"] or (0,) * nsp)
        a["pad"] = tuple(p + e for p, e in zip(old, extra))
        if layer.op == "AveragePooling":
            a["including_pad"] = True
        new = Node(layer.name, layer.op, [pad.inputs[0]] + layer.inputs[1:], list(layer.outputs), a)
        replace_nodes(g, [pad, layer], new)
        count += 1
    drop_unused(g)
    return g, count
