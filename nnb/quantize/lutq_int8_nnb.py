"""LUT-Q steps with integer activations in int8 NNB files: records 1012 Q8LutConv and 1013 Q8LutAffine.

docs/nnb_format.md ("int8 models", LUT-Q records).  Inputs: the int8 input,
``codes`` (int32 parameter: the bit-packed codes as little-endian 32-bit words,
``lut_bits`` each, LSB first, output-channel major), ``dict`` (int32 parameter
of shape (O, K): each output channel's integer dictionary), ``rq`` (int32, 3 O:
the biases, the multipliers, the shifts), and for a residual convolution the
residual int8 tensor and ``res_rq`` (as Q8Conv's): at most 7 tensors a record.
Arguments: Q8Conv's (resp. Q8Affine's) followed by ``w_shape`` (the weight's
shape: (O, C/G, KH[, KW]) for a convolution, the float weight's (inputs,
outputs...) for an Affine) and ``lut_bits``.  A dictionary
whose every entry is 0 or a signed power of two runs as shifts.

``emit_lut_step`` is called by the int8 NNB writer (nnb/emit/nnb_int8.py) for a
step carrying LUT-Q arrays; ``read_lut_step`` by the reader (nnb_int8_read.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnb.errors import NnbError
from nnb.quantize.int8 import IntNode
from nnb.quantize.lutq_int8 import BITS, CODES, DICT, POW2
from nnb.quantize.qmodel import pack_codes, unpack_codes


def _slots() -> dict[str, tuple[int, list[Any]]]:
    from nnb.emit.nnb_args import ArgSlot
    from nnb.emit.nnb_int8_layout import Q8_FUNCTIONS

    lut = [ArgSlot("w_shape", "iI"), ArgSlot("lut_bits", "i")]
    return {"Q8LutConv": (1012, Q8_FUNCTIONS["Q8Conv"][1] + lut),
            "Q8LutAffine": (1013, Q8_FUNCTIONS["Q8Affine"][1] + lut)}


LUT_RECORDS = ("Q8LutConv", "Q8LutAffine")
LUT_IDS = {1012: "Q8LutConv", 1013: "Q8LutAffine"}


def lut_record(name: str) -> tuple[int, list[Any]]:
    """(function id, argument slots) of a LUT-Q record."""
    return _slots()[name]


def lut_record_by_id(fid: int) -> tuple[str, list[Any]] | None:
    name = LUT_IDS.get(fid)
    return (name, _slots()[name][1]) if name else None


def packed_words(codes: np.ndarray, bits: int) -> np.ndarray:
    """Codes (any shape, flattened in C order) as little-endian uint32 words, ``bits`` each, LSB first."""
    raw = pack_codes(np.asarray(codes, np.int64), bits)
    raw = np.concatenate([raw, np.zeros((-raw.size) % 4, np.uint8)])
    return raw.view("<u4").copy()


def _out_major(st: IntNode) -> np.ndarray:
    c = np.asarray(st.arrays[CODES], np.int64)
    return np.ascontiguousarray(c.T) if st.node.op == "Affine" else c


def emit_lut_step(b, st: IntNode) -> None:  # noqa: ANN001 - nnb.emit.nnb_int8._Builder
    """The records of one LUT-Q step (the writer's variables and functions, added to ``b``)."""
    from nnb.emit.nnb_int8 import Var
    from nnb.quantize.int_sim import clamp_bounds

    node, a, g = st.node, st.node.attrs, b.g
    lo, hi = clamp_bounds(st.activation, b.m.qparams[st.output])
    act = {"activation": st.activation, "act_min": lo, "act_max": hi}
    data_ins = [i for i in node.inputs if g.tensors[i].kind != "param"]
    xs = [b.ensure_q(i) for i in data_ins]
    bits = int(np.asarray(st.arrays[BITS]).reshape(-1)[0])
    codes = _out_major(st)
    D = np.asarray(st.arrays[DICT], np.int64)
    wname = node.inputs[1]
    words = packed_words(codes, bits).view("<i4").astype(np.int64)
    cname = b.add_var(Var(f"{wname}/codes", (int(words.size),), "i32", words))
    dname = b.add_var(Var(f"{wname}/dict", tuple(D.shape), "i32", D))
    rq = np.concatenate([np.asarray(st.arrays[k], np.int64).reshape(-1) for k in ("bias", "mult", "shift")])
    consts = [b.add_var(Var(f"{node.name}/rq", (int(rq.size),), "i32", rq))]
    if node.op == "Affine":
        ba = a.get("base_axis", 1)
        ba = ba + len(b.shape(node.inputs[0])) if ba < 0 else ba
        wshape = tuple(g.tensors[node.inputs[1]].shape)
        b.emit("Q8LutAffine", [xs[0], cname, dname, *consts], st,
               {"base_axis": ba, **act, "w_shape": wshape, "lut_bits": bits})
        return
    op = node.op
    if op == "FusedConv" and (a["pool"] not in ("", "max") or (a["pool"] and a["residual"])):
        raise NnbError(f"int8 NNB: {node.name}: a LUT-Q FusedConv with {a['pool']} pooling has no record")
    attrs = {**b.conv_attrs(node, codes.ndim - 2, act), "w_shape": tuple(codes.shape), "lut_bits": bits}
    ins = [xs[0], cname, dname, *consts]
    if attrs["residual"]:
        rq = np.concatenate([np.asarray(st.arrays["res_mult"], np.int64).reshape(-1),
                             np.asarray(st.arrays["res_shift"], np.int64).reshape(-1)])
        ins += [xs[-1], b.add_var(Var(f"{node.name}/res_rq", (int(rq.size),), "i32", rq))]
    b.emit("Q8LutConv", ins, st, attrs)


def _int32(v, what: str, where: str) -> np.ndarray:  # noqa: ANN001 - nnb_int8_read._Var
    if v.typ != 7 or v.data is None:
        raise NnbError(f"{where}: '{v.name}' ({what}) is not an int32 parameter")
    return np.asarray(v.data, np.int64)


def read_lut_step(rec: str, a: dict, ins: list, outs: list, tensor, tensors: dict, where: str,  # noqa: ANN001
                  k: int) -> IntNode:
    """A Q8LutConv / Q8LutAffine record back into a LUT-Q step (every field checked; NnbError names it)."""
    from nnb.emit.nnb_int8_read import _i32, _orig, _param
    from nnb.ops import get_op
    from nnb.quantize.int8 import QParams
    from nnb.quantize.int_sim import clamp_bounds

    where = f"{where} ({rec})"
    res = bool(a.get("residual")) if rec == "Q8LutConv" else False
    if len(ins) != (6 if res else 4) or len(outs) != 1 or outs[0].typ != 6 or outs[0].didx >= 0:
        raise NnbError(f"{where}: {len(ins)} inputs / {len(outs)} outputs")
    data_vars = [ins[0]] + ([ins[4]] if res else [])
    for v in data_vars:
        if v.typ != 6 or v.didx >= 0:
            raise NnbError(f"{where}: input '{v.name}' is not an int8 tensor")
    act = a.get("activation", "") or ""
    out = tensor(outs[0])
    q_out = QParams(float(outs[0].scales[0]), outs[0].zero)
    if (a["act_min"], a["act_max"]) != clamp_bounds(act, q_out):
        raise NnbError(f"{where}: clamp [{a['act_min']}, {a['act_max']}] does not match activation '{act}'")
    wshape = tuple(int(d) for d in a["w_shape"] or ())
    bits = int(a["lut_bits"])
    if len(wshape) < 2 or min(wshape) < 1 or not 1 <= bits <= 8:
        raise NnbError(f"{where}: w_shape {wshape}, lut_bits {bits}")
    D = _int32(ins[2], "dict", where)
    o = int(np.prod(wshape[1:])) if rec == "Q8LutAffine" else wshape[0]
    if len(ins[2].shape) != 2 or ins[2].shape[0] != o or not 2 <= ins[2].shape[1] <= min(256, 1 << bits):
        raise NnbError(f"{where}: dict of shape {ins[2].shape} for {o} outputs and {bits}-bit codes")
    D = D.reshape(ins[2].shape)
    n = int(np.prod(wshape))
    words = _int32(ins[1], "codes", where).astype(np.uint32)
    if words.size * 32 < n * bits:
        raise NnbError(f"{where}: {words.size} code words for {n} codes of {bits} bits")
    codes = unpack_codes(words.astype("<u4").view(np.uint8), bits, n)
    if codes.max(initial=0) >= D.shape[1]:
        raise NnbError(f"{where}: a code is outside its {D.shape[1]}-entry dictionary")
    taps = n // o
    if int(np.abs(D).max(initial=0)) * 256 * taps > 1 << 30:  # the C loader's bound (dmax() keeps to it)
        raise NnbError(f"{where}: a dictionary entry beyond the accumulator bound")
    rq = _i32(ins[3:4], ("rq",), {"rq": 3 * o}, where)["rq"]
    arrays = {"bias": rq[:o], "mult": rq[o:2 * o], "shift": rq[2 * o:]}
    if np.abs(arrays["bias"]).max(initial=0) >= 1 << 29 or arrays["mult"].min(initial=0) < 0 \
            or not -31 <= arrays["shift"].min(initial=0) <= arrays["shift"].max(initial=0) <= 30:
        raise NnbError(f"{where}: a bias beyond 2^29, a negative multiplier or a shift outside [-31, 30]")
    if rec == "Q8LutConv":
        ba = int(a["base_axis"])
        if not 0 <= ba < len(ins[0].shape) or int(a["group"]) < 1 \
                or ins[0].shape[ba] != wshape[1] * int(a["group"]) or o % int(a["group"]):
            raise NnbError(f"{where}: weight {wshape}, group {a['group']} for input {ins[0].shape}")
    mag = np.abs(D[D != 0])
    pow2 = bool(np.all((mag & (mag - 1)) == 0))
    name = f"{rec}_{k}"
    if rec == "Q8LutAffine":
        c = codes.reshape(o, wshape[0]).T  # (inputs, outputs): the int8 model's layout
        wf = D[np.arange(o)[None, :], c].astype(np.float64).reshape(wshape)
        wname = _param(_Named(ins[1], wshape), tensors, wf)
        attrs = get_op("Affine").normalize({"base_axis": a["base_axis"]}, where)
        from nnb.ir import Node

        arrays.update({CODES: c, DICT: D, POW2: np.array([int(pow2)]), BITS: np.array([bits])})
        return IntNode(Node(name, "Affine", [_orig(ins[0].name), wname], [out], attrs), "int", act, out, arrays)
    c = codes.reshape(wshape)
    wf = np.take_along_axis(D, c.reshape(o, -1), axis=1).astype(np.float64).reshape(wshape)
    wname = _param(_Named(ins[1], wshape), tensors, wf)
    arrays.update({CODES: c, DICT: D, POW2: np.array([int(pow2)]), BITS: np.array([bits])})
    if res:
        rr = _i32([ins[5]], ("res_rq",), {"res_rq": 2 * o}, where)["res_rq"]
        arrays.update(res_mult=rr[:o], res_shift=rr[o:])
    pool = a["pool"]
    attrs = {"base_axis": a["base_axis"], "pad": a["pad"], "stride": a["stride"], "dilation": a["dilation"],
             "group": a["group"], "channel_last": False, "pool": pool,
             "pool_kernel": a["pool_kernel"] or (), "pool_stride": a["pool_stride"] or (),
             "pool_pad": a["pool_pad"] or (), "pool_ignore_border": a["pool_ignore_border"],
             "pool_including_pad": True, "activation": act, "residual": res, "has_bias": False}
    from nnb.ir import Node

    xs = [_orig(v.name) for v in data_vars]
    node = Node(name, "FusedConv", [xs[0], wname] + xs[1:], [out], get_op("FusedConv").normalize(attrs, where))
    return IntNode(node, "int", act, out, arrays)


class _Named:
    """A stand-in variable naming the weight tensor of the reader's graph (the codes' name without '/codes')."""

    def __init__(self, v, shape: tuple[int, ...]) -> None:  # noqa: ANN001
        self.name = v.name[:-len("/codes")] if v.name.endswith("/codes") else v.name
        self.shape = shape
