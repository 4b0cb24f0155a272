"""Packed LUT-Q / DQ weights: the emitted C keeps them packed and predicts exactly as the C runtime does
on the 2,000 test images (the 10,000-image comparison is in benchmarks/emit_c.py)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import DATA, TRAINED
from emitc_helpers import host_cc

from nnb.backends import get_predictor
from nnb.cli import main
from nnb.emit.convert import convert
from nnb.emit.csource import render
from nnb.quantize.qmodel import load_quantized
from nnb.train.data import input_array, load_data

LENET = os.path.join(TRAINED, "fmnist_lenet.nnp")
TEST_2K = os.path.join(DATA, "fmnist_test_2k.npz")


@pytest.mark.parametrize("args", [("--method", "lutq", "--k", "4"), ("--method", "dq", "--weight-budget", "14kB")])
def test_packed_model_predicts_as_the_c_runtime(tmp_path, args) -> None:
    host_cc()
    if not (os.path.exists(LENET) and os.path.exists(TEST_2K)):
        pytest.skip("the trained lenet or the 2k Fashion-MNIST test set is missing from ../shared/fixtures")
    nnq = str(tmp_path / "m.nnq")
    assert main(["quantize", LENET, *args, "--data", TEST_2K, "--limit", "256", "--epochs", "1", "-q", "-o", nnq,
                 "--val", "none"]) == 0
    e = render(nnq)
    packed = [p for p in e.model.params if p.packed]
    assert len(packed) >= 3  # the conv and affine weights stay codes
    # the NNB's parameter bytes: codes, LUT tables and float tensors; a DQ step is a field of the
    # weight's descriptor (nnbrt_qw.step), not a stored array
    steps = 4 * sum(1 for p in packed if p.kind == 5)
    assert e.model.weight_bytes == convert(nnq).param_bytes - steps
    w = e.files["m_weights.c"].decode()
    assert "static const uint32_t" in w and "static const nnbrt_qw" in w
    m = load_quantized(nnq)
    x, _ = load_data(TEST_2K, "test")
    xi = input_array(m.graph, x)
    want = get_predictor("c")(nnq, m.graph, xi, {}).argmax(axis=1)
    got = get_predictor("emit-c")(nnq, m.graph, xi, {}).argmax(axis=1)
    assert len(got) == 2000
    np.testing.assert_array_equal(got, want)
