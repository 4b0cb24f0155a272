"""Bit-exact integer simulation of an int8 model, in int64 numpy.

Every integer step works on int8 values held in int64 arrays and uses only
integer arithmetic (nnb/quantize/int_sim_arith.py); the C kernels in
c_runtime/src/kernels/int8/ compute the same integers.  Float appears only at
the boundary (quantizing the network input, dequantizing outputs) and inside
float islands (dequantize -> float reference op -> quantize).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from nnb.errors import NnbError
from nnb.ops import get_op
from nnb.ops.conv import _geom, grouped_conv
from nnb.ops.fused import pool_attrs
from nnb.ops.pooling import _out_sizes
from nnb.ops.registry import norm_axis, prod
from nnb.quantize.int8 import ADD_LEFT_SHIFT, Int8Model, IntNode, QParams
from nnb.quantize.int_sim_arith import I64, requantize, round_div

QMIN, QMAX = -128, 127


def clamp_bounds(act: str, q: QParams) -> tuple[int, int]:
    """The int8 output clamp of a fused activation."""
    lo, hi = QMIN, QMAX
    if act in ("relu", "relu6"):
        lo = max(lo, q.zero)
    if act == "relu6":
        hi = min(hi, q.zero + int(round(6.0 / q.scale)))
    return lo, hi


def _per_channel(v: np.ndarray, ndim: int, axis: int = 1) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = -1
    return np.asarray(v, I64).reshape(shape)


def conv_acc(x: np.ndarray, z_in: int, w: np.ndarray, bias: np.ndarray, a: dict, group: int) -> np.ndarray:
    """int32 accumulators sum((x - z_in) * w) + bias for x (N, C, *sp) int8, w (O, C/G, *k) int8."""
    nsp = w.ndim - 2
    pad, stride, dil = _geom(nsp, a)
    acc = grouped_conv(np.asarray(x, I64) - z_in, np.asarray(w, I64), pad, stride, dil, group)
    return acc + _per_channel(bias, acc.ndim)


def requant_out(acc: np.ndarray, st: IntNode, q: QParams) -> np.ndarray:
    lo, hi = clamp_bounds(st.activation, q)
    y = requantize(acc, _per_channel(st.arrays["mult"], acc.ndim), _per_channel(st.arrays["shift"], acc.ndim))
    return np.clip(y + q.zero, lo, hi)


def max_pool(x: np.ndarray, a: dict) -> np.ndarray:
    """Max over each window of int8 values; padding never wins."""
    k, s, p, first, out = _out_sizes(x.shape, a)
    y = np.full(x.shape[:first] + out + x.shape[first + len(k):], QMIN, I64)
    return _fold_windows(np.asarray(x, I64), k, s, p, first, out, y, np.maximum)


def _fold_windows(x: np.ndarray, k: tuple, s: tuple, p: tuple, first: int, out: tuple, y: np.ndarray,
                  combine: Callable) -> np.ndarray:  # noqa: ANN001
    """Combine every in-bounds tap of each window into ``y`` (windows clipped to the input)."""
    for tap in np.ndindex(*k):
        src, dst = [slice(None)] * x.ndim, [slice(None)] * x.ndim
        for i in range(len(k)):
            o = np.arange(out[i])
            pos = o * s[i] - p[i] + tap[i]
            ok = (pos >= 0) & (pos < x.shape[first + i])
            if not ok.any():
                break
            lo_o, hi_o = int(o[ok][0]), int(o[ok][-1])
            src[first + i] = slice(int(pos[ok][0]), int(pos[ok][-1]) + 1, s[i])
            dst[first + i] = slice(lo_o, hi_o + 1)
        else:
            combine(y[tuple(dst)], x[tuple(src)], out=y[tuple(dst)])
    return y


def avg_pool(x: np.ndarray, z: int, a: dict) -> np.ndarray:
    """z + round_half_away(sum(x - z) / count), count as nnabla's AveragePooling divides."""
    from nnb.ops.pooling import _divisor

    k, s, p, first, out = _out_sizes(x.shape, a)
    y = np.zeros(x.shape[:first] + out + x.shape[first + len(k):], I64)
    total = _fold_windows(np.asarray(x, I64) - z, k, s, p, first, out, y, np.add)
    div = np.ones((), I64)
    for i in range(len(k)):
        d = _divisor(x.shape[first + i], k[i], s[i], p[i], out[i], a.get("including_pad", True)).astype(I64)
        div = div[..., None] * d
    div = div.reshape(out + (1,) * (x.ndim - first - len(k)))
    return np.clip(round_div(total, div) + z, QMIN, QMAX)


def conv_out(acc: np.ndarray, st: IntNode, xs: list[np.ndarray], m: Int8Model, batch: tuple) -> np.ndarray:
    """A convolution step's int8 output from its int64 accumulators (bias added): the FusedConv residual,
    the output requantization, the fused max pool, and the batch axes back."""
    node, a, qp = st.node, st.node.attrs, m.qparams
    if node.op == "FusedConv" and a["residual"]:
        r = np.asarray(xs[-1], I64).reshape(acc.shape) - qp[node.inputs[-1]].zero
        acc = acc + requantize(r, _per_channel(st.arrays["res_mult"], acc.ndim),
                               _per_channel(st.arrays["res_shift"], acc.ndim))
    y = requant_out(acc, st, qp[st.output])
    if node.op == "FusedConv" and a["pool"] == "max":
        y = max_pool(y, pool_attrs(a))
    return y.reshape(batch + y.shape[1:])


def _step_int(st: IntNode, xs: list[np.ndarray], m: Int8Model) -> np.ndarray:
    node, a, qp = st.node, st.node.attrs, m.qparams
    q_in, q_out = qp[node.inputs[0]], qp[st.output]
    op = node.op
    if "lut_codes" in st.arrays:  # LUT-Q weights: per-entry accumulation (nnb/quantize/lutq_int8_sim.py)
        from nnb.quantize.lutq_int8_sim import lutq_step

        return lutq_step(st, xs, m)
    if op in ("FusedConv", "Convolution", "DepthwiseConvolution"):
        x = xs[0]
        ba = norm_axis(a["base_axis"], x.ndim)
        batch = x.shape[:ba]
        x = x.reshape((prod(batch),) + x.shape[ba:])
        group = x.shape[1] if op == "DepthwiseConvolution" else a["group"]
        acc = conv_acc(x, q_in.zero, st.arrays["weight"], st.arrays["bias"], a, group)
        return conv_out(acc, st, xs, m, batch)
    if op == "Affine":
        x = xs[0]
        ba = norm_axis(a["base_axis"], x.ndim)
        batch = x.shape[:ba]
        w = st.arrays["weight"]
        acc = (np.asarray(x, I64).reshape(prod(batch), -1) - q_in.zero) @ np.asarray(w, I64)
        acc = acc + np.asarray(st.arrays["bias"], I64)
        y = requant_out(acc, st, q_out)
        return y.reshape(batch + m.graph.tensors[node.inputs[1]].shape[1:])
    if op == "MaxPooling":
        return max_pool(xs[0], a)
    if op == "AveragePooling":
        return avg_pool(xs[0], q_in.zero, a)
    if op == "GlobalAveragePooling":
        x = np.asarray(xs[0], I64)
        total = (x - q_in.zero).reshape(x.shape[:2] + (-1,)).sum(axis=2)
        y = requantize(total, st.arrays["mult"][0], st.arrays["shift"][0]) + q_out.zero
        return np.clip(y, QMIN, QMAX).reshape(x.shape[:2] + (1,) * (x.ndim - 2))
    if op in ("ReLU", "ReLU6", "Reshape", "Identity"):
        lo, hi = clamp_bounds(st.activation, q_out)
        y = np.clip(xs[0], lo, hi)
        return y.reshape((len(y),) + m.graph.tensors[st.output].shape[1:]) if op == "Reshape" else y
    if op == "Add2":
        return add_int(xs[0], xs[1], qp[node.inputs[0]], qp[node.inputs[1]], q_out, st)
    if op == "Mul2":
        acc = (np.asarray(xs[0], I64) - q_in.zero) * (np.asarray(xs[1], I64) - qp[node.inputs[1]].zero)
        return requant_out(acc, st, q_out)
    if op == "Concatenate":
        parts = [np.clip(requantize(np.asarray(x, I64) - qp[i].zero, st.arrays["mult"][j], st.arrays["shift"][j])
                         + q_out.zero, QMIN, QMAX) for j, (i, x) in enumerate(zip(node.inputs, xs))]
        return np.concatenate(parts, axis=norm_axis(a["axis"] if a["axis"] is not None else xs[0].ndim - 1,
                                                    xs[0].ndim))
    raise NnbError(f"int8: no integer kernel for {op}")  # build_int8 makes every other op an island


def add_int(x1: np.ndarray, x2: np.ndarray, q1: QParams, q2: QParams, qo: QParams, st: IntNode) -> np.ndarray:
    """TFLite's quantized Add: both inputs << 20, rescaled, summed, rescaled to the output grid."""
    mult, shift = st.arrays["mult"], st.arrays["shift"]
    a = requantize((np.asarray(x1, I64) - q1.zero) << ADD_LEFT_SHIFT, mult[0], shift[0])
    b = requantize((np.asarray(x2, I64) - q2.zero) << ADD_LEFT_SHIFT, mult[1], shift[1])
    lo, hi = clamp_bounds(st.activation, qo)
    return np.clip(requantize(a + b, mult[2], shift[2]) + qo.zero, lo, hi)


def run_int8(m: Int8Model, inputs: Sequence[np.ndarray], keep: Sequence[str] = (),
             as_int: bool = False) -> dict[str, np.ndarray]:
    """Run the int8 model: float inputs in, outputs (dequantized, or int8 with ``as_int``) by name."""
    g = m.graph
    vals: dict[str, np.ndarray] = {}
    for name, x in zip(g.inputs, inputs):
        vals[name] = m.qparams[name].quantize(x)
    floats: dict[str, np.ndarray] = {}
    for st in m.steps:
        node = st.node
        if st.kind == "island":
            fin = [g.tensors[i].data if g.tensors[i].kind == "param" else floats[i] if i in m.float_tensors
                   else m.qparams[i].dequantize(vals[i]) for i in node.inputs]
            for o, v in zip(node.outputs, get_op(node.op).forward(fin, node.attrs)):
                floats[o] = v
                if o not in m.float_tensors:
                    vals[o] = m.qparams[o].quantize(v)
            continue
        vals[st.output] = _step_int(st, [vals[i] for i in node.inputs if g.tensors[i].kind != "param"], m)
    out: dict[str, np.ndarray] = {}
    for k in list(g.outputs) + [k for k in keep if k not in g.outputs]:
        if k in m.float_tensors:
            out[k] = floats[k]  # held in float (between islands): no integer form
        elif as_int:
            out[k] = vals[k]
        elif k in floats and k in g.outputs:
            out[k] = floats[k]  # a float island's network output stays float
        else:
            out[k] = m.qparams[k].dequantize(vals[k])
    return out


def run_int8_batched(m: Int8Model, x: np.ndarray, batch: int = 250, as_int: bool = False) -> np.ndarray:
    """The first network output over a data set, in chunks."""
    outs = [run_int8(m, [x[s:s + batch]], as_int=as_int)[m.graph.outputs[0]] for s in range(0, len(x), batch)]
    return np.concatenate(outs, axis=0)
