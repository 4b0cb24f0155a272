"""A DQ model trained with --act-budget deployed as an int8 model (nnb/quantize/dq_int8.py): the integer model
computes the fake-quantized float network's activation codes exactly and its predictions; bad input."""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest
from int8_quant_helpers import DATA, TRAINED, need

from nnb.cli import main
from nnb.errors import NnbError
from nnb.quantize.dq import ActQuant, DqConfig, fixed_act_quantizers
from nnb.quantize.dq_int8 import act_grid, build_dq_int8, single_rounding_multiplier
from nnb.quantize.int8 import from_quantized, is_int8_model
from nnb.quantize.int_sim import run_int8
from nnb.quantize.int_sim_arith import requantize
from nnb.quantize.qmodel import load_quantized, save_quantized
from nnb.train.autograd import Program
from nnb.train.data import input_array, load_npz

DQ_ARGS = {"lenet": ["--weight-budget", "12kB", "--act-budget", "1.125kB"],  # 4-bit first activation, no BN
           "dscnn": ["--bits", "6", "--act-budget", "5kB"]}  # BN folded into per-channel scales, 5-bit activations
_TRAINED: dict[str, tuple[str, str]] = {}


def _train(tmp_path_factory, arch: str) -> tuple[str, str]:  # noqa: ANN001
    """A tiny DQ --act-budget run (128 images, one epoch), once per session: (.nnq path, what quantize printed)."""
    if arch not in _TRAINED:
        import contextlib
        import io

        out = str(tmp_path_factory.mktemp("dq") / f"{arch}.nnq")
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main(["quantize", need(os.path.join(TRAINED, f"fmnist_{arch}.nnp")), "--method", "dq",
                         *DQ_ARGS[arch], "--data", need(DATA), "--limit", "128", "--epochs", "1",
                         "--calib-samples", "200", "-q", "-o", out, "--val", "none"]) == 0
        _TRAINED[arch] = (out, buf.getvalue())
    return _TRAINED[arch]


def _reference_values(qm, x: np.ndarray) -> dict[str, np.ndarray]:  # noqa: ANN001
    prog = Program(qm.graph, qm.graph.outputs[0], wrt=())
    prog.act = fixed_act_quantizers(qm.info)
    return prog.forward({qm.graph.inputs[0]: x}, {t.name: t.data for t in qm.graph.params()},
                        training=False).values


@pytest.mark.parametrize("arch", ["lenet", "dscnn"])
def test_dq_int8_matches_fake_quantized(tmp_path_factory, capsys, arch: str) -> None:  # noqa: ANN001
    path, shown = _train(tmp_path_factory, arch)
    assert "200/200 identical predictions" in shown
    assert "at the activations' quantized widths" in shown and "activation budget" in shown
    qm = load_quantized(path)
    assert qm.method == "dq" and is_int8_model(qm)
    m = from_quantized(qm)
    assert [s.node.op for s in m.steps if s.kind == "int"].count("FusedConv") >= 2
    x, y = load_npz(DATA)
    x = input_array(qm.graph, x[-200:])
    acts = list(qm.info["activations"])
    ref = _reference_values(qm, x)
    got = run_int8(m, [x], keep=acts, as_int=True)
    for k in acts:  # every quantized activation: the integer codes of training's forward, except where its
        a = qm.info["activations"][k]  # float32 value lands within float32 rounding of a half, and what such
        codes = np.round(ref[k].astype(np.float64) / a["step"])  # a flip moves downstream (~1e-4 at the end)
        off = got[k] - m.qparams[k].zero != codes
        assert off.mean() <= (2e-5 if k == acts[0] else 1e-3), (k, int(off.sum()), off.size)
    capsys.readouterr()
    scores = {}
    for backend in ("reference", "intsim"):
        assert main(["eval", path, "--data", DATA, "--limit", "200", "--backend", backend]) == 0
        scores[backend] = capsys.readouterr().out
    assert scores["reference"] == scores["intsim"]


def test_dq_int8_in_the_c_runtime(tmp_path_factory) -> None:  # noqa: ANN001
    """The DQ int8 model through the int8 NNB writer and the C runtime: the simulation's predictions."""
    from nnb.emit.convert import convert_int8
    from nnb.quantize.int_sim import run_int8_batched

    qm = load_quantized(_train(tmp_path_factory, "lenet")[0])
    m = from_quantized(qm)
    try:
        image = convert_int8(m).image
    except (KeyError, NnbError) as e:  # the writer quantizes every island input (float_tensors not taken yet)
        pytest.skip(f"the int8 NNB writer does not take a DQ model's float-island tensors yet ({e!r})")
    from nnb.backends.c import CNet

    x = input_array(qm.graph, load_npz(DATA)[0][-300:])
    c = CNet(image).run_batch([x])[0].reshape(len(x), -1)
    s = run_int8_batched(m, x).reshape(len(x), -1)
    np.testing.assert_allclose(c, s, atol=1e-6)
    assert np.array_equal(c.argmax(1), s.argmax(1))


def test_act_grid_is_dqs_quantizer() -> None:
    """Zero point 127 - n: the int8 clamp [z, 127] is DQ's clip [0, q_max], for every width 1..8 bits."""
    rng = np.random.default_rng(5)
    for bits in range(1, 9):
        d = float(rng.uniform(0.01, 0.2))
        n = (1 << bits) - 1
        q = ActQuant(10, DqConfig(bits=8), d=d, qmax=n * d * float(rng.uniform(0.97, 1.0)), calibrated=True)
        top, _ = q.forward(np.array([1e30], np.float32))
        grid = act_grid(q.step_size(), float(top[0]))
        x = rng.uniform(-1, (n + 3) * d, 2000).astype(np.float32)
        want, _ = q.forward(x)
        np.testing.assert_allclose(grid.dequantize(grid.quantize(np.maximum(x, 0))), want, rtol=1e-6, atol=1e-7)
    with pytest.raises(NnbError, match="do not fit in int8"):
        act_grid(0.01, 2.57)  # 258 levels


def test_single_rounding_multiplier() -> None:
    """requantize with the chosen (mult, shift) rounds acc * M once: off only within its stated bound of a half."""
    rng = np.random.default_rng(9)
    for m in np.concatenate([rng.uniform(1e-4, 0.99, 60), [0.5, 2.0 ** -10, 1.5, 7.0]]):
        mult, shift = single_rounding_multiplier(float(m))
        assert 0 < mult < (1 << 31)
        acc = rng.integers(-int(256 / m), int(256 / m) + 1, 3000)
        got = requantize(acc, mult, shift)
        exact = [Fraction(int(a)) * Fraction(float(m)) for a in acc[:300]]
        for a, e, g in zip(acc[:300], exact, got[:300]):
            dist = abs(abs(e - int(e)) - Fraction(1, 2))  # distance of the exact value from a rounding tie
            if dist > Fraction(1, 10**3):
                assert g == round(e) or (e < 0 and g == -round(-e)), (m, a)
    assert single_rounding_multiplier(0.003)[1] == 0  # a typical DQ ratio: one rounding, no right shift


def test_dq_int8_bad_input(tmp_path, capsys) -> None:
    lenet = need(os.path.join(TRAINED, "fmnist_lenet.nnp"))
    plain = str(tmp_path / "w.nnq")  # DQ without --act-budget: no integer form, intsim says so
    assert main(["quantize", lenet, "--method", "dq", "--bits", "4", "--data", DATA, "--limit", "64",
                 "--epochs", "1", "-q", "-o", plain, "--val", "none"]) == 0
    capsys.readouterr()
    assert main(["eval", plain, "--data", DATA, "--limit", "10", "--backend", "intsim"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no integer simulation" in err and "--act-budget" in err
    with pytest.raises(NnbError, match="quantized activations"):
        build_dq_int8(load_quantized(plain), np.zeros((1, 1, 28, 28), np.float32))
    bad = str(tmp_path / "bad.npz")  # calibration samples of the wrong shape: one line, exit 2, nothing written
    np.savez(bad, x=np.zeros((4, 3, 28, 28), np.uint8), y=np.zeros(4, np.int64))
    out = str(tmp_path / "a.nnq")
    assert main(["quantize", lenet, "--method", "dq", "--bits", "4", "--act-budget", "2kB", "--data", DATA,
                 "--limit", "64", "--epochs", "1", "-q", "-o", out, "--val", "none", "--calib", bad]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expects (1, 28, 28)" in err and not os.path.exists(out)
    lut = str(tmp_path / "l.nnq")  # LUT-Q weights are a table, not a grid: named, exit 2
    assert main(["quantize", lenet, "--method", "lutq", "--data", DATA, "--limit", "64", "--epochs", "1", "-q",
                 "-o", lut, "--val", "none"]) == 0
    qm = load_quantized(lut)
    qm.method = "dq"
    qm.info["activations"] = {"@net/ReLU_out": {"bits": 8, "step": 0.01, "range": 2.0, "elements": 2304}}
    with pytest.raises(NnbError, match="lut table, not a uniform grid"):
        build_dq_int8(qm, input_array(qm.graph, load_npz(DATA)[0][:8]))
    save_quantized(str(tmp_path / "ok.nnq"), load_quantized(plain))  # the plain DQ file still round-trips
