"""Calibration: run the float reference over sample inputs and choose a range per tensor.

``collect`` keeps, for every activation tensor of the (optimised) graph, its
minimum, maximum and a fixed-seed random subsample of its values (at most
``SAMPLE`` per tensor, enough for percentiles and an MSE search).
``choose_range`` turns those statistics into a clipping range:

* ``minmax``: the observed range, widened to contain 0;
* ``percentile``: the 0.01 % / 99.99 % percentiles (``PERCENTILE``);
* ``mse``: the clipping range on a grid of fractions of the observed one
  whose uniform quantization of the sample has the least squared error;
* ``top``: ``percentile``, except for a classifier's scores (``choose_range``);
* ``adaround``: ``ADAROUND_RANGES``'s ranges; int8 models are first channel-equalized before every
  depthwise convolution (``EQUALIZED``, nnb/quantize/calib_equalize.py), then get sequential,
  output-aware weight rounding and bias correction (nnb/quantize/int8_adaround.py).

Weights use ``channel_ranges`` (per output channel, symmetric, max |w| or MSE).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph

METHODS = ("minmax", "percentile", "mse", "top", "adaround")
# ``adaround`` (nnb/quantize/int8_adaround.py) changes weight rounding and biases; its ranges are this method's
ADAROUND_RANGES = "percentile"
# methods that equalize channels before a depthwise convolution first (nnb/quantize/calib_equalize.py)
EQUALIZED = ("adaround",)
TOP_MARGIN = 0.1  # ``top``: the scores' grid reaches this fraction of its span below the lowest top score
SAMPLE = 1 << 18
PERCENTILE = 99.99
_GRID = np.linspace(0.2, 1.0, 33)


@dataclass
class TensorStats:
    name: str
    lo: float
    hi: float
    sample: np.ndarray  # float64, a random subsample of the tensor's values
    flat_mean: np.ndarray | None = None  # per-element mean over the samples (the input of an Affine)
    tap_mean: np.ndarray | None = None  # convolution outputs: (C_in, taps) mean of what each tap reads
    top_lo: float | None = None  # 2-D (samples, features) tensors: the lowest per-sample maximum
    values: np.ndarray | None = None  # network inputs: the calibration samples themselves (``adaround``)


CONVS = ("FusedConv", "Convolution", "DepthwiseConvolution")


def _tap_sums(node, x: np.ndarray, wshape: tuple) -> np.ndarray | None:  # noqa: ANN001 - a Node
    """(C, KH*KW) sums, over samples and output positions, of the input value each kernel tap reads
    (0 in the padding): E[column] of the convolution's im2col, for bias correction."""
    from nnb.ops.conv import _geom

    a = node.attrs
    if x.ndim != 4 or a.get("channel_last") or a.get("base_axis", 1) != 1:
        return None
    kh, kw = wshape[-2:]
    (ph, pw), (sh, sw), (dh, dw) = _geom(2, a)
    oh = (x.shape[2] + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    ow = (x.shape[3] + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.empty((x.shape[1], kh * kw))
    for ky in range(kh):
        for kx in range(kw):
            v = xp[:, :, ky * dh:ky * dh + (oh - 1) * sh + 1:sh, kx * dw:kx * dw + (ow - 1) * sw + 1:sw]
            out[:, ky * kw + kx] = v.sum(axis=(0, 2, 3))
    return out / (oh * ow)


def collect(graph: Graph, x: np.ndarray | Sequence[np.ndarray], batch: int = 100,
            progress: Callable[[int], None] | None = None, sample: int = SAMPLE) -> dict[str, TensorStats]:
    """Statistics of the network inputs and of every node output over the samples ``x`` (float32; one
    array per network input for a multi-input network)."""
    from nnb.executor import run

    xs = [x] if isinstance(x, np.ndarray) else list(x)
    if len(xs) != len(graph.inputs):
        raise NnbError(f"calibration: {len(xs)} input array(s) for a network with {len(graph.inputs)} inputs")
    if len(xs[0]) == 0:
        raise NnbError("calibration data set is empty")
    spec = graph.input_specs.get(graph.inputs[0], graph.tensors[graph.inputs[0]].shape)
    if spec and spec[0] > 0:  # a fixed batch size: run that many samples at a time
        batch = spec[0]
        if len(xs[0]) % batch:
            raise NnbError(f"calibration: {len(xs[0])} samples are not a multiple of the network's batch {batch}")
    names = list(graph.inputs) + [o for n in graph.nodes for o in n.outputs]
    n_total = len(xs[0])
    rng = np.random.default_rng(0)
    lo: dict[str, float] = {}
    hi: dict[str, float] = {}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in names}
    per_batch = max(1, sample * batch // n_total)
    fsum: dict[str, np.ndarray] = {}  # per-element sums (Affine inputs' mean)
    tsum: dict[str, np.ndarray] = {}  # convolution output name -> per-tap sums of its input
    top_lo: dict[str, float] = {}  # 2-D tensors: lowest per-sample maximum
    for s in range(0, n_total, batch):
        xb = [a[s:s + batch] for a in xs]
        vals = run(graph, xb, keep=names)
        vals.update(zip(graph.inputs, xb))
        for k in names:
            v = np.asarray(vals[k], dtype=np.float64).reshape(-1)
            if not np.all(np.isfinite(v)):
                raise NnbError(f"calibration: tensor '{k}' takes non-finite values")
            lo[k] = min(lo.get(k, 0.0), float(v.min()))
            hi[k] = max(hi.get(k, 0.0), float(v.max()))
            parts[k].append(v if v.size <= per_batch else rng.choice(v, per_batch, replace=False))
            a = np.asarray(vals[k])
            if a.ndim == 2 and a.shape[1] > 1:
                top_lo[k] = min(top_lo.get(k, np.inf), float(a.max(axis=1).min()))
            if a.ndim >= 1:
                fsum[k] = fsum.get(k, 0.0) + a.reshape(a.shape[0], -1).sum(axis=0, dtype=np.float64)
        for node in graph.nodes:
            if node.op in CONVS and len(node.inputs) > 1:
                t = _tap_sums(node, np.asarray(vals[node.inputs[0]]), graph.tensors[node.inputs[1]].shape)
                if t is not None:
                    tsum[node.outputs[0]] = tsum.get(node.outputs[0], 0.0) + t
        if progress is not None:
            progress(min(s + batch, n_total))
    given = dict(zip(graph.inputs, xs))
    return {k: TensorStats(k, lo[k], hi[k], np.concatenate(parts[k]), fsum[k] / n_total if k in fsum else None,
                           tsum[k] / n_total if k in tsum else None, top_lo.get(k), given.get(k)) for k in names}


def quant_error(v: np.ndarray, lo: float, hi: float, levels: int) -> float:
    """Mean squared error of uniform quantization of ``v`` onto ``levels`` steps over [lo, hi]."""
    if hi <= lo:
        return float(np.mean(v * v))
    step = (hi - lo) / (levels - 1)
    q = np.round((np.clip(v, lo, hi) - lo) / step) * step + lo
    return float(np.mean((v - q) ** 2))


def choose_range(st: TensorStats, method: str, levels: int = 256, scores: bool = False) -> tuple[float, float]:
    """Clipping range [lo, hi] (containing 0) for one tensor.

    ``top`` is ``percentile`` except for class scores (``scores``: a 2-D tensor whose argmax is the answer):
    their grid starts ``TOP_MARGIN`` of the span below the lowest per-sample top score seen, since a score
    below every sample's top one only has to stay below it; the finer grid leaves fewer ties at the top."""
    if method not in METHODS:
        raise NnbError(f"unknown calibration method '{method}' ({', '.join(METHODS)})")
    if method == "adaround":
        method = ADAROUND_RANGES
    lo, hi = min(st.lo, 0.0), max(st.hi, 0.0)
    if method == "top" and scores and st.top_lo is not None:
        lo = max(lo, st.top_lo - TOP_MARGIN * (hi - st.top_lo))
    elif method in ("percentile", "top") and st.sample.size:
        lo = min(float(np.percentile(st.sample, 100 - PERCENTILE)), 0.0)
        hi = max(float(np.percentile(st.sample, PERCENTILE)), 0.0)
    elif method == "mse" and st.sample.size:
        errs = [quant_error(st.sample, lo * f, hi * f, levels) for f in _GRID]
        f = float(_GRID[int(np.argmin(errs))])
        lo, hi = lo * f, hi * f
    if hi - lo < 1e-12:  # a constant-zero tensor: any small range represents it exactly
        hi = lo + 1e-6
    return lo, hi


def channel_ranges(w: np.ndarray, axis: int, method: str = "minmax", levels: int = 255) -> np.ndarray:
    """Symmetric per-channel clipping bound max|w| (``minmax``) or its MSE-optimal fraction (``mse``)."""
    w = np.moveaxis(np.asarray(w, dtype=np.float64), axis, 0).reshape(w.shape[axis], -1)
    m = np.abs(w).max(axis=1)
    if method != "mse":
        return np.where(m > 0, m, 1e-12)
    out = np.empty_like(m)
    for c, row in enumerate(w):
        errs = [quant_error(row, -m[c] * f, m[c] * f, levels) for f in _GRID[12:]]  # never below 0.5 max
        out[c] = m[c] * float(_GRID[12 + int(np.argmin(errs))])
    return np.where(out > 0, out, 1e-12)
