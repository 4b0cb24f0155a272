"""Every zoo model on the OpenCL device against nnabla's own outputs (max abs err <= 1e-4 * max(1, max|ref|))."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import ZOO, zoo_inputs, zoo_names, zoo_outputs
from ocl_helpers import device

from nnb.backends.opencl import OpenCLNet, model_graph, rebatch
from nnb.executor import run as run_reference
from nnb.model import load_model


def _close(y: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert y.size == ref.size, f"{what}: {y.shape} vs {ref.shape}"
    tol = 1e-4 * max(1.0, float(np.abs(ref).max()))
    err = float(np.abs(y.reshape(ref.shape).astype(np.float64) - ref).max())
    assert err <= tol, f"{what}: max abs error {err:.3g} > {tol:.3g}"


@pytest.mark.parametrize("name", zoo_names())
def test_zoo_model_matches_nnabla(zoo_dir, name: str) -> None:
    ocl = device()
    path = os.path.join(ZOO, f"{name}.nnp")
    g = model_graph(path, load_model(path))
    net = OpenCLNet(g, device=ocl)
    outs = net.run(zoo_inputs(name))
    refs = zoo_outputs(name)
    assert len(outs) == len(refs)
    for k, (y, ref) in enumerate(zip(outs, refs)):
        _close(y, ref, f"{name} output {k}")


@pytest.mark.parametrize("name", ["resnet8", "unet_tiny", "array"])
def test_batched_run_matches_reference(zoo_dir, name: str) -> None:
    """A batch of 3 different samples in one run: every sample as the numpy reference computes it."""
    ocl = device()
    path = os.path.join(ZOO, f"{name}.nnp")
    g = load_model(path)
    rng = np.random.default_rng(3)
    xs = [np.concatenate([x, x + 0.5 * rng.standard_normal(x.shape).astype(np.float32), -x]) for x in
          zoo_inputs(name)]
    net = OpenCLNet(rebatch(model_graph(path, g), 3), device=ocl)
    got = net.run(xs)
    want = run_reference(rebatch(g, 3), xs)
    for k, (y, name_out) in enumerate(zip(got, g.outputs)):
        _close(y, want[name_out], f"{name} batch output {k}")
    assert any(not np.allclose(y[0], y[1]) for y in got), "the samples should give different outputs"


@pytest.mark.parametrize("name", [n for n in zoo_names() if os.path.exists(os.path.join(ZOO, f"{n}.nnb"))])
def test_nnabla_converter_nnb_through_the_backend(zoo_dir, name: str) -> None:
    """The .nnb files nnabla's converter wrote, through the backend entry `nnb run --backend opencl` uses."""
    device()
    from nnb.backends import get_runner

    path = os.path.join(ZOO, f"{name}.nnb")
    g = load_model(path)
    outs = get_runner("opencl")(path, g, dict(zip(g.inputs, zoo_inputs(name))), {})
    for k, (out, ref) in enumerate(zip(g.outputs, zoo_outputs(name))):
        _close(outs[out], ref, f"{name}.nnb output {k}")
