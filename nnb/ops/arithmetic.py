"""Two-input arithmetic with numpy broadcasting, and the scalar arithmetic."""

from __future__ import annotations

import numpy as np

from nnb.ops.registry import Attr, Attrs, broadcast_shape, register, same_shape

F32 = np.float32
_INPLACE = Attr("inplace", "bool", False)


def _binary(name: str, fn, attrs: tuple[Attr, ...] = ()):  # noqa: ANN001, ANN202
    @register(name, attrs=attrs, infer=broadcast_shape, num_inputs=(2, 2), elementwise=True)
    def forward(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
        return [np.asarray(fn(xs[0], xs[1]), dtype=F32)]

    forward.__doc__ = f"nnabla {name} (numpy broadcasting)"
    return forward


_binary("Add2", np.add, (_INPLACE,))
_binary("BcAdd2", np.add, (_INPLACE,))
_binary("Sub2", np.subtract, (_INPLACE,))
_binary("Mul2", np.multiply, (_INPLACE,))
_binary("Div2", np.divide, (_INPLACE,))
_binary("Pow2", np.power, (_INPLACE,))
# nnabla's comparisons: x0 > x1 ? x0 : x1, so a NaN in x0 gives x1 and a NaN in x1 gives NaN
_binary("Maximum2", lambda x, y: np.where(x > y, x, y))
_binary("Minimum2", lambda x, y: np.where(x < y, x, y))


def _scalar(name: str, fn, inplace: bool = False, default: float = 1.0):  # noqa: ANN001, ANN202
    attrs = (Attr("val", "float", default),) + ((_INPLACE,) if inplace else ())

    @register(name, attrs=attrs, infer=same_shape, elementwise=True)
    def forward(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
        return [np.asarray(fn(xs[0], F32(a["val"])), dtype=F32)]

    forward.__doc__ = f"nnabla {name} (val cast to float32 as nnabla does)"
    return forward


_scalar("AddScalar", np.add, inplace=True)
_scalar("MulScalar", np.multiply, inplace=True)
_scalar("PowScalar", np.power, inplace=True)
_scalar("RSubScalar", lambda x, v: v - x)
_scalar("RDivScalar", lambda x, v: v / x)
_scalar("RPowScalar", lambda x, v: np.power(v, x))
_scalar("MaximumScalar", lambda x, v: np.where(x > v, x, v))  # NaN -> val, as nnabla
_scalar("MinimumScalar", lambda x, v: np.where(x < v, x, v))
