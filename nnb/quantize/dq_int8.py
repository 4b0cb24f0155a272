"""A DQ model with quantized activations (``nnb quantize --method dq --act-budget``) as an int8 model.

DQ trains, per weight tensor, a step ``d_w`` (codes ``|k| <= 127``: at most 8
signed bits) and, per ReLU/ReLU6 output, an unsigned quantizer
``Q(x) = d_a round(clip(x, 0, q_max) / d_a)`` with codes ``0..n``,
``n = round(q_max / d_a) <= 255``.  Both map onto the int8 model of
nnb/quantize/int8.py without approximation:

* weights: the DQ codes themselves as int8; the scale is ``d_w`` per tensor,
  times the BatchNormalization factor of each output channel once BN is folded
  (so one scale per output channel, the codes unchanged);
* a quantized activation: scale ``d_a``, zero point ``127 - n``: code ``k`` is
  the int8 value ``k + 127 - n``, so the fused ReLU's lower clamp (the zero
  point) is DQ's 0 and int8's saturation at 127 is DQ's ``q_max``;
* requantization: ``s_in * s_w[c] / d_a`` as a multiplier and shift; the bias
  is rounded to int32 at ``s_in * s_w[c]`` (no bias correction: the model must
  compute what training computed);
* the network input: its calibrated min/max grid (exact for images scaled
  ``k / 255``: scale 1/255, zero point -128).

A function runs in integer only when all its inputs are int8 tensors, its
weights are DQ codes and its output is exactly representable: a quantized
activation, or a max pooling / reshape of one.  Every other function is a float
island computing in float32 what training's forward computes: its int8 inputs
are dequantized (exactly: code times step), and its output stays float
(``Int8Model.float_tensors``) unless it is a quantized activation.  On the
Fashion-MNIST LeNet that is the last Affine and the Softmax; on the DS-CNN the
GlobalAveragePooling, the Affine and the Softmax.  The integer model differs
from the fake-quantized float network only by float32 rounding in training's
forward and the int32 rounding of the bias, which can move a value lying
within about one accumulator unit of a rounding boundary to the next code.
"""

from __future__ import annotations

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph, Node
from nnb.quantize import int8 as int8_mod
from nnb.quantize.int8 import ACT_OPS, Int8Model, IntNode, QParams, qparams_from_range
from nnb.quantize.int_sim_arith import I64, quantize_multiplier
from nnb.quantize.qmodel import QuantizedModel

WEIGHTED = ("FusedConv", "Convolution", "DepthwiseConvolution", "Affine")
GRID_KEEPING = ("MaxPooling", "Reshape", "Identity")  # exact on the input's grid


def act_grid(step: float, top: float) -> QParams:
    """The int8 grid of DQ's unsigned quantizer with step ``step`` whose largest value is ``top``."""
    n = int(round(top / step))
    if not 1 <= n <= 255:
        raise NnbError(f"DQ activation: {n + 1} levels (step {step:.4g}, range {top:.4g}) do not fit in int8")
    return QParams(float(step), 127 - n)


def activation_grids(info: dict) -> dict[str, QParams]:
    """The int8 grid of every activation a DQ .nnq quantizes, from its quantizers as training's forward runs them."""
    from nnb.quantize.dq import fixed_act_quantizers

    out = {}
    for name, q in fixed_act_quantizers(info).items():
        top, _ = q.forward(np.array([np.float32(3.0e38)], np.float32))  # clip(x, 0, q_max) rounded: the top code
        out[name] = act_grid(q.step_size(), float(top[0]))
    return out


def _dq_codes(qm: QuantizedModel, g0: dict[str, Node], node: Node, w: np.ndarray) -> tuple[np.ndarray, float] | None:
    """The DQ codes (reshaped like the prepared weight ``w``) and step of the function's weight, or None."""
    src = g0.get(node.name)
    if src is None or len(src.inputs) < 2 or src.inputs[1] not in qm.layers:
        return None
    q = qm.layers[src.inputs[1]]
    if q.kind != "uniform":
        raise NnbError(f"DQ int8: weight '{src.inputs[1]}' is a {q.kind} table, not a uniform grid "
                       "(LUT-Q weights with integer activations are not supported)")
    if q.codes.size != w.size or np.abs(q.codes).max(initial=0) > 127:
        raise NnbError(f"DQ int8: weight '{src.inputs[1]}' ({q.bits} bits) does not fit int8 codes")
    return np.asarray(q.codes).reshape(w.shape), float(q.values[0])


def _channel_scales(w: np.ndarray, codes: np.ndarray, d: float, axis: int, name: str) -> np.ndarray:
    """Per output channel: the scale s with ``w = codes * s`` (d times the folded BatchNormalization factor)."""
    wc = np.moveaxis(np.asarray(w, np.float64), axis, 0).reshape(w.shape[axis], -1)
    cc = np.moveaxis(codes.astype(np.float64), axis, 0).reshape(w.shape[axis], -1)
    den = (cc * cc).sum(axis=1)
    s = np.where(den > 0, (wc * cc).sum(axis=1) / np.maximum(den, 1), d)
    s = np.where(s > 0, s, d)  # a channel of zero codes: any positive scale
    err = np.abs(wc - cc * s[:, None]).max(initial=0.0)
    if err > 1e-5 * max(float(np.abs(wc).max(initial=0.0)), 1e-30):
        raise NnbError(f"DQ int8: weight of '{name}' is not its DQ codes times one scale per channel "
                       f"(off by {err:.3g})")
    return s


def _weights(node: Node, g: Graph, codes: np.ndarray, d: float, s_in: float, s_out: float) -> dict[str, np.ndarray]:
    w = np.asarray(g.tensors[node.inputs[1]].data)
    if node.op == "DepthwiseConvolution":
        w, codes = w[:, None], codes[:, None]
    if node.op == "Affine":
        w, codes = w.reshape(w.shape[0], -1), codes.reshape(w.shape[0], -1)
    axis = 1 if node.op == "Affine" else 0
    s_w = _channel_scales(w, codes, d, axis, node.name)
    has_bias = len(node.inputs) > 2 and (node.op != "FusedConv" or node.attrs["has_bias"])
    b = np.asarray(g.tensors[node.inputs[2]].data, np.float64).reshape(-1) if has_bias else np.zeros(s_w.size)
    qb = np.clip(np.round(b / (s_in * s_w)), -(1 << 31) + 1, (1 << 31) - 1).astype(np.int32)
    pairs = [single_rounding_multiplier(float(m)) for m in s_in * s_w / s_out]
    mult, shift = np.array([p[0] for p in pairs], I64), np.array([p[1] for p in pairs], I64)
    return {"weight": codes.astype(np.int8), "bias": qb, "mult": mult, "shift": shift, "w_scale": s_w}


def single_rounding_multiplier(m: float, top: int = 256) -> tuple[int, int]:
    """(mult, shift) for ``m`` as ``quantize_multiplier`` gives them, except that for m < 1 the right shift ``r``
    is chosen to minimise the worst error of an output value ``|v| <= top`` instead of normalising mult to
    [2^30, 2^31): the rounding of ``srdhm`` followed by the rounding right shift is a double rounding that moves
    values within ``2^-(r+1)`` below a half up; r = 0 rounds once, at the cost of a coarser mult (error
    ``top / (2 m 2^(31+r))`` per value).  Same integer arithmetic, only mult is not normalised."""
    if not 0 < m < 1:
        return quantize_multiplier(m)
    best = None
    for r in range(0, 32):
        mult = round(m * 2.0 ** (31 + r))
        if mult >= 1 << 31:
            break
        err = (0.0 if r == 0 else 2.0 ** -(r + 1)) + top / (2 * m * 2.0 ** (31 + r))
        if mult > 0 and (best is None or err < best[0]):
            best = (err, mult, -r)
    return (best[1], best[2]) if best else quantize_multiplier(m)


def build_dq_int8(qm: QuantizedModel, x: np.ndarray) -> Int8Model:
    """The int8 model of a loaded DQ .nnq with quantized activations; ``x``: calibration inputs (the input grid)."""
    if qm.method != "dq" or not qm.info.get("activations"):
        raise NnbError("an integer DQ model needs a DQ .nnq with quantized activations (--act-budget)")
    grids = activation_grids(qm.info)
    g = int8_mod.prepare_graph(qm.graph)
    g0 = {n.name: n for n in qm.graph.nodes}
    if len(g.inputs) != 1 or not len(x):
        raise NnbError("DQ int8: a single-input network and at least one calibration sample are needed")
    qp: dict[str, QParams] = {g.inputs[0]: qparams_from_range(float(np.min(x)), float(np.max(x)))}
    floats: set[str] = set()
    steps: list[IntNode] = []
    absorbed: set[str] = set()
    for node in g.nodes:
        if node.name in absorbed:
            continue
        act_node = int8_mod._fused_activation(g, node)
        if act_node is not None and act_node.outputs[0] not in grids:
            act_node = None  # keep the ReLU apart: its output is float in training
        out = act_node.outputs[0] if act_node else node.outputs[0]
        act = ACT_OPS[act_node.op] if act_node else node.attrs.get("activation", "") if node.op == "FusedConv" \
            else ACT_OPS.get(node.op, "")
        ins = [i for i in node.inputs if g.tensors[i].kind != "param"]
        all_int = bool(ins) and all(i in qp for i in ins) and len(node.outputs) == 1
        step = None
        if all_int and not node.attrs.get("channel_last"):
            if node.op in WEIGHTED and out in grids and act:
                found = _dq_codes(qm, g0, node, np.asarray(g.tensors[node.inputs[1]].data))
                if found is not None and not (node.op == "FusedConv" and node.attrs["residual"]):
                    qp[out] = grids[out]
                    step = IntNode(node, "int", act, out,
                                   _weights(node, g, found[0], found[1], qp[ins[0]].scale, qp[out].scale))
            elif node.op in GRID_KEEPING + tuple(ACT_OPS):
                want = grids.get(out, qp[ins[0]] if node.op in GRID_KEEPING else None)
                if want == qp[ins[0]]:
                    qp[out] = want
                    step = IntNode(node, "int", act, out)
        if step is None:
            step = IntNode(node, "island", "", node.outputs[0])
            act_node = None
            for o in node.outputs:
                if o in grids:
                    qp[o] = grids[o]
                else:
                    floats.add(o)
        if act_node is not None:
            absorbed.add(act_node.name)
        steps.append(step)
    return Int8Model(g, qp, steps, "dq", {}, floats)


def attach(qm: QuantizedModel, m: Int8Model) -> QuantizedModel:
    """The DQ .nnq carrying its int8 model too (method stays dq: the reference still runs the float network)."""
    meta, arrays = int8_mod.int8_record(m)
    info = {k: v for k, v in qm.info.items() if k not in ("qparams", "steps", "calib", "float_tensors")}
    return QuantizedModel(qm.graph, qm.method, qm.layers, dict(info, **meta), arrays)


def snap_biases(qm: QuantizedModel, m: Int8Model) -> int:
    """Put the int32 biases back into the float network: each integer layer's (folded) bias becomes exactly
    ``bias_q * s_in * s_w[c]``, the value the integer model adds.  The change is below half an accumulator
    unit per channel; afterwards the fake-quantized float network computes what the integer model computes.
    The BatchNormalization's beta absorbs it where BN was folded, else the layer's own bias.  Returns the
    number of biases changed; ``qm.graph`` is modified in place."""
    from nnb.ops.normalization import bn_inputs

    readers = qm.graph.consumers()
    g0 = {n.name: n for n in qm.graph.nodes}
    changed = 0
    for st in m.steps:
        if "bias" not in st.arrays:
            continue
        node, src = st.node, g0[st.node.name]
        s = m.qparams[node.inputs[0]].scale * np.asarray(st.arrays["w_scale"], np.float64)
        has_bias = len(node.inputs) > 2 and (node.op != "FusedConv" or node.attrs["has_bias"])
        now = np.asarray(m.graph.tensors[node.inputs[2]].data, np.float64).reshape(-1) if has_bias else 0.0
        delta = np.asarray(st.arrays["bias"], np.float64) * s - now
        if not np.any(delta):
            continue
        bn = next(iter(readers.get(src.outputs[0], [])), None)
        if has_bias and node.inputs[2].endswith("/b_bnfold") and bn is not None and bn.op == "BatchNormalization" \
                and not bn.attrs["no_bias"]:
            t = qm.graph.tensors[bn.inputs[bn_inputs(len(bn.inputs), bn.attrs)["beta"]]]
        elif len(src.inputs) > 2 and not node.inputs[2].endswith("/b_bnfold"):
            t = qm.graph.tensors[src.inputs[2]]
        else:
            continue  # no float bias to carry it: the integer model keeps its rounding
        t.data = (np.asarray(t.data, np.float64) + delta.reshape(t.data.shape)).astype(np.float32)
        changed += 1
    return changed
