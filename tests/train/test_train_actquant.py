"""DQ activation quantization (--act-budget): the quantizer, its gradients, the budgets and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from train_helpers import LENET, TEST_2K

from nnb.cli import main
from nnb.errors import NnbError
from nnb.nnp.reader import load
from nnb.quantize.dq import KB_BITS, ActQuant, DqConfig, DqHook, activation_targets, fixed_act_quantizers
from nnb.quantize.layers import weight_params
from nnb.quantize.qmodel import load_quantized
from nnb.train.autograd import Program
from nnb.train.evaluate import predict
from nnb.train.loss import logits_name

RNG = np.random.default_rng(11)


def test_act_quantizer_forward_backward() -> None:
    q = ActQuant(100, DqConfig(bits=8), d=0.25, qmax=1.0, calibrated=True)
    assert q.bits == 3  # 4 steps of 0.25 above 0: levels 0..4 need 3 bits
    x = np.array([-0.1, 0.0, 0.1, 0.3, 0.99, 1.5], np.float32)
    y, ctx = q.forward(x)
    np.testing.assert_allclose(y, [0, 0, 0, 0.25, 1.0, 1.0])
    g = q.backward(np.ones_like(x), ctx)
    np.testing.assert_array_equal(g, [0, 1, 1, 1, 1, 0])
    inside = (x >= 0) & (x <= 1.0)
    assert q.gd == pytest.approx(float(((y - x) / 0.25)[inside].sum()))
    assert q.gq == pytest.approx(1.0)


def test_calibration_and_cap() -> None:
    q = ActQuant(10, DqConfig(bits=8))
    q.cap = 2
    x = RNG.random(10000).astype(np.float32) * 4
    q.forward(x)
    assert bool(q.calibrated) and q.bits == 2 and q.range() == pytest.approx(float(np.percentile(x, 99.99)), rel=1e-3)


def test_program_applies_activation_quantizer() -> None:
    g = load(LENET)
    acts = activation_targets(g)
    assert list(acts.values()) == [2304, 512, 64]
    name = next(iter(acts))
    prog = Program(g, logits_name(g))
    q = ActQuant(acts[name], DqConfig(bits=8), d=0.5, qmax=1.5, calibrated=True)
    prog.act = {name: q}
    params = {t.name: t.data for t in g.params()}
    x = RNG.random((4, 1, 28, 28)).astype(np.float32)
    tape = prog.forward({g.inputs[0]: x}, params, training=False)
    v = tape.values[name]
    assert set(np.unique(v)) <= {0.0, 0.5, 1.0, 1.5}
    grads = prog.backward(tape, np.ones_like(tape.values[prog.target]))
    assert grads and q.gd != 0.0
    z = predict(g, x, act={name: q})
    np.testing.assert_allclose(z, tape.values[prog.target].reshape(4, -1), rtol=1e-6)


def _hook(kind: str, budget_kb: float) -> DqHook:
    g = load(LENET)
    params = {t.name: t.data for t in g.params()}
    return DqHook(params, weight_params(g), DqConfig(bits=4, act_budget_kb=budget_kb, act_budget_kind=kind),
                  act_sizes=activation_targets(g))


def test_act_budget_projection() -> None:
    h = _hook("max", 2304 * 4 / KB_BITS)
    assert h.act_bits() == {k: b for k, b in zip(h.acts, [4, 8, 8])}
    assert h.within_budget()
    h = _hook("sum", (2304 * 2 + 512 * 8 + 64 * 8) / KB_BITS)
    bits = list(h.act_bits().values())
    assert sum(n * b for n, b in zip([2304, 512, 64], bits)) <= (2304 * 2 + 512 * 8 + 64 * 8) and bits[0] == 2
    with pytest.raises(NnbError, match="minimum 0.281 kB"):
        _hook("max", 0.2)
    with pytest.raises(NnbError, match="minimum 0.352 kB"):
        _hook("sum", 0.3)


def test_quantize_with_act_budget_cli(tmp_path, capsys) -> None:
    out = str(tmp_path / "a.nnq")
    rep = str(tmp_path / "a.html")
    assert main(["quantize", LENET, "--method", "dq", "--weight-budget", "12kB", "--act-budget", "1.125kB",
                 "--data", TEST_2K, "--limit", "256", "--epochs", "1", "-q", "-o", out, "--val", "none",
                 "--report", rep]) == 0
    m = load_quantized(out)
    acts = m.info["activations"]
    assert [a["bits"] for a in acts.values()][0] <= 4
    assert max(a["bits"] * a["elements"] for a in acts.values()) <= 1.125 * KB_BITS
    assert 'id="activations"' in open(rep, encoding="utf-8").read()
    capsys.readouterr()
    assert main(["eval", out, "--data", TEST_2K, "--limit", "300"]) == 0
    shown = capsys.readouterr().out
    from nnb.commands.train import dataset as _dataset

    x, y = _dataset(m.graph, TEST_2K, "test", 300)
    z = predict(m.graph, x, act=fixed_act_quantizers(m.info))
    assert f"{(z.argmax(1) == y).mean():.2%}" in shown
    # the .nnq also carries its int8 deployment (docs/int8.md): the C runtime runs it with integer activations
    assert main(["eval", out, "--data", TEST_2K, "--limit", "300", "--backend", "c"]) == 0
    assert f"{(z.argmax(1) == y).mean():.2%}" in capsys.readouterr().out
    assert main(["quantize", LENET, "--method", "dq", "--bits", "4", "--act-budget", "100B", "--data", TEST_2K,
                 "--limit", "64", "-q", "-o", out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "minimum 0.281 kB" in err
