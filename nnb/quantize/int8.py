"""Calibrated int8 quantization (TensorFlow Lite's scheme): build the integer model.

* weights: int8 in [-127, 127], symmetric, one scale per output channel
  (convolutions, depthwise, affine columns);
* activations: int8 in [-128, 127], one (scale, zero point) per tensor, from
  the calibrated range [lo, hi]: ``s = (hi - lo)/255``, ``z = round(-128 - lo/s)``;
* bias: int32 at scale ``s_in * s_w[c]``, zero point 0;
* every rescale is an integer multiplier + shift (nnb/quantize/int_sim_arith.py).

The model is built on the optimised graph (BatchNormalization folded,
Convolution [+ MaxPooling] [+ residual Add2] [+ ReLU/ReLU6] fused into
FusedConv); an Affine or Add2 followed by its only reader ReLU/ReLU6 takes the
activation in as its output clamp.  Ops without an integer form run as float
islands (dequantize, the float reference, quantize); ``ISLAND_OPS`` /
``island_ops`` name them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph, Node
from nnb.ops import get_op
from nnb.quantize.calib import EQUALIZED, TensorStats, channel_ranges, choose_range
from nnb.quantize.int_sim_arith import quantize_multiplier, quantize_multipliers

INT_OPS = ("FusedConv", "Convolution", "DepthwiseConvolution", "Affine", "MaxPooling", "AveragePooling",
           "GlobalAveragePooling", "Add2", "Mul2", "Concatenate", "ReLU", "ReLU6", "Reshape", "Identity")
# Ops whose output keeps the input's scale and zero point (no rescale, exact in int8).
SAME_QPARAMS = ("MaxPooling", "AveragePooling", "ReLU", "ReLU6", "Reshape", "Identity")
# Fixed output grids for bounded float islands (TFLite: logistic/softmax 1/256, -128; tanh 1/128, 0).
FIXED_OUT = {"Sigmoid": (1 / 256, -128), "Softmax": (1 / 256, -128), "Tanh": (1 / 128, 0)}
ACT_OPS = {"ReLU": "relu", "ReLU6": "relu6"}
# ops without weights whose output has a grid of its own (``adaround`` fits it on the quantized path)
OWN_GRID = ("GlobalAveragePooling", "Add2", "Mul2", "Concatenate")


@dataclass(frozen=True)
class QParams:
    scale: float
    zero: int

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Float -> int8 at the model's boundary (round half to even)."""
        q = np.round(np.asarray(x, np.float64) / self.scale) + self.zero
        return np.clip(q, -128, 127).astype(np.int64)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return ((np.asarray(q, np.float64) - self.zero) * self.scale).astype(np.float32)


def qparams_from_range(lo: float, hi: float) -> QParams:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    s = (hi - lo) / 255.0
    z = int(np.clip(round(-128 - lo / s), -128, 127))
    return QParams(float(s), z)


@dataclass
class IntNode:
    """One integer (or float-island) step: the graph node and its integer constants."""

    node: Node
    kind: str  # "int" | "island"
    activation: str = ""  # relu / relu6 clamp on the output
    output: str = ""  # the tensor this step writes (a fused ReLU's output)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # weight/bias/mult/shift/...


@dataclass
class Int8Model:
    graph: Graph  # the optimised float graph the steps index into
    qparams: dict[str, QParams]
    steps: list[IntNode]
    calib: str = "minmax"
    info: dict[str, Any] = field(default_factory=dict)
    # tensors held in float32 between float islands (no qparams): a DQ model's tensors that training left float
    float_tensors: set[str] = field(default_factory=set)

    def islands(self) -> list[str]:
        return sorted({s.node.op for s in self.steps if s.kind == "island"})

    def weight_tensor_bytes(self) -> int:
        """The int8 weight tensors alone (one byte per weight)."""
        return sum(int(s.arrays["weight"].size) for s in self.steps if "weight" in s.arrays)

    def weight_bytes(self, shift_bytes: int = 4) -> int:
        """int8 weights, int32 biases, int32 multipliers and shifts (``shift_bytes`` each: a shift is in
        [-31, 30], so 1 would do)."""
        n = 0
        for s in self.steps:
            for k, a in s.arrays.items():
                size = {"weight": 1, "w_scale": 0, "shift": shift_bytes, "res_shift": shift_bytes}.get(k, 4)
                n += size * a.size
        return n


def arena_bytes(m: Int8Model) -> tuple[int, int]:
    """(int8 arena, float arena) in bytes for one sample.

    The float arena is nnb's one-arena plan of the prepared graph (what the
    extended NNB runtime allocates for tensors).  Every tensor of the int8 model
    takes one byte per value where float takes four, so the float plan with
    offsets divided by 4 is a valid int8 plan; float islands add their float
    inputs and outputs on top (counted in full, outside that plan).  Kernel
    scratch (the int16 im2col column) is not included in either figure."""
    import copy

    from nnb.plan.arena import plan_arena

    g = copy.deepcopy(m.graph)
    name = g.inputs[0]
    shapes = g.infer_shapes({name: (1,) + tuple(g.tensors[name].shape[1:])})
    for k, t in g.tensors.items():
        t.shape = shapes.get(k, t.shape)
    fl = plan_arena(g).arena_bytes
    extra = 0
    for st in m.steps:
        if st.kind == "island":
            ins = [i for i in st.node.inputs if g.tensors[i].kind != "param"]
            extra += 4 * sum(int(np.prod(shapes[i])) for i in ins + list(st.node.outputs))
    return (fl + 3) // 4 + extra, fl


def prepare_graph(g: Graph) -> Graph:
    """Canonical (what importers write, e.g. Gemm as Reshape + BatchMatmul, becomes our ops), BN folded,
    convolutions fused; pools that cannot share the convolution's output grid stay apart."""
    from nnb.passes import fold_batch_norm, fuse_convolutions
    from nnb.passes.canon import canonicalize

    g = fold_batch_norm(canonicalize(g))
    fused = fuse_convolutions(g)
    if any(n.op == "FusedConv" and (n.attrs["pool"] == "average" or (n.attrs["pool"] and n.attrs["residual"]))
           for n in fused.nodes):
        fused = fuse_convolutions(g, pool=False)
    return fused


def _fused_activation(g: Graph, node: Node) -> Node | None:
    """The ReLU/ReLU6 an Affine/Add2/Mul2 can take in (its only reader, not a network output)."""
    if node.op not in ("Affine", "Add2", "Mul2") or node.outputs[0] in g.outputs:
        return None
    readers = g.consumers().get(node.outputs[0], [])
    if len(readers) == 1 and readers[0].op in ACT_OPS:
        return readers[0]
    return None


def island_ops(g: Graph) -> list[str]:
    return sorted({n.op for n in g.nodes if n.op not in INT_OPS})


def _weight_axis(op: str, a: dict) -> int:
    return 1 if op == "Affine" else 0


def _bias_shift(node: Node, w: np.ndarray, wq: np.ndarray, mean_in: np.ndarray | None) -> np.ndarray:
    """Bias correction (Nagel et al. 2019): the expected output error of the rounded weights per output
    channel, (wq - w) . E[column]; ``mean_in`` is the calibration mean of what each weight multiplies:
    (C_in, taps) per-tap means for a convolution (padding included), the input's per-feature mean for an
    Affine.  Without it, no correction."""
    d = wq - w
    if node.op == "Affine":
        return mean_in @ d if mean_in is not None and mean_in.size == d.shape[0] else np.zeros(d.shape[1])
    o, cg = d.shape[:2]
    taps = int(np.prod(d.shape[2:]))
    if mean_in is None or mean_in.ndim != 2 or mean_in.shape[1] != taps or mean_in.shape[0] % cg:
        return np.zeros(o)
    groups = mean_in.shape[0] // cg
    if o % groups:
        return np.zeros(o)
    per = d.reshape(groups, o // groups, cg * taps)
    return np.einsum("gok,gk->go", per, mean_in.reshape(groups, cg * taps)).reshape(o)


def _weights(node: Node, g: Graph, s_in: float, s_out: QParams, method: str,
             mean_in: np.ndarray | None = None, seq: tuple | None = None) -> dict[str, np.ndarray]:
    """int8 per-channel weights, int32 bias, per-channel (mult, shift) for acc -> output.

    ``seq``: (quantized-path input, float input) of the layer on the calibration samples; the rounding and
    bias then come from nnb/quantize/int8_adaround.py."""
    w = np.asarray(g.tensors[node.inputs[1]].data, np.float64)
    if node.op == "DepthwiseConvolution":
        w = w[:, None]  # (C*multiplier, 1, K...): a grouped convolution with C groups
    if node.op == "Affine":
        w = w.reshape(w.shape[0], -1)
    axis = _weight_axis(node.op, node.attrs)
    bound = channel_ranges(w, axis, "mse" if method == "mse" else "minmax")
    s_w = bound / 127.0
    shape = [1] * w.ndim
    shape[axis] = -1
    has_bias = len(node.inputs) > 2 and (node.op != "FusedConv" or node.attrs["has_bias"])
    b = np.asarray(g.tensors[node.inputs[2]].data, np.float64).reshape(-1) if has_bias else np.zeros(s_w.size)
    if seq is not None:
        from nnb.quantize.int8_adaround import tune_layer

        qw, b = tune_layer(node, w, b, s_w, *seq)
    else:
        qw = np.clip(np.round(w / s_w.reshape(shape)), -127, 127).astype(np.int8)
        b = b - _bias_shift(node, w, qw * s_w.reshape(shape), mean_in)
    qb = np.clip(np.round(b / (s_in * s_w)), -(1 << 31) + 1, (1 << 31) - 1).astype(np.int32)
    mult, shift = quantize_multipliers(s_in * s_w / s_out.scale)
    return {"weight": qw, "bias": qb, "mult": mult, "shift": shift, "w_scale": s_w}


def score_tensors(g: Graph) -> set[str]:
    """Tensors whose argmax is the network's answer: the outputs, and what a Softmax/LogSoftmax producing an
    output reads (calibration method ``top`` gives them a grid fine at the top; nnb/quantize/calib.py)."""
    out = set(g.outputs)
    for n in g.nodes:
        if n.op in ("Softmax", "LogSoftmax") and n.outputs[0] in g.outputs:
            out.add(n.inputs[0])
    return out


def build_int8(g: Graph, stats: dict[str, TensorStats], method: str = "minmax",
               islands: bool = True, progress: Callable[[int, int], None] | None = None) -> Int8Model:
    """The int8 model of the prepared graph ``g`` from calibration statistics of its tensors.

    ``islands=False``: an op without an integer kernel is an error instead of a float island.
    ``progress(done, total)``: called after each function of ``g`` (``adaround`` takes seconds per layer)."""
    if method in EQUALIZED:  # channel equalization first: the model is built on the rescaled copy of g
        from nnb.quantize.calib_equalize import for_calibration

        g, stats = for_calibration(g, stats)
    scores = score_tensors(g)
    qp: dict[str, QParams] = {}
    for name in g.inputs:
        qp[name] = qparams_from_range(*choose_range(stats[name], method))
    seq = _sequential(g, stats, method)
    if seq is not None:
        seq.start(qp)
    steps: list[IntNode] = []
    absorbed: set[str] = set()
    for done, node in enumerate(g.nodes, 1):
        if progress is not None:
            progress(done - 1, len(g.nodes))
        if node.name in absorbed:
            continue
        act_node = _fused_activation(g, node)
        out = act_node.outputs[0] if act_node else node.outputs[0]
        act = ACT_OPS[act_node.op] if act_node else (node.attrs.get("activation", "") if node.op == "FusedConv"
                                                     else "")
        if act_node:
            absorbed.add(act_node.name)
        s_in = qp.get(node.inputs[0]) if node.inputs else None
        if node.op in INT_OPS and not node.attrs.get("channel_last"):
            if node.inputs[0] not in qp:  # e.g. a Reshape of a parameter: no activation grid to keep
                raise NnbError(f"int8: {node.op} '{node.name}' reads '{node.inputs[0]}', which has no int8 "
                               "activation grid (a parameter or constant); this graph has no int8 form")
            if node.op in SAME_QPARAMS and node.op not in ("ReLU", "ReLU6"):
                qp[out] = qp[node.inputs[0]]
            elif node.op in ("ReLU", "ReLU6"):
                qp[out] = qp[node.inputs[0]]
                act = ACT_OPS[node.op]
            else:
                qp[out] = qparams_from_range(*choose_range(stats[out], method, scores=out in scores))
            step = IntNode(node, "int", act, out)
            if seq is not None and node.op in OWN_GRID:  # its grid from the quantized path's values
                qp[out] = qparams_from_range(*seq.output_range(step, Int8Model(g, qp, steps, method)))
            if node.op in ("FusedConv", "Convolution", "DepthwiseConvolution", "Affine"):
                assert s_in is not None
                src = node.inputs[0] if node.op == "Affine" else node.outputs[0]
                st_in = stats.get(src)
                mean_in = None if st_in is None else st_in.flat_mean if node.op == "Affine" else st_in.tap_mean
                pair = seq.layer_inputs(node, qp) if seq is not None and seq.tunable(node) else None
                step.arrays = _weights(node, g, s_in.scale, qp[out], method, mean_in, pair)
                if pair is not None:
                    qp[out] = qparams_from_range(*seq.output_range(step, Int8Model(g, qp, steps, method)))
                    step.arrays["mult"], step.arrays["shift"] = quantize_multipliers(
                        s_in.scale * step.arrays["w_scale"] / qp[out].scale)
                if node.op == "FusedConv" and node.attrs["residual"]:
                    s_r = qp[node.inputs[-1]].scale
                    rm, rs = quantize_multipliers(s_r / (s_in.scale * step.arrays["w_scale"]))
                    step.arrays.update(res_mult=rm, res_shift=rs)
            elif node.op == "Add2":
                step.arrays = _add_consts([qp[i] for i in node.inputs], qp[out])
            elif node.op == "GlobalAveragePooling":  # sum(q - z_in) * s_in / (count * s_out): its own grid
                count = int(np.prod(g.tensors[node.inputs[0]].shape[2:]))
                m, s = quantize_multiplier(s_in.scale / (count * qp[out].scale))
                step.arrays = {"mult": np.array([m]), "shift": np.array([s])}
            elif node.op == "Mul2":
                a, b = (qp[i] for i in node.inputs)
                m, s = quantize_multiplier(a.scale * b.scale / qp[out].scale)
                step.arrays = {"mult": np.array([m]), "shift": np.array([s])}
            elif node.op == "Concatenate":
                pairs = [quantize_multiplier(qp[i].scale / qp[out].scale) for i in node.inputs]
                step.arrays = {"mult": np.array([p[0] for p in pairs]), "shift": np.array([p[1] for p in pairs])}
        else:
            get_op(node.op)
            if not islands:
                raise NnbError(f"int8: function '{node.name}' ({node.op}) has no integer kernel "
                               "(without --strict-int it runs as a float island: dequantize, float op, quantize)")
            fixed = FIXED_OUT.get(node.op)
            for o in node.outputs:
                qp[o] = QParams(*fixed) if fixed else qparams_from_range(*choose_range(stats[o], method))
            step = IntNode(node, "island", "", out)
        steps.append(step)
        if seq is not None:
            seq.advance(step, Int8Model(g, qp, steps, method))
    if progress is not None:
        progress(len(g.nodes), len(g.nodes))
    return Int8Model(g, qp, steps, method)


def _sequential(g: Graph, stats: dict[str, TensorStats], method: str):  # noqa: ANN202 - Sequential | None
    """``adaround``: the calibration samples run through the model as it is built (int8_adaround.py)."""
    if method != "adaround":
        return None
    xs = [stats[name].values for name in g.inputs]
    if any(x is None for x in xs):
        raise NnbError("calibration method 'adaround' needs the calibration samples (calib.collect keeps them)")
    from nnb.quantize.int8_adaround import Sequential

    return Sequential(g, xs, frozenset(score_tensors(g) - set(g.outputs)))  # a Softmax's scores


ADD_LEFT_SHIFT = 20


def _add_consts(ins: list[QParams], out: QParams) -> dict[str, np.ndarray]:
    """TFLite's Add: inputs << 20, rescaled to 2*max(s) each, summed, rescaled to the output."""
    twice = 2 * max(q.scale for q in ins)
    p1, p2 = (quantize_multiplier(q.scale / twice) for q in ins)
    po = quantize_multiplier(twice / ((1 << ADD_LEFT_SHIFT) * out.scale))
    return {"mult": np.array([p1[0], p2[0], po[0]]), "shift": np.array([p1[1], p2[1], po[1]])}


def int8_record(m: Int8Model) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The int8 model's part of a .nnq: ``info`` entries (qparams, steps, calib[, float_tensors]) and arrays."""
    steps = [{"node": s.node.name, "kind": s.kind, "activation": s.activation, "output": s.output}
             for s in m.steps]
    meta: dict[str, Any] = {"calib": m.calib, "qparams": {k: [q.scale, q.zero] for k, q in m.qparams.items()},
                            "steps": steps}
    if m.float_tensors:
        meta["float_tensors"] = sorted(m.float_tensors)
    arrays = {f"{i}/{k}": np.asarray(a) for i, s in enumerate(m.steps) for k, a in s.arrays.items()}
    return meta, arrays


def to_quantized(m: Int8Model, float_graph: Graph, info: dict[str, Any] | None = None):  # noqa: ANN201
    """The .nnq form: the float graph, qparams and step records in ``info``, integer constants in arrays."""
    from nnb.quantize.qmodel import QuantizedModel

    meta, arrays = int8_record(m)
    return QuantizedModel(float_graph, "int8", {}, dict(info or {}, **meta), arrays)


def is_int8_model(qm) -> bool:  # noqa: ANN001 - a QuantizedModel
    """A calibrated int8 .nnq, or a DQ .nnq carrying its int8 deployment (nnb/quantize/dq_int8.py)."""
    return qm.method == "int8" or (qm.method == "dq" and isinstance(qm.info.get("steps"), list))


def from_quantized(qm) -> Int8Model:  # noqa: ANN001 - a QuantizedModel with method int8 (or dq + int8 form)
    """Rebuild the int8 model from a loaded .nnq (the prepared graph is recomputed, deterministically)."""
    if not is_int8_model(qm):
        raise NnbError(f"not an int8 model (method {qm.method})")
    g = prepare_graph(qm.graph)
    nodes = {n.name: n for n in g.nodes}
    steps = []
    for i, rec in enumerate(qm.info["steps"]):
        if rec["node"] not in nodes:
            raise NnbError(f"int8 model: step {i} names function '{rec['node']}', which the network does not have")
        arrays = {k.split("/", 1)[1]: v for k, v in qm.arrays.items() if k.split("/", 1)[0] == str(i)}
        steps.append(IntNode(nodes[rec["node"]], rec["kind"], rec["activation"], rec["output"], arrays))
    qp = {k: QParams(float(v[0]), int(v[1])) for k, v in qm.info["qparams"].items()}
    info = {k: v for k, v in qm.info.items() if k not in ("qparams", "steps", "calib", "float_tensors")}
    floats = {str(t) for t in qm.info.get("float_tensors") or []}
    return Int8Model(g, qp, steps, qm.info.get("calib", "minmax"), info, floats)
