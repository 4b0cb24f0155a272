"""Held-out models: the fixture generator's variant set (other shapes and arguments), made
fresh by the real nnabla, so nothing can be tuned to the shared fixtures."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
from conftest import ROOT, SHARED, assert_close_to_nnabla

from nnb.emit.convert import convert
from nnb.emit.nnb import read_nnb
from nnb.executor import run
from nnb.nnp.reader import load


def _nnabla_python() -> str | None:
    cand = os.environ.get("NNB_NNABLA_PYTHON") or os.path.join(ROOT, ".venv-nnabla", "bin", "python")
    return cand if os.path.exists(cand) else None


@pytest.fixture(scope="module")
def holdout(tmp_path_factory) -> tuple[str, dict]:
    py = _nnabla_python()
    script = os.path.join(SHARED, "tools", "make_fixtures.py")
    if py is None or not os.path.exists(script):
        pytest.skip("no Python with nnabla 1.39 (make nnabla) or no fixture generator: held-out models not made")
    out = str(tmp_path_factory.mktemp("holdout"))
    r = subprocess.run([py, script, out, "--holdout", "--seed", "3"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    with open(os.path.join(out, "manifest.json")) as f:
        return out, json.load(f)["models"]


def _io(d: str, name: str, m: dict) -> tuple[list[np.ndarray], list[np.ndarray]]:
    ins = [np.load(os.path.join(d, f"{name}.in{k}.npy")) for k in range(len(m["inputs"]))]
    outs = [np.load(os.path.join(d, f"{name}.out{k}.npy")) for k in range(len(m["outputs"]))]
    return ins, outs


def test_reference_matches_nnabla_on_held_out_models(holdout) -> None:
    d, models = holdout
    for name, m in models.items():
        for suffix in (".nnp", ".pb.nnp"):
            if not os.path.exists(os.path.join(d, name + suffix)):
                continue
            g = load(os.path.join(d, name + suffix))
            ins, refs = _io(d, name, m)
            outs = run(g, ins)
            for k, ref in zip(g.outputs, refs):
                assert_close_to_nnabla(outs[k], ref, f"held-out {name}{suffix} {k}")


def test_extended_nnb_matches_nnabla_on_held_out_models(holdout) -> None:
    d, models = holdout
    for name, m in models.items():
        g = load(os.path.join(d, name + ".nnp"))
        g2 = read_nnb(convert(g, "extended").image, name)
        ins, refs = _io(d, name, m)
        outs = run(g2, ins)
        for k, ref in zip(g2.outputs, refs):
            assert_close_to_nnabla(outs[k], ref, f"held-out {name} extended {k}")
