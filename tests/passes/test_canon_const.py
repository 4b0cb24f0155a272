from __future__ import annotations

from canon_helpers import builder, check, ops, rand

from nnb.passes.canon_const import fold_constants


def test_reshaped_parameter_becomes_a_parameter() -> None:
    b = builder()
    x = b.input("x", (2, 6))
    w = b.op("Reshape", [b.param("w", rand(12))], shape=(2, 6))
    w2 = b.op("MulScalar", [w], val=2.0)
    b.output(b.op("Add2", [x, w2]))
    g = check(b.build(), fold_constants, [rand(2, 6)], fired=2)
    assert ops(g) == ["Add2"]
    assert g.tensors[g.nodes[0].inputs[1]].kind == "param"


def test_computed_values_and_outputs_stay() -> None:
    b = builder()
    x = b.input("x", (3,))
    c = b.op("Exp", [b.param("c", rand(3))])
    b.output(c)  # a network output is kept as a function
    b.output(b.op("Mul2", [x, c]))
    g = check(b.build(), fold_constants, [rand(3)], fired=0)
    assert ops(g) == ["Exp", "Mul2"]
