"""BatchNormalization (inference with running statistics, or batch statistics)."""

from __future__ import annotations

import numpy as np

from nnb.errors import NnbError
from nnb.ops.registry import Attr, Attrs, Shape, norm_axis, register

F32 = np.float32

BN_ATTRS = (Attr("axes", "ints", (1,)), Attr("decay_rate", "float", 0.9), Attr("eps", "float", 1e-5),
            Attr("batch_stat", "bool", True), Attr("no_scale", "bool", False), Attr("no_bias", "bool", False))


def bn_inputs(n_inputs: int, a: Attrs) -> dict[str, int]:
    """Map input names (beta, gamma, mean, variance) to input positions."""
    names = ["x"] + ([] if a["no_bias"] else ["beta"]) + ([] if a["no_scale"] else ["gamma"]) + ["mean", "variance"]
    if n_inputs != len(names):
        raise NnbError(f"BatchNormalization expects inputs {names}, got {n_inputs}")
    return {k: i for i, k in enumerate(names)}


def _bn_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    idx = bn_inputs(len(shapes), a)
    x = shapes[0]
    axes = [norm_axis(ax, len(x)) for ax in a["axes"] or (1,)]
    want = tuple(x[i] if i in axes else 1 for i in range(len(x)))
    for k, i in idx.items():
        if k != "x" and int(np.prod(shapes[i])) != int(np.prod(want)):
            raise NnbError(f"BatchNormalization: {k} has shape {shapes[i]}, expected {want}")
    return [x]


@register("BatchNormalization", attrs=BN_ATTRS, infer=_bn_infer, num_inputs=(3, 5))
def batch_normalization(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """(x - mean) / sqrt(var + eps) * gamma + beta; batch statistics when ``batch_stat``."""
    idx = bn_inputs(len(xs), a)
    x = xs[0]
    axes = [norm_axis(ax, x.ndim) for ax in a["axes"] or (1,)]
    shape = tuple(x.shape[i] if i in axes else 1 for i in range(x.ndim))
    if a["batch_stat"]:
        red = tuple(i for i in range(x.ndim) if i not in axes)
        mean = x.mean(axis=red, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=red, keepdims=True)
    else:
        mean = xs[idx["mean"]].reshape(shape)
        var = xs[idx["variance"]].reshape(shape)
    y = (x - mean) / np.sqrt(var + F32(a["eps"]))
    if "gamma" in idx:
        y = y * xs[idx["gamma"]].reshape(shape)
    if "beta" in idx:
        y = y + xs[idx["beta"]].reshape(shape)
    return [y.astype(F32, copy=False)]
