"""Backward rules against central finite differences (float64, small shapes)."""

from __future__ import annotations

import numpy as np
import pytest
from train_helpers import DSCNN, LENET, gradcheck

from nnb.builder import GraphBuilder
from nnb.errors import NnbError
from nnb.executor import run
from nnb.ir import Graph
from nnb.nnp.reader import load
from nnb.train.autograd import Program
from nnb.train.loss import logits_name, softmax_cross_entropy

RNG = np.random.default_rng(1)


def _rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def _one(op: str, xshape: tuple[int, ...], params: list[np.ndarray] = (), batch: int = 2, **attrs) -> Graph:
    b = GraphBuilder(batch_size=batch)
    x = b.input("x", (-1,) + xshape)
    names = [b.param(f"p{i}", p) for i, p in enumerate(params)]
    b.output(b.op(op, [x] + names, **attrs))
    return b.build()


def _x(g: Graph) -> np.ndarray:
    return _rand(*g.tensors["x"].shape)


@pytest.mark.parametrize("attrs,wshape,bias", [
    (dict(pad=(1, 1), stride=(2, 2), dilation=(2, 1), group=2), (6, 2, 3, 3), True),
    (dict(), (3, 4, 1, 1), False),
    (dict(pad=(0, 2), stride=(1, 3)), (2, 4, 2, 3), True),
])
def test_convolution(attrs: dict, wshape: tuple[int, ...], bias: bool) -> None:
    ps = [_rand(*wshape)] + ([_rand(wshape[0])] if bias else [])
    g = _one("Convolution", (4, 7, 6), ps, **attrs)
    gradcheck(g, _x(g))


def test_convolution_1d() -> None:
    g = _one("Convolution", (3, 9), [_rand(4, 3, 3), _rand(4)], pad=(1,), stride=(2,))
    gradcheck(g, _x(g))


def test_depthwise_convolution() -> None:
    g = _one("DepthwiseConvolution", (3, 7, 7), [_rand(6, 3, 3), _rand(6)], pad=(1, 1), stride=(2, 2),
             multiplier=2)
    gradcheck(g, _x(g))


@pytest.mark.parametrize("bias", [True, False])
def test_affine(bias: bool) -> None:
    g = _one("Affine", (2, 3, 2), [_rand(12, 5)] + ([_rand(5)] if bias else []))
    gradcheck(g, _x(g))


@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization(training: bool) -> None:
    ps = [_rand(1, 3, 1, 1), _rand(1, 3, 1, 1), _rand(1, 3, 1, 1), np.abs(_rand(1, 3, 1, 1)) + 0.5]
    g = _one("BatchNormalization", (3, 4, 4), ps, batch=4, batch_stat=False)
    for t in g.params()[2:]:
        t.need_grad = False
    gradcheck(g, _x(g), training=training)


def test_batch_normalization_running_stats_like_nnabla() -> None:
    """nnabla moves the running mean by the batch mean and the running variance by the unbiased variance."""
    g = _one("BatchNormalization", (3, 2, 2), [np.zeros((1, 3, 1, 1)), np.ones((1, 3, 1, 1)),
                                             np.zeros((1, 3, 1, 1)), np.ones((1, 3, 1, 1))], batch=5)
    x = _x(g)
    params = {t.name: t.data for t in g.params()}
    Program(g).forward({"x": x}, params, training=True, update_stats=True)
    n = 5 * 4
    np.testing.assert_allclose(params["p2"].ravel(), 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(params["p3"].ravel(), 0.9 + 0.1 * x.var(axis=(0, 2, 3)) * n / (n - 1), rtol=1e-5)


@pytest.mark.parametrize("op,attrs", [
    ("MaxPooling", dict(kernel=(2, 2))),
    ("MaxPooling", dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1))),
    ("MaxPooling", dict(kernel=(3, 2), stride=(2, 2), ignore_border=False)),
    ("AveragePooling", dict(kernel=(2, 2))),
    ("AveragePooling", dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), including_pad=False)),
    ("AveragePooling", dict(kernel=(3, 2), stride=(2, 2), ignore_border=False)),
    ("GlobalAveragePooling", dict()),
])
def test_pooling(op: str, attrs: dict) -> None:
    g = _one(op, (2, 7, 6), **attrs)
    gradcheck(g, _x(g))


def test_pooling_matches_reference_forward() -> None:
    for attrs in (dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1)), dict(kernel=(3, 2), ignore_border=False)):
        for op in ("MaxPooling", "AveragePooling"):
            g = _one(op, (2, 7, 6), **attrs)
            x = _x(g).astype(np.float32)
            ref = run(g, {"x": x})[g.outputs[0]]
            got = Program(g).forward({"x": x}, {}, training=False).values[g.outputs[0]]
            np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("op,attrs", [("ReLU", {}), ("LeakyReLU", dict(alpha=0.2)), ("ReLU6", {}),
                                      ("Sigmoid", {}), ("Tanh", {}), ("Softmax", dict(axis=1)),
                                      ("Reshape", dict(shape=(2, 12))), ("MulScalar", dict(val=3.0))])
def test_unary(op: str, attrs: dict) -> None:
    g = _one(op, (3, 4), **attrs)
    x = _x(g) * 4  # ReLU6 needs values past 6 to test the upper clip
    gradcheck(g, x)


@pytest.mark.parametrize("op", ["Add2", "Sub2", "Mul2", "Div2"])
def test_binary_broadcast(op: str) -> None:
    b = GraphBuilder(batch_size=2)
    x = b.input("x", (-1, 3, 4))
    w = b.param("w", np.abs(_rand(1, 3, 1)) + 1)
    b.output(b.op(op, [x, w]))
    g = b.build()
    gradcheck(g, _x(g))


def test_softmax_cross_entropy_gradient() -> None:
    z = _rand(5, 4)
    y = np.array([0, 3, 1, 1, 2])
    _, g, _ = softmax_cross_entropy(z, y)
    eps = 1e-6
    for i, j in [(0, 0), (1, 3), (4, 1)]:
        zp, zm = z.copy(), z.copy()
        zp[i, j] += eps
        zm[i, j] -= eps
        num = (softmax_cross_entropy(zp, y)[0] - softmax_cross_entropy(zm, y)[0]) / (2 * eps)
        assert abs(num - g[i, j]) < 1e-6


def test_missing_rule_names_the_op() -> None:
    g = _one("Exp", (3,), [])
    b = GraphBuilder(batch_size=2)
    x = b.input("x", (-1, 3))
    h = b.op("Affine", [x, b.param("w", _rand(3, 3))])
    b.output(b.op("Exp", [h]))
    g = b.build()
    with pytest.raises(NnbError, match="'Exp'"):
        Program(g)


@pytest.mark.parametrize("path", [LENET, DSCNN])
def test_fixture_forward_matches_executor(path: str) -> None:
    g = load(path)
    x = np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32)
    ref = run(g, {"x": x})["y"]
    prog = Program(g, g.outputs[0])
    got = prog.forward({"x": x}, {t.name: t.data for t in g.params()}, training=False).values["y"]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    assert logits_name(g) != "y"
