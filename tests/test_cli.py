"""The nnb command line: inspect, run, help, version."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from conftest import TRAINED, ZOO, assert_close_to_nnabla, zoo_outputs

from nnb.cli import main

LENET = os.path.join(TRAINED, "fmnist_lenet.nnp")


def nnb(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnb.cli", *args], capture_output=True, text=True)


def test_inspect_trained_lenet_counts_parameters() -> None:
    r = nnb("inspect", LENET)
    assert r.returncode == 0, r.stderr
    assert "46,730 parameters" in r.stdout
    assert "Convolution" in r.stdout and "(1, 16, 24, 24)" in r.stdout


def test_inspect_json(capsys) -> None:
    assert main(["inspect", LENET, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["params"] == 46730
    assert d["layers"][0]["op"] == "Convolution" and d["layers"][0]["output_shape"] == [1, 16, 24, 24]
    assert d["layers"][0]["macs"] == 16 * 24 * 24 * 25
    assert d["activation_bytes"] == sum(ly["activation_bytes"] for ly in d["layers"])


def test_run_writes_npz_keyed_by_output_names(tmp_path) -> None:
    out = tmp_path / "o.npz"
    a, b = os.path.join(ZOO, "arith.in0.npy"), os.path.join(ZOO, "arith.in1.npy")
    assert main(["run", os.path.join(ZOO, "arith.nnp"), "--input", f"b={b}", "--input", a, "-o", str(out)]) == 0
    z = np.load(out)
    assert z.files[:3] == ["add", "sub", "mul"]
    for k, ref in zip(z.files, zoo_outputs("arith")):
        assert_close_to_nnabla(z[k], ref, k)


def test_run_prints_outputs(capsys) -> None:
    assert main(["run", os.path.join(ZOO, "lenet.nnp"), "-i", os.path.join(ZOO, "lenet.in0.npy")]) == 0
    assert "y: shape (1, 10)" in capsys.readouterr().out


def test_help_and_version() -> None:
    r = nnb("--help")
    assert r.returncode == 0 and "inspect" in r.stdout and "run" in r.stdout
    r = nnb("--version")
    assert r.returncode == 0 and r.stdout.startswith("nnb ")
    r = nnb("run", "--help")
    assert r.returncode == 0 and "--input" in r.stdout
