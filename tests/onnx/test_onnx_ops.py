"""One small ONNX graph per operator (and per legacy attribute form), built with onnx.helper,
read by nnb and run by the reference executor, compared with onnxruntime on the same model."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_helpers import assert_matches_ort, ort_session

from nnb import executor
from nnb.backends import get_runner
from nnb.errors import NnbError
from nnb.onnx import load_onnx

onnx = pytest.importorskip("onnx", reason="the onnx package is not installed (pip install onnx)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RNG = np.random.default_rng(612)


def R(*shape: int) -> np.ndarray:  # noqa: N802 - a constant's data
    return RNG.standard_normal(shape).astype(np.float32)


def I64(*v: int) -> np.ndarray:  # noqa: N802
    return np.array(v, dtype=np.int64)


def model(nodes: list, inputs: dict[str, tuple[int, ...]], consts: dict[str, np.ndarray], outputs: list[str],
          opset: int) -> bytes:
    g = helper.make_graph(
        nodes, "t", [helper.make_tensor_value_info(k, TensorProto.FLOAT, s) for k, s in inputs.items()],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [numpy_helper.from_array(v, k) for k, v in consts.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7 if opset >= 12 else 4
    return m.SerializeToString()


def one(op: str, x: tuple[int, ...], consts: tuple = (), opset: int = 13, n_out: int = 1, **attrs: object):  # noqa: ANN201
    """A graph of one node reading runtime input x and the given constants (None: an absent optional input)."""
    names = {f"c{k}": c for k, c in enumerate(consts) if c is not None}
    ins = ["x"] + [("" if c is None else f"c{k}") for k, c in enumerate(consts)]
    outs = [f"y{k}" for k in range(n_out)]
    return model([helper.make_node(op, ins, outs, name=f"the_{op}", **attrs)], {"x": x}, names, outs[:1], opset)


C_MISSING: set[str] = set()  # IR ops the C runtime has no kernel for (none at present)


def check(data: bytes, tmp_path, backend: str = "reference") -> None:  # noqa: ANN001
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    sess = ort_session(data)
    feeds = {i.name: (R(*i.shape) * 2) for i in sess.get_inputs()}
    ref = sess.run(None, feeds)
    g = load_onnx(str(path))
    missing = sorted(C_MISSING & {n.op for n in g.nodes})
    if backend == "c" and missing:
        pytest.skip(f"the C runtime has no kernel for {', '.join(missing)}")
    got = get_runner(backend)(str(path), g, feeds, {})
    for o, r in zip(sess.get_outputs(), ref):
        assert_matches_ort(got[o.name], r, o.name)


X4 = (2, 4, 7, 6)
CASES = {
    "conv2d_asym_pads_group": lambda: one("Conv", X4, (R(6, 2, 3, 3), R(6)), 11, pads=[1, 0, 2, 1],
                                          strides=[2, 1], dilations=[1, 2], group=2),
    "conv1d": lambda: one("Conv", (2, 3, 11), (R(5, 3, 3),), 11, pads=[1, 1], strides=[2]),
    "conv_same_upper_opset9": lambda: one("Conv", X4, (R(3, 4, 3, 3),), 9, auto_pad="SAME_UPPER", strides=[2, 2]),
    "conv_depthwise": lambda: one("Conv", X4, (R(8, 1, 3, 3), R(8)), 11, pads=[1, 1, 1, 1], group=4),
    "convtranspose_s2_outpad": lambda: one("ConvTranspose", X4, (R(4, 3, 3, 3), R(3)), 11, strides=[2, 2],
                                           pads=[1, 1, 1, 1], output_padding=[1, 1]),
    "convtranspose_asym_group": lambda: one("ConvTranspose", X4, (R(4, 1, 3, 2),), 11, strides=[2, 1],
                                            pads=[0, 1, 1, 0], group=2),
    "convtranspose_output_shape": lambda: one("ConvTranspose", X4, (R(4, 2, 3, 3),), 11, strides=[2, 2],
                                              output_shape=[14, 12]),
    "gemm_transB_alpha_beta": lambda: one("Gemm", (3, 5), (R(4, 5), R(4)), 11, transB=1, alpha=0.5, beta=2.0),
    "gemm_transA_full_C": lambda: one("Gemm", (5, 3), (R(5, 4), R(3, 4)), 11, transA=1),
    "matmul_const": lambda: one("MatMul", (2, 3, 5), (R(5, 4),), 13),
    "matmul_batched_const": lambda: one("MatMul", (2, 3, 5), (R(2, 5, 4),), 13),
    "batchnorm": lambda: one("BatchNormalization", X4, (R(4), R(4), R(4), np.abs(R(4)) + 0.5), 9, epsilon=1e-3),
    "batchnorm_opset7_spatial": lambda: one("BatchNormalization", X4, (R(4), R(4), R(4), np.abs(R(4))), 7, spatial=1),
    "clip_opset6_attrs": lambda: one("Clip", X4, (), 6, min=-1.0, max=2.0),
    "clip_opset11_relu6": lambda: one("Clip", X4, (np.float32(0), np.float32(6)), 11),
    "clip_opset13_min_only": lambda: one("Clip", X4, (np.float32(-0.5),), 13),
    "clip_opset13_max_only": lambda: one("Clip", X4, (None, np.float32(0.5)), 13),
    "leakyrelu": lambda: one("LeakyRelu", X4, (), 6, alpha=0.2),
    "prelu_scalar": lambda: one("PRelu", X4, (np.array([0.3], np.float32),), 9),
    "prelu_per_channel": lambda: one("PRelu", X4, (R(4, 1, 1),), 9),
    "prelu_per_column": lambda: one("PRelu", X4, (R(6),), 9),
    "elu": lambda: one("Elu", X4, (), 6, alpha=0.5),
    "selu": lambda: one("Selu", X4, (), 6),
    "hardsigmoid_default": lambda: one("HardSigmoid", X4, (), 6),
    "hardsigmoid_custom": lambda: one("HardSigmoid", X4, (), 6, alpha=0.3, beta=0.4),
    "softmax_opset11_axis1": lambda: one("Softmax", X4, (), 11, axis=1),
    "softmax_opset13_axis1": lambda: one("Softmax", X4, (), 13, axis=1),
    "logsoftmax_opset9": lambda: one("LogSoftmax", (3, 7), (), 9),
    "lrn_odd": lambda: one("LRN", X4, (), 9, size=3, alpha=0.01, beta=0.75, bias=2.0),
    "dropout_opset7": lambda: one("Dropout", X4, (), 7, ratio=0.3),
    "dropout_opset12": lambda: one("Dropout", X4, (), 12),
    "maxpool_asym_ceil": lambda: one("MaxPool", X4, (), 11, kernel_shape=[3, 2], strides=[2, 2],
                                     pads=[1, 0, 0, 1], ceil_mode=1),
    "maxpool_same_upper": lambda: one("MaxPool", X4, (), 8, kernel_shape=[3, 3], strides=[2, 2],
                                      auto_pad="SAME_UPPER"),
    "maxpool_1d": lambda: one("MaxPool", (2, 3, 9), (), 11, kernel_shape=[2], strides=[2]),
    "avgpool_exclude_pad": lambda: one("AveragePool", X4, (), 11, kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    "avgpool_include_pad": lambda: one("AveragePool", X4, (), 11, kernel_shape=[3, 3], strides=[2, 2],
                                       pads=[1, 1, 1, 1], count_include_pad=1),
    "avgpool_asym_include": lambda: one("AveragePool", X4, (), 11, kernel_shape=[2, 3], pads=[0, 1, 1, 0],
                                        count_include_pad=1),
    "avgpool_ceil_exclude": lambda: one("AveragePool", X4, (), 11, kernel_shape=[2, 2], strides=[2, 2],
                                        ceil_mode=1),
    "globalaveragepool": lambda: one("GlobalAveragePool", X4, (), 9),
    "globalmaxpool": lambda: one("GlobalMaxPool", X4, (), 9),
    "add_broadcast_const": lambda: one("Add", X4, (R(4, 1, 1),), 13),
    "sub_scalar_left": lambda: model([helper.make_node("Sub", ["c", "x"], ["y"])], {"x": X4},
                                     {"c": np.array(1.5, np.float32)}, ["y"], 13),
    "div_scalar": lambda: one("Div", X4, (np.array([4.0], np.float32),), 13),
    "mul_runtime": lambda: model([helper.make_node("Mul", ["x", "z"], ["y"])], {"x": X4, "z": (1, 4, 1, 6)}, {},
                                 ["y"], 13),
    "sum_three": lambda: model([helper.make_node("Sum", ["x", "z", "c"], ["y"])], {"x": X4, "z": X4},
                               {"c": R(6)}, ["y"], 13),
    "max_min_variadic": lambda: model([helper.make_node("Max", ["x", "z"], ["m"]),
                                       helper.make_node("Min", ["m", "c"], ["y"])], {"x": X4, "z": X4},
                                      {"c": np.array(0.5, np.float32)}, ["y"], 13),
    "pow_scalar": lambda: model([helper.make_node("Abs", ["x"], ["a"]), helper.make_node("Pow", ["a", "c"], ["y"])],
                                {"x": X4}, {"c": np.array(1.5, np.float32)}, ["y"], 13),
    "unary_chain": lambda: model([helper.make_node(op, [f"t{k}"], [f"t{k + 1}"]) for k, op in
                                  enumerate(["Tanh", "Neg", "Abs", "Softsign", "Softplus", "Sigmoid", "Relu",
                                             "Exp", "Log", "Sqrt", "Reciprocal"])],
                                 {"t0": X4}, {}, ["t11"], 13),
    "concat": lambda: model([helper.make_node("Concat", ["x", "c"], ["y"], axis=-3)], {"x": X4},
                            {"c": R(2, 2, 7, 6)}, ["y"], 11),
    "reshape_zero_minus1": lambda: one("Reshape", X4, (I64(0, -1, 3),), 13),
    "flatten_axis2": lambda: one("Flatten", X4, (), 11, axis=2),
    "transpose": lambda: one("Transpose", X4, (), 13, perm=[0, 2, 3, 1]),
    "transpose_default": lambda: one("Transpose", (3, 4, 5), (), 13),
    "pad_constant_value": lambda: one("Pad", X4, (I64(0, 0, 1, 2, 0, 0, 2, 0), np.array(0.5, np.float32)), 11),
    "pad_reflect": lambda: one("Pad", X4, (I64(0, 0, 2, 1, 0, 0, 1, 2),), 11, mode="reflect"),
    "pad_edge_negative": lambda: one("Pad", X4, (I64(0, 0, 1, -1, 0, 0, -2, 2),), 11, mode="edge"),
    "pad_opset2_attrs": lambda: one("Pad", X4, (), 9, pads=[0, 0, 1, 1, 0, 0, 1, 1], value=1.0),
    "upsample_opset7_attr": lambda: one("Upsample", X4, (), 7, scales=[1.0, 1.0, 2.0, 3.0]),
    "upsample_opset9": lambda: one("Upsample", X4, (np.array([1, 1, 2, 2], np.float32),), 9),
    "resize_opset10": lambda: one("Resize", X4, (np.array([1, 1, 2, 2], np.float32),), 10),
    "resize_opset11_sizes": lambda: one("Resize", X4, (np.zeros(0, np.float32), np.zeros(0, np.float32),
                                                     I64(2, 4, 14, 18)), 11),
    "resize_opset13_asym_floor": lambda: one("Resize", X4, (None, np.array([1, 1, 3, 2], np.float32)), 13,
                                             coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
    "resize_downscale": lambda: one("Resize", (1, 2, 8, 8), (None, np.array([1, 1, 0.5, 0.5], np.float32)), 13,
                                    coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
    "depthtospace_dcr": lambda: one("DepthToSpace", (1, 8, 3, 2), (), 11, blocksize=2),
    "depthtospace_crd": lambda: one("DepthToSpace", (1, 8, 3, 2), (), 11, blocksize=2, mode="CRD"),
    "reducemean": lambda: one("ReduceMean", X4, (), 11, axes=[2, 3], keepdims=0),
    "reducesum_opset13_input": lambda: one("ReduceSum", X4, (I64(1),), 13),
    "reducemax_all": lambda: one("ReduceMax", X4, (), 11),
    "slice_opset9_attrs": lambda: one("Slice", X4, (), 9, starts=[1, 0], ends=[3, 100], axes=[1, 3]),
    "slice_negative_step": lambda: one("Slice", X4, (I64(-1, 5), I64(-100, 0), I64(2, 3), I64(-2, -2)), 11),
    "squeeze_unsqueeze_opset11": lambda: model([helper.make_node("Unsqueeze", ["x"], ["u"], axes=[0, 3]),
                                                helper.make_node("Squeeze", ["u"], ["y"], axes=[0])], {"x": X4}, {},
                                               ["y"], 11),
    "squeeze_unsqueeze_opset13": lambda: model([helper.make_node("Unsqueeze", ["x", "a"], ["u"]),
                                                helper.make_node("Squeeze", ["u"], ["y"])], {"x": (1, 4, 1, 6)},
                                               {"a": I64(-1)}, ["y"], 13),
    "gather_runtime_data": lambda: model([helper.make_node("Gather", ["x", "i"], ["y"], axis=1)], {"x": X4},
                                         {"i": I64(3, 0, 2)}, ["y"], 13),
    "gather_scalar_index": lambda: model([helper.make_node("Gather", ["x", "i"], ["y"], axis=3)], {"x": X4},
                                         {"i": np.array(-1, np.int64)}, ["y"], 13),
    "split": lambda: model([helper.make_node("Split", ["x"], ["a", "b"], axis=2, split=[3, 4]),
                            helper.make_node("Mul", ["a", "a"], ["y"])], {"x": X4}, {}, ["y", "b"], 11),
    "shape_subgraph_folded": lambda: model([
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
        helper.make_node("Constant", [], ["m1"], value=numpy_helper.from_array(I64(-1))),
        helper.make_node("Concat", ["n1", "m1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("ConstantOfShape", ["shape_c"], ["ones"], value=numpy_helper.from_array(
            np.array([2.0], np.float32))),
        helper.make_node("Mul", ["r", "ones"], ["y"])],
        {"x": X4}, {"i0": np.array(0, np.int64), "ax": I64(0), "shape_c": I64(1, 168)}, ["y"], 13),
    "cast_to_float": lambda: model([helper.make_node("Cast", ["x"], ["c"], to=TensorProto.FLOAT),
                                    helper.make_node("Relu", ["c"], ["y"])], {"x": X4}, {}, ["y"], 13),
    "expand": lambda: one("Expand", (4, 1, 6), (I64(2, 4, 3, 6),), 13),
    "identity_output": lambda: model([helper.make_node("Relu", ["x"], ["r"]),
                                      helper.make_node("Identity", ["r"], ["y"])], {"x": X4}, {}, ["y", "r"], 13),
    # opset 18 forms (the reader takes opsets 6-21): Reduce* axes and Pad axes as inputs, Split's num_outputs
    "reducemean_axes_input_opset18": lambda: one("ReduceMean", X4, (I64(1, 3),), 18, keepdims=1),
    "reducemax_axes_input_opset21": lambda: one("ReduceMax", X4, (I64(-1),), 21, keepdims=0),
    "pad_axes_input_opset18": lambda: one("Pad", X4, (I64(1, 2, 0, 1), None, I64(2, 3)), 18),
    "split_num_outputs_opset18": lambda: one("Split", (2, 7, 3), (), 18, n_out=3, axis=1, num_outputs=3),
}


@pytest.mark.parametrize("backend", ["reference", "c"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_operator_matches_onnxruntime(case: str, backend: str, tmp_path) -> None:  # noqa: ANN001
    check(CASES[case](), tmp_path, backend)


def test_unsupported_operator_named_with_node_and_opset(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "m.onnx"
    path.write_bytes(one("Hardmax", X4, (), 13))
    with pytest.raises(NnbError, match=r"ONNX node 'the_Hardmax' \(Hardmax, opset 13\): unsupported ONNX operator"):
        load_onnx(str(path))


def test_nonnearest_resize_refused(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "m.onnx"
    path.write_bytes(one("Resize", X4, (None, np.array([1, 1, 2, 2], np.float32)), 13, mode="linear"))
    with pytest.raises(NnbError, match="mode 'linear' is not supported"):
        load_onnx(str(path))


def test_legacy_broadcast_attribute(tmp_path) -> None:  # noqa: ANN001
    """Opset 6 Add/Gemm (onnxruntime has no kernels for them): B lines up with A from ``axis``; numpy says what."""
    b, w, c = R(4), R(5, 3), R(3)
    path = tmp_path / "m.onnx"
    path.write_bytes(model([helper.make_node("Add", ["x", "b"], ["a"], broadcast=1, axis=1),
                            helper.make_node("Gemm", ["z", "w", "c"], ["g"], broadcast=1)],
                           {"x": X4, "z": (2, 5)}, {"b": b, "w": w, "c": c}, ["a", "g"], 6))
    x, z = R(*X4), R(2, 5)
    got = executor.run(load_onnx(str(path)), {"x": x, "z": z})
    np.testing.assert_allclose(got["a"], x + b.reshape(1, 4, 1, 1), rtol=0, atol=1e-6)
    np.testing.assert_allclose(got["g"], z @ w + c, rtol=0, atol=1e-5)
