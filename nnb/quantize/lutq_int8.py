"""A LUT-Q model (``nnb quantize --method lutq``) deployed with integer activations, its weights kept as codes.

The activations are int8 exactly as ``nnb quantize --method int8`` makes them
(per-tensor asymmetric scale and zero point, calibrated by nnb/quantize/calib.py
on the LUT-Q network's float forward); every Convolution / DepthwiseConvolution /
FusedConv / Affine whose weight LUT-Q trained keeps its codes ``A`` (``bits``
each, K entries) and gets, per output channel ``o``, an integer dictionary
``D[o, k]`` on a fixed grid ``s_w[o]``: ``d_k * f_o ~= D[o, k] * s_w[o]`` where
``f_o`` is the factor a folded BatchNormalization puts on the channel (1 without
BN).  The accumulation runs per dictionary entry (docs/int8.md, "LUT-Q with
integer activations")::

    S_k = sum over the taps t with A[o, t] == k of (x_t - z_x)      (adds only)
    acc = bias[o] + sum_k D[o, k] * S_k                             (K multiplies)

then the int8 requantization (multiplier + shift, zero point, clamp).  The grid:

* ``|D| <= DMAX(taps) = min(32767, 2^22 // taps)``, so that every partial sum
  stays below 2^30 (``256 * taps * |D|``), the bias within 2^29;
* a power-of-two dictionary (``--pow2``): ``s_w[o] = |f_o| 2^e`` with ``e``
  chosen so that every entry is a signed power of two (or 0) exactly: the
  multiplies become shifts (``pow2`` flag of the record);
* otherwise ``s_w[o] = max_k |d_k f_o| / DMAX``, ``D = round(d_k f_o / s_w[o])``.

Layers LUT-Q did not quantize stay int8 (per-channel symmetric weights).
"""

from __future__ import annotations

import math

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph, Node
from nnb.quantize.int8 import Int8Model, IntNode, build_int8, prepare_graph
from nnb.quantize.int_sim_arith import I64, quantize_multipliers
from nnb.quantize.qmodel import QuantizedModel

WEIGHTED = ("FusedConv", "Convolution", "DepthwiseConvolution", "Affine")
BIAS_LIMIT = (1 << 29) - 1
# the step arrays of a LUT-Q layer (in the .nnq as ``<step>/<key>``): codes in the int8 weight's layout
# (conv (O, C/G, KH, KW), Affine (inputs, outputs)), dictionary (O, K), pow2 flag (1,)
CODES, DICT, POW2, BITS = "lut_codes", "lut_dict", "lut_pow2", "lut_bits"


def dmax(taps: int) -> int:
    """The largest |D| of a layer with ``taps`` inputs per output (partial sums below 2^30)."""
    return max(1, min(32767, (1 << 22) // max(1, taps)))


def is_pow2_table(d: np.ndarray) -> bool:
    """Every nonzero entry a power of two in magnitude (LUT-Q's --pow2 dictionaries)."""
    a = np.abs(np.asarray(d, np.float64))
    a = a[a > 0]
    return bool(a.size) and bool(np.all(np.exp2(np.round(np.log2(a))) == a))


def channel_factors(w: np.ndarray, dq: np.ndarray, name: str) -> np.ndarray:
    """Per output channel (axis 0 of both): f with ``w = dq * f`` (the folded BatchNormalization's factor)."""
    wc = np.asarray(w, np.float64).reshape(w.shape[0], -1)
    dc = np.asarray(dq, np.float64).reshape(w.shape[0], -1)
    den = (dc * dc).sum(axis=1)
    f = np.where(den > 0, (wc * dc).sum(axis=1) / np.maximum(den, 1e-300), 0.0)
    err = np.abs(wc - dc * f[:, None]).max(initial=0.0)
    if err > 1e-5 * max(float(np.abs(wc).max(initial=0.0)), 1e-30):
        raise NnbError(f"LUT-Q int8: the weight of '{name}' is not its LUT-Q table times one factor per output "
                       f"channel (off by {err:.3g})")
    return f


def integer_dictionary(d: np.ndarray, f: np.ndarray, taps: int, top: int | None = None
                       ) -> tuple[np.ndarray, np.ndarray, bool]:
    """(D (O, K) int64, s_w (O,) float64 > 0, pow2) for the table ``d`` (K,) and channel factors ``f`` (O,);
    ``top``: the largest |D| (default ``dmax(taps)``)."""
    d = np.asarray(d, np.float64)
    top = dmax(taps) if top is None else top
    pow2 = is_pow2_table(d)
    scaled = f[:, None] * d[None, :]  # (O, K): the real entries of each channel
    if pow2:
        e_max = math.floor(math.log2(float(np.abs(d).max())))
        e = e_max - int(math.floor(math.log2(top)))
        s = np.abs(f) * 2.0 ** e
    else:
        s = np.abs(scaled).max(axis=1) / top
    ok = s > 0
    s = np.where(ok, s, 1.0)  # a channel of zeros (f = 0): any grid, D = 0
    D = np.where(ok[:, None], np.round(scaled / s[:, None]), 0).astype(I64)
    D = np.clip(D, -top, top)
    return D, s, pow2


def _codes_layout(node: Node, codes: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The LUT-Q codes in the int8 model's weight layout (as ``nnb.quantize.int8._weights`` shapes it)."""
    c = np.asarray(codes, I64)
    if node.op == "DepthwiseConvolution":
        c = c[:, None]
    if node.op == "Affine":
        c = c.reshape(c.shape[0], -1)
    if c.shape != w.shape and c.size == w.size and [n for n in c.shape if n > 1] == [n for n in w.shape if n > 1]:
        c = c.reshape(w.shape)  # a depthwise weight fused into a grouped convolution: (C, KH, KW) -> (C, 1, KH, KW)
    if c.shape != w.shape:
        raise NnbError(f"LUT-Q int8: codes of '{node.name}' have shape {c.shape}, its weight {w.shape}")
    return c


def lutq_arrays(node: Node, g: Graph, codes: np.ndarray, table: np.ndarray, bits: int, s_in: float,
                s_out: float, res_scale: float | None = None) -> dict[str, np.ndarray]:
    """The integer constants of one LUT-Q layer: codes, per-channel integer dictionary, bias, requantization."""
    w = np.asarray(g.tensors[node.inputs[1]].data, np.float64)
    if node.op == "DepthwiseConvolution":
        w = w[:, None]
    if node.op == "Affine":
        w = w.reshape(w.shape[0], -1)
    c = _codes_layout(node, codes, w)
    if c.min(initial=0) < 0 or c.max(initial=0) >= len(table):
        raise NnbError(f"LUT-Q int8: a code of '{node.name}' is outside its {len(table)}-entry table")
    dq = np.asarray(table, np.float64)[c]
    if node.op == "Affine":  # channels on axis 1: work output-major
        f = channel_factors(w.T, dq.T, node.name)
        taps = w.shape[0]
    else:
        f = channel_factors(w, dq, node.name)
        taps = int(np.prod(w.shape[1:]))
    top = dmax(taps)
    while True:  # a residual's rescale s_r / (s_in s_w) must stay below 2^20: a coarser grid where it would not
        D, s_w, pow2 = integer_dictionary(table, f, taps, top)
        if res_scale is None:
            break
        rm, rs = quantize_multipliers(res_scale / (s_in * s_w))
        if not np.any(rs > 20):
            break
        if top == 1:
            raise NnbError(f"LUT-Q int8: '{node.name}': the residual's rescale exceeds 2^20")
        top //= 2
    has_bias = len(node.inputs) > 2 and (node.op != "FusedConv" or node.attrs["has_bias"])
    b = np.asarray(g.tensors[node.inputs[2]].data, np.float64).reshape(-1) if has_bias else np.zeros(s_w.size)
    qb = np.clip(np.round(b / (s_in * s_w)), -BIAS_LIMIT, BIAS_LIMIT).astype(np.int64)
    mult, shift = quantize_multipliers(s_in * s_w / s_out)
    out = {CODES: c.astype(np.uint8 if len(table) <= 256 else np.int64), DICT: D, POW2: np.array([int(pow2)]),
           BITS: np.array([int(bits)]), "bias": qb, "mult": mult, "shift": shift, "w_scale": s_w}
    if res_scale is not None:
        out.update(res_mult=rm, res_shift=rs)
    return out


def lutq_layer(qm: QuantizedModel, src: Node | None):  # noqa: ANN201 - QLayer | None
    """The LUT-Q layer of the original function ``src``'s weight, or None."""
    if src is None or len(src.inputs) < 2:
        return None
    q = qm.layers.get(src.inputs[1])
    return q if q is not None and q.kind == "lut" else None


def attach_lutq(m: Int8Model, qm: QuantizedModel) -> int:
    """Turn every integer weighted step of ``m`` whose weight LUT-Q trained into a LUT-Q step (in place);
    returns how many."""
    g0 = {n.name: n for n in qm.graph.nodes}
    done = 0
    for st in m.steps:
        node = st.node
        if st.kind != "int" or node.op not in WEIGHTED or "weight" not in st.arrays:
            continue
        q = lutq_layer(qm, g0.get(node.name))
        if q is None:
            continue
        if q.values.size > 256:
            raise NnbError(f"LUT-Q int8: '{node.name}' has a {q.values.size}-entry table (at most 256)")
        res = None
        if node.op == "FusedConv" and node.attrs["residual"]:
            res = m.qparams[node.inputs[-1]].scale
        st.arrays = lutq_arrays(node, m.graph, q.codes, q.values, q.bits, m.qparams[node.inputs[0]].scale,
                                m.qparams[st.output].scale, res)
        done += 1
    return done


def build_lutq_int8(qm: QuantizedModel, x: np.ndarray, method: str = "minmax", strict: bool = False) -> Int8Model:
    """The integer model of a LUT-Q .nnq: calibrated int8 activations, LUT-Q codes with integer dictionaries."""
    from nnb.quantize.calib import collect

    if qm.method != "lutq" or not any(q.kind == "lut" for q in qm.layers.values()):
        raise NnbError("--keep-lutq needs a LUT-Q model (.nnq written by nnb quantize --method lutq)")
    g = prepare_graph(qm.graph)
    m = build_int8(g, collect(g, x), method, islands=not strict)
    if not attach_lutq(m, qm):
        raise NnbError("LUT-Q int8: no integer function reads a LUT-Q weight")
    m.info["lutq"] = True
    return m


def is_lutq_step(st: IntNode) -> bool:
    return CODES in st.arrays
