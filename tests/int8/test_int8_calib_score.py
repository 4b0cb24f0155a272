"""Calibration method ``adaround``: the grid of the class scores a Softmax turns into the network's output
ends ``SCORE_MARGIN`` of its span above the highest second-best score (nnb/quantize/int8_adaround.py
``score_top``).  The clip keeps every calibration sample's argmax, it is finer than the full range, and a
network whose output is the scores themselves keeps their whole range.  ``build_int8``'s progress hook
reports every function."""

from __future__ import annotations

import copy
import os

import numpy as np
from int8_quant_helpers import TRAINED, fmnist_data, need

from nnb.executor import run
from nnb.nnp.reader import load
from nnb.quantize.calib import collect
from nnb.quantize.int8 import build_int8, prepare_graph, qparams_from_range
from nnb.quantize.int8_adaround import SCORE_MARGIN, score_top
from nnb.quantize.int_sim import run_int8


def test_score_top_keeps_every_argmax() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(0, 1, (20000, 10))
    y[np.arange(20000), rng.integers(0, 10, 20000)] += rng.uniform(0, 12, 20000)  # one confident class per sample
    lo, hi = float(y.min()), float(y.max())
    top = score_top(y, lo, hi)
    second = np.sort(y, axis=1)[:, -2].max()
    assert top == second + SCORE_MARGIN * (hi - lo) and top < hi
    assert np.array_equal(np.minimum(y, top).argmax(axis=1), y.argmax(axis=1))  # the clip keeps every answer

    def ties(qp) -> int:  # noqa: ANN001 - samples whose two best int8 scores are equal
        s = np.sort(qp.quantize(y), axis=1)
        return int((s[:, -1] == s[:, -2]).sum())

    q, full = qparams_from_range(lo, top), qparams_from_range(lo, hi)
    assert q.scale < full.scale and ties(q) < ties(full)
    assert score_top(y, lo, second) == second  # never above the observed range
    assert score_top(y[:, :1], lo, hi) == hi  # one class: nothing to compare


def test_lenet_softmax_scores_clipped_plain_scores_not() -> None:
    g = prepare_graph(load(need(os.path.join(TRAINED, "fmnist_lenet.nnp"))))
    x, _ = fmnist_data()
    xc = x[:60]
    calls: list[tuple[int, int]] = []
    m = build_int8(g, collect(g, xc), "adaround", progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (len(g.nodes), len(g.nodes)) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    sm = m.steps[-1].node
    assert sm.op == "Softmax"
    logits = sm.inputs[0]
    f = run(g, [xc], keep=[logits])[logits].reshape(len(xc), -1)
    q = m.qparams[logits]
    grid_top = float(q.dequantize(np.array([127]))[0])
    assert grid_top < 0.95 * f.max() and grid_top > np.sort(f, axis=1)[:, -2].max()
    ints = run_int8(m, [xc], keep=[logits], as_int=True)[logits].reshape(len(xc), -1)
    assert int((ints == 127).sum(axis=1).max()) <= 1  # no calibration sample has two classes at the clip
    # the same network ending at the scores: an output keeps its whole range (its values are the answer)
    h = copy.copy(g)
    h.nodes = [n for n in g.nodes if n is not sm]
    h.outputs = [logits]
    h.tensors = {k: t for k, t in g.tensors.items() if k not in sm.outputs}
    m2 = build_int8(h, collect(h, xc), "adaround")
    assert float(m2.qparams[logits].dequantize(np.array([127]))[0]) >= 0.99 * f.max()
