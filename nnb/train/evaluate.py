"""Top-1 accuracy and confusion matrix of a graph on labelled data (inference mode)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from nnb.ir import Graph
from nnb.train.autograd import Program
from nnb.train.loss import logits_name


def predict(graph: Graph, x: np.ndarray, params: Mapping[str, np.ndarray] | None = None,
            batch: int = 500, act: Mapping[str, object] | None = None) -> np.ndarray:
    """Class scores (pre-softmax logits; the argmax is the same) for float32 inputs ``x``.

    ``act``: activation quantizers by tensor name (``nnb.quantize.dq.ActQuant``), applied in the forward pass.
    """
    prog = Program(graph, logits_name(graph), wrt=())
    prog.act = dict(act or {})
    values = params if params is not None else {t.name: t.data for t in graph.params()}
    name = graph.inputs[0]
    outs = [prog.forward({name: x[s:s + batch]}, values, training=False).values[prog.target]
            for s in range(0, len(x), batch)]
    z = np.concatenate(outs) if outs else np.zeros((0, 1), np.float32)
    return z.reshape(len(z), -1)


def accuracy(graph: Graph, x: np.ndarray, y: np.ndarray, params: Mapping[str, np.ndarray] | None = None,
             batch: int = 500, act: Mapping[str, object] | None = None) -> float:
    if len(x) == 0:
        return float("nan")
    return float((predict(graph, x, params, batch, act).argmax(axis=1) == y).mean())


def confusion(pred: np.ndarray, y: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[true, predicted]."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (y, pred), 1)
    return m


def format_confusion(m: np.ndarray) -> str:
    w = max(5, len(str(int(m.max()))) + 1)
    head = "true\\pred" + "".join(f"{j:>{w}}" for j in range(m.shape[1])) + f"{'acc':>8}"
    rows = [head]
    for i, r in enumerate(m):
        acc = r[i] / r.sum() if r.sum() else float("nan")
        rows.append(f"{i:>9}" + "".join(f"{v:>{w}}" for v in r) + f"{acc:>8.2%}")
    return "\n".join(rows)
