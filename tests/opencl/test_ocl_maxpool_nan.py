"""OpenCL max pooling with NaN inputs as nnabla 1.39 (and nnb/ops/pooling.py): each window starts from its first
valid cell and takes a later cell only if greater, so a NaN first cell is the result and a later NaN is skipped
(fmax, used before, returned the number beside a NaN). MaxPooling (pool2d; pool for channel_last) and FusedConv's
pools (pool2d after the fast conv, pool_rows and pool2_plane of the CPU forms, conv.cl's conv_out for a 1-D
convolution) on NaN-speckled inputs against the numpy reference: NaN positions equal, the numbers equal.
"""

from __future__ import annotations

import numpy as np
import pytest
from ocl_helpers import device

from nnb.backends.opencl import OpenCLNet
from nnb.builder import GraphBuilder
from nnb.executor import run as run_reference

NAN = np.float32(np.nan)
# nnabla 1.39's F.max_pooling of this plane (kernel 2x2, stride 2): a NaN first cell wins, a later NaN is skipped
X4 = np.array([[[[NAN, 1, 2, 3], [4, 5, NAN, 7], [NAN, NAN, NAN, NAN], [NAN, NAN, 1, NAN]]]], np.float32)
NNABLA_2X2 = np.array([[[[NAN, 7], [NAN, NAN]]]], np.float32)

# (id, op, input shape, params, attrs, cpu forms, NaN fraction)
CASES = [
    ("maxpool-2x2", "MaxPooling", (2, 3, 10, 12), [], {"kernel": (2, 2)}, False, 0.3),
    ("maxpool-3x3s2-pad", "MaxPooling", (2, 3, 9, 11), [], {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1)},
     False, 0.3),
    ("maxpool-channel-last", "MaxPooling", (2, 7, 6, 3), [], {"kernel": (2, 3), "stride": (1, 2),
                                                              "channel_last": True}, False, 0.3),
    ("fused-1x1-pool2-fast", "FusedConv", (2, 3, 12, 16), [(16, 3, 1, 1), (16,)],
     {"pool": "max", "pool_kernel": (2, 2), "pool_stride": (2, 2)}, False, 0.3),
    ("fused-1x1-pool2-cpu", "FusedConv", (2, 3, 12, 32), [(8, 3, 1, 1), (8,)],
     {"pool": "max", "pool_kernel": (2, 2), "pool_stride": (2, 2)}, True, 0.3),
    ("fused-3x3-pool3-cpu", "FusedConv", (2, 3, 13, 15), [(8, 3, 3, 3), (8,)],
     {"pad": (1, 1), "pool": "max", "pool_kernel": (3, 3), "pool_stride": (2, 2), "pool_pad": (1, 1)}, True, 0.04),
    ("fused-1d-pool", "FusedConv", (2, 3, 30), [(4, 3, 1), (4,)],
     {"pool": "max", "pool_kernel": (3,), "pool_stride": (2,)}, False, 0.3),
]
# the pooling kernel each case is meant to reach (a planner change that moves a case elsewhere shows here)
KERNEL = {"maxpool-2x2": "pool2d", "maxpool-3x3s2-pad": "pool2d", "maxpool-channel-last": "pool",
          "fused-1x1-pool2-fast": "pool2d", "fused-1x1-pool2-cpu": "pool2_plane", "fused-3x3-pool3-cpu": "pool_rows",
          "fused-1d-pool": "conv"}


def _net(op: str, shape: tuple, params: list, attrs: dict, rng: np.random.Generator) -> tuple:
    b = GraphBuilder("t", batch_size=shape[0])
    names = [b.input("x", shape)] + [b.param(f"p{k}", rng.standard_normal(s).astype(np.float32))
                                     for k, s in enumerate(params)]
    if op == "FusedConv":
        attrs = dict(attrs, has_bias=True)
    b.output(b.op(op, names, **attrs))
    return b.build()


def _same(got: np.ndarray, want: np.ndarray, what: str) -> None:
    nan = np.isnan(want)
    assert nan.any() and not nan.all(), f"{what}: the case should have NaN and numbers"
    assert np.array_equal(np.isnan(got), nan), f"{what}: NaN positions differ\ngot {got}\nwant {want}"
    np.testing.assert_allclose(got[~nan], want[~nan], rtol=1e-5, atol=1e-5, err_msg=what)


def test_ocl_max_pooling_nan_as_nnabla() -> None:
    ocl = device()
    g = _net("MaxPooling", X4.shape, [], {"kernel": (2, 2)}, np.random.default_rng(0))
    got = OpenCLNet(g, device=ocl).run([X4])[0]
    _same(got, NNABLA_2X2, "nnabla's 4x4 plane")


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_ocl_max_pool_nan_as_reference(case: tuple) -> None:
    ocl = device()
    name, op, shape, params, attrs, cpu, frac = case
    rng = np.random.default_rng(3)
    g = _net(op, shape, params, attrs, rng)
    x = rng.standard_normal(shape).astype(np.float32)
    x[rng.random(shape) < frac] = NAN
    net = OpenCLNet(g, device=ocl, cpu_forms=cpu)
    kernels = {ln.kernel for ln in net.layout.launches}
    assert KERNEL[name] in kernels, kernels
    got, want = net.run([x])[0], run_reference(g, [x])[g.outputs[0]]
    _same(got, want, f"{name} (kernels {sorted(kernels)})")


def test_c_host_max_pool_nan_as_reference(tmp_path) -> None:  # noqa: ANN001
    """The same cases through the C host (nnbrt run --device opencl, the same .cl files), one process per case."""
    import subprocess

    from ocl_helpers import c_host

    from nnb.emit.convert import convert

    nnbrt = c_host()
    for name, op, shape, params, attrs, _, frac in CASES:
        if attrs.get("channel_last"):
            continue  # the C runtime refuses channel_last pooling (nnbrt: unsupported function argument)
        rng = np.random.default_rng(3)
        g = _net(op, shape, params, attrs, rng)
        x = rng.standard_normal(shape).astype(np.float32)
        x[rng.random(shape) < frac] = NAN
        (tmp_path / "m.nnb").write_bytes(convert(g, "extended").image)
        x.tofile(tmp_path / "x.bin")
        r = subprocess.run([nnbrt, "run", str(tmp_path / "m.nnb"), str(tmp_path / "x.bin"), "-o",
                            str(tmp_path / "y"), "--device", "opencl"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"{name}: {r.stderr[-2000:]}"
        want = run_reference(g, [x])[g.outputs[0]]
        _same(np.fromfile(tmp_path / "y0.bin", "<f4").reshape(want.shape), want, f"{name} (C host)")
