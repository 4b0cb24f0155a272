"""The C host (make -C c_runtime OPENCL=1: nnbrt run --device opencl): zoo models vs nnabla, packed weights vs the
C runtime on the CPU, a missing platform."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
from conftest import ZOO, zoo_inputs, zoo_names, zoo_outputs
from ocl_helpers import c_host

from nnb.emit.convert import convert
from nnb.model import load_model


@pytest.fixture(scope="module")
def nnbrt_ocl() -> str:
    return c_host()


def _run(nnbrt: str, image: bytes, xs: list[np.ndarray], tmp, device_arg: str = "opencl",
         env: dict | None = None) -> tuple[subprocess.CompletedProcess, list[np.ndarray]]:
    model = tmp / "m.nnb"
    model.write_bytes(image)
    ins = []
    for k, x in enumerate(xs):
        p = tmp / f"in{k}.bin"
        np.ascontiguousarray(x, np.float32).tofile(p)
        ins.append(str(p))
    r = subprocess.run([nnbrt, "run", str(model), *ins, "-o", str(tmp / "out"), "--device", device_arg],
                       capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)
    outs, k = [], 0
    while r.returncode == 0 and (tmp / f"out{k}.bin").exists():
        outs.append(np.fromfile(tmp / f"out{k}.bin", np.float32))
        k += 1
    return r, outs


def test_zoo_models_match_nnabla(nnbrt_ocl, zoo_dir, tmp_path) -> None:
    """Every zoo model as an extended NNB through nnbrt --device opencl (one process per model)."""
    for name in zoo_names():
        d = tmp_path / name
        d.mkdir()
        image = convert(load_model(os.path.join(ZOO, f"{name}.nnp")), mode="extended").image
        r, outs = _run(nnbrt_ocl, image, zoo_inputs(name), d)
        assert r.returncode == 0, f"{name}: {r.stderr}"
        refs = zoo_outputs(name)
        assert len(outs) == len(refs)
        for k, (y, ref) in enumerate(zip(outs, refs)):
            tol = 1e-4 * max(1.0, float(np.abs(ref).max()))
            err = float(np.abs(y - ref.reshape(-1)).max())
            assert err <= tol, f"{name} output {k}: max abs error {err:.3g} > {tol:.3g}"


@pytest.mark.parametrize("name", ["lenet", "dscnn"])
def test_packed_weights_agree_with_the_cpu(nnbrt_ocl, tmp_path, name: str) -> None:
    from nnb.quantize.dq import DqConfig, DqLayer
    from nnb.quantize.layers import weight_params
    from nnb.quantize.lutq import LutqConfig, LutqLayer
    from nnb.quantize.qmodel import QuantizedModel

    g = load_model(os.path.join(ZOO, f"{name}.nnp"))
    layers = {}
    for i, n in enumerate(weight_params(g)):
        w = g.tensors[n].data
        q = (LutqLayer(w, LutqConfig(k=4, init_iters=3)).to_qlayer() if i % 2 else
             DqLayer(w, DqConfig(bits=3)).to_qlayer(w))
        layers[n] = q
        g.tensors[n].data = q.dequantize()
    image = convert(QuantizedModel(g, "test", layers)).image
    x = zoo_inputs(name)
    (tmp_path / "o").mkdir()
    (tmp_path / "c").mkdir()
    r, got = _run(nnbrt_ocl, image, x, tmp_path / "o")
    assert r.returncode == 0, r.stderr
    r, want = _run(nnbrt_ocl, image, x, tmp_path / "c", device_arg="cpu")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)


def test_no_platform_is_one_line(nnbrt_ocl, tmp_path) -> None:
    image = convert(load_model(os.path.join(ZOO, "lenet.nnp")), mode="extended").image
    r, _ = _run(nnbrt_ocl, image, zoo_inputs("lenet"), tmp_path, env={"OCL_ICD_VENDORS": str(tmp_path / "none")})
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0 and len(lines) == 1 and "pocl-opencl-icd" in lines[0], r.stderr
