"""int8 quantization of a network that declares a fixed batch (nnabla's ONNX importer writes batch 1):
calibration, the per-layer report and the accuracy line run the samples that many at a time."""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import SHARED

from nnb.cli import main
from nnb.onnx import load_onnx
from nnb.quantize.int8_run import fixed_batch

MBV2 = os.path.join(SHARED, "fixtures", "imported", "mbv2.onnx")


def test_quantize_fixed_batch_onnx_reports_and_writes(tmp_path: os.PathLike, capsys: pytest.CaptureFixture) -> None:
    if not os.path.exists(MBV2):
        pytest.skip(f"imported fixtures not found at {os.path.dirname(MBV2)}")
    assert fixed_batch(load_onnx(MBV2)) == 1
    x = np.random.default_rng(0).random((12, 3, 32, 32), dtype=np.float32)
    y = np.arange(12) % 10
    cal, out = os.path.join(tmp_path, "cal.npz"), os.path.join(tmp_path, "m.nnq")
    np.savez(cal, x=x, y=y)
    assert main(["quantize", MBV2, "--method", "int8", "--calib", cal, "--data", cal, "-o", out]) == 0
    printed = capsys.readouterr().out
    assert "SQNR" in printed and "top-1" in printed and os.path.getsize(out) > 0
