"""Fixed point (FIXED8/FIXED16) computed in integers: the arithmetic of c_runtime/src/kernels/fixed_mac.c in
numpy (docs/int8.md "Fixed point"), so the simulation and the C runtime give the same integers.

Values are held as float32 on their grid (value = integer / 2^fp_pos). A multiply-accumulate function
(Convolution incl. grouped, DepthwiseConvolution, Affine) sums X_int * W_int exactly (C: int64; here float64
sums of integer products, exact while every partial sum stays below 2^52, so the bias add and the rounding
below are exact too), adds the bias shifted onto the
accumulator's grid 2^-max(fx + fw, fb), then rounds ONCE to the output's fp_pos: half away from zero,
saturated to +-(2^(bits-1) - 1). AveragePooling: the integer window sum divided by nnabla's count
(including_pad: the window cut at the padded extent; else the input cells it covers), the same single
rounding. Add2 of same-shape inputs: both aligned to the finer grid, summed, rounded. Every other function
is a float op whose output is rounded with the same rule (``round_value``): exact for ReLU, MaxPooling,
reshapes (grid values to grid values); a float island for Softmax, Sigmoid, Tanh and the like.
"""

from __future__ import annotations

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Node
from nnb.ops.conv import _geom, grouped_conv
from nnb.ops.pooling import _divisor, _reduce_windows
from nnb.ops.registry import norm_axis

F64 = np.float64
MAC_OPS = ("Convolution", "DepthwiseConvolution", "Affine", "AveragePooling", "Add2")
_EXACT = 2.0 ** 52


def round_value(x: np.ndarray, bits: int, fp: int) -> np.ndarray:
    """The one rounding rule for float values: sign(x) * min(floor(|x| * 2^fp + 0.5), top) / 2^fp in float64,
    NaN -> 0, never -0 (the C runtime's nnbrt_fixed_round)."""
    top = (1 << (bits - 1)) - 1
    x = np.asarray(x, F64)
    q = np.minimum(np.floor(np.abs(x) * 2.0 ** fp + 0.5), top)
    q = np.where(np.isnan(x), 0.0, np.sign(x) * q) + 0.0
    return (q / 2.0 ** fp).astype(np.float32)


def to_int(x: np.ndarray, fp: int) -> np.ndarray:
    """The integers of grid values (exact)."""
    return np.rint(np.asarray(x, F64) * 2.0 ** fp).astype(np.int64)


def finish(acc: np.ndarray, fa: int, fo: int, bits: int, den: np.ndarray | int = 1) -> np.ndarray:
    """acc / (den * 2^fa) rounded to 2^-fo (half away from zero, symmetric saturation), as float32 values."""
    top = (1 << (bits - 1)) - 1
    acc = np.asarray(acc, np.int64)
    den = np.asarray(den, np.int64)
    m = np.abs(acc)
    if fo >= fa:
        m = np.minimum(m, (top + 1) * den) << (fo - fa)
        q = (2 * m + den) // (2 * den)
    else:
        d = den << (fa - fo)
        q = (2 * m + d) // (2 * d)
    q = np.minimum(q, top)
    return (np.where(acc < 0, -q, q).astype(F64) / 2.0 ** fo + 0.0).astype(np.float32)


def _exact_sum(y: np.ndarray, what: str) -> np.ndarray:
    """An accumulator of integers held in float64, checked to be below 2^52 (so it and the rounding below are
    exact: |acc| / 2^s + 1/2 is representable)."""
    if np.abs(y).max(initial=0.0) >= _EXACT:  # not reachable with 16-bit operands below 2^22 products per sum
        raise NnbError(f"fixed point {what}: an accumulator beyond 2^52")
    return y


def _ints64(x: np.ndarray, fp: int) -> np.ndarray:
    """Grid values as float64 integers (exact: a power-of-two scaling)."""
    return np.asarray(x, F64) * 2.0 ** fp


def _mac_out(acc: np.ndarray, fxw: int, b: np.ndarray | None, fb: int, shape: tuple, fo: int,
             bits: int) -> np.ndarray:
    """acc / 2^fxw + bias rounded once to fo: the integers ``finish`` gives on the int64 accumulator the C runtime
    forms. In float64 (exact: an integer below 2^52 over 2^max(fxw, fb)), else in int64."""
    if b is None:
        return round_value(acc * 2.0 ** -fxw, bits, fo)
    fa = max(fxw, fb)
    b = np.asarray(b, F64).reshape(shape)
    if np.abs(acc).max(initial=0.0) * 2.0 ** (fa - fxw) + np.abs(b).max(initial=0.0) * 2.0 ** fa < _EXACT / 2:
        return round_value(acc * 2.0 ** -fxw + b, bits, fo)
    ai = np.rint(acc).astype(np.int64) << (fa - fxw)
    return finish(ai + (to_int(b, fb) << (fa - fb)), fa, fo, bits)


def _conv(n: Node, xs: list[np.ndarray], fps: list[int], fo: int, bits: int) -> np.ndarray | None:
    a = n.attrs
    x, w = xs[0], xs[1]
    ba = norm_axis(a["base_axis"], x.ndim)
    if n.op == "Convolution":
        if a.get("channel_last"):
            return None
        group, wk = a["group"], w
    else:
        group, wk = x.shape[ba], w[:, None]
    nsp = wk.ndim - 2
    pad, stride, dil = _geom(nsp, a)
    batch = x.shape[:ba]
    xi = _ints64(x, fps[0]).reshape((int(np.prod(batch)),) + x.shape[ba:])
    y = grouped_conv(xi, _ints64(wk, fps[1]), pad, stride, dil, group)
    y = _mac_out(_exact_sum(y, n.op), fps[0] + fps[1], xs[2] if len(xs) > 2 else None, fps[-1],
                 (1, -1) + (1,) * nsp, fo, bits)
    return y.reshape(batch + y.shape[1:])


def _affine(n: Node, xs: list[np.ndarray], fps: list[int], fo: int, bits: int) -> np.ndarray:
    x, w = xs[0], xs[1]
    ba = norm_axis(n.attrs["base_axis"], x.ndim)
    batch = x.shape[:ba]
    y = _ints64(x, fps[0]).reshape(int(np.prod(batch)), -1) @ _ints64(w, fps[1]).reshape(w.shape[0], -1)
    return _mac_out(_exact_sum(y, "Affine"), fps[0] + fps[1], xs[2] if len(xs) > 2 else None, fps[-1], (1, -1),
                    fo, bits).reshape(batch + w.shape[1:])


def _avg_pool(n: Node, xs: list[np.ndarray], fps: list[int], fo: int, bits: int) -> np.ndarray | None:
    a, x = n.attrs, xs[0]
    if a.get("channel_last"):
        return None
    total, k, s, p, first, out = _reduce_windows(_ints64(x, fps[0]), a, 0.0, np.add)
    div = np.ones((), np.int64)
    for i in range(len(k)):
        d = _divisor(x.shape[first + i], k[i], s[i], p[i], out[i], a["including_pad"]).astype(np.int64)
        div = div[..., None] * d
    div = div.reshape(out + (1,) * (x.ndim - first - len(k)))
    return finish(_exact_sum(total, "AveragePooling").astype(np.int64), fps[0], fo, bits,
                  np.broadcast_to(div, total.shape))


def _add2(xs: list[np.ndarray], fps: list[int], fo: int, bits: int) -> np.ndarray | None:
    if xs[0].shape != xs[1].shape:
        return None  # broadcasting Add2: the float op, rounded (the C runtime does the same)
    fa = max(fps)
    return finish((to_int(xs[0], fps[0]) << (fa - fps[0])) + (to_int(xs[1], fps[1]) << (fa - fps[1])), fa, fo, bits)


def _softmax(n: Node, xs: list[np.ndarray], fo: int, bits: int) -> np.ndarray:
    """Softmax of grid values in float64: max, exp(x - max), summed in axis order (as the C loop), divided, each
    result rounded once to fo (fixed_mac.c's softmax)."""
    x = np.asarray(xs[0], F64)
    ax = norm_axis(n.attrs["axis"] if n.attrs.get("axis") is not None else x.ndim - 1, x.ndim)
    e = np.exp(x - x.max(axis=ax, keepdims=True))
    em = np.moveaxis(e, ax, 0)
    s = em[0].copy()
    for k in range(1, em.shape[0]):
        s = s + em[k]
    return round_value(e / np.expand_dims(s, ax), bits, fo)


def forward(n: Node, xs: list[np.ndarray], fps: list[int], fo: int, bits: int) -> np.ndarray | None:
    """The function's output computed in integers, or None if it has no integer form (a float op, rounded)."""
    if len(n.outputs) != 1:
        return None
    if n.op in ("Convolution", "DepthwiseConvolution") and len(xs) >= 2:
        return _conv(n, xs, fps, fo, bits)
    if n.op == "Affine" and len(xs) >= 2:
        return _affine(n, xs, fps, fo, bits)
    if n.op == "AveragePooling":
        return _avg_pool(n, xs, fps, fo, bits)
    if n.op == "Softmax" and len(xs) == 1:
        return _softmax(n, xs, fo, bits)
    if n.op == "Add2" and len(xs) == 2:
        return _add2(xs, fps, fo, bits)
    return None
