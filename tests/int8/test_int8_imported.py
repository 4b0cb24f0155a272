"""int8 on a graph written by nnabla's ONNX importer: quantize canonicalises first (the importer's Gemm is
Reshape + BatchMatmul + Reshape + Add2 over parameters, which had no int8 grid: KeyError before), and the
C runtime gives the simulation's integers."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import ZOO

from nnb.cli import main

IMPORTED = os.path.join(os.path.dirname(ZOO), "imported")
MBV2 = os.path.join(IMPORTED, "mbv2.nnp")


def test_quantize_imported_mbv2_int8(tmp_path, capsys) -> None:  # noqa: ANN001
    if not os.path.exists(MBV2):
        pytest.skip(f"fixture missing: {MBV2}")
    x = np.load(os.path.join(IMPORTED, "mbv2.in0.npy")).astype(np.float32)
    rng = np.random.default_rng(0)
    calib = tmp_path / "c.npz"
    np.savez(calib, x=rng.standard_normal((16,) + x.shape[1:]).astype(np.float32))
    nnq = str(tmp_path / "m.nnq")
    assert main(["quantize", MBV2, "--method", "int8", "--calib", str(calib), "-o", nnq]) == 0
    np.save(tmp_path / "x.npy", x)
    outs = {}
    for be in ("intsim", "c"):
        o = str(tmp_path / f"{be}.npz")
        assert main(["run", nnq, "--backend", be, "-i", str(tmp_path / "x.npy"), "-o", o]) == 0
        outs[be] = np.load(o)
    capsys.readouterr()
    (k,) = list(outs["intsim"])
    a, b = outs["intsim"][k], outs["c"][k]
    # the output is the float Softmax island's (libm's expf against numpy's exp): equal within float rounding
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert int(np.argmax(a)) == int(np.argmax(b))
