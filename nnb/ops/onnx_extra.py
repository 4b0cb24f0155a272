"""nnabla functions the ONNX reader needs that no other op module registers."""

from __future__ import annotations

import numpy as np

from nnb.ops.registry import Attrs, register, same_shape

F32 = np.float32


@register("SoftSign", infer=same_shape, elementwise=True)
def soft_sign(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """x / (1 + |x|)"""
    x = xs[0]
    return [(x / (F32(1) + np.abs(x))).astype(F32, copy=False)]
