"""Integer simulation of a LUT-Q step with integer activations (nnb/quantize/lutq_int8.py), per dictionary entry.

For output channel ``o``: ``S_k = sum_{t: A[o,t] = k} (x_t - z_x)`` for each
entry ``k`` (a convolution of ``x - z_x`` with the 0/1 mask of the code), then
``acc = bias[o] + sum_k D[o, k] * S_k`` (a power-of-two dictionary: each
product is ``S_k`` shifted left, negated for a negative entry), then the
int8 output stage of nnb/quantize/int_sim.py (residual, requantization, clamp,
max pool).  The C kernel (c_runtime/src/kernels/int8/lutq.c) computes the same
integers.
"""

from __future__ import annotations

import numpy as np

from nnb.ops.conv import _geom, grouped_conv
from nnb.ops.registry import norm_axis, prod
from nnb.quantize.int8 import Int8Model, IntNode
from nnb.quantize.int_sim import _per_channel, conv_out, requant_out
from nnb.quantize.int_sim_arith import I64
from nnb.quantize.lutq_int8 import CODES, DICT, POW2


def entry_products(D: np.ndarray, S: np.ndarray, pow2: bool) -> np.ndarray:
    """D * S (D broadcast against S); the shift form for power-of-two entries: sign(D) * (S << log2|D|)."""
    if not pow2:
        return D * S
    mag = np.abs(D)
    sh = np.where(mag > 0, np.log2(np.maximum(mag, 1)).round(), 0).astype(I64)
    prod_ = np.left_shift(S, sh)
    return np.where(D > 0, prod_, np.where(D < 0, -prod_, 0))


def lutq_acc(st: IntNode, xz: np.ndarray, op: str, attrs: dict, group: int) -> np.ndarray:
    """int32 accumulators ``sum_k D[o,k] S_k`` (without the bias) of ``xz = x - z_x``."""
    codes = np.asarray(st.arrays[CODES], I64)
    D = np.asarray(st.arrays[DICT], I64)
    pow2 = bool(int(np.asarray(st.arrays[POW2]).reshape(-1)[0]))
    acc = None
    for k in range(D.shape[1]):
        mask = (codes == k).astype(I64)
        if not mask.any():
            continue
        if op == "Affine":  # codes (inputs, outputs)
            S = xz @ mask
            term = entry_products(D[:, k][None, :], S, pow2)
        else:
            nsp = codes.ndim - 2
            pad, stride, dil = _geom(nsp, attrs)
            S = grouped_conv(xz, mask, pad, stride, dil, group)
            term = entry_products(_per_channel(D[:, k], S.ndim), S, pow2)
        acc = term if acc is None else acc + term
    if acc is None:  # every code out of use cannot happen (codes index the table), but keep shapes right
        raise ValueError("LUT-Q step without codes")
    return acc


def lutq_step(st: IntNode, xs: list[np.ndarray], m: Int8Model) -> np.ndarray:
    """One LUT-Q step (FusedConv / Convolution / DepthwiseConvolution / Affine) on int8 inputs."""
    node, a, qp = st.node, st.node.attrs, m.qparams
    q_in, q_out = qp[node.inputs[0]], qp[st.output]
    op = node.op
    x = xs[0]
    ba = norm_axis(a["base_axis"], x.ndim)
    batch = x.shape[:ba]
    bias = np.asarray(st.arrays["bias"], I64)
    if op == "Affine":
        xz = np.asarray(x, I64).reshape(prod(batch), -1) - q_in.zero
        acc = lutq_acc(st, xz, op, a, 1) + bias
        y = requant_out(acc, st, q_out)
        return y.reshape(batch + m.graph.tensors[node.inputs[1]].shape[1:])
    x = np.asarray(x, I64).reshape((prod(batch),) + x.shape[ba:])
    group = x.shape[1] if op == "DepthwiseConvolution" else a["group"]
    acc = lutq_acc(st, x - q_in.zero, op, a, group)
    acc = acc + _per_channel(bias, acc.ndim)
    return conv_out(acc, st, xs, m, batch)
