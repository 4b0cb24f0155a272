"""The CPU-device kernel forms (opencl/conv_vec.cl: conv_v*, dwconv3_vec, deconv_s2, pool_rows, rows_reduce; batches
in chunks) against the numpy reference, on geometries that reach each form: odd sizes, partial row segments,
batches > 1."""

from __future__ import annotations

import numpy as np
import pytest
from ocl_helpers import device

import nnb.backends.opencl as ocl_backend
from nnb.backends.opencl import OpenCLNet, rebatch
from nnb.builder import GraphBuilder
from nnb.executor import run as run_reference
from nnb.ir import Graph

RNG = np.random.default_rng(5)


def _r(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _graph(op: str, shape: tuple, params: list, attrs: dict):  # noqa: ANN202
    b = GraphBuilder("t", batch_size=shape[0])
    names = [b.input("x", shape)] + [b.param(f"p{k}", _r(*s)) for k, s in enumerate(params)]
    b.output(b.op(op, names, **attrs))
    return b.build()


def _check(g, xs: list[np.ndarray], net: OpenCLNet) -> None:  # noqa: ANN001
    want = run_reference(g, xs)
    for y, name in zip(net.run(xs), g.outputs):
        ref = want[name]
        assert float(np.abs(y.reshape(ref.shape) - ref).max()) <= 1e-5 * max(1.0, float(np.abs(ref).max())), name


CONV = [  # (id, kernel expected, op, input shape, params, attrs)
    ("v16-3x3-pad-odd", "conv_v16_t1", "Convolution", (2, 3, 13, 37), [(11, 3, 3, 3), (11,)], {"pad": (1, 1)}),
    ("v16-3x3-s2", "conv_v16_t2", "Convolution", (2, 4, 9, 61), [(9, 4, 3, 3)], {"pad": (1, 1), "stride": (2, 2)}),
    ("v8-3x3", "conv_v8_t1", "Convolution", (3, 5, 7, 7), [(10, 5, 3, 3), (10,)], {"pad": (1, 1)}),
    ("v8-3x3-s2", "conv_v8_t2", "Convolution", (2, 6, 16, 16), [(16, 6, 3, 3)], {"pad": (1, 1), "stride": (2, 2)}),
    ("v16-s2-5x5", "conv_v16_s2", "Convolution", (2, 3, 9, 61), [(8, 3, 5, 5)], {"pad": (2, 2), "stride": (2, 2)}),
    ("v8-s1-2x2", "conv_v8_s1", "Convolution", (3, 5, 7, 7), [(10, 5, 2, 2), (10,)], {}),
    ("v8-s2-5x5", "conv_v8_s2", "Convolution", (2, 3, 15, 15), [(8, 3, 5, 5)], {"pad": (2, 2), "stride": (2, 2)}),
    ("pointwise-plane", "conv_v16_p1", "Convolution", (3, 6, 5, 5), [(33, 6, 1, 1), (33,)], {}),
    ("pointwise-s2", "conv_v16_p2", "Convolution", (2, 6, 5, 61), [(17, 6, 1, 1)], {"stride": (2, 2)}),
    ("pointwise-v8-s2", "conv_v8_p2", "Convolution", (3, 6, 9, 11), [(17, 6, 1, 1), (17,)], {"stride": (2, 2)}),
    ("im2col-narrow", "im2col", "Convolution", (2, 4, 49, 10), [(16, 4, 10, 4), (16,)],
     {"pad": (5, 1), "stride": (2, 2)}),  # 160 taps x 8 vectors: past conv_col's private tile
    ("col-narrow", "conv_col", "Convolution", (3, 1, 49, 10), [(19, 1, 10, 4), (19,)],
     {"pad": (5, 1), "stride": (2, 2)}),  # DS-CNN's first layer: patches gathered per image, no padded copy
    ("col-narrow-fused", "conv_col", "FusedConv", (2, 2, 9, 6), [(12, 2, 3, 2)],
     {"pad": (1, 0), "stride": (2, 2), "activation": "relu6", "has_bias": False}),
    ("few-channels", "conv_v16_t1", "FusedConv", (2, 8, 11, 30), [(1, 8, 3, 3), (1,)],
     {"pad": (1, 1), "activation": "relu", "has_bias": True}),
    ("fused-relu6-unpadded", "conv_v16_s1", "FusedConv", (2, 4, 9, 26), [(12, 4, 3, 2), (12,)],
     {"activation": "relu6", "has_bias": True}),
    ("dw3-narrow-rows", "dwconv3_vec", "DepthwiseConvolution", (2, 5, 25, 5), [(5, 3, 3), (5,)], {"pad": (1, 1)}),
    ("dw3-one-column", "dwconv3_vec", "DepthwiseConvolution", (1, 2, 6, 1), [(2, 3, 3)], {"pad": (1, 1)}),
    ("deconv-2x2-s2-odd", "deconv_s2", "Deconvolution", (3, 5, 7, 11), [(5, 3, 2, 2), (3,)], {"stride": (2, 2)}),
    ("deconv-2x2-s2-wide", "deconv_s2", "Deconvolution", (1, 3, 3, 13), [(3, 2, 2, 2)], {"stride": (2, 2)}),
    ("fused-maxpool-relu", "pool_rows", "FusedConv", (2, 3, 12, 13), [(6, 3, 5, 5), (6,)],
     {"pool": "max", "pool_kernel": (3, 2), "pool_stride": (2, 2), "activation": "relu", "has_bias": True}),
    ("fused-maxpool2-relu", "pool2_plane", "FusedConv", (2, 3, 14, 14), [(6, 3, 5, 5), (6,)],
     {"pool": "max", "pool_kernel": (2, 2), "pool_stride": (2, 2), "activation": "relu", "has_bias": True}),
    ("fused-avgpool2-odd", "pool2_plane", "FusedConv", (2, 3, 13, 41), [(9, 3, 3, 3)],
     {"pad": (1, 1), "pool": "average", "pool_kernel": (2, 2), "pool_stride": (2, 2), "activation": "relu6",
      "has_bias": False}),
    ("fused-avgpool-pad-excl", "pool_rows", "FusedConv", (2, 3, 9, 9), [(16, 3, 3, 3)],
     {"pad": (1, 1), "pool": "average", "pool_kernel": (3, 3), "pool_stride": (2, 2), "pool_pad": (1, 1),
      "pool_including_pad": False, "activation": "relu6", "has_bias": False}),
    ("maxpool-rows", "pool_rows", "MaxPooling", (2, 3, 9, 8), [], {"kernel": (3, 2), "stride": (2, 3), "pad": (1, 1)}),
    ("sumpool-rows", "pool_rows", "SumPooling", (2, 7, 6, 5), [], {"kernel": (2, 2)}),
    ("gap-rows", "rows_reduce", "GlobalAveragePooling", (2, 3, 5, 7), [], {}),
    ("avgpool-whole-plane", "rows_reduce", "AveragePooling", (2, 3, 5, 7), [], {"kernel": (5, 7)}),
    ("maxpool-whole-plane", "rows_reduce", "MaxPooling", (2, 3, 6, 6), [], {"kernel": (6, 6)}),
]


@pytest.mark.parametrize("case", CONV, ids=[c[0] for c in CONV])
def test_cpu_form_matches_reference(case: tuple) -> None:
    ocl = device()
    _, kernel, op, shape, params, attrs = case
    g = _graph(op, shape, params, attrs)
    net = OpenCLNet(g, device=ocl, cpu_forms=True)
    kernels = [ln.kernel for ln in net.layout.launches]
    assert kernel in kernels and not {"conv", "reduce", "pool2d"} & set(kernels), kernels
    padded = op in ("Convolution", "FusedConv") and any(attrs.get("pad", ())) and "conv_col" not in kernels
    assert ("pad_rows" in kernels) == padded, kernels  # a zero-padded copy of the input, borders from the upload
    _check(g, [_r(*shape)], net)


def residual_graph(x_shape: tuple, w: np.ndarray, bias: np.ndarray, in_place: bool, **attrs: object) \
        -> tuple[Graph, str, str]:
    """FusedConv(x, w, bias) with pad 1 and ReLU(r) as its residual (r has the output's shape): (graph, residual,
    output). In place: the output may be stored over the residual; otherwise the residual is also a network output,
    still needed afterwards, so the output gets its own storage. Also used by test_ocl_local.py."""
    b = GraphBuilder("t", batch_size=x_shape[0])
    x, r0 = b.input("x", x_shape), b.input("r", (x_shape[0], w.shape[0]) + tuple(x_shape[2:]))
    r = b.op("ReLU", [r0])
    y = b.op("FusedConv", [x, b.param("w", w), b.param("b", bias), r], pad=(1, 1), residual=True, has_bias=True,
             **attrs)
    b.output(y)
    if not in_place:
        b.output(r)
    return b.build(), r, y


def _inputs(g: Graph) -> list[np.ndarray]:
    return [_r(*g.tensors[n].shape) for n in g.inputs]


@pytest.mark.parametrize("in_place", [True, False], ids=["in-place", "separate"])
def test_vec_conv_residual(in_place: bool) -> None:
    """FusedConv + residual + ReLU through conv_v16_t1: stored over the residual (the last segment of a row then
    keeps its partial store) or beside it (the last segment moves back to end at the row's end)."""
    ocl = device()
    g, r, y = residual_graph((2, 3, 6, 27), _r(10, 3, 3, 3), _r(10), in_place, activation="relu")
    net = OpenCLNet(g, device=ocl, cpu_forms=True)
    assert (net.layout.offsets[r] == net.layout.offsets[y]) == in_place
    assert "conv_v16_t1" in [ln.kernel for ln in net.layout.launches]
    _check(g, _inputs(g), net)


@pytest.mark.parametrize("in_place", [True, False], ids=["in-place", "separate"])
def test_depthwise_residual(in_place: bool) -> None:
    """Depthwise FusedConv + residual through dwconv3_vec (a plane of 5 x 25: the last vector of a plane moves back
    to end at the plane's end unless the output overwrites the residual)."""
    ocl = device()
    g, r, y = residual_graph((2, 6, 5, 25), _r(6, 1, 3, 3), _r(6), in_place, group=6, activation="relu6")
    net = OpenCLNet(g, device=ocl, cpu_forms=True)
    assert (net.layout.offsets[r] == net.layout.offsets[y]) == in_place
    assert "dwconv3_vec" in [ln.kernel for ln in net.layout.launches]
    _check(g, _inputs(g), net)


def test_batch_in_chunks(monkeypatch) -> None:
    """A batch whose activations outgrow CHUNK_BYTES runs as chunks through one smaller plan, sample by sample
    as the reference computes it."""
    ocl = device()
    monkeypatch.setattr(ocl_backend, "CHUNK_BYTES", 0)
    monkeypatch.setattr(ocl_backend, "MIN_CHUNK", 2)
    b = GraphBuilder("t", batch_size=1)
    x = b.input("x", (1, 3, 8, 9))
    h = b.op("FusedConv", [x, b.param("w", _r(8, 3, 3, 3)), b.param("b", _r(8))], pad=(1, 1), has_bias=True,
             activation="relu")
    b.output(b.op("Affine", [h, b.param("w2", _r(8 * 8 * 9, 5))]))
    g = rebatch(b.build(), 12)
    net = OpenCLNet(g, device=ocl, cpu_forms=True)
    assert net.chunk == 3 and net.layout.inputs[0][2][0] == 3
    xs = [_r(12, 3, 8, 9)]
    _check(g, xs, net)
    with pytest.raises(Exception, match="expects"):
        net.run([_r(6, 3, 8, 9)])
