"""Canonicalisation on the fixtures: outputs within 1e-6, names kept; mbv2 fully fused afterwards."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest
from conftest import SHARED, assert_close_to_nnabla

from nnb import executor
from nnb.backends import get_runner
from nnb.model import load_model
from nnb.passes import optimize
from nnb.passes.canon import canonicalize_report

FIX = os.path.join(SHARED, "fixtures")
MODELS = sorted(p for d in ("imported", "zoo") for p in glob.glob(os.path.join(FIX, d, "*.nnp"))
                if not p.endswith(".pb.nnp"))


def _inputs(path: str) -> list[np.ndarray]:
    stem = path[:-4]
    return [np.load(p) for p in sorted(glob.glob(stem + ".in*.npy"), key=lambda p: int(p.rsplit("in", 1)[1][:-4]))]


@pytest.mark.parametrize("path", MODELS, ids=lambda p: os.path.relpath(p, FIX))
def test_canonical_graph_keeps_outputs(path: str) -> None:
    g = load_model(path)
    g2, _ = canonicalize_report(g)
    g2.validate()
    xs = _inputs(path)
    a, b = executor.run(g, xs), executor.run(g2, xs)
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=0, atol=1e-6 * max(1.0, float(np.abs(a[k]).max())))


def test_mbv2_every_activation_fused() -> None:
    path = os.path.join(FIX, "imported", "mbv2.nnp")
    if not os.path.exists(path):
        pytest.skip(f"fixture {path} is missing")
    g = load_model(path)
    _, fired = canonicalize_report(g)
    assert fired.get("clip -> ReLU6/ReLU/HardTanh") == 5 and fired.get("softmax pattern -> Softmax") == 1
    opt = optimize(g)
    names = [n.op for n in opt.nodes]
    assert "MinimumScalar" not in names and "MaximumScalar" not in names
    assert not any(n.op in ("ReLU", "ReLU6") for n in opt.nodes)  # every activation went into a FusedConv
    assert sum(n.op == "FusedConv" and n.attrs["activation"] == "relu6" for n in opt.nodes) == 5
    assert "BatchMatmul" not in names and "Softmax" in names and "Affine" in names


def test_inspect_lists_fired_rewrites(capsys) -> None:  # noqa: ANN001
    from nnb.cli import main

    path = os.path.join(FIX, "imported", "mbv2.nnp")
    if not os.path.exists(path):
        pytest.skip(f"fixture {path} is missing")
    assert main(["inspect", path]) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("canonicalisation: ")]
    assert line and "clip -> ReLU6/ReLU/HardTanh: 5" in line[0] and "softmax pattern -> Softmax: 1" in line[0]


@pytest.mark.parametrize("backend", ["reference", "c"])
@pytest.mark.parametrize("path", [p for p in MODELS if os.sep + "imported" + os.sep in p],
                         ids=lambda p: os.path.basename(p))
def test_imported_model_matches_nnabla(path: str, backend: str) -> None:
    """The importer's NNP, canonicalised, fused and planned (in-place depthwise) for C, against nnabla's outputs."""
    g = load_model(path)
    xs = _inputs(path)
    got = get_runner(backend)(path, g, dict(zip(g.inputs, xs)), {})
    for k, name in enumerate(g.outputs):
        assert_close_to_nnabla(got[name], np.load(f"{path[:-4]}.out{k}.npy"), f"{name} ({backend})")
