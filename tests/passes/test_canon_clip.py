from __future__ import annotations

import pytest
from canon_helpers import builder, check, ops, rand

from nnb.passes.canon_clip import canon_clip


def _clip(first: str, v1: float, second: str | None, v2: float = 0.0):  # noqa: ANN202
    b = builder()
    x = b.input("x", (2, 3, 5))
    y = b.op(first, [b.op("MulScalar", [x], val=5.0)], val=v1)
    if second:
        y = b.op(second, [y], val=v2)
    b.output(b.op("Identity", [y]))
    return b.build()


@pytest.mark.parametrize("first,v1,second,v2,op", [
    ("MinimumScalar", 6.0, "MaximumScalar", 0.0, "ReLU6"),
    ("MaximumScalar", 0.0, "MinimumScalar", 6.0, "ReLU6"),
    ("MinimumScalar", 1.0, "MaximumScalar", -1.0, "HardTanh"),
    ("MaximumScalar", 0.0, None, 0.0, "ReLU"),
])
def test_clip_becomes_activation(first: str, v1: float, second: str | None, v2: float, op: str) -> None:
    g = check(_clip(first, v1, second, v2), canon_clip, [rand(2, 3, 5)], fired=1)
    assert ops(g) == ["MulScalar", op, "Identity"]


def test_other_range_kept() -> None:
    g = check(_clip("MinimumScalar", 3.0, "MaximumScalar", 0.5), canon_clip, [rand(2, 3, 5)], fired=0)
    assert "MinimumScalar" in ops(g) and "MaximumScalar" in ops(g)


def test_min_read_twice_not_merged() -> None:
    b = builder()
    x = b.input("x", (4,))
    m = b.op("MinimumScalar", [x], val=6.0)
    b.output(b.op("MaximumScalar", [m], val=0.0))
    b.output(m)
    g = check(b.build(), canon_clip, [rand(4) * 8], fired=1)  # the lone MaximumScalar(0) -> ReLU
    assert ops(g) == ["MinimumScalar", "ReLU"]
