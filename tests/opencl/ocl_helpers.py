"""The OpenCL device the tests share: one program build per process, binaries cached on disk; the C host
(nnbrt built with OPENCL=1), the C runtime on the CPU and the int8 comparison the OpenCL tests share."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import numpy as np
import pytest

C_RUNTIME = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "c_runtime")
NNBRT = os.path.join(C_RUNTIME, "build-ocl", "nnbrt")
ISLAND_TOL = {"rtol": 1e-5, "atol": 1e-6}  # float islands (Softmax): PoCL's exp/float sums vs the C runtime's


@functools.cache
def _open():  # noqa: ANN202 - Device | str
    try:
        import pyopencl  # noqa: F401
    except ImportError:
        return 'pyopencl is not installed (pip install "pyopencl[pocl]")'
    from nnb.backends.opencl_device import open_device
    from nnb.errors import NnbError

    try:
        return open_device()
    except NnbError as e:
        return f"no OpenCL device: {e}"


def device():  # noqa: ANN201 - nnb.backends.opencl_device.Device
    """The first OpenCL device, or skip the test saying why there is none."""
    d = _open()
    if isinstance(d, str):
        pytest.skip(d)
    return d


def c_host() -> str:
    """The C host's nnbrt (make -C c_runtime OPENCL=1), or skip saying what is missing."""
    device()  # skips without an OpenCL device
    if not os.path.exists("/usr/include/CL/cl.h") or shutil.which("make") is None:
        pytest.skip("the C host needs make and the OpenCL headers (Debian: opencl-headers ocl-icd-opencl-dev)")
    r = subprocess.run(["make", "-C", C_RUNTIME, "-s", "-j2", "OPENCL=1", "build-ocl/nnbrt"], capture_output=True,
                       text=True)
    assert r.returncode == 0, f"make OPENCL=1 failed: {r.stderr[-2000:]}"
    return NNBRT


def cnet():  # noqa: ANN201 - nnb.backends.c.CNet
    """The C runtime's CNet class, or skip when it cannot be built."""
    if shutil.which("make") is None or (shutil.which("gcc") or shutil.which("cc")) is None:
        pytest.skip("no make/gcc: the C runtime cannot be built (apt-get install make gcc)")
    from nnb.backends.c import CNet

    return CNet


def same_int8(m, got: dict, want: dict, what: str) -> int:  # noqa: ANN001 - Int8Model
    """Integer tensors (dequantized: equal floats = equal integers) exactly, float-island outputs to rounding;
    returns how many tensors were equal exactly."""
    islands = {o for s in m.steps if s.kind == "island" for o in s.node.outputs}
    exact = 0
    for key, y in got.items():
        t = key[:-3] if key.endswith("@dq") else key
        w = np.asarray(want[key] if key in want else want[t])
        y = np.asarray(y).reshape(w.shape)
        if t in islands:
            np.testing.assert_allclose(y, w, err_msg=f"{what}: island output {t}", **ISLAND_TOL)
            continue
        assert np.array_equal(y, w), f"{what}: {t}: {int((y != w).sum())} of {w.size} int8 values differ"
        exact += 1
    return exact


def c_host_run(nnbrt: str, image: bytes, x: np.ndarray, outputs: list, tmp_path) -> dict:  # noqa: ANN001
    """``image`` run on ``x`` by the C host (nnbrt run --device opencl): output name -> float32 values."""
    (tmp_path / "m.nnb").write_bytes(image)
    np.ascontiguousarray(x, np.float32).tofile(tmp_path / "in0.bin")
    r = subprocess.run([nnbrt, "run", str(tmp_path / "m.nnb"), str(tmp_path / "in0.bin"), "-o",
                        str(tmp_path / "out"), "--device", "opencl"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return {o: np.fromfile(tmp_path / f"out{k}.bin", np.float32) for k, o in enumerate(outputs)}
