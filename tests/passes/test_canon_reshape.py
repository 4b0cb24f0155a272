from __future__ import annotations

from canon_helpers import builder, check, ops, rand

from nnb.passes.canon_reshape import collapse_reshapes


def test_chain_becomes_one_reshape() -> None:
    b = builder()
    x = b.input("x", (2, 3, 4))
    y = b.op("Reshape", [b.op("Reshape", [b.op("Reshape", [x], shape=(6, 4))], shape=(24,))], shape=(4, 6))
    b.output(b.op("ReLU", [y]))
    g = check(b.build(), collapse_reshapes, [rand(2, 3, 4)], fired=2)
    assert ops(g) == ["Reshape", "ReLU"]


def test_identity_reshape_removed_output_name_kept() -> None:
    b = builder()
    x = b.input("x", (2, 5))
    r = b.op("Reshape", [b.op("Tanh", [x])], shape=(2, 5))
    b.output(b.op("Reshape", [b.op("Sigmoid", [r])], shape=(2, 5), name="last"))
    g0 = b.build()
    g = check(g0, collapse_reshapes, [rand(2, 5)], fired=2)
    assert ops(g) == ["Tanh", "Sigmoid"] and g.nodes[-1].outputs == g0.outputs


def test_shared_intermediate_kept() -> None:
    b = builder()
    x = b.input("x", (2, 6))
    r = b.op("Reshape", [x], shape=(3, 4))
    b.output(b.op("Reshape", [r], shape=(12,)))
    b.output(b.op("ReLU", [r]))
    g = check(b.build(), collapse_reshapes, [rand(2, 6)], fired=0)
    assert ops(g) == ["Reshape", "Reshape", "ReLU"]
