"""Shared by the ONNX tests: onnxruntime as the yardstick, the tolerance of issue 12."""

from __future__ import annotations

import numpy as np
import pytest


def ort_session(path_or_bytes: str | bytes):  # noqa: ANN201 - onnxruntime.InferenceSession
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install onnxruntime)")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path_or_bytes, so, providers=["CPUExecutionProvider"])


def assert_matches_ort(y: np.ndarray, ref: np.ndarray, what: str = "") -> None:
    """Within 1e-4 * max(1, max|ref|), same shape."""
    assert y.shape == ref.shape, f"{what}: shape {y.shape} vs onnxruntime's {ref.shape}"
    tol = 1e-4 * max(1.0, float(np.abs(ref).max()) if ref.size else 1.0)
    err = float(np.abs(y.astype(np.float64) - ref).max()) if ref.size else 0.0
    assert err <= tol, f"{what}: max error {err:.3g} > {tol:.3g}"
