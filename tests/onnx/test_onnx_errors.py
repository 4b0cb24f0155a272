"""Bad ONNX input ends in one `nnb: error:` line naming the problem, exit status 2."""

from __future__ import annotations

import os

import numpy as np
import pytest

from nnb.cli import main

onnx = pytest.importorskip("onnx", reason="the onnx package is not installed (pip install onnx)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _write(tmp_path, nodes: list, opset: int = 13, consts: dict | None = None,  # noqa: ANN001
           elem: int = TensorProto.FLOAT, shape: list | None = None) -> str:
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", elem, shape or [1, 3, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(v, k) for k, v in (consts or {}).items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    return str(path)


def _error(capsys, path: str) -> str:  # noqa: ANN001
    assert main(["inspect", path]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nnb: error: ")
    return err[0]


def test_unsupported_operator(tmp_path, capsys) -> None:  # noqa: ANN001
    path = _write(tmp_path, [helper.make_node("Einsum", ["x", "x"], ["y"], name="mix", equation="ij,ij->ij")], 12)
    msg = _error(capsys, path)
    assert "ONNX node 'mix' (Einsum, opset 12)" in msg and "unsupported ONNX operator 'Einsum'" in msg


def test_other_domain(tmp_path, capsys) -> None:  # noqa: ANN001
    path = _write(tmp_path, [helper.make_node("Gelu", ["x"], ["y"], name="g", domain="com.microsoft")])
    assert "operator domain 'com.microsoft' is not supported" in _error(capsys, path)


def test_runtime_reshape_target(tmp_path, capsys) -> None:  # noqa: ANN001
    path = _write(tmp_path, [helper.make_node("Relu", ["x"], ["s"]), helper.make_node("Reshape", ["x", "s"], ["y"])])
    assert "the target shape must be a constant" in _error(capsys, path)


def test_corrupt_file(tmp_path, capsys) -> None:  # noqa: ANN001
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"\x08\x07garbage" * 10)
    assert "not a readable ONNX model" in _error(capsys, str(path))


def test_missing_file(tmp_path, capsys) -> None:  # noqa: ANN001
    assert "no such file" in _error(capsys, str(tmp_path / "none.onnx"))


def test_integer_input(tmp_path, capsys) -> None:  # noqa: ANN001
    path = _write(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], elem=TensorProto.INT64)
    assert "input 'x' is not a floating-point tensor" in _error(capsys, path)


def test_unknown_inner_dimension(tmp_path, capsys) -> None:  # noqa: ANN001
    path = _write(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], shape=["n", 3, "h", 4])
    assert "unknown dimensions" in _error(capsys, path)


def test_old_opset(tmp_path, capsys) -> None:  # noqa: ANN001
    path = _write(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], opset=3)
    assert "opset 3 is not supported" in _error(capsys, path)


def test_symbolic_batch_takes_any_batch(tmp_path) -> None:  # noqa: ANN001
    path = _write(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], shape=["n", 3, 4, 4])
    x = np.random.default_rng(0).standard_normal((5, 3, 4, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "o.npz"
    assert main(["run", path, "-i", str(tmp_path / "x.npy"), "-o", str(out)]) == 0
    np.testing.assert_array_equal(np.load(out)["y"], np.maximum(x, 0))


def test_malformed_node(tmp_path, capsys) -> None:  # noqa: ANN001
    path = _write(tmp_path, [helper.make_node("MaxPool", ["x"], ["y"], name="nokernel")])  # kernel_shape is required
    assert "ONNX node 'nokernel' (MaxPool, opset 13): malformed node" in _error(capsys, path)


def test_conv_weight_mismatch(tmp_path, capsys) -> None:  # noqa: ANN001
    w = np.zeros((4, 5, 3, 3), np.float32)  # 5 input channels for a 3-channel input
    path = _write(tmp_path, [helper.make_node("Conv", ["x", "w"], ["y"], name="c")], consts={"w": w})
    assert "ONNX node 'c' (Conv, opset 13)" in _error(capsys, path)


def test_mutated_fixtures_fail_cleanly(tmp_path) -> None:  # noqa: ANN001
    """Random byte changes in the .onnx fixtures: a graph or NnbError, never another exception (seeded, 150 files)."""
    import glob
    import random
    import warnings

    from conftest import SHARED

    from nnb.errors import NnbError
    from nnb.onnx import load_onnx

    files = sorted(glob.glob(os.path.join(SHARED, "fixtures", "*", "*.onnx")))
    if not files:
        pytest.skip("no .onnx fixtures")
    rng = random.Random(12)
    path = tmp_path / "f.onnx"
    for _ in range(150):
        b = bytearray(open(rng.choice(files), "rb").read())
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        path.write_bytes(bytes(b))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                load_onnx(str(path))
            except NnbError:
                pass
