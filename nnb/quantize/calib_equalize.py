"""Channel equalization before a depthwise convolution (part of calibration method ``adaround``).

An int8 activation has one grid for all its channels, so a channel whose values
stay far below the tensor's largest is quantized with only a few of the 256
levels.  Where a convolution A (ReLU or no activation, no residual) is read
only by a depthwise (grouped, one input channel per group) convolution B, the
float network is unchanged when A's output channel c is multiplied by f_c > 0
(A's weight row and bias) and B's weights of channel c are divided by it:
ReLU, max and average pooling commute with a positive factor, and B reads
channel c alone.  Both A's and B's weights are quantized per output channel, so
their int8 weights only change scale: the factor costs nothing there and gives
channel c f_c times more levels of the shared grid.  (In a depthwise-separable
network such as DS-CNN every pointwise-to-depthwise edge qualifies; the
depthwise-to-pointwise edge does not, the pointwise weights being per output
channel.)

``f_c = min(R / r_c, CAP)``, with r_c the largest |value| of channel c over the
calibration samples and R the largest over channels (every channel then reaches
the tensor's range); a channel that stays 0 keeps f_c = 1.  The deployed
arithmetic is unchanged: only the integer weights, biases and scales differ.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from nnb.ir import Graph, Node

CAP = 32.0  # largest factor: a nearly dead channel is not blown up to the full range
PRODUCERS = ("FusedConv", "Convolution")
READERS = ("FusedConv", "Convolution")


def _plain(n: Node) -> bool:
    a = n.attrs
    return not a.get("channel_last") and a.get("base_axis", 1) == 1 and not a.get("residual")


def _depthwise_reader(g: Graph, node: Node, channels: int) -> Node | None:
    """The only reader of ``node``'s output when it is a grouped convolution with one input channel per group."""
    t = node.outputs[0]
    readers = g.consumers().get(t, [])
    if t in g.outputs or len(readers) != 1:
        return None
    b = readers[0]
    if b.op not in READERS or b.inputs[0] != t or not _plain(b) or len(b.inputs) < 2:
        return None
    w = g.tensors[b.inputs[1]].shape
    if b.attrs.get("group", 1) != channels or len(w) < 2 or w[1] != 1 or w[0] % channels:
        return None
    return b


def pairs(g: Graph) -> list[tuple[Node, Node]]:
    """(producer, depthwise reader) pairs whose shared tensor can be equalized."""
    out = []
    for n in g.nodes:
        if n.op not in PRODUCERS or not _plain(n) or len(n.inputs) < 2:
            continue
        if n.op == "FusedConv" and n.attrs.get("activation", "") not in ("", "relu"):
            continue
        if n.op == "FusedConv" and n.attrs.get("pool") not in ("", None, "max", "average"):
            continue
        w = g.tensors[n.inputs[1]]
        if w.data is None or len(w.shape) < 2:
            continue
        b = _depthwise_reader(g, n, int(w.shape[0]))
        if b is None or g.tensors[b.inputs[1]].data is None:
            continue
        readers = g.consumers()
        if all(len(readers.get(p, [])) == 1 for p in list(n.inputs[1:]) + [b.inputs[1]]):  # parameters not shared
            out.append((n, b))
    return out


def channel_peaks(g: Graph, xs: Sequence[np.ndarray], names: list[str], batch: int = 100) -> dict[str, np.ndarray]:
    """Per channel (axis 1), the largest |value| of each tensor over the samples."""
    from nnb.executor import run

    peak: dict[str, np.ndarray] = {}
    n = len(xs[0])
    for s in range(0, n, batch):
        vals = run(g, [x[s:s + batch] for x in xs], keep=names)
        for k in names:
            a = np.abs(np.asarray(vals[k], np.float64))
            r = a.max(axis=tuple(i for i in range(a.ndim) if i != 1))
            peak[k] = np.maximum(peak[k], r) if k in peak else r
    return peak


def factors(peak: np.ndarray, cap: float = CAP) -> np.ndarray:
    top = float(peak.max()) if peak.size else 0.0
    safe = np.where(peak > 0, peak, 1.0)
    return np.where(peak > 0, np.minimum(top / safe, cap), 1.0)


def _scaled(t, f: np.ndarray):  # noqa: ANN001, ANN202 - a Tensor; a copy with rows (axis 0) times f
    t = copy.copy(t)
    a = np.asarray(t.data, np.float64)
    t.data = (a * f.reshape((-1,) + (1,) * (a.ndim - 1))).astype(np.asarray(t.data).dtype)
    return t


def equalize(g: Graph, xs: Sequence[np.ndarray], cap: float = CAP) -> tuple[Graph, dict[str, np.ndarray]]:
    """A copy of the prepared graph ``g`` with every qualifying producer/depthwise pair equalized on the
    calibration inputs ``xs`` (one array per network input), and the factor per equalized tensor.
    ``g`` itself is not changed (the copy has new Tensor objects for the rescaled parameters)."""
    ps = pairs(g)
    if not ps:
        return g, {}
    peaks = channel_peaks(g, xs, [a.outputs[0] for a, _ in ps])
    out = copy.copy(g)
    out.tensors = dict(g.tensors)
    done: dict[str, np.ndarray] = {}
    for a, b in ps:
        f = factors(peaks[a.outputs[0]], cap)
        out.tensors[a.inputs[1]] = _scaled(out.tensors[a.inputs[1]], f)
        has_bias = len(a.inputs) > 2 and (a.op != "FusedConv" or a.attrs.get("has_bias", True))
        if has_bias:
            out.tensors[a.inputs[2]] = _scaled(out.tensors[a.inputs[2]], f)
        wb = out.tensors[b.inputs[1]]
        out.tensors[b.inputs[1]] = _scaled(wb, 1.0 / np.repeat(f, wb.shape[0] // len(f)))
        done[a.outputs[0]] = f
    return out, done


def for_calibration(g: Graph, stats: dict) -> tuple[Graph, dict]:
    """``equalize`` on the calibration samples ``calib.collect`` kept for the network inputs, and the
    statistics of the equalized graph (unchanged when nothing qualifies or the samples are missing)."""
    from nnb.quantize.calib import collect

    xs = [stats[name].values for name in g.inputs]
    if any(x is None for x in xs):
        return g, stats
    eq, done = equalize(g, xs)
    if not done:
        return g, stats
    return eq, collect(eq, xs[0] if len(xs) == 1 else xs)
