"""Op references against naive loop implementations, for the cases the zoo does not cover."""

from __future__ import annotations

import itertools
import os
import zipfile

import numpy as np
import pytest
from conftest import ZOO, assert_close_to_nnabla, zoo_outputs

from nnb.errors import NnbError
from nnb.executor import run
from nnb.nnp.reader import load
from nnb.ops import all_ops, get_op

RNG = np.random.default_rng(0)


def call(op: str, inputs: list[np.ndarray], **attrs) -> list[np.ndarray]:
    d = get_op(op)
    a = d.normalize(attrs)
    outs = d.forward([x.astype(np.float32) for x in inputs], a)
    assert [tuple(o.shape) for o in outs] == d.infer([x.shape for x in inputs], a)
    return outs


def naive_conv2d(x, w, b, pad, stride, dil, group):  # noqa: ANN001, ANN201
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, o, oh, ow))
    og = o // group
    for ni, oc, i, j in itertools.product(range(n), range(o), range(oh), range(ow)):
        g = oc // og
        s = 0.0
        for ic, p, q in itertools.product(range(cg), range(kh), range(kw)):
            hi, wi = i * stride[0] - pad[0] + p * dil[0], j * stride[1] - pad[1] + q * dil[1]
            if 0 <= hi < h and 0 <= wi < wd:
                s += x[ni, g * cg + ic, hi, wi] * w[oc, ic, p, q]
        y[ni, oc, i, j] = s + (b[oc] if b is not None else 0)
    return y


@pytest.mark.parametrize("pad,stride,dil,group", [((0, 0), (1, 1), (1, 1), 1), ((1, 2), (2, 1), (1, 1), 2),
                                                  ((2, 1), (1, 2), (2, 1), 4), ((0, 1), (3, 2), (1, 2), 1)])
def test_convolution_vs_loops(pad, stride, dil, group) -> None:  # noqa: ANN001
    x = RNG.standard_normal((2, 4, 9, 8))
    w = RNG.standard_normal((8, 4 // group, 3, 2))
    b = RNG.standard_normal(8)
    (y,) = call("Convolution", [x, w, b], pad=pad, stride=stride, dilation=dil, group=group)
    np.testing.assert_allclose(y, naive_conv2d(x, w, b, pad, stride, dil, group), rtol=1e-4, atol=1e-4)


def test_convolution_channel_last_and_base_axis() -> None:
    x = RNG.standard_normal((2, 3, 4, 7, 6))  # two batch axes
    w = RNG.standard_normal((5, 4, 3, 3))
    (y,) = call("Convolution", [x, w], base_axis=2, pad=(1, 1))
    ref = naive_conv2d(x.reshape(6, 4, 7, 6), w, None, (1, 1), (1, 1), (1, 1), 1).reshape(2, 3, 5, 7, 6)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    xl = np.moveaxis(x, 2, -1)
    (yl,) = call("Convolution", [xl, np.moveaxis(w, 1, -1)], base_axis=2, pad=(1, 1), channel_last=True)
    np.testing.assert_allclose(np.moveaxis(yl, -1, 2), ref, rtol=1e-4, atol=1e-4)


def test_convolution_1d() -> None:
    x, w = RNG.standard_normal((2, 3, 11)), RNG.standard_normal((4, 3, 3))
    (y,) = call("Convolution", [x, w], pad=(1,), stride=(2,))
    ref = naive_conv2d(x[..., None], w[..., None], None, (1, 0), (2, 1), (1, 1), 1)[..., 0]
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


def test_depthwise_multiplier_channel_order() -> None:
    x, w = RNG.standard_normal((1, 3, 6, 6)), RNG.standard_normal((6, 3, 3))
    (y,) = call("DepthwiseConvolution", [x, w], pad=(1, 1), multiplier=2)
    ref = naive_conv2d(x, w[:, None], None, (1, 1), (1, 1), (1, 1), 3)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("pad,stride,dil,group,opad", [((0, 0), (1, 1), (1, 1), 1, (0, 0)),
                                                       ((1, 0), (2, 3), (1, 2), 2, (1, 2))])
def test_deconvolution_vs_scatter_loops(pad, stride, dil, group, opad) -> None:  # noqa: ANN001
    x = RNG.standard_normal((2, 4, 5, 4))
    w = RNG.standard_normal((4, 3, 3, 2))  # (Cin, Cout/G, kh, kw)
    b = RNG.standard_normal(3 * group)
    (y,) = call("Deconvolution", [x, w, b], pad=pad, stride=stride, dilation=dil, group=group, output_padding=opad)
    n, c, h, wd = x.shape
    cg, og = c // group, w.shape[1]
    full = np.zeros((n, og * group, (h - 1) * stride[0] + dil[0] * 2 + 1 + opad[0],
                     (wd - 1) * stride[1] + dil[1] * 1 + 1 + opad[1]))
    for ni, ic, i, j, oc, p, q in itertools.product(range(n), range(c), range(h), range(wd), range(og),
                                                    range(3), range(2)):
        g = ic // cg
        oi, oj = i * stride[0] + p * dil[0], j * stride[1] + q * dil[1]
        full[ni, g * og + oc, oi, oj] += x[ni, ic, i, j] * w[ic, oc, p, q]
    ref = full[:, :, pad[0]:pad[0] + y.shape[2], pad[1]:pad[1] + y.shape[3]] + b[None, :, None, None]
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


def naive_pool(x, k, s, p, ib, mode, including_pad=True):  # noqa: ANN001, ANN201
    h, w = x.shape[-2:]
    oh = (h + p[0] - (k[0] - p[0] if ib else 1)) // s[0] + 1
    ow = (w + p[1] - (k[1] - p[1] if ib else 1)) // s[1] + 1
    y = np.zeros(x.shape[:-2] + (oh, ow))
    for i, j in itertools.product(range(oh), range(ow)):
        h0, w0 = i * s[0] - p[0], j * s[1] - p[1]
        h1, w1 = min(h0 + k[0], h + p[0]), min(w0 + k[1], w + p[1])
        area = (h1 - h0) * (w1 - w0)
        hc0, wc0, hc1, wc1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
        win = x[..., hc0:hc1, wc0:wc1]
        if mode == "max":
            y[..., i, j] = win.max(axis=(-1, -2))
        elif mode == "sum":
            y[..., i, j] = win.sum(axis=(-1, -2))
        else:
            y[..., i, j] = win.sum(axis=(-1, -2)) / (area if including_pad else (hc1 - hc0) * (wc1 - wc0))
    return y


POOL_CASES = [((3, 3), (2, 2), (0, 0), True), ((3, 3), (2, 2), (0, 0), False), ((2, 3), (2, 1), (1, 1), True),
              ((3, 2), (2, 3), (1, 1), False), ((2, 2), (1, 1), (1, 0), False)]


@pytest.mark.parametrize("k,s,p,ib", POOL_CASES)
@pytest.mark.parametrize("mode", ["max", "sum", "avg_incl", "avg_excl"])
def test_pooling_vs_loops(k, s, p, ib, mode) -> None:  # noqa: ANN001
    x = RNG.standard_normal((2, 3, 9, 8))
    args = dict(kernel=k, stride=s, pad=p, ignore_border=ib)
    if mode == "max":
        (y,) = call("MaxPooling", [x], **args)
    elif mode == "sum":
        (y,) = call("SumPooling", [x], **args)
    else:
        (y,) = call("AveragePooling", [x], including_pad=mode == "avg_incl", **args)
    ref = naive_pool(x, k, s, p, ib, mode.split("_")[0], mode != "avg_excl")
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_pooling_channel_last() -> None:
    x = RNG.standard_normal((2, 3, 9, 8))
    (y,) = call("MaxPooling", [np.moveaxis(x, 1, -1)], kernel=(2, 2), channel_last=True)
    np.testing.assert_allclose(np.moveaxis(y, -1, 1), naive_pool(x, (2, 2), (2, 2), (0, 0), True, "max"), rtol=1e-6)


def test_unpooling_and_gap() -> None:
    x = RNG.standard_normal((1, 2, 3, 4))
    (u,) = call("Unpooling", [x], kernel=(2, 3))
    assert u.shape == (1, 2, 6, 12) and u[0, 1, 5, 11] == np.float32(x[0, 1, 2, 3])
    (g,) = call("GlobalAveragePooling", [x])
    np.testing.assert_allclose(g[..., 0, 0], x.mean(axis=(2, 3)), rtol=1e-6)


def test_softmax_default_axis_and_batchnorm_batch_stat() -> None:
    x = RNG.standard_normal((3, 5))
    (y,) = call("Softmax", [x])
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-6)
    xb = RNG.standard_normal((4, 3, 2, 2))
    ones, zeros = np.ones((1, 3, 1, 1)), np.zeros((1, 3, 1, 1))
    (yb,) = call("BatchNormalization", [xb, zeros, ones, zeros, ones], batch_stat=True)
    np.testing.assert_allclose(yb.mean(axis=(0, 2, 3)), 0, atol=1e-5)


def test_reshape_follows_the_input_batch() -> None:
    x = RNG.standard_normal((3, 4, 6, 6))
    (y,) = call("Reshape", [x], shape=(1, 144))  # saved with batch 1, run with batch 3
    assert y.shape == (3, 144)
    with pytest.raises(NnbError):
        call("Reshape", [x], shape=(7, 5))


def test_unknown_op_names_the_supported_ones() -> None:
    with pytest.raises(NnbError, match="unsupported function 'Nope'.*Convolution"):
        get_op("Nope")


def test_every_op_declares_schema_shape_rule_and_reference() -> None:
    for name, op in all_ops().items():
        assert callable(op.infer) and callable(op.forward), name
        assert op.doc, f"{name} has no docstring"


def folded_matmul_nnp(tmp_path) -> str:  # noqa: ANN001
    """The zoo's matmul.nnp with input x (1, 8, 16) declared as nnabla may save it, (-1, 16): its path."""
    src = os.path.join(ZOO, "matmul.nnp")
    dst = str(tmp_path / "folded.nnp")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for n in zin.namelist():
            data = zin.read(n)
            if n.endswith(".nntxt"):
                data = data.decode().replace('name: "x"\n    type: "Buffer"\n    shape {\n      dim: 1\n      dim: 8\n',
                                             'name: "x"\n    type: "Buffer"\n    shape {\n      dim: -1\n', 1).encode()
            zout.writestr(n, data)
    return dst


def test_folded_batch_axes_take_their_shape_from_the_input(tmp_path) -> None:
    """nnabla may save (1, 8, 16) as (-1, 16): the real leading shape comes from the input."""
    g = load(folded_matmul_nnp(tmp_path))
    assert g.input_specs["x"] == (-1, 16)
    x = np.load(os.path.join(ZOO, "matmul.in0.npy"))
    outs = run(g, [x])
    for k, ref in zip(g.outputs[:1], zoo_outputs("matmul")[:1]):
        assert_close_to_nnabla(outs[k], ref, k)
    with pytest.raises(NnbError, match="input 'x'"):
        run(g, [x[..., :8]])
