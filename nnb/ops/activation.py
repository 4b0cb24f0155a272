"""Activation functions (elementwise) and Softmax/LogSoftmax/PReLU."""

from __future__ import annotations

import numpy as np

from nnb.errors import NnbError
from nnb.ops.registry import Attr, Attrs, Shape, norm_axis, register, same_shape

F32 = np.float32


def _unary(name: str, fn, attrs: tuple[Attr, ...] = ()):  # noqa: ANN001, ANN202 - internal table helper
    @register(name, attrs=attrs, infer=same_shape, elementwise=True)
    def forward(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
        return [np.asarray(fn(xs[0], a), dtype=F32)]

    forward.__doc__ = f"nnabla {name}"
    return forward


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return F32(1) / (F32(1) + np.exp(-x))


_unary("ReLU", lambda x, a: np.where(x > 0, x, F32(0)), (Attr("inplace", "bool", False),))  # NaN -> 0 as nnabla
_unary("LeakyReLU", lambda x, a: np.where(x > 0, x, x * F32(a["alpha"])),
       (Attr("alpha", "float", 0.1), Attr("inplace", "bool", False)))
_unary("ReLU6", lambda x, a: np.minimum(np.maximum(x, F32(0)), F32(6)))
_unary("Sigmoid", lambda x, a: _sigmoid(x))
_unary("Swish", lambda x, a: x * _sigmoid(x))
_unary("Tanh", lambda x, a: np.tanh(x))
_unary("ELU", lambda x, a: np.where(x >= 0, x, F32(a["alpha"]) * np.expm1(x)), (Attr("alpha", "float", 1.0),))
_unary("SELU", lambda x, a: F32(a["scale"]) * np.where(x > 0, x, F32(a["alpha"]) * np.expm1(x)),
       (Attr("scale", "float", 1.05070098735548), Attr("alpha", "float", 1.673263242354377)))
_unary("HardSigmoid", lambda x, a: np.clip(x * F32(0.2) + F32(0.5), F32(0), F32(1)))
_unary("HardTanh", lambda x, a: np.clip(x, F32(-1), F32(1)))
_unary("Abs", lambda x, a: np.abs(x))
_unary("Exp", lambda x, a: np.exp(x))
_unary("Log", lambda x, a: np.log(x))
_unary("Sqrt", lambda x, a: np.sqrt(x))
_unary("Identity", lambda x, a: x)
_unary("SoftPlus", lambda x, a: np.logaddexp(F32(0), x * F32(a["beta"])) / F32(a["beta"]),
       (Attr("beta", "float", 1.0),))
_unary("Sign", lambda x, a: np.where(x > 0, F32(1), np.where(x < 0, F32(-1), F32(a["alpha"]))),
       (Attr("alpha", "float", 1.0),))


def _softmax_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    norm_axis(a["axis"] if a["axis"] is not None else -1, len(shapes[0]))
    return [shapes[0]]


def _axis(x: np.ndarray, a: Attrs) -> int:
    return norm_axis(a["axis"] if a["axis"] is not None else x.ndim - 1, x.ndim)


@register("Softmax", attrs=(Attr("axis", "int", None),), infer=_softmax_infer)
def softmax(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """exp(x - max) / sum over ``axis`` (default: the last axis)."""
    x = xs[0]
    ax = _axis(x, a)
    e = np.exp(x - x.max(axis=ax, keepdims=True))
    return [(e / e.sum(axis=ax, keepdims=True)).astype(F32)]


@register("LogSoftmax", attrs=(Attr("axis", "int", None),), infer=_softmax_infer)
def log_softmax(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """x - max - log(sum(exp(x - max))) over ``axis``."""
    x = xs[0]
    ax = _axis(x, a)
    z = x - x.max(axis=ax, keepdims=True)
    return [(z - np.log(np.exp(z).sum(axis=ax, keepdims=True))).astype(F32)]


def _prelu_slope(x: np.ndarray, w: np.ndarray, base_axis: int) -> np.ndarray:
    if w.size == 1:
        return w.reshape(())
    ba = norm_axis(base_axis, x.ndim)
    if x.shape[ba] != w.size:
        raise NnbError(f"PReLU: slope of {w.size} values for {x.shape[ba]} channels on axis {ba}")
    return w.reshape((-1,) + (1,) * (x.ndim - ba - 1))


def _prelu_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    x, w = shapes
    n = 1
    for d in w:
        n *= d
    if n != 1 and x[norm_axis(a["base_axis"], len(x))] != n:
        raise NnbError(f"PReLU: slope of {n} values for {x[norm_axis(a['base_axis'], len(x))]} channels")
    return [x]


@register("PReLU", attrs=(Attr("base_axis", "int", 1),), infer=_prelu_infer, num_inputs=(2, 2))
def prelu(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """x if x >= 0 else slope * x, slope shared (1 value) or per channel at ``base_axis``."""
    x, w = xs
    s = _prelu_slope(x, w, a["base_axis"])
    return [np.where(x >= 0, x, x * s).astype(F32)]
