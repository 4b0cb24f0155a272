"""Channel equalization before depthwise convolutions (nnb/quantize/calib_equalize.py), the first step of
calibration method ``adaround``: the float network is unchanged, every equalized channel reaches its tensor's
range, the caller's graph is left alone, the int8 model built on it is closer to float than without it (trained
DS-CNN) and than minmax (zoo DS-CNN), and a bad method name is refused in one line (exit 2)."""

from __future__ import annotations

import contextlib
import functools
import io
import os

import numpy as np
import pytest
from int8_quant_helpers import TRAINED, ZOO, fmnist_data, need, perturbed, zoo_inputs

from nnb.errors import NnbError
from nnb.executor import run
from nnb.nnp.reader import load
from nnb.quantize.calib import collect
from nnb.quantize.calib_equalize import CAP, channel_peaks, equalize, for_calibration, pairs
from nnb.quantize.int8 import build_int8, prepare_graph
from nnb.quantize.int8_report import sqnr_db
from nnb.quantize.int_sim import run_int8

NAME = "dscnn"  # zoo DS-CNN: four pointwise/first-conv -> depthwise edges


@functools.cache
def _zoo():  # noqa: ANN202
    g = prepare_graph(load(need(os.path.join(ZOO, f"{NAME}.nnp"))))
    xs = zoo_inputs(NAME, 1)
    cal = perturbed(xs)
    return g, xs, cal, collect(g, cal)


def _unseen(xs: list[np.ndarray]) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [np.concatenate([x + rng.normal(0, 0.1 * float(x.std()) + 1e-3, x.shape).astype(np.float32)
                            for _ in range(4)]) for x in xs]


def test_equalize_keeps_float_and_fills_every_channel() -> None:
    g, xs, cal, _ = _zoo()
    params = {k: t.data for k, t in g.tensors.items() if t.kind == "param"}
    before = channel_peaks(g, cal, [a.outputs[0] for a, _ in pairs(g)])
    eq, fac = equalize(g, cal)
    assert len(fac) == len(pairs(g)) == 4
    assert all(g.tensors[k].data is v for k, v in params.items())  # the caller's graph is not touched
    ref, got = run(g, xs), run(eq, xs)
    for o in g.outputs:
        np.testing.assert_allclose(got[o], ref[o], rtol=1e-4, atol=1e-5 * float(np.abs(ref[o]).max()))
    after = channel_peaks(eq, cal, list(fac))
    for k, f in fac.items():
        assert np.all(f >= 1.0) and np.any(f > 1.5), (k, f)
        full = (f < CAP) & (before[k] > 0)
        np.testing.assert_allclose(after[k][full], before[k].max(), rtol=1e-4)
        np.testing.assert_allclose(after[k], before[k] * f, rtol=1e-4)


def test_adaround_zoo_valid_and_not_worse_than_minmax() -> None:
    """Output SQNR on inputs calibration did not see: adaround (with equalization) >= minmax, >= 30 dB."""
    g, xs, _, stats = _zoo()
    xh = _unseen(xs)
    ref = run(g, xh)
    m = build_int8(g, stats, "adaround")
    assert [s.node.name for s in m.steps] == [n.name for n in g.nodes if n.op != "ReLU"]
    weights = [s.arrays["weight"] for s in m.steps if "weight" in s.arrays]
    assert all(w.dtype == np.int8 and int(np.abs(w.astype(np.int64)).max()) <= 127 for w in weights)
    base = build_int8(g, stats, "minmax")
    for o in g.outputs:
        new, old = (sqnr_db(ref[o], run_int8(mm, xh)[o]) for mm in (m, base))
        assert new >= 30.0 and new >= old, (o, new, old)


def test_equalization_brings_trained_dscnn_closer_to_float() -> None:
    """Trained DS-CNN, 200 calibration images, 400 others: equalized percentile int8 logits > 1 dB closer to
    float than percentile's on the graph as it is (same ranges method, only the equalization differs)."""
    g = prepare_graph(load(need(os.path.join(TRAINED, "fmnist_dscnn.nnp"))))
    x, _ = fmnist_data()
    stats = collect(g, x[:200])
    geq, seq = for_calibration(g, stats)
    xt = x[1200:1600]
    last = [n for n in g.nodes if n.op == "Affine"][-1].outputs[0]
    ref = run(g, [xt], keep=[last])[last]
    plain, eq = (sqnr_db(ref, run_int8(build_int8(gg, ss, "percentile"), [xt], keep=[last])[last])
                 for gg, ss in ((g, stats), (geq, seq)))
    print(f"logits SQNR: percentile {plain:.2f} dB, equalized {eq:.2f} dB")
    assert eq > plain + 1.0, (eq, plain)


def test_bad_calib_method_one_line_exit_2(tmp_path) -> None:  # noqa: ANN001
    from nnb.cli import main

    model = need(os.path.join(ZOO, f"{NAME}.nnp"))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(["quantize", model, "--method", "int8", "--calib", "fashion-mnist", "--calib-method", "cle",
                       "-o", str(tmp_path / "x.nnq")])
        except SystemExit as e:  # argparse's refusal
            rc = e.code
    lines = [ln for ln in err.getvalue().splitlines() if "error" in ln]
    assert rc == 2 and len(lines) == 1 and "'cle'" in lines[0] and "Traceback" not in err.getvalue(), err.getvalue()
    g, _, _, stats = _zoo()
    with pytest.raises(NnbError, match="unknown calibration method 'cle'"):
        build_int8(g, stats, "cle")
