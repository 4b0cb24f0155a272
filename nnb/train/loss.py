"""The training loss: softmax cross-entropy over the network's logits.

The trained fixtures end in Softmax for inference; training differentiates the
pre-softmax logits (numerically stable, and what nnabla's
``softmax_cross_entropy`` does) and leaves the Softmax in the saved model.
"""

from __future__ import annotations

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph


def logits_name(graph: Graph) -> str:
    """The tensor to train on: the input of a final Softmax over the class axis, else the output itself."""
    out = graph.outputs[0]
    node = graph.producer().get(out)
    if node is not None and node.op == "Softmax":
        nd = len(graph.tensors[out].shape)
        ax = node.attrs.get("axis")
        if ax is None or ax % max(nd, 1) == nd - 1:
            return node.inputs[0]
    return out


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray, int]:
    """Mean loss, its gradient w.r.t. ``logits`` and the number of top-1 hits."""
    z = logits.reshape(len(logits), -1)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    n = len(z)
    rows = np.arange(n)
    loss = float(np.mean(np.log(s[:, 0]) - z[rows, labels]))
    g = e / s
    hits = int((g.argmax(axis=1) == labels).sum())
    g[rows, labels] -= 1
    g /= n
    return loss, g.reshape(logits.shape).astype(logits.dtype, copy=False), hits


def check_labels(y: np.ndarray, num_classes: int) -> np.ndarray:
    """Labels as a flat int64 vector in [0, num_classes); NnbError otherwise."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise NnbError(f"labels have shape {y.shape}, expected (N,) or (N, 1) class indices")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise NnbError("labels must be whole class indices")
    elif y.dtype.kind not in "iub":
        raise NnbError(f"labels have dtype {y.dtype}, expected integers")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise NnbError(f"label {int(y.min() if y.min() < 0 else y.max())} out of range: "
                       f"the network has {num_classes} classes (0..{num_classes - 1})")
    return y
