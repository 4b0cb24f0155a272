"""Backward rules for Convolution and DepthwiseConvolution (N-d, groups, stride, pad, dilation).

The columns matrix is laid out (C, *kernel, N, *out) so that both the forward
and the weight gradient are single BLAS calls per group, and col2im is a
scatter-add of one strided slice per kernel tap (no ``np.add.at``).
"""

from __future__ import annotations

import numpy as np

from nnb.errors import NnbError
from nnb.ops.conv import _geom, conv_out_size
from nnb.ops.registry import norm_axis, prod
from nnb.train.rules import Attrs, Ctx, Grad, rule


def _tap_slices(tap: tuple[int, ...], out: tuple[int, ...], stride: tuple[int, ...],
                dil: tuple[int, ...]) -> tuple[slice, ...]:
    return (slice(None), slice(None)) + tuple(
        slice(t * d, t * d + (o - 1) * s + 1, s) for t, o, s, d in zip(tap, out, stride, dil))


def im2col(x: np.ndarray, k: tuple[int, ...], pad: tuple[int, ...], stride: tuple[int, ...],
           dil: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, ...]]:
    """Columns (C, *k, N, *out) of x (N, C, *spatial); returns them and the output size."""
    n, c = x.shape[:2]
    nsp = len(k)
    out = tuple(conv_out_size(x.shape[2 + i], k[i], pad[i], stride[i], dil[i]) for i in range(nsp))
    if all(kk == 1 for kk in k) and not any(pad) and all(s == 1 for s in stride):
        return np.ascontiguousarray(x.swapaxes(0, 1)).reshape((c,) + k + (n,) + out), out
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad]) if any(pad) else x
    cols = np.empty((c,) + k + (n,) + out, dtype=x.dtype)
    for tap in np.ndindex(*k):
        cols[(slice(None),) + tap] = xp[_tap_slices(tap, out, stride, dil)].swapaxes(0, 1)
    return cols, out


def col2im(dcols: np.ndarray, xshape: tuple[int, ...], pad: tuple[int, ...], stride: tuple[int, ...],
           dil: tuple[int, ...]) -> np.ndarray:
    """Adjoint of :func:`im2col`: scatter-add every tap's slice back into an (N, C, *spatial) gradient."""
    c = dcols.shape[0]
    nsp = len(pad)
    k = dcols.shape[1:1 + nsp]
    out = dcols.shape[2 + nsp:]
    n = xshape[0]
    if all(kk == 1 for kk in k) and not any(pad) and all(s == 1 for s in stride):
        return dcols.reshape((c, n) + out).swapaxes(0, 1)
    padded = tuple(xshape[2 + i] + 2 * pad[i] for i in range(nsp))
    gx = np.zeros((n, c) + padded, dtype=dcols.dtype)
    for tap in np.ndindex(*k):
        gx[_tap_slices(tap, out, stride, dil)] += dcols[(slice(None),) + tap].swapaxes(0, 1)
    if any(pad):
        gx = gx[(slice(None), slice(None)) + tuple(slice(p, p + xshape[2 + i]) for i, p in enumerate(pad))]
    return gx


def _conv_core(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, a: Attrs, group: int, c: Ctx) -> np.ndarray:
    """y (batch..., O, *out) of x (batch..., C, *sp) and w (O, C/G, *k); saves the columns."""
    ba = norm_axis(a["base_axis"], x.ndim)
    nsp = w.ndim - 2
    batch = x.shape[:ba]
    x4 = x.reshape((prod(batch),) + x.shape[ba:])
    pad, stride, dil = _geom(nsp, a)
    k = w.shape[2:]
    cols, out = im2col(x4, k, pad, stride, dil)
    o, cg = w.shape[:2]
    n = x4.shape[0]
    cm = cols.reshape(group, cg * prod(k), n * prod(out))
    wm = w.reshape(group, o // group, cg * prod(k))
    y = np.matmul(wm, cm).reshape(o, n * prod(out))
    if b is not None:
        y += b.reshape(-1, 1)
    c.saved.update(cols=cm, wm=wm, geom=(pad, stride, dil), x4shape=x4.shape, xshape=x.shape, wshape=w.shape,
                   out=out, group=group, batch=batch)
    return np.moveaxis(y.reshape((o, n) + out), 0, 1).reshape(batch + (o,) + out)


def _conv_core_bw(gy: np.ndarray, c: Ctx, need_x: bool, need_w: bool, need_b: bool
                  ) -> tuple[Grad, Grad, Grad]:
    s = c.saved
    g, o = s["group"], s["wshape"][0]
    n = s["x4shape"][0]
    gy2 = np.ascontiguousarray(np.moveaxis(gy.reshape((n, o) + s["out"]), 1, 0)).reshape(g, o // g, -1)
    gb = gy2.sum(axis=2).reshape(o) if need_b else None
    gw = np.matmul(gy2, s["cols"].transpose(0, 2, 1)).reshape(s["wshape"]) if need_w else None
    gx = None
    if need_x:
        dcols = np.matmul(s["wm"].transpose(0, 2, 1), gy2)
        k = s["wshape"][2:]
        dcols = dcols.reshape((s["x4shape"][1],) + k + (n,) + s["out"])
        gx = col2im(dcols, s["x4shape"], *s["geom"]).reshape(s["xshape"])
    return gx, gw, gb


def _conv_fw(xs: list[np.ndarray], a: Attrs, c: Ctx) -> list[np.ndarray]:
    if a.get("channel_last"):
        raise NnbError("cannot train Convolution with channel_last=True (not supported)")
    return [_conv_core(xs[0], xs[1], xs[2] if len(xs) > 2 else None, a, a["group"], c)]


@rule("Convolution", _conv_fw)
def _conv_bw(gys: list[Grad], a: Attrs, c: Ctx) -> list[Grad]:
    nb = len(c.needs) > 2
    gx, gw, gb = _conv_core_bw(gys[0], c, c.needs[0], c.needs[1], nb and c.needs[2])
    return [gx, gw, gb] if nb else [gx, gw]


def _dw_fw(xs: list[np.ndarray], a: Attrs, c: Ctx) -> list[np.ndarray]:
    """Per-channel taps multiplied and accumulated directly: no columns matrix, no tiny batched GEMMs."""
    x, w = xs[0], xs[1]
    ba = norm_axis(a["base_axis"], x.ndim)
    batch = x.shape[:ba]
    nsp = w.ndim - 1
    x4 = x.reshape((prod(batch),) + x.shape[ba:])
    m = a["multiplier"]
    xm = np.repeat(x4, m, axis=1) if m > 1 else x4  # output channel c*m + j reads input channel c
    pad, stride, dil = _geom(nsp, a)
    k = w.shape[1:]
    out = tuple(conv_out_size(xm.shape[2 + i], k[i], pad[i], stride[i], dil[i]) for i in range(nsp))
    xp = np.pad(xm, [(0, 0), (0, 0)] + [(p, p) for p in pad]) if any(pad) else xm
    wc = w.reshape((1, w.shape[0]) + (1,) * nsp + (-1,))
    y = np.zeros((xm.shape[0], w.shape[0]) + out, dtype=np.result_type(x, w))
    for t, tap in enumerate(np.ndindex(*k)):
        y += xp[_tap_slices(tap, out, stride, dil)] * wc[..., t]
    if len(xs) > 2:
        y += xs[2].reshape((1, -1) + (1,) * nsp)
    c.saved.update(xp=xp, w=w, k=k, out=out, geom=(pad, stride, dil), xshape=x.shape, x4shape=x4.shape, m=m)
    return [y.reshape(batch + y.shape[1:])]


@rule("DepthwiseConvolution", _dw_fw)
def _dw_bw(gys: list[Grad], a: Attrs, c: Ctx) -> list[Grad]:
    s = c.saved
    xp, w, k, out = s["xp"], s["w"], s["k"], s["out"]
    pad, stride, dil = s["geom"]
    nsp = len(k)
    gy = gys[0].reshape((xp.shape[0], w.shape[0]) + out)
    red = (0,) + tuple(range(2, 2 + nsp))
    gw = gx = gb = None
    wc = w.reshape((1, w.shape[0]) + (1,) * nsp + (-1,))
    taps = list(np.ndindex(*k))
    if c.needs[1]:
        gw = np.stack([(gy * xp[_tap_slices(tap, out, stride, dil)]).sum(axis=red) for tap in taps], axis=1)
        gw = gw.reshape(w.shape)
    if c.needs[0]:
        gp = np.zeros(xp.shape, dtype=gy.dtype)
        for t, tap in enumerate(taps):
            gp[_tap_slices(tap, out, stride, dil)] += gy * wc[..., t]
        if any(pad):
            gp = gp[(slice(None), slice(None)) + tuple(slice(p, gp.shape[2 + i] - p) for i, p in enumerate(pad))]
        if s["m"] > 1:
            gp = gp.reshape((gp.shape[0], -1, s["m"]) + gp.shape[2:]).sum(axis=2)
        gx = gp.reshape(s["xshape"])
    if len(c.needs) > 2 and c.needs[2]:
        gb = gy.sum(axis=red)
    return [gx, gw, gb] if len(c.needs) > 2 else [gx, gw]
