from __future__ import annotations

import pytest
from canon_helpers import builder, check, ops, rand

from nnb.passes.canon_scale import fold_scale


@pytest.mark.parametrize("op,operand", [
    ("MulScalar", 0.5), ("AddScalar", -1.25), ("Mul2", (1, 4, 1, 1)), ("Add2", (4, 1, 1)), ("Mul2", (1,)),
])
@pytest.mark.parametrize("layer", ["Convolution", "DepthwiseConvolution"])
def test_conv_scale_folded(layer: str, op: str, operand: float | tuple) -> None:
    b = builder()
    x = b.input("x", (1, 4, 6, 6))
    if layer == "Convolution":
        y = b.op(layer, [x, b.param("w", rand(4, 4, 3, 3))], pad=(1, 1))  # no bias: AddScalar makes one
    else:
        y = b.op(layer, [x, b.param("w", rand(4, 3, 3)), b.param("b", rand(4))], pad=(1, 1))
    if isinstance(operand, float):
        y = b.op(op, [y], val=operand)
    else:
        y = b.op(op, [y, b.param("s", rand(*operand))])
    b.output(y)
    g = check(b.build(), fold_scale, [rand(1, 4, 6, 6)], fired=1)
    assert ops(g) == [layer]


def test_affine_per_feature_shift_folded() -> None:
    b = builder()
    x = b.input("x", (2, 5))
    y = b.op("Affine", [x, b.param("w", rand(5, 3)), b.param("b", rand(3))])
    b.output(b.op("Mul2", [b.param("s", rand(1, 3)), y]))
    g = check(b.build(), fold_scale, [rand(2, 5)], fired=1)
    assert ops(g) == ["Affine"]


def test_spatial_operand_kept() -> None:
    b = builder()
    x = b.input("x", (1, 2, 4, 4))
    y = b.op("Convolution", [x, b.param("w", rand(2, 2, 1, 1))])
    b.output(b.op("Mul2", [y, b.param("s", rand(1, 1, 4, 4))]))
    g = check(b.build(), fold_scale, [rand(1, 2, 4, 4)], fired=0)
    assert ops(g) == ["Convolution", "Mul2"]
