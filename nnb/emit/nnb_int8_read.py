"""Read an int8 NNB file (docs/nnb_format.md, "int8 models") back into an int8 model.

``read_int8_nnb`` rebuilds the :class:`nnb.quantize.int8.Int8Model` the writer
(nnb_int8.py) laid out: one integer step per int8 record, one float island per
float record, the tensors' scales and zero points from the kind-6 descriptors,
the integer constants from the int32 parameters.  Its graph holds the network's
ops (FusedConv, Affine, pools, ...) with the int8 weights dequantized, so that
``nnb inspect`` can show it and ``nnb.quantize.int_sim.run_int8`` can run it.
Every field is checked; a bad one is an NnbError naming it.
"""

from __future__ import annotations

import struct

import numpy as np

from nnb.emit.nnb_args import unpack_args
from nnb.emit.nnb_int8_layout import (
    CLAMP_OPS,
    Q8_BY_ID,
    Q8_OP_OF,
    Q8DESC,
    TYPE_I32,
    TYPE_Q8,
    dequantize_table,
    quantize_thresholds,
)
from nnb.emit.nnb_layout import TRANSPOSED_WEIGHTS, TYPE_FLOAT, slots_by_id
from nnb.errors import NnbError
from nnb.ir import Graph, Node, Tensor
from nnb.ops import get_op
from nnb.quantize.int8 import FIXED_OUT, Int8Model, IntNode, QParams

SUFFIXES = ("@q8", "@dq", "@f32")


def is_int8_image(data: bytes) -> bool:
    """Does this (extended) NNB image hold int8 records or variables?"""
    from nnb.emit.nnb_read import _Image

    try:
        im = _Image(data, "")
        if im.ext is None:
            return False
        for c in im.ints(*im.variables):
            if (struct.unpack_from("<IIiBxxxi", data, im.chunk(c, 20))[3] & 0xF) in (TYPE_Q8, TYPE_I32):
                return True
        return any(struct.unpack_from("<H", data, im.chunk(c, 20))[0] in Q8_BY_ID for c in im.ints(*im.functions))
    except (NnbError, struct.error):
        return False


def _orig(name: str) -> str:
    for s in SUFFIXES:
        if name.endswith(s):
            return name[:-len(s)]
    return name


class _Var:
    def __init__(self, name: str, shape: tuple[int, ...], typ: int, didx: int) -> None:
        self.name, self.shape, self.typ, self.didx = name, shape, typ, didx
        self.data: np.ndarray | None = None
        self.scales: np.ndarray | None = None
        self.zero = 0

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def _descriptor(im, v: _Var, c: int, where: str) -> None:  # noqa: ANN001 - nnb_read._Image
    kind, bits, count, schunk, zero, axis, r0, r1 = Q8DESC.unpack_from(im.data, im.chunk(c, Q8DESC.size))
    if kind != TYPE_Q8 or bits != 8 or r0 or r1 or not -128 <= zero <= 127:
        raise NnbError(f"{where}: bad int8 descriptor (kind {kind}, bits {bits}, zero {zero})")
    if axis == -1:
        want = 1
    elif v.didx >= 0 and 0 <= axis < len(v.shape):
        want = v.shape[0] if axis == 0 else int(np.prod(v.shape[axis:]))
    else:
        raise NnbError(f"{where}: int8 scale axis {axis} (activations have one scale)")
    if count != want:
        raise NnbError(f"{where}: {count} scales, {want} expected")
    sc = np.frombuffer(im.data, "<f8", count, im.chunk(schunk, 8 * count)).astype(np.float64)
    if not (np.all(np.isfinite(sc)) and np.all(sc > 0)):
        raise NnbError(f"{where}: an int8 scale is not a positive number")
    v.scales, v.zero = sc, int(zero)


def _variables(im, names: list[str]) -> list[_Var]:  # noqa: ANN001
    data = im.data
    out = []
    for k, c in enumerate(im.ints(*im.variables)):
        vid, ssize, schunk, tbyte, didx = struct.unpack_from("<IIiBxxxi", data, im.chunk(c, 20))
        if vid != k:
            raise NnbError(f"{im.name}: variable {k} has id {vid}")
        shape = tuple(im.ints(ssize, schunk))
        if any(d <= 0 for d in shape):
            raise NnbError(f"{im.name}: variable {k} has a dimension below 1")
        typ = tbyte & 0xF
        if tbyte >> 4 or typ not in (TYPE_FLOAT, TYPE_Q8, TYPE_I32) or (typ == TYPE_I32 and didx < 0):
            raise NnbError(f"{im.name}: variable {k} ({names[k]}) has type {tbyte} (an int8 file holds float, int8 "
                           "and int32 parameters)")
        v = _Var(names[k], shape, typ, didx)
        if didx >= 0:
            dt = {TYPE_FLOAT: "<f4", TYPE_Q8: "i1", TYPE_I32: "<i4"}[typ]
            n = v.size * np.dtype(dt).itemsize
            v.data = np.frombuffer(data, dt, v.size, im.chunk(didx, n)).copy()
        out.append(v)
    qsize, qchunk = im.ext[5], im.ext[6]
    if qsize != len(out):
        raise NnbError(f"{im.name}: quant descriptor list has {qsize} entries for {len(out)} variables")
    for k, c in enumerate(im.ints(qsize, qchunk)):
        if (c != -1) != (out[k].typ == TYPE_Q8):
            raise NnbError(f"{im.name}: variable {k}: a descriptor goes with type 6 exactly")
        if c != -1:
            _descriptor(im, out[k], c, f"{im.name}: variable {k} ({out[k].name})")
    return out


def read_int8_nnb(data: bytes, name: str = "model.nnb") -> Int8Model:
    from nnb.emit.nnb_int8_qconv import QCONV, conv_inputs
    from nnb.emit.nnb_read import _Image, _read_names
    from nnb.quantize.lutq_int8_nnb import LUT_IDS, lut_record_by_id, read_lut_step

    im = _Image(data, name)
    if im.ext is None or im.end == len(data):
        raise NnbError(f"{name}: an int8 NNB file is extended and names its variables")
    nv = im.variables[0]
    names = _read_names(im, nv)
    vs = _variables(im, names)

    def var(i: int) -> _Var:
        if not 0 <= i < len(vs):
            raise NnbError(f"{name}: variable id {i} out of range")
        return vs[i]

    inputs = [var(i) for i in im.ints(*im.inputs)]
    outputs = [var(i) for i in im.ints(*im.outputs)]
    tensors: dict[str, Tensor] = {}
    qparams: dict[str, QParams] = {}

    def tensor(v: _Var, kind: str = "buffer") -> str:
        t = _orig(v.name)
        if t not in tensors:
            tensors[t] = Tensor(t, v.shape, kind=kind)
        if tensors[t].shape != v.shape and kind != "param":
            raise NnbError(f"{name}: '{v.name}' has shape {v.shape}, '{t}' {tensors[t].shape}")
        if v.typ == TYPE_Q8 and v.didx < 0:
            assert v.scales is not None
            qparams[t] = QParams(float(v.scales[0]), v.zero)
        return t

    for v in inputs:
        if v.typ != TYPE_FLOAT or v.didx >= 0:
            raise NnbError(f"{name}: network input '{v.name}' is not a float tensor")
        tensor(v, "input")
    steps: list[IntNode] = []
    nodes: list[Node] = []
    floats: set[str] = set()  # tensors held in float between islands
    for k, c in enumerate(im.ints(*im.functions)):
        start = im.chunk(c, 20)
        fid, _impl, isz, ich, osz, och = struct.unpack_from("<HHIiIi", data, start)
        ins = [var(i) for i in im.ints(isz, ich)]
        outs = [var(i) for i in im.ints(osz, och)]
        where = f"{name}: function {k}"
        if fid in Q8_BY_ID:
            rec, slots = Q8_BY_ID[fid]
        elif fid in LUT_IDS:  # LUT-Q records (nnb/quantize/lutq_int8_nnb.py)
            rec, slots = lut_record_by_id(fid)  # type: ignore[misc]
        else:
            rec, slots = slots_by_id(fid, True)
            if not rec or slots is None:
                raise NnbError(f"{where} has unknown id {fid}")
        body = data[start + 20:im.record_end(c)]
        attrs = unpack_args(rec, slots, body, lambda kind, n, ch: im.ints(n, ch) if kind == "iI" else im.floats(n, ch))
        if rec in ("Q8Quantize", "Q8Dequantize"):
            want = ((TYPE_FLOAT,), (TYPE_Q8,)) if rec == "Q8Quantize" else ((TYPE_Q8,), (TYPE_FLOAT,))
            if len(ins) != 2 or len(outs) != 1 or ins[0].typ not in want[0] or outs[0].typ not in want[1] \
                    or ins[0].size != outs[0].size or ins[1].typ != TYPE_FLOAT or ins[1].data is None:
                raise NnbError(f"{where} ({rec}): bad inputs/outputs")
            q8 = outs[0] if rec == "Q8Quantize" else ins[0]
            assert q8.scales is not None
            table = (quantize_thresholds if rec == "Q8Quantize" else dequantize_table)(float(q8.scales[0]), q8.zero)
            if not np.array_equal(ins[1].data.view(np.uint32), table.view(np.uint32)):
                raise NnbError(f"{where} ({rec}): '{ins[1].name}' is not the table of scale {float(q8.scales[0]):.9g}, "
                               f"zero point {q8.zero}")
            tensor(outs[0])  # Quantize: the input's / island output's grid; Dequantize: a float copy
            continue
        if rec == QCONV:  # the first convolution quantizing the float input itself (nnb_int8_qconv.py)
            where = f"{where} ({rec})"
            xq, *rest = conv_inputs(ins, inputs, attrs, where)
            tensor(xq)  # the input's grid
            steps.append(_int_step("Q8Conv", attrs, [xq, *rest], outs, tensor, tensors, where, k, label=rec))
        elif rec in Q8_FUNCTIONS_INT:
            steps.append(_int_step(rec, attrs, ins, outs, tensor, tensors, where, k))
        elif fid in LUT_IDS:
            steps.append(read_lut_step(rec, attrs, ins, outs, tensor, tensors, where, k))
        else:
            steps.append(_island(rec, attrs, ins, outs, tensor, tensors, where, k, floats))
        nodes.append(steps[-1].node)
    for st in steps:  # island outputs no integer step reads keep a nominal grid (never used by run_int8)
        for o in st.node.outputs:
            qparams.setdefault(o, QParams(*FIXED_OUT.get(st.node.op, (1.0, 0))))
    g_outputs = [_orig(v.name) for v in outputs]
    for t in g_outputs:
        if t not in tensors:
            raise NnbError(f"{name}: output '{t}' is not written by any function")
    g = Graph(name="int8-nnb", tensors=tensors, nodes=nodes, inputs=[_orig(v.name) for v in inputs],
              outputs=g_outputs, batch_size=inputs[0].shape[0] if inputs and inputs[0].shape else 1)
    g.input_specs = {n: (-1,) + tuple(tensors[n].shape[1:]) for n in g.inputs}  # any batch, like float NNB files
    missing = [i for n in nodes for i in n.inputs
               if tensors[i].kind != "param" and i not in qparams and i not in floats]
    if missing:
        raise NnbError(f"{name}: tensor '{missing[0]}' is read without an int8 grid")
    return Int8Model(g, qparams, steps, "nnb", {"source": "nnb"}, floats)


Q8_FUNCTIONS_INT = set(Q8_OP_OF) | {"Q8Clamp"}


def _param(v: _Var, tensors: dict[str, Tensor], data: np.ndarray) -> str:
    tensors[v.name] = Tensor(v.name, v.shape, kind="param", data=np.asarray(data, np.float32).reshape(v.shape))
    return v.name


def _i32(vs: list[_Var], keys: tuple[str, ...], sizes: dict[str, int], where: str) -> dict[str, np.ndarray]:
    out = {}
    for v, key in zip(vs, keys):
        if v.typ != TYPE_I32 or v.data is None:
            raise NnbError(f"{where}: '{v.name}' ({key}) is not an int32 parameter")
        if key in sizes and v.data.size != sizes[key]:
            raise NnbError(f"{where}: '{v.name}' has {v.data.size} values, {sizes[key]} expected")
        out[key] = v.data.astype(np.int64)
    return out


def _int_step(rec: str, a: dict, ins: list[_Var], outs: list[_Var], tensor, tensors: dict[str, Tensor],  # noqa: ANN001
              where: str, k: int, label: str = "") -> IntNode:
    """One integer step; ``label`` names the node after its record when it differs from ``rec`` (Q8QConv read
    as a Q8Conv step)."""
    from nnb.quantize.int_sim import clamp_bounds

    where = f"{where} ({rec})"
    if len(outs) != 1 or outs[0].typ != TYPE_Q8 or outs[0].didx >= 0:
        raise NnbError(f"{where}: the output must be one int8 tensor")
    n_data = {"Q8Conv": 1, "Q8Affine": 1, "Q8MaxPool": 1, "Q8AvgPool": 1, "Q8GlobalAvgPool": 1, "Q8Add": 2,
              "Q8Mul": 2, "Q8Clamp": 1, "Q8Concat": len(ins) - 2}[rec]
    want_in = {"Q8Conv": 7 if a.get("residual") else 5, "Q8Affine": 5, "Q8GlobalAvgPool": 3, "Q8Add": 4, "Q8Mul": 4,
               "Q8MaxPool": 1, "Q8AvgPool": 1, "Q8Clamp": 1}.get(rec)
    if (want_in is not None and len(ins) != want_in) or n_data < 1:
        raise NnbError(f"{where}: {len(ins)} inputs")
    if rec == "Q8Conv" and a.get("residual"):
        data_vars = [ins[0], ins[5]]
    else:
        data_vars = ins[:n_data]
    for v in data_vars:
        if v.typ != TYPE_Q8 or v.didx >= 0:
            raise NnbError(f"{where}: input '{v.name}' is not an int8 tensor")
    act = a.get("activation", "") or ""
    out = tensor(outs[0])
    q_out = QParams(float(outs[0].scales[0]), outs[0].zero)  # type: ignore[index]
    if "act_min" in a and (a["act_min"], a["act_max"]) != clamp_bounds(act, q_out):
        raise NnbError(f"{where}: clamp [{a['act_min']}, {a['act_max']}] does not match activation '{act}'")
    xs = [_orig(v.name) for v in data_vars]
    arrays: dict[str, np.ndarray] = {}
    name = f"{label or rec}_{k}"
    if rec in ("Q8Conv", "Q8Affine"):
        w = ins[1]
        if w.typ != TYPE_Q8 or w.data is None or w.scales is None or len(ins) < 5:
            raise NnbError(f"{where}: the weight must be an int8 parameter")
        if rec == "Q8Affine":
            if len(w.shape) < 2:
                raise NnbError(f"{where}: Affine weight of shape {w.shape}")
            o = int(np.prod(w.shape[1:]))
            wq = w.data.reshape(o, w.shape[0]).T  # stored output-major
            s_w = np.broadcast_to(w.scales, (o,)) if w.scales.size == 1 else w.scales
        else:
            o = w.shape[0]
            wq = w.data.reshape(w.shape)
            s_w = np.broadcast_to(w.scales, (o,)) if w.scales.size == 1 else w.scales
        arrays = {"weight": wq.astype(np.int8), "w_scale": np.asarray(s_w, np.float64)}
        arrays.update(_i32(ins[2:5], ("bias", "mult", "shift"), {"bias": o, "mult": o, "shift": o}, where))
        shape = [1] * wq.ndim
        shape[1 if rec == "Q8Affine" else 0] = -1
        wf = (wq.astype(np.float64) * np.asarray(s_w).reshape(shape)).reshape(w.shape) if rec == "Q8Conv" \
            else (wq.astype(np.float64) * np.asarray(s_w).reshape(1, -1)).reshape(w.shape)
        wname = _param(w, tensors, wf)
        if rec == "Q8Affine":
            attrs = get_op("Affine").normalize({"base_axis": a["base_axis"]}, where)
            node = Node(name, "Affine", [xs[0], wname], [out], attrs)
            return IntNode(node, "int", act, out, arrays)
        if a["residual"]:
            if len(ins) != 7:
                raise NnbError(f"{where}: a residual convolution has 7 inputs")
            rq = _i32([ins[6]], ("res_rq",), {"res_rq": 2 * o}, where)["res_rq"]
            arrays.update(res_mult=rq[:o], res_shift=rq[o:])
        elif len(ins) != 5:
            raise NnbError(f"{where}: a convolution has 5 inputs")
        pool = a["pool"]
        attrs = {"base_axis": a["base_axis"], "pad": a["pad"], "stride": a["stride"], "dilation": a["dilation"],
                 "group": a["group"], "channel_last": False, "pool": pool,
                 "pool_kernel": a["pool_kernel"] or (), "pool_stride": a["pool_stride"] or (),
                 "pool_pad": a["pool_pad"] or (), "pool_ignore_border": a["pool_ignore_border"],
                 "pool_including_pad": True, "activation": act, "residual": bool(a["residual"]), "has_bias": False}
        node = Node(name, "FusedConv", [xs[0], wname] + ([xs[1]] if a["residual"] else []), [out],
                    get_op("FusedConv").normalize(attrs, where))
        return IntNode(node, "int", act, out, arrays)
    if rec in ("Q8MaxPool", "Q8AvgPool"):
        op = "MaxPooling" if rec == "Q8MaxPool" else "AveragePooling"
        attrs = {"kernel": a["kernel"], "stride": a["stride"], "ignore_border": a["ignore_border"], "pad": a["pad"]}
        if op == "AveragePooling":
            attrs["including_pad"] = a["including_pad"]
        node = Node(name, op, xs, [out], get_op(op).normalize(attrs, where))
        return IntNode(node, "int", "", out, {})
    n_const = {"Q8GlobalAvgPool": 1, "Q8Add": 3, "Q8Mul": 1, "Q8Concat": len(xs), "Q8Clamp": 0}[rec]
    consts = ins[len(data_vars):]
    if len(consts) != (2 if n_const else 0):
        raise NnbError(f"{where}: {len(ins)} inputs")
    if n_const:
        arrays = _i32(consts, ("mult", "shift"), {"mult": n_const, "shift": n_const}, where)
    if rec == "Q8Clamp":
        op = CLAMP_OPS[CLAMP_OPS.index(a["op"])]
        attrs = {"shape": tuple(outs[0].shape)} if op == "Reshape" else {}
        node = Node(name, op, xs, [out], get_op(op).normalize(attrs, where))
        if op in ("ReLU", "ReLU6") and act != {"ReLU": "relu", "ReLU6": "relu6"}[op]:
            raise NnbError(f"{where}: {op} with activation '{act}'")
        return IntNode(node, "int", act, out, arrays)
    op = Q8_OP_OF[rec]
    attrs = {"axis": a["axis"]} if rec == "Q8Concat" else {}
    node = Node(name, op, xs, [out], get_op(op).normalize(attrs, where))
    return IntNode(node, "int", act, out, arrays)


def _island(op: str, a: dict, ins: list[_Var], outs: list[_Var], tensor, tensors: dict[str, Tensor],  # noqa: ANN001
            where: str, k: int, floats: set[str]) -> IntNode:
    where = f"{where} ({op})"
    names = []
    for pos, v in enumerate(ins):
        if v.typ != TYPE_FLOAT:
            raise NnbError(f"{where}: a float function reads '{v.name}', which is not float")
        if v.didx >= 0:
            data = v.data
            assert data is not None
            if op in TRANSPOSED_WEIGHTS and pos == 1 and len(v.shape) > 1:
                data = data.reshape(int(np.prod(v.shape[1:])), v.shape[0]).T
            names.append(_param(v, tensors, data))
        else:
            if not v.name.endswith("@dq") and _orig(v.name) not in tensors:
                raise NnbError(f"{where}: input '{v.name}' is neither a dequantized tensor nor a parameter")
            if not v.name.endswith("@dq"):  # an island's float output read as it is: held in float
                floats.add(_orig(v.name))
            names.append(_orig(v.name))
    for v in outs:
        if v.typ != TYPE_FLOAT or v.didx >= 0:
            raise NnbError(f"{where}: output '{v.name}' is not a float tensor")
    out_names = [tensor(v) for v in outs]
    node = Node(f"{op}_{k}", op, names, out_names, get_op(op).normalize(a, where))
    return IntNode(node, "island", "", out_names[0], {})
