"""Fold a constant scale or shift after a convolution/affine into its parameters.

``MulScalar(v)``, ``AddScalar(v)`` and ``Mul2``/``Add2`` by a parameter that is
one value or one value per output channel (shape (1, C, 1, 1), (C, 1, 1), ...):
``(x * W + b) * s + t = x * (W s) + (b s + t)`` per output channel.  Computed
in float64, stored float32.
"""

from __future__ import annotations

import numpy as np

from nnb.ir import Graph, Node
from nnb.passes.canon_common import add_param, const, next_op, replace_nodes
from nnb.passes.util import clone, drop_unused

_LAYERS = ("Convolution", "DepthwiseConvolution", "Affine")
_SCALE_OPS = ("MulScalar", "AddScalar", "Mul2", "Add2")


def _channels(layer: Node, w: np.ndarray, out_ndim: int) -> tuple[int, int] | None:
    """(channel axis of the output, number of output channels)."""
    if layer.op == "Affine":
        return (layer.attrs["base_axis"], w.shape[1]) if w.ndim == 2 and out_ndim == layer.attrs["base_axis"] + 1 \
            else None
    if layer.op == "Convolution" and layer.attrs["channel_last"]:
        return out_ndim - 1, w.shape[0]
    return layer.attrs["base_axis"], w.shape[0]


def _per_channel(g: Graph, n: Node, y: str, axis: int, c: int) -> np.ndarray | None:
    """The operand of ``n`` as c float64 values, None when it is not foldable."""
    if n.op in ("MulScalar", "AddScalar"):
        return np.full(c, float(np.float32(n.attrs["val"])))
    other = n.inputs[1] if n.inputs[0] == y else n.inputs[0]
    v = const(g, other)
    out_shape = g.tensors[y].shape
    if v is None or n.inputs.count(y) != 1 or g.tensors[n.outputs[0]].shape != out_shape or v.ndim > len(out_shape):
        return None
    if v.size == 1:
        return np.full(c, float(v.reshape(())))
    vs = (1,) * (len(out_shape) - v.ndim) + tuple(v.shape)
    if v.size != c or vs[axis] != c:
        return None
    return v.reshape(c).astype(np.float64)


def fold_scale(g: Graph) -> tuple[Graph, int]:
    g = clone(g)
    count = 0
    for layer in [n for n in g.nodes if n.op in _LAYERS]:
        w = const(g, layer.inputs[1])
        b = const(g, layer.inputs[2]) if len(layer.inputs) > 2 else None
        if w is None or (len(layer.inputs) > 2 and b is None):
            continue
        y = layer.outputs[0]
        nxt = next_op(g, y, _SCALE_OPS)
        ch = _channels(layer, w, len(g.tensors[y].shape))
        if nxt is None or ch is None:
            continue
        axis, c = ch
        v = _per_channel(g, nxt, y, axis, c)
        if v is None:
            continue
        w64 = w.astype(np.float64)
        bshape = (w.shape[1],) if layer.op == "Affine" else (w.shape[0],)
        b64 = b.astype(np.float64).reshape(c) if b is not None else np.zeros(c)
        if nxt.op in ("MulScalar", "Mul2"):
            w64 = w64 * (v[None, :] if layer.op == "Affine" else v.reshape((c,) + (1,) * (w.ndim - 1)))
            b64 = b64 * v
        else:
            b64 = b64 + v
        ins = [layer.inputs[0], add_param(g, f"{layer.name}/W_scaled", w64),
               add_param(g, f"{layer.name}/b_scaled", b64.reshape(b.shape if b is not None else bshape))]
        replace_nodes(g, [layer, nxt], Node(layer.name, layer.op, ins, [nxt.outputs[0]], dict(layer.attrs)))
        count += 1
    drop_unused(g)
    return g, count
