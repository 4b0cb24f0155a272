"""Max/Average/Sum pooling, GlobalAveragePooling and Unpooling.

Output size follows nnabla (base_pooling.cpp):
``out = (w + p - (k - p if ignore_border else 1)) // s + 1``.  Windows that run
past the input see -inf (max) or 0 (sum/average).  AveragePooling divides by
the window clipped to the padded input (``including_pad``) or to the input
itself (not ``including_pad``).
"""

from __future__ import annotations

import numpy as np

from nnb.errors import NnbError
from nnb.ops.registry import Attr, Attrs, Shape, register

F32 = np.float32

POOL_ATTRS = (Attr("kernel", "ints", None, min=1), Attr("stride", "ints", None, min=1),
              Attr("ignore_border", "bool", True), Attr("pad", "ints", None, min=0),
              Attr("channel_last", "bool", False))


def _params(ndim: int, a: Attrs) -> tuple[Shape, Shape, Shape, int]:
    k = tuple(a["kernel"] or ())
    nk = len(k)
    if nk == 0 or nk > ndim - (1 if a["channel_last"] else 0):
        raise NnbError(f"pooling kernel {k} does not fit a {ndim}-d input")
    s = tuple(a["stride"]) if a["stride"] else k
    p = tuple(a["pad"]) if a["pad"] else (0,) * nk
    if len(s) != nk or len(p) != nk:
        raise NnbError(f"pooling: kernel {k}, stride {s} and pad {p} must have the same length")
    if any(v <= 0 for v in k + s) or any(v < 0 for v in p):
        raise NnbError(f"pooling: bad kernel {k} / stride {s} / pad {p}")
    first = ndim - nk - (1 if a["channel_last"] else 0)
    return k, s, p, first


def _out_sizes(shape: Shape, a: Attrs) -> tuple[Shape, Shape, Shape, int, Shape]:
    k, s, p, first = _params(len(shape), a)
    ib = a["ignore_border"]
    out = tuple((shape[first + i] + p[i] - (k[i] - p[i] if ib else 1)) // s[i] + 1 for i in range(len(k)))
    if any(o <= 0 for o in out):
        raise NnbError(f"pooling kernel {k} does not fit input {shape}")
    return k, s, p, first, out


def _pool_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    x = shapes[0]
    k, _, _, first, out = _out_sizes(x, a)
    return [x[:first] + out + x[first + len(k):]]


def _padded(x: np.ndarray, a: Attrs, fill: float) -> tuple[np.ndarray, list, Shape, Shape, Shape, int, Shape]:
    """The input padded (``fill``) / cropped to what the windows cover, and its pad widths."""
    k, s, p, first, out = _out_sizes(x.shape, a)
    widths = [(0, 0)] * x.ndim
    crops = [slice(None)] * x.ndim
    for i in range(len(k)):
        ax = first + i
        need = (out[i] - 1) * s[i] + k[i]  # extent of the padded input the windows cover
        hi = need - x.shape[ax] - p[i]
        widths[ax] = (p[i], max(hi, 0))
        if hi < 0:
            crops[ax] = slice(0, x.shape[ax] + hi)
    xc = x[tuple(crops)]
    xp = np.pad(xc, widths, constant_values=fill) if any(w != (0, 0) for w in widths) else xc
    return xp, widths, k, s, p, first, out


def _taps(ndim: int, k: Shape, s: Shape, first: int, out: Shape):  # noqa: ANN202 - a generator of index tuples
    """Each kernel tap's strided slice of the padded input, in nnabla's window order (row-major)."""
    for tap in np.ndindex(*k):
        sl = [slice(None)] * ndim
        for i in range(len(k)):
            sl[first + i] = slice(tap[i], tap[i] + (out[i] - 1) * s[i] + 1, s[i])
        yield tuple(sl)


def _reduce_windows(x: np.ndarray, a: Attrs, fill: float, combine) -> tuple[np.ndarray, Shape, Shape, Shape, int, Shape]:  # noqa: ANN001,E501
    """Combine every kernel tap's strided slice of the padded input: k*k vectorised steps, no window copies."""
    xp, _, k, s, p, first, out = _padded(x, a, fill)
    y = None
    for sl in _taps(x.ndim, k, s, first, out):
        v = xp[sl]
        y = v.copy() if y is None else combine(y, v, out=y)
    return y, k, s, p, first, out


def _max_windows(x: np.ndarray, a: Attrs) -> np.ndarray:
    """nnabla's max: start from the window's first input value, take a later one only if greater.

    So padding never wins, a NaN later in the window is skipped and a NaN first
    in the window (its first value inside the input) is the result.
    """
    xp, widths, k, s, _, first, out = _padded(x, a, np.nan)
    inside = None
    if any(w != (0, 0) for w in widths):  # which padded positions are input values (spatial axes only)
        spatial = range(first, first + len(k))
        core = [xp.shape[i] - widths[i][0] - widths[i][1] if i in spatial else 1 for i in range(x.ndim)]
        inside = np.pad(np.ones(core, bool), [widths[i] if i in spatial else (0, 0) for i in range(x.ndim)])
    y = unset = None
    for sl in _taps(x.ndim, k, s, first, out):
        v = xp[sl]
        if inside is None:
            y = v.copy() if y is None else np.where(v > y, v, y)
            continue
        ok = inside[sl]
        if y is None:
            y, unset = np.where(ok, v, np.float32(-np.inf)), ~ok
        else:
            y = np.where(ok & (unset | (v > y)), v, y)
            unset = unset & ~ok
    return y


@register("MaxPooling", attrs=POOL_ATTRS, infer=_pool_infer)
def max_pooling(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """Max over each window (padding never wins; NaN as nnabla: see _max_windows)."""
    return [np.ascontiguousarray(_max_windows(xs[0], a), dtype=F32)]


@register("SumPooling", attrs=POOL_ATTRS, infer=_pool_infer)
def sum_pooling(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """Sum over each window."""
    y, *_ = _reduce_windows(xs[0], a, 0.0, np.add)
    return [y.astype(F32, copy=False)]


def _divisor(n: int, k: int, s: int, p: int, out: int, including_pad: bool) -> np.ndarray:
    start = np.arange(out) * s - p
    end = np.minimum(start + k, n + p)
    if including_pad:
        return (end - start).astype(F32)
    return (np.minimum(end, n) - np.maximum(start, 0)).astype(F32)


@register("AveragePooling", attrs=POOL_ATTRS + (Attr("including_pad", "bool", True),), infer=_pool_infer)
def average_pooling(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """Mean over each window; the divisor counts padding only with ``including_pad``."""
    x = xs[0]
    total, k, s, p, first, out = _reduce_windows(x, a, 0.0, np.add)
    div = np.ones((), dtype=F32)
    for i in range(len(k)):
        d = _divisor(x.shape[first + i], k[i], s[i], p[i], out[i], a["including_pad"])
        div = div[..., None] * d
    div = div.reshape(out + (1,) * (x.ndim - first - len(k)))
    return [np.ascontiguousarray(total / div, dtype=F32)]


def _gap_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    x = shapes[0]
    if len(x) < 2:
        raise NnbError(f"GlobalAveragePooling needs (N, C, ...) input, got {x}")
    return [x[:2] + (1,) * (len(x) - 2)]


@register("GlobalAveragePooling", infer=_gap_infer)
def global_average_pooling(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """Mean over every axis after the channel axis (kept as size 1)."""
    x = xs[0]
    return [x.mean(axis=tuple(range(2, x.ndim)), keepdims=True, dtype=F32)]


def _unpool_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    x, k = shapes[0], tuple(a["kernel"] or ())
    if not k or len(k) > len(x) or any(v <= 0 for v in k):
        raise NnbError(f"Unpooling: bad kernel {k} for input {x}")
    first = len(x) - len(k) - (1 if a["channel_last"] else 0)
    return [x[:first] + tuple(x[first + i] * k[i] for i in range(len(k))) + x[first + len(k):]]


@register("Unpooling", attrs=(Attr("kernel", "ints", None, min=1), Attr("channel_last", "bool", False)),
          infer=_unpool_infer)
def unpooling(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """Nearest-neighbour upsampling: each value repeated kernel times per axis."""
    y = xs[0]
    k = a["kernel"]
    first = y.ndim - len(k) - (1 if a["channel_last"] else 0)
    for i, r in enumerate(k):
        y = np.repeat(y, r, axis=first + i)
    return [np.ascontiguousarray(y, dtype=F32)]
