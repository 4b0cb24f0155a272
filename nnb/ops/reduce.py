"""Reductions over axes: Sum, Mean, Max, Min, Prod."""

from __future__ import annotations

import numpy as np

from nnb.errors import NnbError
from nnb.ops.registry import Attr, Attrs, Shape, norm_axis, register

F32 = np.float32
_ATTRS = (Attr("axes", "ints", None), Attr("keep_dims", "bool", False))


def _axes(ndim: int, a: Attrs) -> tuple[int, ...]:
    axes = a["axes"]
    if not axes:  # nnabla's F.sum(x) writes every axis; an empty list means the same
        return tuple(range(ndim))
    return tuple(sorted({norm_axis(ax, ndim) for ax in axes}))


def _infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    s = shapes[0]
    axes = _axes(len(s), a)
    if a["keep_dims"]:
        return [tuple(1 if i in axes else d for i, d in enumerate(s))]
    return [tuple(d for i, d in enumerate(s) if i not in axes)]


_INDEX_ATTRS = (Attr("with_index", "bool", False), Attr("only_index", "bool", False))


def _reduce(name: str, fn, extra: tuple[Attr, ...] = ()):  # noqa: ANN001, ANN202
    @register(name, attrs=_ATTRS + extra, infer=_infer)
    def forward(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
        if a.get("with_index") or a.get("only_index"):
            raise NnbError(f"{name}: with_index/only_index are not supported")
        x = xs[0]
        return [np.asarray(fn(x, axis=_axes(x.ndim, a), keepdims=a["keep_dims"]), dtype=F32)]

    forward.__doc__ = f"nnabla {name} over ``axes`` (all when empty)"
    return forward


_reduce("Sum", np.sum)
_reduce("Mean", np.mean)
def _nan_skipping(ufunc, start: float):  # noqa: ANN001, ANN202
    """nnabla's Max/Min skip NaN; a slice of NaN only gives its start value (-1e8 / 1e8)."""
    def fn(x: np.ndarray, axis: tuple[int, ...], keepdims: bool) -> np.ndarray:
        y = np.asarray(ufunc.reduce(x, axis=axis, keepdims=keepdims) if x.size else np.full((), start))
        return np.where(np.isnan(y), F32(start), y)
    return fn


_reduce("Max", _nan_skipping(np.fmax, -1e8), _INDEX_ATTRS)
_reduce("Min", _nan_skipping(np.fmin, 1e8), _INDEX_ATTRS)
_reduce("Prod", np.prod)
