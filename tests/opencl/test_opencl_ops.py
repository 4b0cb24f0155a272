"""Each OpenCL kernel form against the numpy reference, op by op (the graph as built: no fusion)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from ocl_helpers import device

from nnb.backends.opencl import OpenCLNet
from nnb.backends.opencl_plan import HANDLERS
from nnb.builder import GraphBuilder
from nnb.executor import run as run_reference
from nnb.ops import all_ops

RNG = np.random.default_rng(11)


def _r(*shape: int, positive: bool = False) -> np.ndarray:
    x = RNG.standard_normal(shape).astype(np.float32)
    return np.abs(x) + np.float32(0.5) if positive else x


EXTRA_UNARY = ("SoftSign", "Sin", "Cos", "Tan", "Sinh", "Cosh", "ATan", "ASinh", "Ceil", "Floor", "Round", "Erf",
               "GELU", "LogSigmoid", "TanhShrink", "BinarySigmoid", "BinaryTanh")
# (id, op, input shapes, params (arrays), attrs, positive inputs)
CASES = [
    ("unary-" + op, op, [(2, 3, 4, 5)], [], attrs, op in ("Log", "Sqrt", "PowScalar"))
    for op, attrs in [("ReLU", {}), ("LeakyReLU", {"alpha": 0.2}), ("ReLU6", {}), ("Sigmoid", {}), ("Swish", {}),
                      ("Tanh", {}), ("ELU", {"alpha": 0.7}), ("SELU", {}), ("HardSigmoid", {}), ("HardTanh", {}),
                      ("Abs", {}), ("Exp", {}), ("Log", {}), ("Sqrt", {}), ("SoftPlus", {"beta": 2.0}),
                      ("Sign", {"alpha": 0.5}), ("Identity", {}), ("AddScalar", {"val": 1.5}),
                      ("MulScalar", {"val": -2.0}), ("PowScalar", {"val": 1.7}), ("RSubScalar", {"val": 3.0}),
                      ("RDivScalar", {"val": 2.0}), ("RPowScalar", {"val": 1.3}), ("MaximumScalar", {"val": 0.1}),
                      ("MinimumScalar", {"val": -0.1})] + [(op, {}) for op in EXTRA_UNARY if op in all_ops()]
] + [
    ("binary-" + op, op, [(2, 3, 4, 5), (3, 1, 5)], [], {}, op == "Pow2")
    for op in ("Add2", "BcAdd2", "Sub2", "Mul2", "Div2", "Pow2", "Maximum2", "Minimum2")
] + [
    ("prelu-channel", "PReLU", [(2, 3, 4, 5)], [(3,)], {"base_axis": 1}, False),
    ("prelu-shared", "PReLU", [(2, 3, 4)], [(1,)], {}, False),
    ("softmax-axis1", "Softmax", [(2, 5, 3)], [], {"axis": 1}, False),
    ("logsoftmax", "LogSoftmax", [(4, 7)], [], {}, False),
    ("sum-keep", "Sum", [(2, 3, 4, 5)], [], {"axes": (1, 3), "keep_dims": True}, False),
    ("mean-all", "Mean", [(2, 3, 4)], [], {}, False),
    ("max", "Max", [(2, 3, 4)], [], {"axes": (0,)}, False),
    ("min", "Min", [(2, 3, 4)], [], {"axes": (2,)}, False),
    ("prod", "Prod", [(2, 3, 4)], [], {"axes": (1,)}, False),
    ("transpose", "Transpose", [(2, 3, 4, 5)], [], {"axes": (0, 3, 1, 2)}, False),
    ("slice-step", "Slice", [(4, 9, 7)], [], {"start": (1, 8, 0), "stop": (4, 0, 7), "step": (2, -3, 2)}, False),
    ("flip", "Flip", [(2, 3, 4)], [], {"axes": (0, 2)}, False),
    ("broadcast", "Broadcast", [(3, 1, 5)], [], {"shape": (2, 3, 4, 5)}, False),
    ("tile", "Tile", [(2, 3)], [], {"reps": (2, 1, 3)}, False),
    ("unpool-last", "Unpooling", [(2, 3, 4, 2)], [], {"kernel": (2, 3), "channel_last": True}, False),
    ("concat", "Concatenate", [(2, 3, 4), (2, 5, 4)], [], {"axis": 1}, False),
    ("stack", "Stack", [(2, 3), (2, 3), (2, 3)], [], {"axis": 1}, False),
    ("split", "Split", [(2, 3, 4)], [], {"axis": 2}, False),
    ("pad-constant", "Pad", [(2, 3, 4)], [], {"pad_width": (1, 2, 0, 3), "constant_value": 0.5}, False),
    ("pad-reflect", "Pad", [(2, 3, 4)], [], {"pad_width": (2, 2, 3, 1), "mode": "reflect"}, False),
    ("pad-repeat", "Pad", [(2, 3, 4)], [], {"pad_width": (1, 2, 1, 5), "mode": "repeat"}, False),
    ("reshape", "Reshape", [(2, 3, 4)], [], {"shape": (2, 12)}, False),
    ("maxpool-noborder", "MaxPooling", [(2, 3, 9, 8)], [], {"kernel": (3, 2), "stride": (2, 3), "pad": (1, 1),
                                                           "ignore_border": False}, False),
    ("avgpool-excl", "AveragePooling", [(2, 3, 9, 8)], [], {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1),
                                                            "including_pad": False}, False),
    ("sumpool-last", "SumPooling", [(2, 7, 6, 3)], [], {"kernel": (2, 2), "channel_last": True}, False),
    ("gap", "GlobalAveragePooling", [(2, 3, 5, 4)], [], {}, False),
    ("conv-group-dil", "Convolution", [(2, 4, 9, 8)], [(6, 2, 3, 2), (6,)],
     {"pad": (2, 1), "stride": (2, 1), "dilation": (2, 1), "group": 2}, False),
    ("conv-last", "Convolution", [(2, 6, 5, 3)], [(8, 3, 3, 3), (8,)], {"channel_last": True, "pad": (1, 1)}, False),
    ("conv-1d", "Convolution", [(2, 3, 11)], [(4, 3, 3)], {"stride": (2,)}, False),
    ("conv-3d", "Convolution", [(1, 2, 5, 4, 6)], [(3, 2, 2, 3, 2), (3,)], {"pad": (1, 0, 1)}, False),
    ("conv-base2", "Convolution", [(2, 2, 3, 6, 6)], [(4, 3, 3, 3)], {"base_axis": 2}, False),
    ("depthwise-mult", "DepthwiseConvolution", [(2, 5, 6, 6)], [(10, 3, 3), (10,)],
     {"multiplier": 2, "pad": (1, 1), "stride": (2, 1)}, False),
    ("deconv-group", "Deconvolution", [(2, 4, 5, 4)], [(4, 3, 3, 2), (6,)],
     {"pad": (1, 0), "stride": (2, 3), "dilation": (1, 2), "group": 2, "output_padding": (1, 0)}, False),
    ("fused-maxpool-relu", "FusedConv", [(2, 3, 9, 9)], [(5, 3, 3, 3), (5,)],
     {"pad": (1, 1), "pool": "max", "pool_kernel": (2, 2), "pool_stride": (2, 2), "activation": "relu"}, False),
    ("fused-avgpool-relu6", "FusedConv", [(2, 3, 8, 8)], [(4, 3, 3, 3)],
     {"pool": "average", "pool_kernel": (3, 3), "pool_stride": (2, 2), "pool_pad": (1, 1), "activation": "relu6",
      "has_bias": False, "pool_including_pad": False}, False),
    ("affine-base2", "Affine", [(2, 3, 4, 5)], [(20, 3, 2), (3, 2)], {"base_axis": 2}, False),
    ("bmm-trans", "BatchMatmul", [(2, 3, 5, 4), (3, 6, 5)], [], {"transpose_a": True, "transpose_b": True}, False),
    ("bn-running", "BatchNormalization", [(2, 3, 4, 5)], [(1, 3, 1, 1)] * 4,
     {"batch_stat": False, "eps": 1e-3}, False),
]


def _graph(op: str, shapes: list, params: list, attrs: dict):  # noqa: ANN202
    b = GraphBuilder("t", batch_size=shapes[0][0])
    names = [b.input(f"x{k}", s) for k, s in enumerate(shapes)]
    for k, s in enumerate(params):
        data = RNG.standard_normal(s).astype(np.float32)
        if op == "BatchNormalization" and k == 3:
            data = np.abs(data) + np.float32(0.1)  # variance
        names.append(b.param(f"p{k}", data))
    if op == "FusedConv":
        attrs = dict(attrs, has_bias=attrs.get("has_bias", True))
    y = b.op(op, names, **attrs)
    node = b.g.nodes[-1]
    for o in node.outputs if op == "Split" else [y]:
        b.output(o)
    return b.build()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_op_matches_reference(case: tuple) -> None:
    ocl = device()
    _, op, shapes, params, attrs, positive = case
    g = _graph(op, shapes, params, attrs)
    xs = [_r(*s, positive=positive) for s in shapes]
    want = run_reference(g, xs)
    got = OpenCLNet(g, device=ocl).run(xs)
    for name, y in zip(g.outputs, got):
        ref = want[name]
        assert y.shape == ref.shape
        tol = 1e-5 * max(1.0, float(np.abs(ref).max()))
        err = float(np.abs(y - ref).max())
        assert err <= tol, f"{op}: max abs error {err:.3g} > {tol:.3g}"


def test_fused_residual_in_place() -> None:
    """FusedConv adding a residual that the plan lets it overwrite (the C runtime's in-place form)."""
    ocl = device()
    b = GraphBuilder("t", batch_size=2)
    x = b.input("x", (2, 4, 6, 6))
    r = b.op("ReLU", [x])
    w, bias = b.param("w", _r(4, 4, 3, 3)), b.param("b", _r(4))
    y = b.op("FusedConv", [x, w, bias, r], pad=(1, 1), residual=True, has_bias=True, activation="relu")
    b.output(y)
    g = b.build()
    xs = [_r(2, 4, 6, 6)]
    net = OpenCLNet(g, device=ocl)
    assert net.layout.offsets[r] == net.layout.offsets[y]  # the plan shares the storage
    np.testing.assert_allclose(net.run(xs)[0], run_reference(g, xs)[y], rtol=1e-5, atol=1e-5)


def _c_runtime_functions() -> set[str]:
    """nnabla names of the functions in the C runtime's float kernel table."""
    import os
    import re

    from nnb.emit.function_ids import FUNCTIONS

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "c_runtime", "src", "kernels", "kernel_table.c")) as f:
        ids = {int(k) for k in re.findall(r"\[(\d+)\]\s*=\s*\{&nnbrt_k_", f.read())}
    return {name for fid, name, *_ in FUNCTIONS if fid in ids}


def test_every_c_runtime_op_has_a_kernel() -> None:
    """Every registered op the C runtime runs in float32, and nnb's fused and packed ops, is planned on OpenCL."""
    want = (_c_runtime_functions() & set(all_ops())) | {op for op in all_ops() if op.startswith("Fused") or
                                                         op.endswith("Packed")}
    assert len(want) > 50
    missing = sorted(want - set(HANDLERS))
    assert not missing, f"no OpenCL kernel for {missing}"


FAST = [  # (id, kernel expected, op, input shape, params, attrs, CPU forms)
    ("8x1-pad-stride", "conv_fast_8x1", "Convolution", (2, 3, 13, 19), [(16, 3, 3, 3), (16,)],
     {"pad": (1, 2), "stride": (2, 1)}, True),
    ("8x2-dilation", "conv_fast_8x2", "Convolution", (2, 5, 11, 10), [(40, 5, 3, 2)],
     {"pad": (2, 1), "dilation": (2, 3)}, True),
    ("8x2-pointwise", "conv_fast_8x2", "Convolution", (3, 6, 5, 5), [(33, 6, 1, 1), (33,)], {}, False),
    ("fused-relu6", "conv_fast_8x1", "FusedConv", (2, 4, 9, 9), [(12, 4, 3, 3), (12,)],
     {"pad": (1, 1), "activation": "relu6", "has_bias": True}, False),
    ("fused-maxpool-relu", "pool2d", "FusedConv", (2, 3, 12, 13), [(16, 3, 5, 5), (16,)],
     {"pool": "max", "pool_kernel": (2, 2), "pool_stride": (2, 2), "activation": "relu", "has_bias": True}, False),
    ("fused-avgpool-pad", "pool2d", "FusedConv", (2, 3, 9, 9), [(32, 3, 3, 3)],
     {"pad": (1, 1), "pool": "average", "pool_kernel": (3, 3), "pool_stride": (2, 2), "pool_pad": (1, 1),
      "pool_including_pad": False, "activation": "relu6", "has_bias": False}, False),
    ("affine-fast", "affine_fast", "Affine", (5, 3, 7), [(21, 37), (37,)], {}, True),
    ("affine-fast-base2", "affine_fast", "Affine", (2, 3, 4, 5), [(20, 4, 5)], {"base_axis": 2}, True),
    ("dw-plane", "dwconv_plane", "DepthwiseConvolution", (2, 5, 7, 9), [(10, 3, 3), (10,)],
     {"multiplier": 2, "pad": (1, 1), "stride": (2, 1)}, True),
    ("dw-vec-same", "dwconv3_vec", "DepthwiseConvolution", (2, 5, 7, 9), [(10, 3, 3), (10,)],
     {"multiplier": 2, "pad": (1, 1)}, True),
    ("dw-vec-5x3", "dwconv_vec", "DepthwiseConvolution", (2, 3, 6, 21), [(3, 5, 3)], {"pad": (2, 1)}, True),
    ("dw-row", "dwconv_fast", "DepthwiseConvolution", (2, 5, 7, 9), [(5, 3, 3)], {"pad": (1, 1)}, False),
    ("group-dw-vec", "dwconv3_vec", "Convolution", (2, 6, 8, 5), [(6, 1, 3, 3), (6,)],
     {"group": 6, "pad": (1, 1)}, True),
]


@pytest.mark.parametrize("case", FAST, ids=[c[0] for c in FAST])
def test_fast_path_matches_reference(case: tuple) -> None:
    ocl = device()
    _, kernel, op, shape, params, attrs, cpu = case
    g = _graph(op, [shape], params, attrs)
    xs = [_r(*shape)]
    net = OpenCLNet(g, device=ocl, cpu_forms=cpu)
    kernels = [ln.kernel for ln in net.layout.launches]
    assert kernel in kernels and "conv" not in kernels and "affine" not in kernels, kernels
    y, ref = net.run(xs)[0], run_reference(g, xs)[g.outputs[0]]
    tol = 1e-5 * max(1.0, float(np.abs(ref).max()))
    assert float(np.abs(y - ref).max()) <= tol


def test_fast_conv_pool_with_in_place_residual() -> None:
    """FusedConv conv + max pool + residual (stored over the residual, as the plan allows) + ReLU, fast form."""
    ocl = device()
    b = GraphBuilder("t", batch_size=2)
    x = b.input("x", (2, 3, 10, 10))
    r0 = b.input("r", (2, 16, 5, 5))
    r = b.op("ReLU", [r0])
    w, bias = b.param("w", _r(16, 3, 3, 3)), b.param("b", _r(16))
    y = b.op("FusedConv", [x, w, bias, r], pad=(1, 1), pool="max", pool_kernel=(2, 2), pool_stride=(2, 2),
             residual=True, has_bias=True, activation="relu")
    b.output(y)
    g = b.build()
    xs = [_r(2, 3, 10, 10), _r(2, 16, 5, 5)]
    net = OpenCLNet(g, device=ocl, cpu_forms=True)
    assert net.layout.offsets[r] == net.layout.offsets[y]
    # pool, residual and ReLU in one pass (pool2_plane: 2 x 2 windows, all whole)
    assert {"pool_rows", "pool2_plane"} & {ln.kernel for ln in net.layout.launches}
    np.testing.assert_allclose(net.run(xs)[0], run_reference(g, xs)[y], rtol=1e-5, atol=1e-5)


def test_tuning_cache(monkeypatch, tmp_path) -> None:
    """tune() times work-group sizes, stores them per device; later nets use them and stay correct."""
    ocl = device()
    monkeypatch.setenv("NNB_OPENCL_CACHE", str(tmp_path))
    monkeypatch.setattr(ocl, "_tuning", None)
    g = _graph("Convolution", [(2, 4, 9, 9)], [(16, 4, 3, 3), (16,)], {"pad": (1, 1)})
    found = OpenCLNet(g, device=ocl, cpu_forms=False).tune(repeat=1, candidates=(16, 64))
    assert found == ocl.tuning()
    assert any(k.startswith("conv_fast_8x1|") for k in found) and os.path.exists(ocl.tuning_path())
    monkeypatch.setattr(ocl, "_tuning", None)  # read back from the file
    net = OpenCLNet(g, device=ocl, cpu_forms=False)
    i = [ln.kernel for ln in net.layout.launches].index("conv_fast_8x1")
    assert net._kernels[i][2] == (min(ocl.tuning()[f"conv_fast_8x1|{net.layout.launches[i].n}"], ocl.limit()),)
    xs = [_r(2, 4, 9, 9)]
    np.testing.assert_allclose(net.run(xs)[0], run_reference(g, xs)[g.outputs[0]], rtol=1e-5, atol=1e-5)
    monkeypatch.setattr(ocl, "_tuning", None)


@pytest.mark.parametrize("cpu", [True, False], ids=["cpu-forms", "gpu-forms"])
def test_simple_forms_for_both_device_kinds(cpu: bool) -> None:
    """conv (per output) / conv_plane (per plane) and copy_strided / copy_rows: the same results."""
    ocl = device()
    cases = [("Convolution", [(64, 3, 7, 6)], [(4, 3, 3, 3), (4,)], {"pad": (2, 2), "dilation": (2, 2)},
              "conv_plane" if cpu else "conv"),
             ("Transpose", [(2, 3, 4, 9)], [], {"axes": (0, 2, 1, 3)}, "copy_rows" if cpu else "copy_strided")]
    for op, shapes, params, attrs, kernel in cases:
        g = _graph(op, shapes, params, attrs)
        xs = [_r(*s) for s in shapes]
        net = OpenCLNet(g, device=ocl, cpu_forms=cpu)
        assert kernel in [ln.kernel for ln in net.layout.launches]
        np.testing.assert_allclose(net.run(xs)[0], run_reference(g, xs)[g.outputs[0]], rtol=1e-5, atol=1e-5)
