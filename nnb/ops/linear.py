"""Affine (fully connected, any base_axis, multi-dim outputs) and BatchMatmul."""

from __future__ import annotations

import numpy as np

from nnb.errors import NnbError
from nnb.ops.registry import Attr, Attrs, Shape, norm_axis, prod, register

F32 = np.float32


def _affine_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    x, w = shapes[0], shapes[1]
    ba = norm_axis(a["base_axis"], len(x))
    if prod(x[ba:]) != w[0]:
        raise NnbError(f"Affine: input {x} has {prod(x[ba:])} features after base_axis {ba}, weight {w} wants {w[0]}")
    if len(shapes) > 2 and prod(shapes[2]) != prod(w[1:]):
        raise NnbError(f"Affine: bias {shapes[2]} does not match weight {w}")
    return [tuple(x[:ba]) + tuple(w[1:])]


@register("Affine", attrs=(Attr("base_axis", "int", 1),), infer=_affine_infer, num_inputs=(2, 3),
          macs=lambda i, o, a: prod(o[0]) * i[1][0])
def affine(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """y = x.reshape(batch, in) @ W.reshape(in, out) + b, reshaped to batch + W.shape[1:]."""
    x, w = xs[0], xs[1]
    ba = norm_axis(a["base_axis"], x.ndim)
    batch = x.shape[:ba]
    y = x.reshape(prod(batch), -1) @ w.reshape(w.shape[0], -1)
    if len(xs) > 2:
        y += xs[2].reshape(1, -1)
    return [y.reshape(batch + w.shape[1:]).astype(F32, copy=False)]


def _bmm_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    sa, sb = shapes
    if len(sa) < 2 or len(sb) < 2:
        raise NnbError(f"BatchMatmul: inputs must be at least 2-d, got {sa} and {sb}")
    m, ka = (sa[-1], sa[-2]) if a["transpose_a"] else (sa[-2], sa[-1])
    kb, n = (sb[-1], sb[-2]) if a["transpose_b"] else (sb[-2], sb[-1])
    if ka != kb:
        raise NnbError(f"BatchMatmul: inner sizes differ ({sa} x {sb})")
    try:
        batch = tuple(np.broadcast_shapes(sa[:-2], sb[:-2]))
    except ValueError:
        raise NnbError(f"BatchMatmul: batch shapes {sa[:-2]} and {sb[:-2]} do not match") from None
    return [batch + (m, n)]


@register("BatchMatmul", attrs=(Attr("transpose_a", "bool", False), Attr("transpose_b", "bool", False)),
          infer=_bmm_infer, num_inputs=(2, 2), macs=lambda i, o, a: prod(o[0]) * (i[0][-2] if a["transpose_a"]
                                                                                  else i[0][-1]))
def batch_matmul(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """Matrix product over the last two axes, optionally transposing either side."""
    x, y = xs
    if a["transpose_a"]:
        x = np.swapaxes(x, -1, -2)
    if a["transpose_b"]:
        y = np.swapaxes(y, -1, -2)
    return [np.matmul(x, y).astype(F32, copy=False)]
