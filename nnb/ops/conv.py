"""Convolution, DepthwiseConvolution and Deconvolution (N-d, nnabla layout).

The reference is im2col + matmul: sliding-window views of the padded input are
gathered into a (groups, positions, C/G * prod(kernel)) matrix and multiplied
with the weights.  Large batches are processed in chunks to bound memory.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nnb.errors import NnbError
from nnb.ops.registry import Attr, Attrs, Shape, norm_axis, prod, register

F32 = np.float32
_CHUNK_BYTES = 64 << 20

CONV_ATTRS = (Attr("base_axis", "int", 1), Attr("pad", "ints", None, min=0), Attr("stride", "ints", None, min=1),
              Attr("dilation", "ints", None, min=1), Attr("group", "int", 1, min=1),
              Attr("channel_last", "bool", False))


def _geom(nsp: int, a: Attrs) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    pad = tuple(a["pad"]) if a.get("pad") else (0,) * nsp
    stride = tuple(a["stride"]) if a.get("stride") else (1,) * nsp
    dil = tuple(a["dilation"]) if a.get("dilation") else (1,) * nsp
    if not len(pad) == len(stride) == len(dil) == nsp:
        raise NnbError(f"pad/stride/dilation must have {nsp} values each")
    if any(s <= 0 for s in stride) or any(d <= 0 for d in dil) or any(p < 0 for p in pad):
        raise NnbError(f"bad geometry: pad {pad}, stride {stride}, dilation {dil}")
    return pad, stride, dil


def conv_out_size(n: int, k: int, p: int, s: int, d: int) -> int:
    out = (n + 2 * p - (d * (k - 1) + 1)) // s + 1
    if out <= 0:
        raise NnbError(f"kernel {k} (dilation {d}) does not fit input {n} with pad {p}")
    return out


def _split_x(xshape: Shape, base_axis: int, nsp: int) -> tuple[Shape, int, Shape]:
    ba = norm_axis(base_axis, len(xshape))
    if len(xshape) != ba + 1 + nsp:
        raise NnbError(f"input {xshape} does not have base_axis {ba} + channel + {nsp} spatial axes")
    return tuple(xshape[:ba]), xshape[ba], tuple(xshape[ba + 1:])


# ---- generic grouped convolution on (N, C, *spatial) -------------------------

def grouped_conv(x: np.ndarray, w: np.ndarray, pad: Shape, stride: Shape, dil: Shape, group: int) -> np.ndarray:
    """y[n, o] = sum over the o's group of channels and kernel taps; x (N,C,*sp), w (O, C/G, *k)."""
    nsp = w.ndim - 2
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    k = w.shape[2:]
    keff = tuple(d * (kk - 1) + 1 for kk, d in zip(k, dil))
    out = tuple(conv_out_size(x.shape[2 + i], k[i], pad[i], stride[i], dil[i]) for i in range(nsp))
    wm = w.reshape(group, o // group, cg * prod(k)).transpose(0, 2, 1)  # (G, C/G*K, O/G)
    per_item = group * prod(out) * cg * prod(k) * 4
    step = max(1, _CHUNK_BYTES // max(per_item, 1))
    ys = []
    for b in range(0, n, step):
        xb = x[b:b + step]
        nb = xb.shape[0]
        xp = np.pad(xb, [(0, 0), (0, 0)] + [(p, p) for p in pad]) if any(pad) else xb
        win = sliding_window_view(xp, keff, axis=tuple(range(2, 2 + nsp)))
        sl = (slice(None),) * 2 + tuple(slice(None, None, s) for s in stride) + \
            tuple(slice(None, None, d) for d in dil)
        win = win[sl][(slice(None),) * 2 + tuple(slice(0, q) for q in out)]
        win = win.reshape((nb, group, cg) + out + k)
        perm = (1, 0) + tuple(range(3, 3 + nsp)) + (2,) + tuple(range(3 + nsp, 3 + 2 * nsp))
        cols = win.transpose(perm).reshape(group, nb * prod(out), cg * prod(k))
        y = np.matmul(cols, wm)  # (G, nb*out, O/G)
        y = y.reshape((group, nb) + out + (o // group,))
        y = np.moveaxis(y, -1, 2).transpose((1, 0, 2) + tuple(range(3, 3 + nsp)))
        ys.append(y.reshape((nb, o) + out))
    return np.concatenate(ys, axis=0) if len(ys) > 1 else ys[0]


def _conv_macs(ins: list[Shape], outs: list[Shape], a: Attrs) -> int:
    w = ins[1]
    return prod(outs[0]) * prod(w[1:])


# ---- Convolution -------------------------------------------------------------

def _conv_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    x, w = shapes[0], shapes[1]
    nsp = len(w) - 2
    if a["channel_last"]:
        x = x[:a["base_axis"]] + (x[-1],) + x[a["base_axis"]:-1]
        w = (w[0], w[-1]) + w[1:-1]
    batch, c, sp = _split_x(x, a["base_axis"], nsp)
    g = a["group"]
    if g <= 0 or c % g or w[0] % g or w[1] != c // g:
        raise NnbError(f"Convolution: weight {shapes[1]} does not fit {c} input channels in {g} groups")
    if len(shapes) > 2 and tuple(shapes[2]) != (w[0],):
        raise NnbError(f"Convolution: bias {shapes[2]} for {w[0]} output channels")
    pad, stride, dil = _geom(nsp, a)
    out = tuple(conv_out_size(sp[i], w[2 + i], pad[i], stride[i], dil[i]) for i in range(nsp))
    if a["channel_last"]:
        return [batch + out + (w[0],)]
    return [batch + (w[0],) + out]


def _to_channel_first(x: np.ndarray, ba: int) -> np.ndarray:
    return np.moveaxis(x, -1, ba)


def _batched_conv(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, ba: int, group: int,
                  a: Attrs) -> np.ndarray:
    """x (batch axes before ``ba``, channels, spatial axes) convolved with w (O, C/G, *k) in ``group`` groups, plus
    the bias: the batch axes flattened for grouped_conv, then restored (Convolution and DepthwiseConvolution)."""
    nsp = w.ndim - 2
    batch = x.shape[:ba]
    pad, stride, dil = _geom(nsp, a)
    y = grouped_conv(x.reshape((prod(batch),) + x.shape[ba:]), w, pad, stride, dil, group)
    if bias is not None:
        y += bias.reshape((1, -1) + (1,) * nsp)
    return y.reshape(batch + y.shape[1:])


@register("Convolution", attrs=CONV_ATTRS, infer=_conv_infer, num_inputs=(2, 3), macs=_conv_macs)
def convolution(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """N-d convolution with pad, stride, dilation, groups, bias, base_axis, channel_last."""
    x, w = xs[0], xs[1]
    ba = norm_axis(a["base_axis"], x.ndim)
    if a["channel_last"]:
        x, w = _to_channel_first(x, ba), np.moveaxis(w, -1, 1)
    y = _batched_conv(x, w, xs[2] if len(xs) > 2 else None, ba, a["group"], a)
    if a["channel_last"]:
        y = np.moveaxis(y, ba, -1)
    return [np.ascontiguousarray(y, dtype=F32)]


# ---- DepthwiseConvolution -----------------------------------------------------

DW_ATTRS = (Attr("base_axis", "int", 1), Attr("pad", "ints", None, min=0), Attr("stride", "ints", None, min=1),
            Attr("dilation", "ints", None, min=1), Attr("multiplier", "int", 1, min=1))


def _dw_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    x, w = shapes[0], shapes[1]
    nsp = len(w) - 1
    batch, c, sp = _split_x(x, a["base_axis"], nsp)
    m = a["multiplier"]
    if m <= 0 or w[0] != c * m:
        raise NnbError(f"DepthwiseConvolution: weight {w} does not fit {c} channels x multiplier {m}")
    if len(shapes) > 2 and tuple(shapes[2]) != (c * m,):
        raise NnbError(f"DepthwiseConvolution: bias {shapes[2]} for {c * m} output channels")
    pad, stride, dil = _geom(nsp, a)
    out = tuple(conv_out_size(sp[i], w[1 + i], pad[i], stride[i], dil[i]) for i in range(nsp))
    return [batch + (c * m,) + out]


@register("DepthwiseConvolution", attrs=DW_ATTRS, infer=_dw_infer, num_inputs=(2, 3),
          macs=lambda i, o, a: prod(o[0]) * prod(i[1][1:]))
def depthwise_convolution(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """Per-channel convolution; output channel c*multiplier + m reads input channel c."""
    x = xs[0]
    ba = norm_axis(a["base_axis"], x.ndim)
    y = _batched_conv(x, xs[1][:, None], xs[2] if len(xs) > 2 else None, ba, x.shape[ba], a)  # C groups of one
    return [np.ascontiguousarray(y, dtype=F32)]


# ---- Deconvolution ---------------------------------------------------------------

DECONV_ATTRS = CONV_ATTRS + (Attr("output_padding", "ints", None, min=0),)


def _deconv_out(sp: Shape, k: Shape, a: Attrs) -> Shape:
    nsp = len(k)
    pad, stride, dil = _geom(nsp, a)
    op = tuple(a["output_padding"]) if a.get("output_padding") else (0,) * nsp
    out = tuple((sp[i] - 1) * stride[i] - 2 * pad[i] + dil[i] * (k[i] - 1) + 1 + op[i] for i in range(nsp))
    if any(o <= 0 for o in out):
        raise NnbError(f"Deconvolution: output size {out} is not positive")
    return out


def _deconv_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    if a["channel_last"]:
        raise NnbError("Deconvolution: channel_last is not supported")
    x, w = shapes[0], shapes[1]
    nsp = len(w) - 2
    batch, c, sp = _split_x(x, a["base_axis"], nsp)
    g = a["group"]
    if g <= 0 or w[0] != c or c % g:
        raise NnbError(f"Deconvolution: weight {w} does not fit {c} input channels in {g} groups")
    if len(shapes) > 2 and tuple(shapes[2]) != (w[1] * g,):
        raise NnbError(f"Deconvolution: bias {shapes[2]} for {w[1] * g} output channels")
    return [batch + (w[1] * g,) + _deconv_out(sp, w[2:], a)]


@register("Deconvolution", attrs=DECONV_ATTRS, infer=_deconv_infer, num_inputs=(2, 3),
          macs=lambda i, o, a: prod(i[0]) * prod(i[1][1:]))
def deconvolution(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """Transposed convolution: every input pixel scatters W-weighted taps into the output."""
    x, w = xs[0], xs[1]
    ba = norm_axis(a["base_axis"], x.ndim)
    nsp = w.ndim - 2
    batch, c, sp = x.shape[:ba], x.shape[ba], x.shape[ba + 1:]
    g, k = a["group"], w.shape[2:]
    og = w.shape[1]
    pad, stride, dil = _geom(nsp, a)
    n = prod(batch)
    xg = x.reshape(n, g, c // g, prod(sp)).transpose(1, 0, 3, 2)  # (G, N, HW, C/G)
    wg = w.reshape(g, 1, c // g, og * prod(k))  # (G, 1, C/G, O/G*K), broadcast over N
    cols = np.matmul(xg, wg).reshape((g, n) + sp + (og,) + k)  # (G, N, *sp, O/G, *k)
    full = tuple((sp[i] - 1) * stride[i] + dil[i] * (k[i] - 1) + 1 for i in range(nsp))
    out = _deconv_out(sp, k, a)
    ext = tuple(max(full[i], pad[i] + out[i]) for i in range(nsp))
    y = np.zeros((n, g, og) + ext, dtype=F32)
    cols = np.moveaxis(cols, 2 + nsp, 2)  # (G, N, O/G, *sp, *k)
    cols = np.moveaxis(cols, 0, 1)  # (N, G, O/G, *sp, *k)
    for tap in np.ndindex(*k):
        dst = (slice(None),) * 3 + tuple(
            slice(tap[i] * dil[i], tap[i] * dil[i] + (sp[i] - 1) * stride[i] + 1, stride[i]) for i in range(nsp))
        y[dst] += cols[(Ellipsis,) + tap]
    y = y[(slice(None),) * 3 + tuple(slice(pad[i], pad[i] + out[i]) for i in range(nsp))]
    y = y.reshape((n, g * og) + out)
    if len(xs) > 2:
        y = y + xs[2].reshape((1, -1) + (1,) * nsp)
    return [np.ascontiguousarray(y.reshape(batch + y.shape[1:]), dtype=F32)]
