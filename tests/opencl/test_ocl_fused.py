"""Fused CPU-device launches (opencl/conv_fused.cl) against the numpy reference: a 3 x 3 depthwise convolution and
the pointwise convolution reading it as one ``dw3_pw`` launch (one image per work item), with its output beside
or exactly over the depthwise input, odd plane sizes, output channels off the 8-channel blocks; a pooling over
whole planes and the Affine reading it as one ``rows_affine`` launch (opencl/head_fused.cl); and the cases that must
keep two launches."""

from __future__ import annotations

import numpy as np
import pytest
from ocl_helpers import device

from nnb.backends.opencl import OpenCLNet
from nnb.backends.opencl_source import defines
from nnb.builder import GraphBuilder
from nnb.executor import run as run_reference

RNG = np.random.default_rng(11)


def _r(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _block(b: GraphBuilder, x: str, c: int, o: int, tag: str, dw_act: str, pw_act: str, pw_bias: bool = True) -> \
        tuple[str, str]:
    """A depthwise 3 x 3 FusedConv, then a 1 x 1 FusedConv: (depthwise output, pointwise output)."""
    d = b.op("FusedConv", [x, b.param(f"dw{tag}", _r(c, 1, 3, 3)), b.param(f"db{tag}", _r(c))], pad=(1, 1),
             group=c, has_bias=True, activation=dw_act)
    ins = [d, b.param(f"pw{tag}", _r(o, c, 1, 1))] + ([b.param(f"pb{tag}", _r(o))] if pw_bias else [])
    return d, b.op("FusedConv", ins, has_bias=pw_bias, activation=pw_act)


def _check(g, xs: list[np.ndarray], net: OpenCLNet) -> None:  # noqa: ANN001
    want = run_reference(g, xs)
    for y, name in zip(net.run(xs), g.outputs):
        ref = want[name]
        assert float(np.abs(y.reshape(ref.shape) - ref).max()) <= 1e-5 * max(1.0, float(np.abs(ref).max())), name


def _run(b: GraphBuilder) -> tuple[OpenCLNet, list[str]]:
    """The graph on the CPU-device forms, checked against the reference on random inputs: (the net, its
    launches' kernels)."""
    g = b.build()
    net = OpenCLNet(g, device=device(), cpu_forms=True)
    _check(g, [_r(*g.tensors[n].shape) for n in g.inputs], net)
    return net, [ln.kernel for ln in net.layout.launches]


CASES = [  # (id, batch, channels, height, width, block outputs)
    ("dscnn-plane", 3, 16, 25, 5, [16, 16]),  # 125 outputs: a partial last vector
    ("odd-channels", 2, 5, 7, 9, [13, 13]),  # output channels off the blocks of 8, a plane of 63
    ("one-vector", 4, 8, 4, 4, [8, 8]),  # a plane of exactly 16
    ("one-column", 2, 3, 9, 1, [7, 7]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_dw3_pointwise_fused(case: tuple) -> None:
    """Two blocks in a row: the second block's output is planned over its depthwise input (the arena's ping-pong),
    the first's beside the network input; both fuse."""
    _, n, c, h, w, outs = case
    b = GraphBuilder("t", batch_size=n)
    x = b.input("x", (n, c, h, w))
    _, y1 = _block(b, x, c, outs[0], "1", "relu", "relu6")
    _, y2 = _block(b, y1, outs[0], outs[1], "2", "relu6", "", pw_bias=False)
    b.output(y2)
    net, kernels = _run(b)
    assert kernels.count("dw3_pw") == 2 and "dwconv3_vec" not in kernels, kernels
    fused = [ln for ln in net.layout.launches if ln.kernel == "dw3_pw"]
    assert fused[0].macs == n * h * w * (9 * c + c * outs[0]), "the launch counts both convolutions' MACs"


def test_dw3_output_read_elsewhere_is_not_fused() -> None:
    """The depthwise output is also a network output: it must be stored, so the two launches stay."""
    b = GraphBuilder("t", batch_size=2)
    x = b.input("x", (2, 6, 5, 7))
    d, y = _block(b, x, 6, 9, "1", "relu", "relu")
    b.output(y)
    b.output(d)
    _, kernels = _run(b)
    assert "dw3_pw" not in kernels and "dwconv3_vec" in kernels, kernels


def test_dw3_tile_too_large_is_not_fused() -> None:
    """An image whose depthwise tile exceeds the kernel's private array keeps the two launches."""
    b = GraphBuilder("t", batch_size=1)
    x = b.input("x", (1, 40, 16, 16))  # 40 channels x 16 vectors > FP_TILE
    _, y = _block(b, x, 40, 8, "1", "relu", "relu")
    b.output(y)
    net, kernels = _run(b)
    assert 40 * 16 > defines(net.dev.program_source)["FP_TILE"]
    assert "dw3_pw" not in kernels and "dwconv3_vec" in kernels, kernels


def test_dw3_output_over_other_images_is_not_fused() -> None:
    """A pointwise output with fewer channels than its depthwise input, planned at the input's offset, would overwrite
    images other work items still read: the two launches stay."""
    b = GraphBuilder("t", batch_size=3)
    x = b.input("x", (3, 4, 6, 6))
    _, y1 = _block(b, x, 4, 12, "1", "relu", "relu")
    _, y2 = _block(b, y1, 12, 5, "2", "relu", "")
    b.output(y2)
    _, kernels = _run(b)
    assert kernels.count("dw3_pw") == 1 and "dwconv3_vec" in kernels, kernels


@pytest.mark.parametrize("pool", ["GlobalAveragePooling", "MaxPooling"])
def test_rows_affine_head(pool: str) -> None:
    """GlobalAveragePooling (or a max pooling over the whole plane) then Affine: one rows_affine launch."""
    b = GraphBuilder("t", batch_size=3)
    x = b.input("x", (3, 7, 5, 9))
    attrs = {"kernel": (5, 9)} if pool == "MaxPooling" else {}
    p = b.op(pool, [x], **attrs)
    b.output(b.op("Affine", [p, b.param("w", _r(7, 11)), b.param("b", _r(11))]))
    net, kernels = _run(b)
    assert kernels == ["rows_affine"], kernels
    assert net.layout.launches[0].macs == 3 * 7 * 11


def test_rows_affine_features_read_elsewhere_is_not_fused() -> None:
    """The pooled features are also a network output: they must be stored, so the two launches stay."""
    b = GraphBuilder("t", batch_size=2)
    x = b.input("x", (2, 6, 4, 5))
    p = b.op("GlobalAveragePooling", [x])
    b.output(b.op("Affine", [p, b.param("w", _r(6, 4))]))
    b.output(p)
    _, kernels = _run(b)
    assert "rows_affine" not in kernels and "rows_reduce" in kernels, kernels
