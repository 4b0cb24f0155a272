"""nnabla fixed point (FIXED8 / FIXED16 in NNB): value = integer / 2^fp_pos, every fp_pos calibrated.

Every parameter and every activation of the BatchNormalization-folded graph
gets its own ``fp_pos`` in 0..15 (the 4 bits an NNB variable record has);
parameters always take the largest fp_pos that holds max |w| (no clipping),
activations follow the calibration method:

* ``minmax``: the largest fp_pos whose range (2^(n-1) - 1) / 2^fp_pos holds max |x|;
* ``percentile``: the same for the 99.99th percentile of |x| (calib.PERCENTILE);
* ``mse``: the fp_pos with the least squared rounding + clipping error on the sample; where that clips
  (a larger fp_pos than minmax's), the choice between the two is made by the network output's squared
  error on the calibration inputs (nnb/quantize/fixed_mse.py).

The simulation (``run_fixed``) computes in integers what the C runtime computes in integers
(nnb/quantize/fixed_int.py, c_runtime/src/kernels/fixed_mac.c: one int64 accumulation and one rounding per
multiply-accumulate function); every other function is the float op with its output rounded to its grid
(round half away from zero, clipped symmetric: nnabla's ``fixed_point_quantize``), exact for ReLU, pooling by
max and reshapes, a float island for Softmax and the like.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph
from nnb.ops import get_op
from nnb.quantize import fixed_int
from nnb.quantize.calib import ADAROUND_RANGES, PERCENTILE, TensorStats

METHODS = {"fixed8": 8, "fixed16": 16}
FP_MAX = 15


def fixed_round(x: np.ndarray, bits: int, fp: int) -> np.ndarray:
    """nnabla's fixed_point_quantize with delta = 2^-fp_pos (round half away from zero, symmetric clip)."""
    return fixed_int.round_value(x, bits, fp)


def choose_fp_pos(v: np.ndarray, bits: int, method: str, peak: float | None = None) -> int:
    """fp_pos in 0..15 for the values ``v`` (a sample; ``peak`` the true max |x| if known)."""
    v = np.asarray(v, np.float64).reshape(-1)
    top = (1 << (bits - 1)) - 1
    if method == "mse" and v.size:
        errs = [float(np.mean((fixed_round(v, bits, fp) - v) ** 2)) for fp in range(FP_MAX + 1)]
        return int(np.argmin(errs))
    if method == "percentile" and v.size:
        m = float(np.percentile(np.abs(v), PERCENTILE))
    else:
        m = peak if peak is not None else float(np.abs(v).max(initial=0.0))
    fits = [fp for fp in range(FP_MAX + 1) if top / 2.0 ** fp >= m]
    return max(fits) if fits else 0


@dataclass
class FixedModel:
    graph: Graph  # BN folded; parameters already rounded to their fixed grid
    bits: int
    fp_pos: dict[str, int]  # every parameter, input and function output


def prepare_graph(g: Graph) -> Graph:
    """BN folded; GlobalAveragePooling of a 4-d tensor spelled as the AveragePooling over the whole plane
    (the same numbers; nnabla's runtime implements AveragePooling but not GlobalAveragePooling)."""
    from nnb.ir import Node
    from nnb.passes import fold_batch_norm

    g = fold_batch_norm(g)
    shapes = g.infer_shapes()
    nodes = []
    for n in g.nodes:
        x = shapes[n.inputs[0]] if n.inputs else ()
        if n.op == "GlobalAveragePooling" and len(x) == 4:
            k = (x[2], x[3])
            attrs = get_op("AveragePooling").normalize({"kernel": k, "stride": k, "ignore_border": True,
                                                        "pad": (0, 0), "including_pad": True})
            n = Node(n.name, "AveragePooling", list(n.inputs), list(n.outputs), attrs)
        nodes.append(n)
    g.nodes = nodes
    return g


def build_fixed(g: Graph, stats: dict[str, TensorStats], method: str, calib: str) -> FixedModel:
    """``g`` prepared (prepare_graph); ``stats`` from calib.collect over it; ``method`` fixed8|fixed16."""
    if method not in METHODS:
        raise NnbError(f"unknown fixed-point method '{method}' ({', '.join(METHODS)})")
    bits = METHODS[method]
    g0, g = g, copy.deepcopy(g)
    fp: dict[str, int] = {}
    for t in g.params():
        assert t.data is not None
        fp[t.name] = choose_fp_pos(t.data, bits, "minmax")  # never clip a weight (nnabla's converter's rule)
        t.data = fixed_round(t.data, bits, fp[t.name])
    if calib in ("top", "adaround"):  # int8-only refinements: their ranges are percentile's (docs/int8.md)
        calib = ADAROUND_RANGES
    for name, st in stats.items():
        fp[name] = choose_fp_pos(st.sample, bits, calib, peak=max(abs(st.lo), abs(st.hi)))
    if calib == "mse":  # judge the tensor-level choice by the output's error (nnb/quantize/fixed_mse.py)
        from nnb.quantize.fixed_mse import refine

        cands = {}
        for name, st in stats.items():
            safe = choose_fp_pos(st.sample, bits, "minmax", peak=max(abs(st.lo), abs(st.hi)))
            if safe != fp[name]:
                cands[name] = list(range(min(safe, fp[name]), max(safe, fp[name]) + 1))
        inputs = [stats[i].values for i in g0.inputs]
        if cands and all(x is not None for x in inputs):
            fp = refine(g0, g, bits, fp, inputs, cands)  # type: ignore[arg-type]
    missing = [o for n in g.nodes for o in n.outputs if o not in fp]
    if missing:
        raise NnbError(f"fixed point: no calibration statistics for '{missing[0]}'")
    return FixedModel(g, bits, fp)


def run_fixed(m: FixedModel, inputs: Sequence[np.ndarray], keep: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """The reference executor with every input and function output rounded to its fixed-point grid."""
    g = m.graph
    vals: dict[str, np.ndarray] = {t.name: t.data for t in g.params()}  # type: ignore[misc]
    for name, x in zip(g.inputs, inputs):
        vals[name] = fixed_round(x, m.bits, m.fp_pos[name])
    for n in g.nodes:
        xs = [vals[i] for i in n.inputs]
        y = None
        if len(n.outputs) == 1 and all(i in m.fp_pos for i in n.inputs):  # integer form (fixed_int.py)
            y = fixed_int.forward(n, xs, [m.fp_pos[i] for i in n.inputs], m.fp_pos[n.outputs[0]], m.bits)
        if y is not None:
            vals[n.outputs[0]] = y
            continue
        for o, v in zip(n.outputs, get_op(n.op).forward(xs, n.attrs)):
            vals[o] = fixed_round(v, m.bits, m.fp_pos[o])
    return {o: vals[o] for o in list(g.outputs) + [k for k in keep if k not in g.outputs]}


def run_fixed_batched(m: FixedModel, x: np.ndarray, batch: int = 500) -> np.ndarray:
    outs = [run_fixed(m, [x[s:s + batch]])[m.graph.outputs[0]] for s in range(0, len(x), batch)]
    return np.concatenate(outs, axis=0)


def to_quantized(m: FixedModel, method: str, info: dict | None = None):  # noqa: ANN201
    from nnb.quantize.qmodel import QuantizedModel

    return QuantizedModel(m.graph, method, {}, dict(info or {}, bits=m.bits, fp_pos=m.fp_pos))


def from_quantized(qm) -> FixedModel:  # noqa: ANN001 - a QuantizedModel with method fixed8/fixed16
    if qm.method not in METHODS:
        raise NnbError(f"not a fixed-point model (method {qm.method})")
    return FixedModel(qm.graph, int(qm.info["bits"]), {k: int(v) for k, v in qm.info["fp_pos"].items()})


def write_fixed_nnb(m: FixedModel, version: int = 2) -> bytes:
    """A compatible NNB (nnabla's runtime format): every variable FIXED8/FIXED16 with its calibrated fp_pos.

    Inputs are fixed point too: feed the runtime ``round(x * 2^fp_pos)`` integers (a float input with
    fixed weights is the upstream runtime's known defect, NNB_FORMAT.md)."""
    from nnb.emit.nnb_layout import compatible, upstream_runs
    from nnb.emit.nnb_write import write_nnb

    if not compatible(m.graph):
        ops = sorted({n.op for n in m.graph.nodes if not upstream_runs(n.op)}) or ["an argument it cannot store"]
        raise NnbError(f"fixed point: nnabla's runtime cannot run {', '.join(ops)}: no compatible NNB for this "
                       "network")
    names = [t.name for t in m.graph.params()] + list(m.graph.inputs) + [o for n in m.graph.nodes for o in n.outputs]
    return write_nnb(m.graph, extended=False, version=version, fixed={k: (m.bits, m.fp_pos[k]) for k in names})
