from __future__ import annotations

import pytest
from canon_helpers import builder, check, ops, rand

from nnb.passes.canon_affine import canon_affine


@pytest.mark.parametrize("x_shape,transpose_b,bias", [
    ((2, 6), False, (1, 4)),     # MatMul + Add: W (1, K, M)
    ((1, 6, 1, 1), True, (4,)),  # Gemm(transB) after global pooling
    ((3, 6), True, None),        # MatMul without bias
])
def test_matmul_pattern_becomes_affine(x_shape: tuple[int, ...], transpose_b: bool, bias: tuple | None) -> None:
    b = builder()
    x = b.input("x", x_shape)
    p = x_shape[0]
    a = b.op("Reshape", [x], shape=(1, p, 6))
    w = b.param("w", rand(1, 4, 6) if transpose_b else rand(1, 6, 4))
    y = b.op("Reshape", [b.op("BatchMatmul", [a, w], transpose_b=transpose_b)], shape=(p, 4))
    if bias:
        y = b.op("Add2", [y, b.param("b", rand(*bias))])
    b.output(y)
    g = check(b.build(), canon_affine, [rand(*x_shape)], fired=1)
    assert ops(g) == ["Affine"] and len(g.nodes[0].inputs) == (3 if bias else 2)


def test_runtime_weight_kept() -> None:
    b = builder()
    x, w = b.input("x", (2, 6)), b.input("w", (1, 6, 4))
    b.output(b.op("Reshape", [b.op("BatchMatmul", [b.op("Reshape", [x], shape=(1, 2, 6)), w])], shape=(2, 4)))
    g = check(b.build(), canon_affine, [rand(2, 6), rand(1, 6, 4)], fired=0)
    assert "Affine" not in ops(g)
