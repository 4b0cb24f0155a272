from __future__ import annotations

import pytest
from canon_helpers import builder, check, ops, rand

from nnb.passes.canon_softmax import canon_softmax


def _spelled_softmax(shape: tuple[int, ...], axis: int, leak: bool = False):  # noqa: ANN202
    b = builder()
    x = b.input("x", shape)
    m = b.op("Max", [x], axes=(axis,), keep_dims=True)
    e = b.op("Exp", [b.op("Sub2", [x, m])])
    b.output(b.op("Div2", [e, b.op("Sum", [e], axes=(axis,), keep_dims=True)]))
    if leak:
        b.output(e)
    return b.build()


@pytest.mark.parametrize("shape,axis", [((2, 10), 1), ((2, 3, 4), 1), ((2, 3, 4), -1)])
def test_spelled_softmax_becomes_softmax(shape: tuple[int, ...], axis: int) -> None:
    g = check(_spelled_softmax(shape, axis), canon_softmax, [rand(*shape) * 4], fired=1)
    assert ops(g) == ["Softmax"] and g.nodes[0].attrs["axis"] == axis % len(shape)


def test_intermediate_read_elsewhere_kept() -> None:
    g = check(_spelled_softmax((2, 10), 1, leak=True), canon_softmax, [rand(2, 10)], fired=0)
    assert "Softmax" not in ops(g)
