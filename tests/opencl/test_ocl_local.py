"""The local-memory forms (opencl/conv_local.cl, opencl/affine_local.cl), forced on the test device with
NNB_OCL_FORMS=local: odd layer shapes and zoo models against the reference / nnabla, every compiled tile
configuration, the selection rules, the device limits and the tuning cache."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import ZOO, zoo_inputs, zoo_outputs
from ocl_helpers import device
from test_cpu_forms_ocl import residual_graph

import nnb.backends.opencl as ocl_backend
from nnb.backends import opencl_local, opencl_tune
from nnb.backends.opencl import OpenCLNet, model_graph
from nnb.builder import GraphBuilder
from nnb.errors import NnbError
from nnb.executor import run as run_reference
from nnb.model import load_model

RNG = np.random.default_rng(11)


def _r(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.fixture
def local_forms(monkeypatch, tmp_path):  # noqa: ANN001, ANN201
    """The local forms on, tuning off unless a test turns it on, the tuning cache in a temporary directory."""
    monkeypatch.setenv("NNB_OCL_FORMS", "local")
    monkeypatch.setenv("NNB_OPENCL_TUNE", "0")
    monkeypatch.setenv("NNB_OPENCL_CACHE", str(tmp_path))  # the program is already built: only the tuning file
    return device()


def _close(y: np.ndarray, ref: np.ndarray, what: str) -> None:
    tol = 1e-4 * max(1.0, float(np.abs(ref).max()))
    err = float(np.abs(y.reshape(ref.shape).astype(np.float64) - ref).max())
    assert err <= tol, f"{what}: max abs error {err:.3g} > {tol:.3g}"


def _check(g, xs: list[np.ndarray], net: OpenCLNet) -> None:  # noqa: ANN001
    want = run_reference(g, xs)
    for y, name in zip(net.run(xs), g.outputs):
        _close(y, want[name], name)


def _local_kernels(net: OpenCLNet) -> list[str]:
    return [ln.kernel for ln in net.layout.launches if ln.kernel.startswith("local_")]


def _one(op: str, shape: tuple, params: list, attrs: dict):  # noqa: ANN202
    b = GraphBuilder("t", batch_size=shape[0])
    names = [b.input("x", shape)] + [b.param(f"p{k}", _r(*s)) for k, s in enumerate(params)]
    b.output(b.op(op, names, **attrs))
    return b.build()


CASES = [  # (id, op, input shape, params, attrs): channels off the tiles, padding, strides, groups, dilation, batch
    ("odd-3x3-pad", "Convolution", (2, 3, 13, 37), [(11, 3, 3, 3), (11,)], {"pad": (1, 1)}),
    ("stride2-pad", "Convolution", (2, 5, 9, 19), [(37, 5, 3, 3)], {"pad": (1, 1), "stride": (2, 2)}),
    ("groups", "Convolution", (3, 6, 11, 9), [(10, 3, 3, 3), (10,)], {"pad": (1, 1), "group": 2}),
    ("dilation", "Convolution", (2, 5, 12, 12), [(40, 5, 3, 3)], {"pad": (2, 2), "dilation": (2, 2)}),
    ("5x5-s2-asym", "Convolution", (1, 4, 17, 10), [(70, 4, 5, 3), (70,)], {"pad": (2, 1), "stride": (2, 3)}),
    ("one-input-channel", "Convolution", (2, 1, 28, 28), [(6, 1, 5, 5), (6,)], {}),
    ("large-kernel-chunks", "Convolution", (1, 40, 9, 9), [(17, 40, 7, 7)], {"pad": (3, 3)}),
    ("pointwise", "Convolution", (2, 33, 5, 7), [(65, 33, 1, 1), (65,)], {}),
    ("channel-last", "Convolution", (2, 7, 9, 5), [(12, 3, 3, 5)], {"pad": (1, 1), "channel_last": True}),
    ("fused-relu6", "FusedConv", (2, 4, 9, 26), [(12, 4, 3, 2), (12,)], {"activation": "relu6", "has_bias": True}),
    ("fused-maxpool", "FusedConv", (2, 3, 12, 13), [(19, 3, 3, 3), (19,)],
     {"pad": (1, 1), "pool": "max", "pool_kernel": (2, 2), "pool_stride": (2, 2), "activation": "relu",
      "has_bias": True}),
    ("affine-batch", "Affine", (5, 37), [(37, 70), (70,)], {}),
    ("affine-4d", "Affine", (33, 3, 4, 5), [(60, 9)], {}),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_local_form_matches_reference(local_forms, case: tuple) -> None:
    _, op, shape, params, attrs = case
    g = _one(op, shape, params, attrs)
    net = OpenCLNet(g, device=local_forms, tune=False)
    kernels = _local_kernels(net)
    assert kernels, [ln.kernel for ln in net.layout.launches]
    assert kernels[0].startswith("local_affine" if op == "Affine" else "local_conv"), kernels
    _check(g, [_r(*shape)], net)


@pytest.mark.parametrize("in_place", [True, False], ids=["in-place", "separate"])
def test_local_conv_residual(local_forms, in_place: bool) -> None:
    """FusedConv + residual + ReLU, the output stored over the residual or beside it."""
    g, r, y = residual_graph((2, 3, 6, 27), _r(10, 3, 3, 3), _r(10), in_place, activation="relu")
    net = OpenCLNet(g, device=local_forms, tune=False)
    assert (net.layout.offsets[r] == net.layout.offsets[y]) == in_place
    assert _local_kernels(net)
    _check(g, [_r(2, 3, 6, 27), _r(2, 10, 6, 27)], net)


def _every_config(dev) -> list[opencl_local.TileConfig]:  # noqa: ANN001
    return opencl_local.configs(dev.program_source)


def test_every_configuration_matches_reference(local_forms, monkeypatch) -> None:
    """Each compiled configuration alone (one graph: a strided padded conv, a grouped dilated conv with residual,
    an affine of a batch of 6)."""
    b = GraphBuilder("t", batch_size=6)
    x = b.input("x", (6, 5, 10, 11))
    h = b.op("FusedConv", [x, b.param("w0", _r(18, 5, 3, 3)), b.param("b0", _r(18))], pad=(1, 1), stride=(2, 2),
             has_bias=True, activation="relu")
    h2 = b.op("FusedConv", [h, b.param("w1", _r(18, 6, 3, 3)), b.param("b1", _r(18)), h], pad=(2, 2),
              dilation=(2, 2), group=3, residual=True, has_bias=True, activation="")
    b.output(b.op("Affine", [h2, b.param("w2", _r(18 * 5 * 6, 21)), b.param("b2", _r(21))]))
    g = b.build()
    xs = [_r(6, 5, 10, 11)]
    want = run_reference(g, xs)[g.outputs[0]]
    configs = _every_config(local_forms)
    assert {c.kind for c in configs} == {"conv", "affine"} and len(configs) >= 6
    conv = [c for c in configs if c.kind == "conv"]
    aff = [c for c in configs if c.kind == "affine"]
    for k in range(max(len(conv), len(aff))):
        pair = [conv[k % len(conv)], aff[k % len(aff)]]
        monkeypatch.setattr(ocl_backend, "tiles_for", lambda dev, pair=pair: opencl_local.Tiles(pair))
        net = OpenCLNet(g, device=local_forms, tune=False)
        assert sorted(set(_local_kernels(net))) == sorted(c.kernel for c in pair)
        _close(net.run(xs)[0], want, "+".join(c.kernel for c in pair))


@pytest.mark.parametrize("name", ["resnet8", "lenet", "conv_variants", "matmul"])
def test_zoo_model_in_local_forms_matches_nnabla(local_forms, zoo_dir, name: str) -> None:
    path = os.path.join(ZOO, f"{name}.nnp")
    net = OpenCLNet(model_graph(path, load_model(path)), device=local_forms, tune=False)
    assert _local_kernels(net)
    outs, refs = net.run(zoo_inputs(name)), zoo_outputs(name)
    assert len(outs) == len(refs)
    for k, (y, ref) in enumerate(zip(outs, refs)):
        _close(y, ref, f"{name} output {k}")


def test_selection_rules(monkeypatch) -> None:
    monkeypatch.delenv("NNB_OCL_FORMS", raising=False)
    assert opencl_local.wants_local(is_cpu=False) and not opencl_local.wants_local(is_cpu=True)
    assert opencl_local.wants_cpu_forms(is_cpu=True) and not opencl_local.wants_cpu_forms(is_cpu=False)
    monkeypatch.setenv("NNB_OCL_FORMS", "local")
    assert opencl_local.wants_local(is_cpu=True)
    monkeypatch.setenv("NNB_OCL_FORMS", "cpu")
    assert not opencl_local.wants_local(is_cpu=False) and opencl_local.wants_cpu_forms(is_cpu=False)
    monkeypatch.setenv("NNB_OCL_FORMS", "gpu-ish")
    with pytest.raises(NnbError, match="NNB_OCL_FORMS"):
        opencl_local.wants_local(is_cpu=False)


def test_cpu_device_keeps_cpu_forms_by_default(monkeypatch) -> None:
    dev = device()
    if not dev.is_cpu:
        pytest.skip(f"{dev.name} is not a CPU device: the local forms are its default")
    monkeypatch.delenv("NNB_OCL_FORMS", raising=False)
    net = OpenCLNet(_one("Convolution", (2, 3, 9, 9), [(16, 3, 3, 3)], {"pad": (1, 1)}), device=dev, tune=False)
    assert not _local_kernels(net) and net.layout.launches[-1].kernel.startswith(("conv_v", "conv_col"))


def test_local_memory_limit_respected(local_forms, monkeypatch) -> None:
    """A configuration needing more __local memory (or a larger work group) than the device has is never chosen
    nor timed."""
    configs = _every_config(local_forms)
    sizes = sorted({c.local_bytes for c in configs if c.kind == "conv"})
    assert len(sizes) >= 3
    limit = sizes[1]  # only the smallest conv configurations fit
    real = local_forms.limits()
    monkeypatch.setattr(type(local_forms), "limits", lambda self: dict(real, local_mem_size=limit,
                                                                        max_work_group_size=64))
    g = _one("Convolution", (2, 40, 12, 12), [(70, 40, 3, 3)], {"pad": (1, 1)})
    net = OpenCLNet(g, device=local_forms, tune=False)
    by_name = {c.kernel: c for c in configs}
    launch = next(ln for ln in net.layout.launches if ln.kernel.startswith("local_"))
    for kernel, _n, local in [(launch.kernel, launch.n, launch.local)] + launch.alts:
        assert by_name[kernel].local_bytes <= limit and local <= 64, kernel
    _check(g, [_r(2, 40, 12, 12)], net)
    # the rule itself: nothing above the local memory or the work-group limits
    fitted = opencl_local.fit(configs, 64, limit, 8)
    assert fitted and all(c.local_bytes <= limit and c.wg <= 64 for c in fitted)
    assert not opencl_local.fit(configs, 1024, min(c.local_bytes for c in configs) - 4, 8)


def test_tuning_cache_written_reused_and_keyed(local_forms, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("NNB_OPENCL_TUNE", "1")
    g = _one("Convolution", (2, 6, 16, 16), [(24, 6, 3, 3)], {"pad": (1, 1)})
    xs = [_r(2, 6, 16, 16)]
    net = OpenCLNet(g, device=local_forms)
    launch = next(ln for ln in net.layout.launches if ln.tune_key)
    assert 2 <= len(launch.alts) <= opencl_local.TRY
    path = local_forms.tuning_path()
    assert os.path.dirname(path) == str(tmp_path)
    with open(path) as f:
        saved = json.load(f)
    assert saved[launch.tune_key] == launch.kernel and launch.kernel in [a[0] for a in launch.alts]
    _check(g, xs, net)

    # reused: a second network of the same shape times nothing and runs the cached choice, even one that is
    # not the default (the cache entry rewritten by hand)
    other = next(a[0] for a in launch.alts if a[0] != launch.kernel)
    local_forms.save_tuning({launch.tune_key: other})

    def no_timing(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("a cached layer shape was timed again")

    monkeypatch.setattr(opencl_tune, "_seconds", no_timing)
    again = OpenCLNet(g, device=local_forms)
    assert next(ln for ln in again.layout.launches if ln.tune_key).kernel == other
    _check(g, xs, again)

    # keyed by device and kernel source: another source (or device) reads another file
    from nnb.backends.opencl_device import Device

    twin = Device(local_forms.dev, local_forms.ctx, local_forms.queue, local_forms.program,
                  local_forms.program_source + "\n/* changed */\n")
    assert twin.tuning_path() != path and os.path.dirname(twin.tuning_path()) == str(tmp_path)
    assert twin.tuning() == {}


def test_tuning_disabled_by_env(local_forms, monkeypatch) -> None:
    monkeypatch.setattr(opencl_tune, "_seconds", lambda *_a: pytest.fail("timed although tuning is off"))
    g = _one("Convolution", (2, 6, 16, 16), [(24, 6, 3, 3)], {"pad": (1, 1)})
    OpenCLNet(g, device=local_forms)  # NNB_OPENCL_TUNE=0 from the fixture
    assert not os.path.exists(local_forms.tuning_path())


def test_local_conv_with_the_gpu_forms_elsewhere(local_forms) -> None:
    """The combination a GPU runs by default: local convolution, and for the rest the non-CPU forms (a pooling
    FusedConv as the local convolution into scratch, then pool2d, the residual and the activation)."""
    b = GraphBuilder("t", batch_size=2)
    x, r = b.input("x", (2, 3, 12, 13)), b.input("r", (2, 19, 6, 6))
    y = b.op("FusedConv", [x, b.param("w", _r(19, 3, 3, 3)), b.param("b", _r(19)), r], pad=(1, 1), pool="max",
             pool_kernel=(2, 2), pool_stride=(2, 2), residual=True, has_bias=True, activation="relu6")
    b.output(y)
    g = b.build()
    net = OpenCLNet(g, device=local_forms, cpu_forms=False, tune=False)
    kernels = [ln.kernel for ln in net.layout.launches]
    assert _local_kernels(net) and "pool2d" in kernels, kernels
    _check(g, [_r(2, 3, 12, 13), _r(2, 19, 6, 6)], net)


def test_packed_model_in_local_forms_agrees_with_c_runtime(local_forms) -> None:
    """LUT-Q packed LeNet (weights decoded on the device, the affine's as [out][in]) in the local forms: the C
    runtime's scores on 64 Fashion-MNIST images."""
    from test_packed_ocl import LENET, TEST_2K, N, _quantized

    from nnb.backends.c import CNet
    from nnb.backends.opencl import rebatch
    from nnb.train.data import input_array, load_data

    if not os.path.exists(LENET) or not os.path.exists(TEST_2K):
        pytest.skip(f"trained fixtures not found ({LENET})")
    g, c = _quantized(LENET, "lut", 2)
    x, _ = load_data(TEST_2K, "test")
    xi = input_array(g, x)[:min(N, 64)]
    want = CNet(c.image).run_batch([xi])[0].reshape(len(xi), -1)
    net = OpenCLNet(rebatch(c.graph, len(xi)), device=local_forms, tune=False)
    kernels = _local_kernels(net)
    assert any(k.startswith("local_affine") for k in kernels) and any(k.startswith("local_conv") for k in kernels)
    got = net.run([xi])[0].reshape(len(xi), -1)
    np.testing.assert_array_equal(got.argmax(axis=1), want.argmax(axis=1))
    assert float(np.abs(got - want).max()) <= 1e-4 * max(1.0, float(np.abs(want).max()))
