"""Faults of the OpenCL backend: one line `nnb: error: ...`, exit status 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ZOO
from ocl_helpers import device

from nnb.backends.opencl import OpenCLNet, model_graph, rebatch
from nnb.backends.opencl_device import build_program
from nnb.errors import NnbError
from nnb.model import load_model

LENET = os.path.join(ZOO, "lenet.nnp")


def _nnb(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnb.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def _one_error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnb: error: "), r.stderr
    return lines[0]


def test_no_platform_says_how_to_get_one(tmp_path) -> None:
    line = _one_error_line(_nnb("devices", env={"OCL_ICD_VENDORS": str(tmp_path / "none")}))
    assert 'pip install "pyopencl[pocl]"' in line and "pocl-opencl-icd" in line


def test_kernel_build_failure_shows_the_build_log(tmp_path) -> None:
    ocl = device()
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "opencl")
    bad = tmp_path / "cl"
    shutil.copytree(src, bad)
    with open(bad / "elementwise.cl", "a") as f:
        f.write("\n__kernel void broken(KARGS) { m[0] = undeclared_name; }\n")
    x = tmp_path / "x.npy"
    np.save(x, np.load(os.path.join(ZOO, "lenet.in0.npy")))
    line = _one_error_line(_nnb("run", LENET, "-i", str(x), "--backend", "opencl",
                                env={"NNB_OPENCL_DIR": str(bad), "NNB_OPENCL_CACHE": str(tmp_path / "cache")}))
    assert "build failed" in line and "build log" in line and "undeclared_name" in line
    with pytest.raises(NnbError, match="undeclared_name"):
        build_program(ocl.ctx, ocl.dev, "__kernel void k(__global float *m) { m[0] = undeclared_name; }",
                      use_cache=False)


def test_model_larger_than_the_device() -> None:
    ocl = device()
    g = model_graph(LENET, load_model(LENET))
    per_sample = sum(t.nbytes for t in g.tensors.values() if t.kind == "buffer")
    batch = int(ocl.dev.max_mem_alloc_size // per_sample) + 8
    with pytest.raises(NnbError, match="MB on the OpenCL device"):
        OpenCLNet(rebatch(g, batch), device=ocl)


def test_unknown_device_number() -> None:
    device()
    x = os.path.join(ZOO, "lenet.in0.npy")
    line = _one_error_line(_nnb("run", LENET, "-i", x, "--backend", "opencl", "--device", "99"))
    assert "no OpenCL device 99" in line


def test_run_and_devices_commands(tmp_path) -> None:
    device()
    r = _nnb("devices")
    assert r.returncode == 0 and "[0]" in r.stdout and "compute units" in r.stdout
    out = tmp_path / "y.npz"
    r = _nnb("run", LENET, "-i", os.path.join(ZOO, "lenet.in0.npy"), "--backend", "opencl", "-o", str(out))
    assert r.returncode == 0, r.stderr
    y = np.load(out)["y"]
    ref = np.load(os.path.join(ZOO, "lenet.out0.npy"))
    assert float(np.abs(y - ref).max()) <= 1e-4
