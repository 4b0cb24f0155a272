"""Backward rules for MaxPooling, AveragePooling (nnabla's border/padding rules) and GlobalAveragePooling.

Both pools work tap by tap on strided slices of the padded input; the max
pooling backward finds, tap by tap, the first maximum of each window (nnabla's
tie rule) and adds each tap's share into its slice.
"""

from __future__ import annotations

import numpy as np

from nnb.ops.pooling import _divisor, _out_sizes
from nnb.train.rules import Attrs, Ctx, Grad, rule


def _padded(x: np.ndarray, a: Attrs, fill: float) -> tuple[np.ndarray, dict]:
    """x cropped/padded to exactly the extent the windows cover, plus the geometry to undo it."""
    k, s, p, first, out = _out_sizes(x.shape, a)
    widths = [(0, 0)] * x.ndim
    crops = [slice(None)] * x.ndim
    for i in range(len(k)):
        ax = first + i
        hi = (out[i] - 1) * s[i] + k[i] - x.shape[ax] - p[i]
        widths[ax] = (p[i], max(hi, 0))
        if hi < 0:
            crops[ax] = slice(0, x.shape[ax] + hi)
    xc = x[tuple(crops)]
    xp = np.pad(xc, widths, constant_values=fill) if any(w != (0, 0) for w in widths) else xc
    geo = dict(k=k, s=s, p=p, first=first, out=out, widths=widths, crops=crops, xshape=x.shape, pshape=xp.shape)
    return xp, geo


def _tap(geo: dict, tap: tuple[int, ...], ndim: int) -> tuple[slice, ...]:
    sl = [slice(None)] * ndim
    for i, t in enumerate(tap):
        sl[geo["first"] + i] = slice(t, t + (geo["out"][i] - 1) * geo["s"][i] + 1, geo["s"][i])
    return tuple(sl)


def _unpad(gp: np.ndarray, geo: dict, dtype: np.dtype) -> np.ndarray:
    """Gradient of the padded extent back to the input's shape."""
    inner = tuple(slice(lo, gp.shape[ax] - hi) for ax, (lo, hi) in enumerate(geo["widths"]))
    gc = gp[inner]
    if gc.shape == tuple(geo["xshape"]):
        return gc
    gx = np.zeros(geo["xshape"], dtype=dtype)
    gx[tuple(geo["crops"])] = gc
    return gx


def _max_fw(xs: list[np.ndarray], a: Attrs, c: Ctx) -> list[np.ndarray]:
    x = xs[0]
    xp, geo = _padded(x, a, -np.inf)
    taps = list(np.ndindex(*geo["k"]))
    best = xp[_tap(geo, taps[0], x.ndim)].copy()
    for tap in taps[1:]:
        np.maximum(best, xp[_tap(geo, tap, x.ndim)], out=best)
    c.saved.update(geo=geo, xp=xp, best=best)
    return [best]


@rule("MaxPooling", _max_fw)
def _max_bw(gys: list[Grad], a: Attrs, c: Ctx) -> list[Grad]:
    """Each window's gradient goes to its first maximum (nnabla's tie rule), found tap by tap."""
    geo, xp, best, g = c.saved["geo"], c.saved["xp"], c.saved["best"], gys[0]
    overlap = any(k > s for k, s in zip(geo["k"], geo["s"]))
    gp = np.zeros(geo["pshape"], dtype=g.dtype)
    zero = np.zeros((), dtype=g.dtype)
    taken = None
    for tap in np.ndindex(*geo["k"]):
        sl = _tap(geo, tap, g.ndim)
        m = xp[sl] == best
        if taken is None:
            taken = m
        else:
            m &= ~taken
            taken |= m
        if overlap:
            gp[sl] += np.where(m, g, zero)
        else:
            gp[sl] = np.where(m, g, zero)
    return [_unpad(gp, geo, g.dtype)]


def _avg_div(geo: dict, a: Attrs, ndim: int, dtype: np.dtype) -> np.ndarray:
    div = np.ones((), dtype=dtype)
    for i in range(len(geo["k"])):
        d = _divisor(geo["xshape"][geo["first"] + i], geo["k"][i], geo["s"][i], geo["p"][i], geo["out"][i],
                     a["including_pad"])
        div = div[..., None] * d.astype(dtype)
    return div.reshape(geo["out"] + (1,) * (ndim - geo["first"] - len(geo["k"])))


def _avg_fw(xs: list[np.ndarray], a: Attrs, c: Ctx) -> list[np.ndarray]:
    x = xs[0]
    xp, geo = _padded(x, a, 0.0)
    total = None
    for tap in np.ndindex(*geo["k"]):
        v = xp[_tap(geo, tap, x.ndim)]
        total = v.copy() if total is None else total + v
    div = _avg_div(geo, a, x.ndim, x.dtype)
    c.saved.update(geo=geo, div=div)
    return [total / div]


@rule("AveragePooling", _avg_fw)
def _avg_bw(gys: list[Grad], a: Attrs, c: Ctx) -> list[Grad]:
    geo, g = c.saved["geo"], gys[0] / c.saved["div"]
    gp = np.zeros(geo["pshape"], dtype=g.dtype)
    for tap in np.ndindex(*geo["k"]):
        gp[_tap(geo, tap, g.ndim)] += g
    return [_unpad(gp, geo, g.dtype)]


def _gap_fw(xs: list[np.ndarray], a: Attrs, c: Ctx) -> list[np.ndarray]:
    x = xs[0]
    c.saved["shape"] = x.shape
    return [x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)]


@rule("GlobalAveragePooling", _gap_fw)
def _gap_bw(gys: list[Grad], a: Attrs, c: Ctx) -> list[Grad]:
    shape = c.saved["shape"]
    n = int(np.prod(shape[2:], dtype=np.int64))
    return [np.broadcast_to(gys[0] / n, shape).copy()]
