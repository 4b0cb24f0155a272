"""LUT-Q and DQ quantizers, the .nnq file and the quantize command (fast: tiny data)."""

from __future__ import annotations

import argparse
import os

import numpy as np
import pytest
from train_helpers import LENET, TEST_2K

from nnb.commands import register_all
from nnb.errors import NnbError
from nnb.nnp.reader import load
from nnb.quantize.dq import DqConfig, DqHook, DqLayer, bits_of, parse_size
from nnb.quantize.layers import weight_params
from nnb.quantize.lutq import LutqConfig, LutqHook, LutqLayer, nearest
from nnb.quantize.qmodel import QLayer, QuantizedModel, load_quantized, pack_codes, save_quantized, unpack_codes

RNG = np.random.default_rng(3)


def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    register_all(p.add_subparsers())
    return p.parse_args(list(argv))


def test_nearest() -> None:
    d = np.array([0.5, -1.0, 0.0])
    np.testing.assert_array_equal(nearest(np.array([-2, -0.6, 0.1, 0.3, 9]), d), [1, 1, 2, 0, 0])


def test_lutq_kmeans_step() -> None:
    w = RNG.standard_normal((20, 30))
    q = LutqLayer(w, LutqConfig(k=4))
    q.step(w)
    a = q.a
    np.testing.assert_array_equal(a, nearest(w.ravel(), q.d).reshape(w.shape) * 0 + a)  # shape kept
    prev_d = q.d.copy()
    q.step(w)  # converged k-means: assignment is nearest and d are the cluster means
    for k in range(4):
        np.testing.assert_allclose(q.d[k], w[q.a == k].mean(), rtol=1e-6)
    assert np.abs(prev_d - q.d).max() < 1e-2
    assert len(np.unique(q.quantized())) == 4


def test_lutq_pow2_prune_symmetric() -> None:
    w = RNG.standard_normal(1000) * 0.1
    p = LutqLayer(w, LutqConfig(k=4, pow2=True))
    nz = p.d[p.d != 0]
    np.testing.assert_allclose(np.log2(np.abs(nz)), np.round(np.log2(np.abs(nz))))
    z = LutqLayer(w, LutqConfig(k=4, prune=0.5))
    assert z.d[0] == 0 and abs((z.quantized() == 0).mean() - 0.5) < 0.01
    assert np.all(np.abs(w[z.a == 0]).max() <= np.abs(w[z.a != 0]).min())
    s = LutqLayer(w, LutqConfig(k=4, symmetric=True))
    np.testing.assert_allclose(s.d, -s.d[::-1])
    with pytest.raises(NnbError):
        LutqConfig(k=3, symmetric=True).check()


def test_lutq_hook_forward_uses_dictionary() -> None:
    g = load(LENET)
    params = {t.name: t.data for t in g.params()}
    names = weight_params(g)
    assert names == ["conv1/conv/W", "conv2/conv/W", "fc3/affine/W", "fc4/affine/W"]
    h = LutqHook(params, names, LutqConfig(k=4))
    used = h.forward_params(params)
    for n in names:
        assert len(np.unique(used[n])) <= 4
    assert used["conv1/conv/b"] is params["conv1/conv/b"]


def test_pack_roundtrip() -> None:
    for bits in (1, 2, 3, 5, 8):
        c = RNG.integers(0, 1 << bits, size=101)
        np.testing.assert_array_equal(unpack_codes(pack_codes(c, bits), bits, 101), c)


def test_nnq_roundtrip(tmp_path) -> None:
    g = load(LENET)
    w = g.tensors["fc4/affine/W"].data
    q = LutqLayer(w, LutqConfig(k=4)).to_qlayer()
    u = DqLayer(g.tensors["conv1/conv/W"].data, DqConfig(bits=3))
    uq = u.to_qlayer(g.tensors["conv1/conv/W"].data)
    g.tensors["fc4/affine/W"].data = q.dequantize()
    g.tensors["conv1/conv/W"].data = uq.dequantize()
    path = str(tmp_path / "m.nnq")
    save_quantized(path, QuantizedModel(g, "test", {"fc4/affine/W": q, "conv1/conv/W": uq}))
    m = load_quantized(path)
    np.testing.assert_array_equal(m.graph.tensors["fc4/affine/W"].data, q.dequantize())
    np.testing.assert_array_equal(m.graph.tensors["conv1/conv/W"].data, uq.dequantize())
    assert m.layers["conv1/conv/W"].bits == 3 and m.layers["conv1/conv/W"].codes.min() >= -3
    assert isinstance(m.layers["fc4/affine/W"], QLayer)


def test_dq_bits_and_sizes() -> None:
    assert bits_of(1.0, 1.0) == 2 and bits_of(1.0, 3.0) == 3 and bits_of(1.0, 7.0) == 4 and bits_of(1.0, 500) == 8
    assert parse_size("11.4kB") == pytest.approx(11.4)
    assert parse_size("8192bit") == pytest.approx(1.0)
    assert parse_size("2048B") == pytest.approx(2.0)
    with pytest.raises(NnbError):
        parse_size("lots")


def test_dq_quantizer_codes_fit_bits() -> None:
    w = RNG.standard_normal(500) * 0.2
    for bits in (2, 3, 4):
        q = DqLayer(w, DqConfig(bits=bits))
        c = q.codes(w)
        assert np.abs(c).max() <= (1 << (bits - 1)) - 1
    q = DqLayer(w, DqConfig(budget_kb=1.0))
    assert q.bits == 4
    gw, gd, gq = q.grads(w, np.ones_like(w))
    inside = np.abs(w) <= q.range()
    np.testing.assert_array_equal(gw, inside.astype(float))
    assert gq == pytest.approx(np.sign(w[~inside]).sum())


def test_dq_budget_penalty_shrinks_bits() -> None:
    w = {"a": RNG.standard_normal(4000) * 0.2, "b": RNG.standard_normal(100) * 0.2}
    h = DqHook(w, ["a", "b"], DqConfig(budget_kb=4100 * 2 / 8192, hard_budget=False))
    from nnb.train.optim import Adam

    opt = Adam()
    start = h.weight_kb()
    for _ in range(300):
        grads, pen = h.backward(w, {"a": np.zeros(4000), "b": np.zeros(100)})
        opt.step(h.variables(), {k: v for k, v in grads.items() if k.startswith("dq/")}, 1e-2)
        h.after_step(w)
    assert h.weight_kb() < start and h.within_budget()


def test_quantize_command(tmp_path, capsys) -> None:
    out = str(tmp_path / "q.nnq")
    nnp = str(tmp_path / "q.nnp")
    a = _parse("quantize", LENET, "--method", "lutq", "--k", "4", "--data", TEST_2K, "--limit", "128",
               "--epochs", "1", "-q", "-o", out, "--export-nnp", nnp, "--val", "none")
    assert a.func(a) == 0
    m = load_quantized(out)
    f = load(nnp)
    for n, q in m.layers.items():
        assert q.bits == 2 and len(np.unique(m.graph.tensors[n].data)) <= 4
        np.testing.assert_array_equal(f.tensors[n].data, m.graph.tensors[n].data)
    assert os.path.getsize(out) < os.path.getsize(LENET) / 4
    a = _parse("eval", out, "--data", TEST_2K, "--limit", "200")
    assert a.func(a) == 0
    a = _parse("quantize", LENET, "--method", "dq", "--weight-budget", "93216bit", "--data", TEST_2K,
               "--limit", "128", "-q", "-o", out, "--val", "none")
    assert a.func(a) == 0
    m = load_quantized(out)
    assert sum(q.codes.size * q.bits for q in m.layers.values()) <= 93216
    for q in m.layers.values():
        assert np.abs(q.codes).max() <= (1 << (q.bits - 1)) - 1
    a = _parse("quantize", LENET, "--method", "dq", "--data", TEST_2K, "--limit", "64", "-q", "-o", out)
    with pytest.raises(NnbError, match="weight-budget"):
        a.func(a)
    a = _parse("quantize", LENET, "--method", "lutq", "--data", TEST_2K, "-o", str(tmp_path / "x.nnp"))
    with pytest.raises(NnbError, match=".nnq"):
        a.func(a)


def test_dq_projection_meets_budget() -> None:
    w = {"a": RNG.standard_normal(4000) * 0.2, "b": RNG.standard_normal(100) * 0.2}
    h = DqHook(w, ["a", "b"], DqConfig(budget_kb=(4000 * 2 + 100 * 5) / 8192))
    assert h.within_budget()  # projected from the start (initial 4 bits would not fit)
    h.after_step(w)
    assert h.within_budget()
    assert h.layers["a"].bits == 2 and h.layers["b"].bits == 4  # the big layer gives way first
