"""Fold inference BatchNormalization into the convolution/affine before it.

y = (conv(x) + b - mean) * gamma / sqrt(var + eps) + beta
  = conv'(x) + b'  with  W' = W * s,  b' = (b - mean) * s + beta,  s = gamma / sqrt(var + eps)
per output channel.  Computed in float64, stored float32.
"""

from __future__ import annotations

import numpy as np

from nnb.ir import Graph, Node, Tensor
from nnb.ops.normalization import bn_inputs
from nnb.passes.util import clone, drop_unused, sole_consumer

FOLDABLE = {"Convolution", "DepthwiseConvolution", "Affine"}


def _channel_axis(g: Graph, node_op: str, attrs: dict, out_ndim: int) -> int | None:
    if node_op == "Affine":
        return attrs["base_axis"] if out_ndim == attrs["base_axis"] + 1 else None
    if node_op == "Convolution" and attrs["channel_last"]:
        return out_ndim - 1
    return attrs["base_axis"]


def _bn_params(g: Graph, bn: Node, c: int):  # noqa: ANN202 - a lookup function
    idx = bn_inputs(len(bn.inputs), bn.attrs)

    def p(name: str, default: float) -> np.ndarray:
        if name not in idx:
            return np.full(c, default)
        return np.asarray(g.tensors[bn.inputs[idx[name]]].data, dtype=np.float64).reshape(c)

    return p


def fold_batch_norm(g: Graph) -> Graph:
    g = clone(g)
    for bn in [n for n in g.nodes if n.op == "BatchNormalization" and not n.attrs["batch_stat"]]:
        src = next((n for n in g.nodes if bn.inputs[0] in n.outputs), None)
        if src is None or src.op not in FOLDABLE or sole_consumer(g, bn.inputs[0]) is not bn:
            continue
        out_shape = g.tensors[bn.inputs[0]].shape
        axis = _channel_axis(g, src.op, src.attrs, len(out_shape))
        if axis is None or [a % len(out_shape) for a in (bn.attrs["axes"] or (1,))] != [axis]:
            continue
        c = out_shape[axis]
        p = _bn_params(g, bn, c)

        s = p("gamma", 1.0) / np.sqrt(p("variance", 1.0) + np.float64(np.float32(bn.attrs["eps"])))
        w = np.asarray(g.tensors[src.inputs[1]].data, dtype=np.float64)
        if src.op == "Affine":
            w2 = (w.reshape(w.shape[0], c) * s[None, :]).reshape(w.shape)
        elif src.op == "Convolution" and src.attrs["channel_last"]:
            w2 = w * s.reshape((c,) + (1,) * (w.ndim - 1))
        else:
            w2 = w * s.reshape((c,) + (1,) * (w.ndim - 1))
        b = np.asarray(g.tensors[src.inputs[2]].data, dtype=np.float64).reshape(c) if len(src.inputs) > 2 \
            else np.zeros(c)
        b2 = (b - p("mean", 0.0)) * s + p("beta", 0.0)
        wname, bname = f"{src.name}/W_bnfold", f"{src.name}/b_bnfold"
        g.tensors[wname] = Tensor(wname, tuple(w.shape), kind="param", data=w2.astype(np.float32))
        bshape = g.tensors[src.inputs[2]].shape if len(src.inputs) > 2 else (c,)
        g.tensors[bname] = Tensor(bname, tuple(bshape), kind="param", data=b2.reshape(bshape).astype(np.float32))
        src.inputs = [src.inputs[0], wname, bname]
        src.outputs = [bn.outputs[0]]
        g.nodes.remove(bn)
    drop_unused(g)
    return g
