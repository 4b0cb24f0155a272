"""An int8 model (nnb/quantize/int8.py) as an extended NNB file (docs/nnb_format.md, "int8 models").

``deploy(m)`` lays the model out as records: the float network input is
quantized on entry (``Q8Quantize``; or per sample inside the first convolution,
``Q8QConv``, nnb_int8_qconv.py, when that is its only reader), every integer step becomes one int8
record (``Q8Conv``, ``Q8Affine``, pools, ``Q8Add``, ...), a float island gets
``Q8Dequantize`` records for its inputs, its usual float function, and a
``Q8Quantize`` where an integer step reads its output; network outputs are
dequantized (a float island's output stays float).  These are exactly the
steps of ``nnb.quantize.int_sim.run_int8``, so the C runtime computes the same
values.  ``write_int8_nnb(m)`` plans the arena (int8 tensors at one byte per
value, nnb/plan/) and serialises it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from nnb.emit.nnb_int8_layout import (
    ACT_CODES,
    Q8_FUNCTIONS,
    Q8DESC,
    TYPE_I32,
    TYPE_Q8,
    dequantize_table,
    quantize_thresholds,
)
from nnb.emit.nnb_layout import EXT_VERSION, TRANSPOSED_WEIGHTS, TYPE_FLOAT, function_id
from nnb.emit.nnb_write import Chunks, _stored_attrs, names_trailer, pack_header
from nnb.errors import NnbError
from nnb.ir import Graph, Node, Tensor
from nnb.plan.arena import ArenaPlan, plan_arena
from nnb.quantize.int8 import Int8Model, IntNode, QParams


@dataclass
class Var:
    name: str
    shape: tuple[int, ...]
    kind: str  # "f32" | "q8" | "i32"
    data: np.ndarray | None = None  # parameters (q8 Affine weights: (in, out) as the float weight)
    scales: np.ndarray | None = None  # q8: float64 scales (one, or one per output channel)
    zero: int = 0
    axis: int = -1  # q8 weights: 0 conv (channels on axis 0), 1 Affine (channels = product of dims 1..)


@dataclass
class Fn:
    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict = field(default_factory=dict)
    weight_op: str = ""  # a float island's op for its parameters' layout
    node: Node | None = None  # a float island's node (its arguments)


@dataclass
class Deployed:
    vars: dict[str, Var]
    fns: list[Fn]
    inputs: list[str]
    outputs: list[str]

    def graph(self) -> Graph:
        """The records as an IR graph for the planner and for statistics (ops are record names)."""
        dt = {"f32": "float32", "q8": "int8", "i32": "int32"}
        tensors = {}
        for v in self.vars.values():
            kind = "param" if v.data is not None else "input" if v.name in self.inputs else "buffer"
            tensors[v.name] = Tensor(v.name, tuple(v.shape), dt[v.kind], kind, v.data)
        nodes = [Node(f"{k}_{f.op}", f.op, list(f.inputs), list(f.outputs), dict(f.attrs))
                 for k, f in enumerate(self.fns)]
        return Graph("int8", tensors, nodes, list(self.inputs), list(self.outputs))


def _io_names(g: Graph) -> set[str]:
    return set(g.inputs) | set(g.outputs)


class _Builder:
    def __init__(self, m: Int8Model) -> None:
        self.m, self.g = m, m.graph
        self.vars: dict[str, Var] = {}
        self.fns: list[Fn] = []
        self.io = _io_names(self.g)
        self.have_q: set[str] = set()
        self.raw: dict[str, str] = {}  # island output -> its float variable

    def shape(self, t: str) -> tuple[int, ...]:
        return tuple(self.g.tensors[t].shape)

    def qname(self, t: str) -> str:
        return f"{t}@q8" if t in self.io else t

    def add_var(self, v: Var) -> str:
        if v.name in self.vars:
            raise NnbError(f"int8 NNB: variable name '{v.name}' is used twice")
        self.vars[v.name] = v
        return v.name

    def q8_var(self, t: str) -> str:
        q = self.m.qparams[t]
        self.have_q.add(t)
        return self.add_var(Var(self.qname(t), self.shape(t), "q8", None, np.array([q.scale]), q.zero))

    def ensure_q(self, t: str) -> str:
        """The int8 variable of tensor ``t``; a float island's output is quantized here, on first use."""
        if t not in self.have_q:
            if t not in self.raw:
                raise NnbError(f"int8 NNB: tensor '{t}' is read before any step writes it")
            src = self.raw[t]
            self.quantize(src, t)
        return self.qname(t)

    def ensure_f(self, t: str) -> str:
        """The float value a float island reads: a parameter as it is, else the dequantized int8 tensor."""
        tt = self.g.tensors[t]
        if t in self.m.float_tensors:  # held in float between islands (no int8 form): the island's own output
            if t not in self.raw:
                raise NnbError(f"int8 NNB: float tensor '{t}' is read before an island writes it")
            return self.raw[t]
        if tt.kind == "param":
            if t not in self.vars:
                self.add_var(Var(t, tuple(tt.shape), "f32", np.asarray(tt.data, np.float32)))
            return t
        name = f"{t}@dq"
        if name not in self.vars:
            self.add_var(Var(name, self.shape(t), "f32"))
            self.dequantize(t, name)
        return name

    def quantize(self, src: str, t: str) -> None:
        """Q8Quantize of float ``src`` onto t's grid, through its 255 float32 thresholds."""
        q = self.m.qparams[t]
        name = self.q8_var(t)
        thr = self.add_var(Var(f"{name}/thresholds", (255,), "f32", quantize_thresholds(q.scale, q.zero)))
        self.fns.append(Fn("Q8Quantize", [src, thr], [name]))

    def dequantize(self, t: str, out: str) -> None:
        """Q8Dequantize of t's int8 tensor into float ``out`` (added), through its 256-value table."""
        q = self.m.qparams[t]
        src = self.ensure_q(t)
        tab = self.add_var(Var(f"{out}/table", (256,), "f32", dequantize_table(q.scale, q.zero)))
        self.fns.append(Fn("Q8Dequantize", [src, tab], [out]))

    def i32(self, st: IntNode, key: str) -> str:
        return self.add_var(Var(f"{st.node.name}/{key}", (int(st.arrays[key].size),), "i32",
                                np.asarray(st.arrays[key], np.int64).reshape(-1)))

    def build(self, extra_outputs: tuple[str, ...] = ()) -> Deployed:
        from nnb.emit.nnb_int8_qconv import emit_qconv, fused_inputs

        g = self.g
        fused = fused_inputs(self.m, extra_outputs)  # first convolutions quantizing the float input (Q8QConv)
        for x in g.inputs:
            self.add_var(Var(x, self.shape(x), "f32"))
            if x not in fused.values():
                self.quantize(x, x)
        for k, st in enumerate(self.m.steps):
            if st.kind == "island":
                self.island(st)
            elif k in fused:
                emit_qconv(self, st, fused[k])
            else:
                self.int_step(st)
        outputs = []
        for t in g.outputs:
            if self.raw.get(t) == t:
                outputs.append(t)
                continue
            self.add_var(Var(t, self.shape(t), "f32"))
            self.dequantize(t, t)
            outputs.append(t)
        for t in extra_outputs:
            if t not in outputs:
                outputs.append(self.ensure_f(t))
        return Deployed(self.vars, self.fns, list(g.inputs), outputs)

    def island(self, st: IntNode) -> None:
        node = st.node
        ins = [self.ensure_f(i) for i in node.inputs]
        outs = []
        for o in node.outputs:
            name = o if o in self.g.outputs else f"{o}@f32"
            self.add_var(Var(name, self.shape(o), "f32"))
            self.raw[o] = name
            outs.append(name)
        self.fns.append(Fn(node.op, ins, outs, dict(node.attrs), node.op, node))

    def conv_attrs(self, node: Node, nsp: int, act: dict) -> dict:
        """The attributes of a convolution record (Q8Conv, Q8LutConv): geometry, group, fused max pool,
        residual and the activation ``act``."""
        from nnb.ops.conv import _geom

        a, op = node.attrs, node.op
        pad, stride, dil = _geom(nsp, a)
        xshape = self.shape(node.inputs[0])
        ba = a.get("base_axis", 1)
        ba = ba + len(xshape) if ba < 0 else ba
        group = xshape[ba] if op == "DepthwiseConvolution" else int(a["group"])
        attrs = {"base_axis": ba, "pad": pad, "stride": stride, "dilation": dil, "group": group,
                 "pool": "", "pool_kernel": (), "pool_stride": (), "pool_pad": (), "pool_ignore_border": True,
                 "residual": bool(op == "FusedConv" and a["residual"]), **act}
        if op == "FusedConv" and a["pool"] == "max":
            k = tuple(a["pool_kernel"])
            attrs.update(pool="max", pool_kernel=k, pool_stride=tuple(a.get("pool_stride") or k),
                         pool_pad=tuple(a.get("pool_pad") or (0,) * len(k)),
                         pool_ignore_border=bool(a["pool_ignore_border"]))
        return attrs

    def conv_record(self, st: IntNode, xs: list[str]) -> tuple[list[str], dict]:
        """The inputs and attributes of a Q8Conv record of step ``st`` reading int8 variables ``xs`` (the input,
        and a residual's last)."""
        from nnb.quantize.int_sim import clamp_bounds

        node, a = st.node, st.node.attrs
        if node.op == "FusedConv" and a["pool"] not in ("", "max"):
            raise NnbError(f"int8 NNB: {node.name}: a FusedConv with {a['pool']} pooling has no int8 record")
        if node.op == "FusedConv" and a["pool"] and a["residual"]:
            raise NnbError(f"int8 NNB: {node.name}: a FusedConv with a pool and a residual has no int8 record")
        lo, hi = clamp_bounds(st.activation, self.m.qparams[st.output])
        w = st.arrays["weight"]
        attrs = self.conv_attrs(node, w.ndim - 2, {"activation": st.activation, "act_min": lo, "act_max": hi})
        wname = self.add_var(Var(node.inputs[1], tuple(w.shape), "q8", np.asarray(w, np.int8),
                                 np.asarray(st.arrays["w_scale"], np.float64), 0, 0))
        ins = [xs[0], wname, self.i32(st, "bias"), self.i32(st, "mult"), self.i32(st, "shift")]
        if attrs["residual"]:
            rq = np.concatenate([np.asarray(st.arrays["res_mult"], np.int64).reshape(-1),
                                 np.asarray(st.arrays["res_shift"], np.int64).reshape(-1)])
            ins += [xs[-1], self.add_var(Var(f"{node.name}/res_rq", (int(rq.size),), "i32", rq))]
        return ins, attrs

    def int_step(self, st: IntNode) -> None:
        from nnb.quantize.int_sim import clamp_bounds

        node, a, g = st.node, st.node.attrs, self.g
        if "lut_codes" in st.arrays:  # LUT-Q weights, records 1012/1013 (nnb/quantize/lutq_int8_nnb.py)
            from nnb.quantize.lutq_int8_nnb import emit_lut_step

            return emit_lut_step(self, st)
        op = node.op
        q_out: QParams = self.m.qparams[st.output]
        lo, hi = clamp_bounds(st.activation, q_out)
        act = {"activation": st.activation, "act_min": lo, "act_max": hi}
        data_ins = [i for i in node.inputs if g.tensors[i].kind != "param"]
        xs = [self.ensure_q(i) for i in data_ins]
        if op in ("FusedConv", "Convolution", "DepthwiseConvolution"):
            ins, attrs = self.conv_record(st, xs)
            self.emit("Q8Conv", ins, st, attrs)
        elif op == "Affine":
            w = st.arrays["weight"]  # (in, out): the float weight's layout, flattened outputs
            wshape = tuple(g.tensors[node.inputs[1]].shape)
            wname = self.add_var(Var(node.inputs[1], wshape, "q8", np.asarray(w, np.int8).reshape(wshape),
                                     np.asarray(st.arrays["w_scale"], np.float64), 0, 1))
            ba = a.get("base_axis", 1)
            ba = ba + len(self.shape(node.inputs[0])) if ba < 0 else ba
            ins = [xs[0], wname, self.i32(st, "bias"), self.i32(st, "mult"), self.i32(st, "shift")]
            self.emit("Q8Affine", ins, st, {"base_axis": ba, **act})
        elif op in ("MaxPooling", "AveragePooling"):
            k = tuple(a["kernel"])
            attrs = {"kernel": k, "stride": tuple(a.get("stride") or k), "pad": tuple(a.get("pad") or (0,) * len(k)),
                     "ignore_border": bool(a.get("ignore_border", True))}
            if a.get("channel_last"):
                raise NnbError(f"int8 NNB: {node.name}: channel_last pooling has no int8 record")
            if op == "AveragePooling":
                attrs["including_pad"] = bool(a.get("including_pad", True))
            self.emit("Q8MaxPool" if op == "MaxPooling" else "Q8AvgPool", xs, st, attrs)
        elif op == "GlobalAveragePooling":
            self.emit("Q8GlobalAvgPool", [xs[0], self.i32(st, "mult"), self.i32(st, "shift")], st, {})
        elif op in ("Add2", "Mul2"):
            if self.shape(data_ins[0]) != self.shape(data_ins[1]):
                raise NnbError(f"int8 NNB: {node.name}: {op} with broadcasting has no int8 record")
            self.emit("Q8Add" if op == "Add2" else "Q8Mul",
                      xs + [self.i32(st, "mult"), self.i32(st, "shift")], st, act)
        elif op == "Concatenate":
            nd = len(self.shape(data_ins[0]))
            axis = a["axis"] if a.get("axis") is not None else nd - 1
            self.emit("Q8Concat", xs + [self.i32(st, "mult"), self.i32(st, "shift")], st,
                      {"axis": axis + nd if axis < 0 else axis})
        elif op in ("ReLU", "ReLU6", "Reshape", "Identity"):
            self.emit("Q8Clamp", xs[:1], st, {"op": op, **act})
        else:
            raise NnbError(f"int8 NNB: {node.name}: no int8 record for {op}")

    def emit(self, rec: str, ins: list[str], st: IntNode, attrs: dict) -> None:
        self.fns.append(Fn(rec, ins, [self.q8_var(st.output)], attrs))


def deploy(m: Int8Model, extra_outputs: tuple[str, ...] = ()) -> Deployed:
    """The int8 model as NNB records; ``extra_outputs``: tensors also returned (dequantized), for checks."""
    return _Builder(m).build(tuple(extra_outputs))


def plan(d: Deployed) -> ArenaPlan:
    """The one-arena plan of the records: int8 tensors at one byte per value, float ones at four."""
    return plan_arena(d.graph(), inplace=False, inplace_dw=False)


def _param_bytes(v: Var, weight_op: str) -> bytes:
    a = v.data
    assert a is not None
    if v.kind == "i32":
        if a.size and (a.min() < -(1 << 31) or a.max() >= 1 << 31):
            raise NnbError(f"int8 NNB: '{v.name}' does not fit in int32")
        return np.ascontiguousarray(a, "<i4").tobytes()
    if weight_op in TRANSPOSED_WEIGHTS and a.ndim:  # stored output-major, like float Affine weights
        a = a.reshape(a.shape[0], -1).T
    return np.ascontiguousarray(a, "i1" if v.kind == "q8" else "<f4").tobytes()


def write_int8_nnb(m: Int8Model, extra_outputs: tuple[str, ...] = ()) -> tuple[bytes, Deployed, ArenaPlan]:
    """(image, records, plan) of the int8 model."""
    d = deploy(m, extra_outputs)
    ap = plan(d)
    names = list(d.vars)
    vid = {n: i for i, n in enumerate(names)}
    weight_op: dict[str, str] = {}
    for f in d.fns:
        if len(f.inputs) > 1:
            weight_op.setdefault(f.inputs[1], f.weight_op or ("Affine" if f.op == "Q8Affine" else f.op))
    ch = Chunks()
    c_in = ch.ints([vid[n] for n in d.inputs])
    c_out = ch.ints([vid[n] for n in d.outputs])
    c_buf = ch.ints([])
    var_chunks, qdesc = [], [-1] * len(names)
    for n in names:
        v = d.vars[n]
        typ = {"f32": TYPE_FLOAT, "q8": TYPE_Q8, "i32": TYPE_I32}[v.kind]
        c_shape = ch.ints(list(v.shape))
        data_index = ch.add(_param_bytes(v, weight_op.get(n, ""))) if v.data is not None else -1
        if v.kind == "q8":
            assert v.scales is not None
            sc = np.asarray(v.scales, "<f8").reshape(-1)
            if not (np.all(np.isfinite(sc)) and np.all(sc > 0)):
                raise NnbError(f"int8 NNB: '{n}' has a scale that is not a positive number")
            qdesc[vid[n]] = ch.add(Q8DESC.pack(TYPE_Q8, 8, sc.size, ch.add(sc.tobytes()), v.zero,
                                               v.axis if sc.size > 1 or v.axis >= 0 else -1, 0, 0))
        var_chunks.append(ch.add(struct.pack("<IIiBxxxi", vid[n], len(v.shape), c_shape, typ, data_index)))
    c_vars = ch.ints(var_chunks)
    fn_chunks = []
    g = m.graph
    for f in d.fns:
        if f.op in Q8_FUNCTIONS or f.op.startswith("Q8Lut"):
            from nnb.quantize.lutq_int8_nnb import lut_record

            fid, slots = Q8_FUNCTIONS[f.op] if f.op in Q8_FUNCTIONS else lut_record(f.op)
            attrs = dict(f.attrs)
            if "activation" in attrs:
                attrs["activation"] = attrs["activation"] or ""
                if attrs["activation"] not in ACT_CODES:
                    raise NnbError(f"int8 NNB: activation '{attrs['activation']}' has no int8 clamp")
        else:  # a float island: its usual record, arguments as the float writer stores them
            fid, slots = function_id(f.op, True)
            assert f.node is not None
            attrs = _stored_attrs(g, f.node)
        fn_chunks.append(ch.function(fid, [vid[i] for i in f.inputs], [vid[o] for o in f.outputs], f.op, slots,
                                     attrs))
    c_fns = ch.ints(fn_chunks)
    c_plan = ch.plan(ap.offsets, names, d.inputs)
    q_chunk = ch.ints(qdesc)
    data_size = sum(len(p) for p in ch.parts)
    if data_size > 0x7FFFFFFF or ap.arena_bytes > 0x7FFFFFFF:
        raise NnbError("the int8 NNB file would be over the runtime's 32-bit limits")
    counts = (0, c_buf, len(names), c_vars, len(d.fns), c_fns, len(d.inputs), c_in, len(d.outputs), c_out,
              len(ch.parts), data_size)
    image = ch.image(pack_header(EXT_VERSION, counts, (ap.arena_bytes, c_plan, len(names), q_chunk)))
    return image + names_trailer(names), d, ap
