from __future__ import annotations

from canon_helpers import builder, check, ops, rand

from nnb.passes.canon_flatten import absorb_flatten


def test_flatten_before_affine_absorbed() -> None:
    b = builder()
    x = b.input("x", (2, 3, 2, 2))
    f = b.op("Reshape", [b.op("ReLU", [x])], shape=(2, 12))
    b.output(b.op("Affine", [f, b.param("w", rand(12, 5)), b.param("b", rand(5))]))
    g = check(b.build(), absorb_flatten, [rand(2, 3, 2, 2)], fired=1)
    assert ops(g) == ["ReLU", "Affine"] and g.nodes[1].attrs["base_axis"] == 1


def test_reshape_that_reorders_batch_kept() -> None:
    b = builder()
    x = b.input("x", (2, 3, 4))
    f = b.op("Reshape", [x], shape=(6, 4))  # batch becomes 6 rows: base_axis 2 of x gives (2, 3, 5), not (6, 5)
    b.output(b.op("Affine", [f, b.param("w", rand(4, 5))]))
    g = check(b.build(), absorb_flatten, [rand(2, 3, 4)], fired=0)
    assert ops(g) == ["Reshape", "Affine"]
