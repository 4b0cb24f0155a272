"""Packed LUT-Q / DQ weights decoded on the OpenCL device: the same predictions as the C runtime."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from ocl_helpers import device

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "train"))
from train_helpers import DSCNN, LENET, TEST_2K  # noqa: E402

from nnb.backends.c import CNet  # noqa: E402
from nnb.backends.opencl import OpenCLNet, rebatch  # noqa: E402
from nnb.emit.convert import convert  # noqa: E402
from nnb.nnp.reader import load  # noqa: E402
from nnb.quantize.dq import DqConfig, DqLayer  # noqa: E402
from nnb.quantize.layers import weight_params  # noqa: E402
from nnb.quantize.lutq import LutqConfig, LutqLayer  # noqa: E402
from nnb.quantize.qmodel import QuantizedModel  # noqa: E402
from nnb.train.data import input_array, load_data  # noqa: E402

N = 256


def _quantized(path: str, kind: str, bits: int):  # noqa: ANN202 - Converted
    g = load(path)
    layers = {}
    for i, n in enumerate(weight_params(g)):
        w = g.tensors[n].data
        k = kind if kind != "mixed" else ("lut" if i % 2 else "uniform")
        q = (LutqLayer(w, LutqConfig(k=1 << bits, init_iters=3)).to_qlayer() if k == "lut"
             else DqLayer(w, DqConfig(bits=bits)).to_qlayer(w))
        layers[n] = q
        g.tensors[n].data = q.dequantize()
    return g, convert(QuantizedModel(g, "test", layers))


@pytest.mark.parametrize("path,kind,bits", [(LENET, "lut", 2), (LENET, "uniform", 3), (DSCNN, "mixed", 4)],
                         ids=["lenet-lutq2", "lenet-dq3", "dscnn-mixed4"])
def test_packed_model_agrees_with_c_runtime(path: str, kind: str, bits: int) -> None:
    ocl = device()
    if not os.path.exists(path) or not os.path.exists(TEST_2K):
        pytest.skip(f"trained fixtures not found ({path})")
    g, c = _quantized(path, kind, bits)
    assert any(n.op.endswith("Packed") for n in c.graph.nodes)
    x, _ = load_data(TEST_2K, "test")
    xi = input_array(g, x)[:N]
    want = CNet(c.image).run_batch([xi])[0].reshape(N, -1)
    net = OpenCLNet(rebatch(c.graph, N), device=ocl)
    assert net.layout.setup, "the packed weights should be decoded on the device"
    got = net.run([xi])[0].reshape(N, -1)
    np.testing.assert_array_equal(got.argmax(axis=1), want.argmax(axis=1))
    assert float(np.abs(got - want).max()) <= 1e-5


def test_eval_cli_matches_the_c_runtime(capsys) -> None:
    """nnb eval --backend opencl: the same accuracy line as --backend c (batch 64, last batch padded)."""
    device()
    if not os.path.exists(LENET) or not os.path.exists(TEST_2K):
        pytest.skip(f"trained fixtures not found ({LENET})")
    from nnb.cli import main

    lines = []
    for backend in ("opencl", "c"):
        assert main(["eval", LENET, "--data", TEST_2K, "--limit", "300", "--batch", "64", "--backend", backend]) == 0
        lines.append(capsys.readouterr().out.strip())
    assert lines[0] == lines[1] and "top-1 accuracy" in lines[0]


def test_reference_check_line_for_the_demo() -> None:
    device()
    from nnb.backends.opencl import reference_check
    from nnb.executor import run_batched
    from nnb.model import load_model

    g = load_model(LENET)
    x, _ = load_data(TEST_2K, "test")
    xi = input_array(g, x)[:100]
    g.input_specs = {g.inputs[0]: (-1,) + tuple(g.tensors[g.inputs[0]].shape[1:])}
    want = run_batched(g, [xi])[g.outputs[0]]
    ok, line = reference_check(LENET, g, xi, want)
    assert ok and "100/100" in line and "matches" in line
    ok, line = reference_check(LENET, g, xi, -want)  # a wrong reference is reported, not hidden
    assert not ok and "DIFFERS" in line
