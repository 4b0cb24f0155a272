"""ONNX layers -> IR: Conv, ConvTranspose, Gemm, MatMul, BatchNormalization, pooling, LRN.

ONNX pads are (begin..., end...); nnabla's are one width per spatial axis on
both sides, so unequal pads become an explicit Pad (zeros for convolution,
-inf for max pooling) before the layer, and a ConvTranspose crop a Slice.
"""

from __future__ import annotations

import math

import numpy as np

from nnb.onnx.context import Ctx, ONode
from nnb.onnx.ops_shape import slice_axis, to_shape


def _spatial_pads(ctx: Ctx, node: ONode, sp: tuple[int, ...], k: list[int], s: list[int],
                  d: list[int]) -> list[tuple[int, int]]:
    """(begin, end) per spatial axis from pads or auto_pad."""
    n = len(sp)
    auto = node.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        out = []
        for i in range(n):
            total = max((math.ceil(sp[i] / s[i]) - 1) * s[i] + (k[i] - 1) * d[i] + 1 - sp[i], 0)
            small = total // 2
            out.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
        return out
    if auto == "VALID":
        return [(0, 0)] * n
    if auto != "NOTSET":
        raise ctx.error(f"auto_pad '{auto}' is not supported")
    p = list(node.attr("pads", [0] * (2 * n)))
    return [(int(p[i]), int(p[i + n])) for i in range(n)]


def _explicit_pad(ctx: Ctx, x: str, pads: list[tuple[int, int]], value: float = 0.0) -> str:
    nd = len(ctx.shape(x))
    pw = (0, 0) * (nd - len(pads)) + tuple(v for p in pads for v in p)
    return ctx.emit("Pad", [x], None, pad_width=pw, mode="constant", constant_value=value)


def _conv(ctx: Ctx, node: ONode) -> None:
    x, w = node.input(0), node.input(1)
    ws = ctx.shape(w)
    sp = ctx.shape(x)[2:]
    n = len(ws) - 2
    k = list(node.attr("kernel_shape", ws[2:]))
    s = list(node.attr("strides", [1] * n))
    d = list(node.attr("dilations", [1] * n))
    pads = _spatial_pads(ctx, node, sp, k, s, d)
    if any(lo != hi for lo, hi in pads):
        x, pads = _explicit_pad(ctx, x, pads), [(0, 0)] * n
    ins = [x, w] + ([node.input(2)] if node.input(2) else [])
    ctx.emit("Convolution", ins, node.outputs[0], base_axis=1, pad=tuple(p for p, _ in pads), stride=tuple(s),
             dilation=tuple(d), group=int(node.attr("group", 1)))


def _conv_transpose(ctx: Ctx, node: ONode) -> None:
    x, w = node.input(0), node.input(1)
    ws, xs = ctx.shape(w), ctx.shape(x)
    n = len(ws) - 2
    sp = xs[2:]
    k = list(node.attr("kernel_shape", ws[2:]))
    s = list(node.attr("strides", [1] * n))
    d = list(node.attr("dilations", [1] * n))
    op = list(node.attr("output_padding", [0] * n))
    full = [s[i] * (sp[i] - 1) + op[i] + (k[i] - 1) * d[i] + 1 for i in range(n)]
    if node.attr("output_shape") is not None:
        want = list(node.attr("output_shape"))[-n:]
        pads = []
        for i in range(n):
            total = full[i] - want[i]
            small = total // 2
            # onnxruntime puts the larger half at the end only for SAME_UPPER
            pads.append((small, total - small) if node.attr("auto_pad", "NOTSET") == "SAME_UPPER" else
                        (total - small, small))
    elif node.attr("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for i in range(n):
            total = max(full[i] - sp[i] * s[i], 0)
            small = total // 2
            pads.append((small, total - small) if node.attr("auto_pad") == "SAME_UPPER" else (total - small, small))
    else:
        p = list(node.attr("pads", [0] * (2 * n)))
        pads = [(int(p[i]), int(p[i + n])) for i in range(n)]
    sym = all(lo == hi for lo, hi in pads)
    ins = [x, w] + ([node.input(2)] if node.input(2) else [])
    attrs = dict(base_axis=1, stride=tuple(s), dilation=tuple(d), group=int(node.attr("group", 1)))
    if sym and all(o < max(st, dd) for o, st, dd in zip(op, s, d)):
        ctx.emit("Deconvolution", ins, node.outputs[0], pad=tuple(lo for lo, _ in pads), output_padding=tuple(op),
                 **attrs)
        return
    y = ctx.emit("Deconvolution", ins, None, pad=(0,) * n, output_padding=(0,) * n, **attrs)
    ys = ctx.shape(y)
    for i, (lo, hi) in enumerate(pads):  # crop the begin/end pads; output padding beyond the full size is bias only
        out = full[i] - lo - hi
        if lo + out > ys[2 + i]:
            raise ctx.error("output padding beyond the computed output is not supported")
        y = slice_axis(ctx, y, 2 + i, lo, lo + out, 1, node.outputs[0] if i == n - 1 else None)


def _gemm(ctx: Ctx, node: ONode) -> None:
    a, b, c = node.input(0), node.input(1), node.input(2)
    alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
    ta, tb = bool(node.attr("transA", 0)), bool(node.attr("transB", 0))
    bv = ctx.const(b)
    out = node.outputs[0]
    if ta:
        a = ctx.emit("Transpose", [a], None, axes=(1, 0))
    if len(ctx.shape(a)) != 2:  # legacy exporters feed N-d inputs; Gemm flattens them
        sa = ctx.shape(a)
        a = to_shape(ctx, a, (sa[0], int(np.prod(sa[1:]))))
    cv = ctx.const(c) if c else None
    if bv is not None:
        wmat = (bv.T if tb else bv).astype(np.float64) * alpha
        m = wmat.shape[1]
        bias = cv is not None and cv.size == m and (cv.ndim < 2 or cv.shape[-1] == m)
        ins = [a, ctx.param(wmat, "W")] + ([ctx.param(cv.reshape(m).astype(np.float64) * beta, "b")] if bias else [])
        y = ctx.emit("Affine", ins, out if bias or not c else None, base_axis=1)
    else:
        y = ctx.emit("BatchMatmul", [a, b], None, transpose_b=tb)
        if alpha != 1.0:
            y = ctx.emit("MulScalar", [y], None, val=alpha)
        bias = False
        if not c:
            ctx.emit("Identity", [y], out)
    if c and not bias:
        cc = ctx.param(cv.astype(np.float64) * beta, "C") if cv is not None else c
        if cv is None and beta != 1.0:
            cc = ctx.emit("MulScalar", [c], None, val=beta)
        ctx.emit("Add2", [y, cc], out)


def _matmul(ctx: Ctx, node: ONode) -> None:
    a, b = node.input(0), node.input(1)
    bv, sa = ctx.const(b), ctx.shape(a)
    if bv is not None and bv.ndim == 2 and len(sa) >= 2:
        ctx.emit("Affine", [a, b], node.outputs[0], base_axis=len(sa) - 1)
        return
    sb = ctx.shape(b)
    if len(sa) == 1 or len(sb) == 1:
        a2 = to_shape(ctx, a, (1,) + sa) if len(sa) == 1 else a
        b2 = to_shape(ctx, b, sb + (1,)) if len(sb) == 1 else b
        y = ctx.emit("BatchMatmul", [a2, b2], None)
        ys = ctx.shape(y)
        keep = ys[:-2] + (() if len(sa) == 1 else (ys[-2],)) + (() if len(sb) == 1 else (ys[-1],))
        to_shape(ctx, y, keep, node.outputs[0])
        return
    ctx.emit("BatchMatmul", [a, b], node.outputs[0])


def _batch_norm(ctx: Ctx, node: ONode) -> None:
    if ctx.opset < 9 and int(node.attr("spatial", 1)) != 1:
        raise ctx.error("spatial=0 (per-element statistics) is not supported")
    if int(node.attr("training_mode", 0)) or (len([o for o in node.outputs if o]) > 1
                                               and any(o in ctx.used for o in node.outputs[1:])):
        raise ctx.error("training-mode outputs (running statistics) are not supported")
    x = node.input(0)
    xs = ctx.shape(x)
    pshape = (1, xs[1]) + (1,) * (len(xs) - 2)
    scale, bias, mean, var = (to_shape(ctx, node.input(i), pshape) for i in (1, 2, 3, 4))
    ctx.emit("BatchNormalization", [x, bias, scale, mean, var], node.outputs[0], axes=(1,),
             eps=float(node.attr("epsilon", 1e-5)), batch_stat=False,
             decay_rate=float(node.attr("momentum", 0.9)))


def _pool_geometry(ctx: Ctx, node: ONode) -> tuple[list[int], list[int], list[tuple[int, int]], list[int]]:
    """kernel, stride, (begin, end) pads with ceil_mode's extra end rows, and output sizes."""
    sp = ctx.shape(node.input(0))[2:]
    k = [int(v) for v in node.attr("kernel_shape")]
    n = len(k)
    s = [int(v) for v in node.attr("strides", [1] * n)]
    if any(int(v) != 1 for v in node.attr("dilations", [1] * n)):
        raise ctx.error("dilated pooling is not supported")
    pads = _spatial_pads(ctx, node, sp, k, s, [1] * n)
    ceil = bool(node.attr("ceil_mode", 0))
    out = []
    for i in range(n):
        span = sp[i] + pads[i][0] + pads[i][1] - k[i]
        o = (-(-span // s[i]) if ceil else span // s[i]) + 1
        if ceil and (o - 1) * s[i] >= sp[i] + pads[i][0]:
            o -= 1
        out.append(o)
    return k, s, pads, out


def _max_pool(ctx: Ctx, node: ONode) -> None:
    if len(node.outputs) > 1 and node.outputs[1] in ctx.used:
        raise ctx.error("the Indices output is not supported")
    k, s, pads, out = _pool_geometry(ctx, node)
    x = node.input(0)
    sp = ctx.shape(x)[2:]
    ends = [max((o - 1) * st + kk - (n + lo), hi) for o, st, kk, n, (lo, hi) in zip(out, s, k, sp, pads)]
    pads = [(lo, e) for (lo, _), e in zip(pads, ends)]
    if any(lo != hi for lo, hi in pads):
        x, pads = _explicit_pad(ctx, x, pads, -np.inf), [(0, 0)] * len(k)
    ctx.emit("MaxPooling", [x], node.outputs[0], kernel=tuple(k), stride=tuple(s), ignore_border=True,
             pad=tuple(lo for lo, _ in pads))


def _avg_counts(sp: list[int], k: list[int], s: list[int], pads: list[tuple[int, int]], out: list[int],
                include: bool) -> np.ndarray:
    """How many values each output window averages (onnxruntime's rule), as an (1, 1, *out) array."""
    per_axis = []
    for n, kk, st, (lo, hi), o in zip(sp, k, s, pads, out):
        c = []
        for j in range(o):
            b = j * st - lo
            e = min(b + kk, n + hi)
            c.append(e - b if include else min(e, n) - max(b, 0))
        per_axis.append(np.array(c, dtype=np.float64))
    counts = per_axis[0]
    for c in per_axis[1:]:
        counts = np.multiply.outer(counts, c)
    return counts.reshape((1, 1) + tuple(out))


def _avg_pool(ctx: Ctx, node: ONode) -> None:
    k, s, pads, out = _pool_geometry(ctx, node)
    include = bool(node.attr("count_include_pad", 0))
    x = node.input(0)
    sp = list(ctx.shape(x)[2:])
    ends = [max((o - 1) * st + kk - (n + lo), 0) for o, st, kk, n, (lo, _) in zip(out, s, k, sp, pads)]
    if all(lo == hi and e <= hi for (lo, hi), e in zip(pads, ends)):
        ctx.emit("AveragePooling", [x], node.outputs[0], kernel=tuple(k), stride=tuple(s), ignore_border=True,
                 pad=tuple(lo for lo, _ in pads), including_pad=include)
        return
    # unequal pads or ceil_mode windows past the padding: sum over zero padding, divide by the counts
    counts = _avg_counts(sp, k, s, pads, out, include)
    xp = _explicit_pad(ctx, x, [(lo, e) for (lo, _), e in zip(pads, ends)])
    y = ctx.emit("SumPooling", [xp], None, kernel=tuple(k), stride=tuple(s), ignore_border=True, pad=(0,) * len(k))
    ctx.emit("Mul2", [y, ctx.param(1.0 / counts, "inv_count")], node.outputs[0])


def _global_pool(ctx: Ctx, node: ONode) -> None:
    s = ctx.shape(node.input(0))
    if node.op == "GlobalAveragePool" and len(s) == 4:
        ctx.emit("GlobalAveragePooling", [node.input(0)], node.outputs[0])
        return
    op = "Mean" if node.op == "GlobalAveragePool" else "Max"
    ctx.emit(op, [node.input(0)], node.outputs[0], axes=tuple(range(2, len(s))), keep_dims=True)


def _lrn(ctx: Ctx, node: ONode) -> None:
    """x / (bias + alpha / size * sum of x^2 over a window of channels) ^ beta.

    The window sum is a 1x1 convolution with a banded 0/1 weight (channel o sums
    channels o - floor((size-1)/2) .. o + ceil((size-1)/2)), scaled by alpha/size.
    """
    x = node.input(0)
    xs = ctx.shape(x)
    c, size = xs[1], int(node.attr("size"))
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    band = np.array([[1.0 if o - lo <= i <= o + hi else 0.0 for i in range(c)] for o in range(c)])
    w = band * (float(node.attr("alpha", 1e-4)) / size)
    sq = ctx.emit("Mul2", [x, x], None)
    sm = ctx.emit("Convolution", [sq, ctx.param(w.reshape((c, c) + (1,) * (len(xs) - 2)), "window")], None,
                  base_axis=1)
    sm = ctx.emit("AddScalar", [sm], None, val=float(node.attr("bias", 1.0)))
    sm = ctx.emit("PowScalar", [sm], None, val=-float(node.attr("beta", 0.75)))
    ctx.emit("Mul2", [x, sm], node.outputs[0])


CONVERTERS = {
    "Conv": _conv, "ConvTranspose": _conv_transpose, "Gemm": _gemm, "MatMul": _matmul,
    "BatchNormalization": _batch_norm, "MaxPool": _max_pool, "AveragePool": _avg_pool,
    "GlobalAveragePool": _global_pool, "GlobalMaxPool": _global_pool, "LRN": _lrn,
}
