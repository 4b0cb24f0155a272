"""benchmarks/int8_accuracy.py's onnxruntime peer in nnabla's ONNX form computes the .nnp's float network."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
from int8_quant_helpers import TRAINED, fmnist_data, need

from nnb.executor import run
from nnb.nnp.reader import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bench_module():  # noqa: ANN201
    spec = importlib.util.spec_from_file_location("int8_accuracy_bench",
                                                  os.path.join(ROOT, "benchmarks", "int8_accuracy.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("arch", ["dscnn", "lenet"])
def test_nnabla_form_export(arch: str, tmp_path) -> None:  # noqa: ANN001
    onnx = pytest.importorskip("onnx", reason="onnx is not installed (test extra)")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (test extra)")
    g = load(need(os.path.join(TRAINED, f"fmnist_{arch}.nnp")))
    path = str(tmp_path / "m.onnx")
    bench_module().export_onnx_nnabla(g, path)
    m = onnx.load(path)
    ops = [n.op_type for n in m.graph.node if n.op_type != "Constant"]  # opset 13's ReduceSum axes
    assert m.opset_import[0].version == 13
    assert ops[-5:] == ["ReduceMax", "Sub", "Exp", "ReduceSum", "Div"]  # nnabla's Softmax
    assert ("BatchNormalization" in ops) == any(n.op == "BatchNormalization" for n in g.nodes)
    x, _ = fmnist_data()
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for i in range(8):  # the export keeps nnabla's batch of 1
        want = run(g, [x[i:i + 1]])[g.outputs[0]]
        got = sess.run(None, {g.inputs[0]: x[i:i + 1]})[0]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
