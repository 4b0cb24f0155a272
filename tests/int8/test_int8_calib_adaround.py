"""Calibration method ``adaround`` (nnb/quantize/int8_adaround.py): sequential calibration with output-aware
weight rounding, bias correction and output grids fitted on the quantized path.  It builds valid int8 models
(weights in [-127, 127], the C runtime computes the simulation's integers bit for bit), the trained DS-CNN's
output comes closer to float than with minmax on images calibration did not see, and the rounding search
itself lowers a layer's output error below round-to-nearest's."""

from __future__ import annotations

import functools
import os
import shutil
import sys

import numpy as np
import pytest
from int8_quant_helpers import TRAINED, fmnist_data, need, perturbed, zoo_inputs

from nnb.emit.nnb_int8 import write_int8_nnb
from nnb.executor import run
from nnb.nnp.reader import load
from nnb.quantize.calib import collect
from nnb.quantize.int8 import build_int8, prepare_graph
from nnb.quantize.int8_adaround import round_weights
from nnb.quantize.int8_report import sqnr_db
from nnb.quantize.int_sim import run_int8

HERE = os.path.dirname(os.path.abspath(__file__))
ZOO = os.path.normpath(os.path.join(HERE, os.pardir, os.pardir, os.pardir, "shared", "fixtures", "zoo"))
# residual, depthwise, groups/dilation, islands, equalized pointwise -> depthwise edges (calib_equalize.py)
MODELS = ["resnet8", "depthwise", "conv_variants", "unet_tiny", "dscnn"]


@functools.cache
def _zoo(name: str):  # noqa: ANN202
    g = prepare_graph(load(need(os.path.join(ZOO, f"{name}.nnp"))))
    xs = zoo_inputs(name, len(g.inputs))
    stats = collect(g, perturbed(xs))
    return g, xs, stats


def _cnet():  # noqa: ANN202
    if shutil.which("make") is None or (shutil.which("gcc") or shutil.which("cc")) is None:
        pytest.skip("no make/gcc: the C runtime cannot be built (apt-get install make gcc)")
    sys.path.insert(0, os.path.join(HERE, os.pardir, "c"))
    from nnb.backends.c import CNet

    return CNet


@pytest.mark.parametrize("name", MODELS)
def test_adaround_zoo_valid_bit_exact_not_worse(name: str) -> None:
    g, xs, stats = _zoo(name)
    m = build_int8(g, stats, "adaround")
    base = build_int8(g, stats, "minmax")
    weights = [s.arrays["weight"] for s in m.steps if "weight" in s.arrays]
    assert weights and all(w.dtype == np.int8 and int(np.abs(w.astype(np.int64)).max()) <= 127 for w in weights)
    # C runtime == numpy simulation, every integer tensor
    ints = [s.output for s in m.steps if s.kind == "int"]
    image, d, _ = write_int8_nnb(m, extra_outputs=tuple(ints))
    got = dict(zip(d.outputs, _cnet()(image).run_batch([xs[0]]) if len(xs) == 1 else _cnet()(image).run_batch(xs)))
    want = run_int8(m, xs, keep=ints)
    for t in ints:
        y = got.get(t, got.get(t + "@dq"))
        assert y is not None, t
        assert np.array_equal(y.reshape(want[t].shape), want[t]), t
    # against float on inputs calibration did not see (other noisy copies of the fixture input): about
    # minmax's SQNR on these one-input calibration sets (resnet8 0.6 dB below, the others level or above)
    rng = np.random.default_rng(7)
    xh = [np.concatenate([x + rng.normal(0, 0.1 * float(x.std()) + 1e-3, x.shape).astype(np.float32)
                          for _ in range(4)]) for x in xs]
    ref, new, old = run(g, xh), run_int8(m, xh), run_int8(base, xh)
    for o in g.outputs:
        assert sqnr_db(ref[o], new[o]) >= max(sqnr_db(ref[o], old[o]) - 1.0, 30.0), \
            (o, sqnr_db(ref[o], new[o]), sqnr_db(ref[o], old[o]))


def test_adaround_dscnn_logits_closer_to_float_than_minmax() -> None:
    """Trained DS-CNN, 200 calibration images, 800 other images: SQNR of the network output (the Softmax's
    probabilities; the logits above the highest second-best calibration score are clipped on purpose,
    test_int8_calib_score.py) and agreement with float."""
    g = prepare_graph(load(need(os.path.join(TRAINED, "fmnist_dscnn.nnp"))))
    x, _ = fmnist_data()
    stats = collect(g, x[:200])
    xt = x[1200:2000]
    last = [n for n in g.nodes if n.op == "Affine"][-1].outputs[0]
    ref = run(g, [xt], keep=[last])
    res = {}
    for meth in ("minmax", "adaround"):
        out = run_int8(build_int8(g, stats, meth), [xt], keep=[last])
        agree = float((out[g.outputs[0]].argmax(1) == ref[g.outputs[0]].argmax(1)).mean())
        res[meth] = (sqnr_db(ref[g.outputs[0]], out[g.outputs[0]]), agree)
    assert res["adaround"][0] > res["minmax"][0] + 1.0, res
    assert res["adaround"][1] >= res["minmax"][1], res


def test_round_weights_lowers_output_error() -> None:
    """On correlated inputs the chosen rounding's output MSE is below round-to-nearest's, every value stays
    at its floor or ceiling, and identity-covariance inputs keep round-to-nearest (it is optimal there)."""
    rng = np.random.default_rng(1)
    k, o = 24, 8
    mix = rng.normal(size=(k, k))
    xq = rng.normal(size=(4000, k)) @ mix
    cov = np.cov(xq.T, bias=True)
    w = rng.normal(size=(o, k))
    s = np.abs(w).max(axis=1) / 127 * 40  # coarse steps: rounding matters
    n = round_weights(w, s, cov, w @ cov)
    t = w / s[:, None]
    assert np.all((n == np.floor(t)) | (n == np.ceil(t)))

    def mse(nn: np.ndarray) -> np.ndarray:
        d = nn * s[:, None] - w
        return np.einsum("ok,kl,ol->o", d, cov, d)

    assert np.all(mse(n) <= mse(np.round(t)) + 1e-12) and mse(n).sum() < 0.8 * mse(np.round(t)).sum()
    assert np.array_equal(round_weights(w, s, np.eye(k), w), np.round(t))
