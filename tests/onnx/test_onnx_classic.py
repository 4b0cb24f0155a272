"""The classic ImageNet architectures (benchmarks/onnx_nets.py) at 1/8 width and small inputs:
read from ONNX, run by the reference and the C runtime, compared with onnxruntime (logits)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from conftest import ROOT
from onnx_helpers import assert_matches_ort, ort_session

from nnb.backends import get_runner
from nnb.onnx import load_onnx

pytest.importorskip("onnx", reason="the onnx package is not installed (pip install onnx)")
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
from onnx_nets import NETS, build  # noqa: E402

SIZE = {"alexnet": 96, "googlenet": 96}  # their stems need more than 64 pixels


@pytest.mark.parametrize("name", sorted(NETS))
def test_classic_architecture_matches_onnxruntime(name: str, tmp_path) -> None:  # noqa: ANN001
    data = build(name, width=0.125, size=SIZE.get(name, 64), classes=10, logits=True)
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(data)
    sess = ort_session(data)
    x = np.random.default_rng(3).standard_normal(sess.get_inputs()[0].shape).astype(np.float32)
    ref = sess.run(None, {"x": x})[0]
    g = load_onnx(str(path))
    for backend in ("reference", "c"):
        got = get_runner(backend)(str(path), g, {"x": x}, {})
        assert_matches_ort(next(iter(got.values())), ref, f"{name} ({backend})")
