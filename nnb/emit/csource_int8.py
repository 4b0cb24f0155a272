"""The facts of an emitted int8 model (``nnb emit-c X.nnq``), for templates/emit_c/model_i8.c.j2.

The records are exactly the int8 NNB file's (:func:`nnb.emit.nnb_int8.deploy`:
quantize at the input, one integer step per record, float islands with their
dequantize/quantize, dequantize at the outputs) and so is the arena plan
(:func:`nnb.emit.nnb_int8.plan`: int8 tensors at one byte per value).  Each
record becomes one direct call of the int8 kernels of ``c_runtime/src/kernels/int8/``
with its geometry fixed here (the ``nnb_i8_*`` functions q8_ops.c calls, with
the same parameters q8_ops.c derives at load time), so the emitted code computes
the C runtime's integers.  A float island is called through its float core
(Softmax) or its kernel record, as the float emitted code does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnb.emit import csource_kernels as ck
from nnb.emit.csource_ctx import (
    CIO,
    KERNEL_PROFILES,
    READ_SLACK,
    TENSOR_ALIGN,
    _arg_inits,
    _io_idents,
    c_comment,
    c_float,
    c_ident,
    place_scratch,
)
from nnb.emit.csource_i8scratch import CONV_FIELDS, conv_pool_scratch, conv_scratch
from nnb.emit.nnb_int8 import Deployed, Fn, Var, deploy, plan
from nnb.emit.nnb_layout import TRANSPOSED_WEIGHTS, function_id
from nnb.errors import NnbError
from nnb.quantize.int8 import Int8Model

# the int8 kernels' own setting per kernel profile (on top of the float profile's, for float islands):
# "mcu" compiles the portable/Cortex-M paths everywhere (the same code and scratch on the host and the
# target), "host" lets an x86-64 host take its AVX2 / AVX-512 VNNI paths (chosen at run time, more scratch)
I8_KNOBS: dict[str, list[str]] = {"mcu": ["NNB_I8_NO_X86"], "host": []}
POOL_SCRATCH = 4608  # NNBRT_Q8_POOL_SCRATCH (int8/lutq_ops.c, int8/conv_pool.c): conv output bytes of a pooled block
I8_HEADERS = ["int8/conv_pool.h", "int8/conv_x86_pool.h", "int8/i8_dot.h", "int8/i8_host.h", "int8/i8_x86.h",
              "int8/nnb_int8.h"]
C_OPS = ("Q8Quantize", "Q8Dequantize", "Q8Conv", "Q8Affine", "Q8MaxPool", "Q8AvgPool", "Q8GlobalAvgPool",
         "Q8Add", "Q8Mul", "Q8Concat", "Q8Clamp", "Q8LutConv", "Q8LutAffine", "Q8QConv")
CONV_KINDS = {"conv", "conv_pool", "qconv", "qconv_pool"}
LUT_KINDS = {"lut_conv", "lut_pool", "lut_affine"}


def knobs_of(kernels: str) -> list[str]:
    return list(KERNEL_PROFILES[kernels][0]) + I8_KNOBS[kernels]


@dataclass
class I8Param:
    name: str
    ident: str
    ctype: str  # int8_t | int32_t | float
    shape: tuple[int, ...]
    values: list[str]
    nbytes: int
    note: str = ""


@dataclass
class I8Node:
    index: int
    op: str  # record name (Q8Conv, ...) or the float island's op
    kind: str  # quantize | dequantize | conv | conv_pool | affine | max_pool | avg_pool | gap | add | mul |
    #            concat | clamp | softmax | record | lut_conv | lut_pool | lut_affine
    comment: list[str]
    f: dict[str, Any] = field(default_factory=dict)  # the template's fields for this kind
    macs: int = 0
    scratch_off: int = 0
    scratch_bytes: int = 0
    # a record call (float island): as csource_ctx.CNode
    record: str = ""
    args: list = field(default_factory=list)
    lists: list = field(default_factory=list)
    tensors: list = field(default_factory=list)  # (expr, check_expr) of inputs then outputs
    n_in: int = 0
    n_out: int = 0


@dataclass
class I8Model:
    prefix: str
    upper: str
    arena_mode: str
    header: list[str]
    sha256: str
    params: list[I8Param]
    nodes: list[I8Node]
    inputs: list[CIO]
    outputs: list[CIO]
    tensor_bytes: int
    scratch_bytes: int
    arena_bytes: int
    kernel_sources: list[str]
    kernel_headers: list[str]
    knobs: list[str]
    kernels: str
    weight_bytes: int
    macs: int
    warnings: list[str]
    conv_params: list[tuple[str, list[int]]]  # const nnb_i8_conv_params (name, values in field order)
    pool_params: list[tuple[str, list[int]]]
    luts: list[tuple[str, list[str]]]  # const nnb_i8_lut (name, initializers in field order)
    dims: list[tuple[str, list[int]]]  # shapes of the record calls' tensors
    records: list[str]
    max_io: int
    q8_api: bool = False  # PREFIX_run_q8 (int8 in and out): every output is a dequantized int8 tensor
    q8_io: dict[str, tuple[str, int]] = field(default_factory=dict)  # io macro -> (scale literal, zero point)
    int8 = True

    @property
    def kinds(self) -> set[str]:
        return {n.kind for n in self.nodes}

    @property
    def record_nodes(self) -> list[I8Node]:
        return [n for n in self.nodes if n.kind == "record"]

    @property
    def guard(self) -> list[str]:
        """C conditions true when the tree is compiled with other kernel settings than its own."""
        conds = []
        for k in self.knobs:
            name, _, value = k.partition("=")
            conds.append(f"!defined({name})" + (f" || {name} != {value}" if value else ""))
        mine = {k.partition("=")[0] for k in self.knobs}
        others = {k.partition("=")[0] for p in KERNEL_PROFILES if p != self.kernels for k in knobs_of(p)}
        conds += [f"defined({n})" for n in sorted(others - mine)]
        return conds

    def call_edges(self) -> dict[str, list[str]]:
        fns = [ck.record_functions(r) for r in self.records]
        return {f"{self.prefix}_run": sorted(r for _, r in fns if r),
                f"{self.prefix}_check": sorted(c for c, _ in fns if c)}


def _prod(dims: Any) -> int:  # noqa: ANN401 - a shape
    return int(np.prod(dims)) if len(dims) else 1


def _pool_out(n: int, k: int, s: int, p: int, ib: bool) -> int:
    num = n + 2 * p - k if ib else n + p - 1
    return num // s + 1


class _Ctx:
    def __init__(self, d: Deployed, m: Int8Model, prefix: str, kernels: str) -> None:
        self.d, self.m, self.prefix, self.kernels = d, m, prefix, kernels
        self.ap = plan(d)
        self.knobs = knobs_of(kernels)
        self.params: dict[str, I8Param] = {}
        self.idents: set[str] = set()
        self.conv_params: dict[tuple[int, ...], str] = {}
        self.pool_params: dict[tuple[int, ...], str] = {}
        self.dims: dict[tuple[int, ...], str] = {}
        self.luts: list[tuple[str, list[str]]] = []
        # LUT-Q records' code words: int32 variables emitted as the uint32_t words the kernel reads
        self.code_words = {f.inputs[1] for f in d.fns if f.op in ("Q8LutConv", "Q8LutAffine")}
        self.in_ident: dict[str, str] = {}
        # the NNP function an integer record computes (by the int8 tensor it writes), for the comments
        self.layer_of: dict[str, str] = {}
        for st in m.steps:
            if st.kind == "int":
                self.layer_of[st.output] = self.layer_of[f"{st.output}@q8"] = st.node.name
        self.weight_op: dict[str, str] = {}
        for f in d.fns:
            if len(f.inputs) > 1:
                self.weight_op.setdefault(f.inputs[1], f.weight_op or ("Affine" if f.op == "Q8Affine" else f.op))

    # ---- variables ----
    def var(self, name: str) -> Var:
        return self.d.vars[name]

    def param(self, name: str) -> str:
        """C name of a parameter's const array (added on first use)."""
        if name in self.params:
            return self.params[name].ident
        v = self.var(name)
        a = v.data
        assert a is not None
        note = ""
        if v.kind == "i32" and name in self.code_words:
            flat = np.asarray(a, np.int64).reshape(-1) & 0xFFFFFFFF
            ctype, vals, nb = "uint32_t", [f"{int(x)}u" for x in flat], 4
        elif v.kind == "i32":
            flat = np.asarray(a, np.int64).reshape(-1)
            if flat.size and (flat.min() < -(1 << 31) or flat.max() >= 1 << 31):
                raise NnbError(f"emit-c int8: '{name}' does not fit in int32")
            ctype, vals, nb = "int32_t", [str(int(x)) if x != -(1 << 31) else "INT32_MIN" for x in flat], 4
        else:
            if self.weight_op.get(name, "") in TRANSPOSED_WEIGHTS and a.ndim:
                a = a.reshape(a.shape[0], -1).T
                note = "stored output-major (transposed)"
            flat = np.ascontiguousarray(a).reshape(-1)
            if v.kind == "q8":
                ctype, vals, nb = "int8_t", [str(int(x)) for x in flat.astype(np.int8)], 1
            else:
                ctype, vals, nb = "float", [c_float(x) for x in flat.astype(np.float32)], 4
        ident = f"{self.prefix}_w_{c_ident(name)}"
        while ident in self.idents:
            ident += "_"
        self.idents.add(ident)
        self.params[name] = I8Param(name, ident, ctype, tuple(int(s) for s in v.shape), vals, nb * len(vals), note)
        return ident

    def ptr(self, name: str) -> str:
        """C expression of a variable's data (int8_t * or float *)."""
        v = self.var(name)
        if v.data is not None:
            return self.param(name)
        if name in self.d.inputs:
            return self.in_ident[name]
        if name not in self.ap.offsets:
            raise NnbError(f"emit-c int8: variable '{name}' has no place in the arena plan")
        return (I8 if v.kind == "q8" else F)(self.ap.offsets[name])

    def tensor(self, name: str) -> tuple[str, str]:
        """(expr, check_expr) of an nnbrt_tensor for a record call (float islands: float variables only)."""
        v = self.var(name)
        if v.kind != "f32":
            raise NnbError(f"emit-c int8: a float function reads the int8 variable '{name}'")
        shape = tuple(int(s) for s in v.shape)
        size = _prod(shape)
        if not shape:
            d = "NULL"
        else:
            d = self.dims.setdefault(shape, f"{self.prefix}_d{len(self.dims)}")
        data = self.ptr(name)
        return f"T({len(shape)}, {d}, {size}u, {data})", f"T({len(shape)}, {d}, {size}u, NULL)"

    def conv_struct(self, vals: list[int]) -> str:
        return self.conv_params.setdefault(tuple(vals), f"{self.prefix}_cp{len(self.conv_params)}")

    def pool_struct(self, vals: list[int]) -> str:
        return self.pool_params.setdefault(tuple(vals), f"{self.prefix}_pp{len(self.pool_params)}")


def F(off: int) -> str:  # noqa: N802 - the template's macro
    return f"F({off}u)"


def I8(off: int) -> str:  # noqa: N802
    return f"I8({off}u)"


def _conv_geom(c: _Ctx, fn: Fn, wshape: tuple[int, ...]) -> tuple[dict[str, int], tuple[int, ...], int, int]:
    """nnb_i8_conv_params of a Q8Conv / Q8LutConv as q8_ops.c / lutq_ops.c conv_geom derive them; (params,
    input shape, base axis, spatial dims)."""
    a = fn.attrs
    x, y = c.var(fn.inputs[0]), c.var(fn.outputs[0])
    ba = int(a["base_axis"])
    nsp = len(wshape) - 2
    xs = tuple(int(s) for s in x.shape)
    if nsp not in (1, 2) or ba != len(xs) - 1 - nsp:
        raise NnbError(f"emit-c int8: {fn.op} with {nsp} spatial dims has no int8 kernel")
    pad, stride, dil = (list(a[k]) for k in ("pad", "stride", "dilation"))
    p = {"n": _prod(xs[:ba]), "c": xs[ba], "h": xs[ba + 1] if nsp == 2 else 1, "w": xs[-1], "o": int(wshape[0]),
         "kh": int(wshape[2]) if nsp == 2 else 1, "kw": int(wshape[-1]), "group": int(a["group"])}
    if nsp == 2:
        p.update(pad_h=pad[0], pad_w=pad[1], stride_h=stride[0], stride_w=stride[1], dil_h=dil[0], dil_w=dil[1])
    else:
        p.update(pad_h=0, pad_w=pad[0], stride_h=1, stride_w=stride[0], dil_h=1, dil_w=dil[0])
    p["oh"] = (p["h"] + 2 * p["pad_h"] - (p["dil_h"] * (p["kh"] - 1) + 1)) // p["stride_h"] + 1
    p["ow"] = (p["w"] + 2 * p["pad_w"] - (p["dil_w"] * (p["kw"] - 1) + 1)) // p["stride_w"] + 1
    res_in = 4 if fn.op == "Q8LutConv" else 5
    p.update(in_zero=x.zero, out_zero=y.zero, act_min=int(a["act_min"]), act_max=int(a["act_max"]),
             res_zero=c.var(fn.inputs[res_in]).zero if a["residual"] else 0)
    return p, xs, ba, nsp


def _pool_of(fn: Fn, p: dict[str, int], xs: tuple[int, ...], ba: int, nsp: int) -> list[int]:
    """nnb_i8_pool_params of a convolution's fused max pool (n: every sample and channel)."""
    a = fn.attrs
    conv_shape = xs[:ba] + (p["o"],) + ((p["oh"], p["ow"]) if nsp == 2 else (p["ow"],))
    k, s, pp = list(a["pool_kernel"]), list(a["pool_stride"]), list(a["pool_pad"])
    npl = len(k)
    first = len(conv_shape) - npl
    ib = bool(a["pool_ignore_border"])
    outs = [_pool_out(conv_shape[first + i], k[i], s[i], pp[i], ib) for i in range(npl)]
    return [_prod(conv_shape[:first]), 1, conv_shape[first] if npl == 2 else 1, conv_shape[-1],
            outs[0] if npl == 2 else 1, outs[-1], k[0] if npl == 2 else 1, k[-1], s[0] if npl == 2 else 1, s[-1],
            pp[0] if npl == 2 else 0, pp[-1], 0]


def _conv(c: _Ctx, fn: Fn, node: I8Node, x_expr: str | None = None) -> int:
    """Q8Conv as q8_ops.c conv_geom derives it; returns the scratch bytes.  ``x_expr``: the C expression of the
    input instead of its variable's place."""
    a = fn.attrs
    w = c.var(fn.inputs[1])
    p, xs, ba, nsp = _conv_geom(c, fn, tuple(int(s) for s in w.shape))
    res = bool(a["residual"])
    klen = int(w.shape[1]) * p["kh"] * p["kw"]
    node.macs = p["n"] * p["o"] * p["oh"] * p["ow"] * klen
    f = node.f
    f.update(x=x_expr or c.ptr(fn.inputs[0]), w=c.ptr(fn.inputs[1]), bias=c.ptr(fn.inputs[2]), mult=c.ptr(fn.inputs[3]),
             shift=c.ptr(fn.inputs[4]), y=c.ptr(fn.outputs[0]))
    if res:
        rq = c.ptr(fn.inputs[6])
        f.update(res=c.ptr(fn.inputs[5]), res_mult=rq, res_shift=f"{rq} + {p['o']}")
    else:
        f.update(res="NULL", res_mult="NULL", res_shift="NULL")
    defines = tuple(I8_KNOBS[c.kernels])
    f["geom"] = p
    if a["pool"] == "max":
        if res:
            raise NnbError("emit-c int8: a convolution with a pool and a residual has no int8 kernel")
        q = _pool_of(fn, p, xs, ba, nsp)
        node.kind = "conv_pool"  # nnb_i8_conv_pool (int8/conv_pool.c), the C runtime's kernel
        f.update(p=c.conv_struct([p[k] for k in CONV_FIELDS]), pp=c.pool_struct(q), pool=q)
        sb = conv_pool_scratch(p, q, defines)
        if not sb:
            raise NnbError(f"emit-c int8: Q8Conv '{fn.outputs[0]}': the int8 kernels refuse its pooled geometry")
        return sb
    col = conv_scratch(p, defines)
    f.update(p=c.conv_struct([p[k] for k in CONV_FIELDS]), col_len=col)
    return 2 * col + 4


def _qconv(c: _Ctx, fn: Fn, node: I8Node) -> int:
    """Q8QConv as q8_ops.c run_qconv runs it (nnb_i8_qconv, one sample a call); returns the scratch bytes."""
    x, thr, grid = fn.inputs[:3]
    xv, gv, y = c.var(x), c.var(grid), c.var(fn.outputs[0])
    ba = int(fn.attrs["base_axis"])
    samples = _prod(xv.shape[:ba])
    per = _prod(xv.shape) // samples
    one = f"{x}@sample"  # one quantized sample, on the input's grid (in the scratch, not the arena)
    c.d.vars[one] = Var(one, (1,) * ba + tuple(xv.shape[ba:]), "q8", None, gv.scales, gv.zero)
    node.kind = "conv"  # _conv makes it conv_pool with a fused pool
    sb = _conv(c, Fn("Q8Conv", [one, *fn.inputs[3:]], fn.outputs, fn.attrs), node, "xq")
    node.kind = "q" + node.kind  # qconv | qconv_pool
    node.macs *= samples
    # nnb_i8_qconv quantizes the input rows of one band of output rows at a time (int8/conv_pool.c); the int8
    # entry (PREFIX_run_q8) convolves the caller's int8 sample with Q8Conv's kernel in the same scratch
    qb = conv_pool_scratch(node.f["geom"], node.f.get("pool"), tuple(I8_KNOBS[c.kernels]), quantize=True)
    if not qb:
        raise NnbError(f"emit-c int8: Q8QConv '{fn.outputs[0]}': the int8 kernels refuse its geometry")
    scale = float(np.asarray(gv.scales).reshape(-1)[0])
    node.f.update(fx=c.ptr(x), t=c.ptr(thr), inv=c_float(np.float32(1.0 / scale)),
                  off=c_float(np.float32(gv.zero + 128.5)), per=per, samples=samples, out_per=_prod(y.shape) // samples,
                  grid=grid, net_in=c.d.inputs.index(x) if x in c.d.inputs else None)
    return max(qb, sb)


def _lut_struct(c: _Ctx, fn: Fn, o: int, taps: int) -> tuple[str, int]:
    """A LUT-Q record's const nnb_i8_lut (codes, words, dictionary, K, bits, pow2, o_first 0) as lutq_ops.c
    lut_of fills it; (its name, K)."""
    words, d = c.var(fn.inputs[1]), c.var(fn.inputs[2])
    dic = np.asarray(d.data, np.int64)
    bits = int(fn.attrs["lut_bits"])
    if dic.ndim != 2 or dic.shape[0] != o or not 2 <= dic.shape[1] <= 256 or not 1 <= bits <= 8 \
            or words.data is None or int(np.asarray(words.data).size) * 32 < o * taps * bits:
        raise NnbError(f"emit-c int8: {fn.op} '{fn.outputs[0]}': dictionary {tuple(dic.shape)}, {bits}-bit codes "
                       f"for {o} x {taps} weights")
    mag = np.abs(dic)
    pow2 = int(bool(np.all(((mag & (mag - 1)) == 0) & (mag <= 1 << 30))))
    name = f"{c.prefix}_lut{len(c.luts)}"
    c.luts.append((name, [c.ptr(fn.inputs[1]), f"{int(np.asarray(words.data).size)}u", c.ptr(fn.inputs[2]),
                          str(int(dic.shape[1])), str(bits), str(pow2), "0"]))
    return name, int(dic.shape[1])


def _lutq_scratch(p: dict[str, int], k: int) -> int:
    """lutq.c nnb_i8_lutq_scratch (the same for every kernel setting; the emitted check asks the kernel)."""
    def a4(n: int) -> int:
        return (n + 3) & ~3

    taps = p["c"] // p["group"] * p["kh"] * p["kw"]
    return a4(p["c"] * (p["h"] + 2 * p["pad_h"]) * (p["w"] + 2 * p["pad_w"])) + a4(taps) + 4 * (taps + 3 * k + 1)


def _lut_conv(c: _Ctx, fn: Fn, node: I8Node) -> int:
    """Q8LutConv as lutq_ops.c conv_geom derives it (its pooled blocks as run_conv makes them); scratch bytes."""
    a = fn.attrs
    wshape = tuple(int(s) for s in a["w_shape"])
    p, xs, ba, nsp = _conv_geom(c, fn, wshape)
    res = bool(a["residual"])
    taps = _prod(wshape[1:])
    node.macs = p["n"] * p["o"] * p["oh"] * p["ow"] * taps
    lut, k = _lut_struct(c, fn, p["o"], taps)
    rq, o = c.ptr(fn.inputs[3]), p["o"]
    f = node.f
    f.update(x=c.ptr(fn.inputs[0]), lut=lut, rq=rq, bias=rq, mult=f"{rq} + {o}", shift=f"{rq} + {2 * o}",
             y=c.ptr(fn.outputs[0]), k=k)
    if res:
        rr = c.ptr(fn.inputs[5])
        f.update(res=c.ptr(fn.inputs[4]), res_mult=rr, res_shift=f"{rr} + {o}")
    else:
        f.update(res="NULL", res_mult="NULL", res_shift="NULL")
    f["p"] = c.conv_struct([p[k_] for k_ in CONV_FIELDS])
    lut_bytes = _lutq_scratch(p, k)
    f["scratch"] = lut_bytes
    if a["pool"] == "max":
        if res:
            raise NnbError("emit-c int8: a convolution with a pool and a residual has no int8 kernel")
        # lutq_ops.c pool_block: as many channels as fit in the pool scratch (no equal blocks), group 1
        b = POOL_SCRATCH // (p["oh"] * p["ow"])
        block = o if p["group"] != 1 or b >= o else max(b, 1)
        conv_bytes = (block * p["oh"] * p["ow"] + 3) & ~3
        node.kind = "lut_pool"
        f.update(pp=c.pool_struct(_pool_of(fn, p, xs, ba, nsp)), block=block, conv_bytes=conv_bytes)
        return conv_bytes + lut_bytes
    node.kind = "lut_conv"
    return lut_bytes


def _lut_affine(c: _Ctx, fn: Fn, node: I8Node) -> int:
    """Q8LutAffine as lutq_ops.c affine_geom derives it: the 1x1 convolution of (n, inputs) into outputs."""
    a = fn.attrs
    x, y = c.var(fn.inputs[0]), c.var(fn.outputs[0])
    ba = int(a["base_axis"])
    wshape = tuple(int(s) for s in a["w_shape"])
    n, k, o = _prod(x.shape[:ba]), _prod(x.shape[ba:]), _prod(wshape[1:])
    if wshape[0] != k or _prod(y.shape) != n * o:
        raise NnbError(f"emit-c int8: Q8LutAffine '{fn.outputs[0]}': weight {wshape} for input {tuple(x.shape)}")
    p = dict.fromkeys(CONV_FIELDS, 0)
    p.update(n=n, c=k, h=1, w=1, kh=1, kw=1, oh=1, ow=1, o=o, stride_h=1, stride_w=1, dil_h=1, dil_w=1, group=1,
             in_zero=x.zero, out_zero=y.zero, act_min=int(a["act_min"]), act_max=int(a["act_max"]))
    node.kind = "lut_affine"
    node.macs = n * k * o
    lut, kk = _lut_struct(c, fn, o, k)
    rq = c.ptr(fn.inputs[3])
    lut_bytes = _lutq_scratch(p, kk)
    node.f.update(p=c.conv_struct([p[f] for f in CONV_FIELDS]), lut=lut, x=c.ptr(fn.inputs[0]), bias=rq,
                  mult=f"{rq} + {o}", shift=f"{rq} + {2 * o}", res="NULL", res_mult="NULL", res_shift="NULL",
                  y=c.ptr(fn.outputs[0]), k=kk, scratch=lut_bytes)
    return lut_bytes


def _pool(c: _Ctx, fn: Fn, node: I8Node) -> None:
    a = fn.attrs
    x, y = c.var(fn.inputs[0]), c.var(fn.outputs[0])
    xs = tuple(int(s) for s in x.shape)
    k, s, pd = list(a["kernel"]), list(a["stride"]), list(a["pad"])
    npl = len(k)
    if npl not in (1, 2) or npl > len(xs):
        raise NnbError(f"emit-c int8: {fn.op} over {npl} dims has no int8 kernel")
    first = len(xs) - npl
    ib = bool(a["ignore_border"])
    outs = [_pool_out(xs[first + i], k[i], s[i], pd[i], ib) for i in range(npl)]
    q = [_prod(xs[:first]), 1, xs[first] if npl == 2 else 1, xs[-1], outs[0] if npl == 2 else 1, outs[-1],
         k[0] if npl == 2 else 1, k[-1], s[0] if npl == 2 else 1, s[-1], pd[0] if npl == 2 else 0, pd[-1],
         int(bool(a.get("including_pad", True)))]
    node.f.update(pp=c.pool_struct(q), x=c.ptr(fn.inputs[0]), y=c.ptr(fn.outputs[0]), zero=x.zero)
    if y.zero != x.zero:
        raise NnbError(f"emit-c int8: {fn.op} changes the zero point")


def _i32_values(c: _Ctx, name: str) -> list[int]:
    return [int(v) for v in np.asarray(c.var(name).data).reshape(-1)]


def _node(c: _Ctx, i: int, fn: Fn, scratch: list[int]) -> I8Node:
    ins = [c.var(n) for n in fn.inputs]
    outs = [c.var(n) for n in fn.outputs]
    what = fn.op
    fused = [f"{k}={fn.attrs[k]}" for k in ("pool", "activation") if fn.attrs.get(k)]
    if fn.attrs.get("residual"):
        fused.append("residual add")
    if fused:
        what += f" ({', '.join(fused)})"
    layer = fn.node.name if fn.node is not None else c.layer_of.get(fn.outputs[0], "") if fn.outputs else ""
    comment = [f"#{i} {what}" + (f": NNP function '{layer}'" if layer else "")]
    comment += [f"  in  {v.name} {list(v.shape)} {v.kind}" + (" (param)" if v.data is not None else "") for v in ins]
    comment += [f"  out {v.name} {list(v.shape)} {v.kind}" for v in outs]
    node = I8Node(i, fn.op, "", [])
    y = outs[0] if outs else None
    n_out = _prod(y.shape) if y is not None else 0
    sb = 0
    op = fn.op
    if op == "Q8Quantize":
        node.kind = "quantize"
        scale = float(np.asarray(y.scales).reshape(-1)[0])
        node.f.update(x=c.ptr(fn.inputs[0]), t=c.ptr(fn.inputs[1]), y=c.ptr(fn.outputs[0]), n=n_out,
                      inv=c_float(np.float32(1.0 / scale)), off=c_float(np.float32(y.zero + 128.5)),
                      net_in=c.d.inputs.index(fn.inputs[0]) if fn.inputs[0] in c.d.inputs else None)
    elif op == "Q8Dequantize":
        node.kind = "dequantize"
        node.f.update(x=c.ptr(fn.inputs[0]), t=c.ptr(fn.inputs[1]), y=c.ptr(fn.outputs[0]), n=n_out,
                      net_out=c.d.outputs.index(fn.outputs[0]) if fn.outputs[0] in c.d.outputs else None)
    elif op == "Q8Conv":
        node.kind = "conv"
        sb = _conv(c, fn, node)
    elif op == "Q8QConv":
        sb = _qconv(c, fn, node)
    elif op == "Q8LutConv":
        sb = _lut_conv(c, fn, node)
    elif op == "Q8LutAffine":
        sb = _lut_affine(c, fn, node)
    elif op == "Q8Affine":
        ba = int(fn.attrs["base_axis"])
        xs, ws = ins[0].shape, ins[1].shape
        n, k, o = _prod(xs[:ba]), _prod(xs[ba:]), _prod(ws[1:])
        node.kind = "affine"
        node.macs = n * k * o
        node.f.update(n=n, k=k, o=o, x=c.ptr(fn.inputs[0]), in_zero=ins[0].zero, w=c.ptr(fn.inputs[1]),
                      bias=c.ptr(fn.inputs[2]), mult=c.ptr(fn.inputs[3]), shift=c.ptr(fn.inputs[4]),
                      out_zero=y.zero, lo=int(fn.attrs["act_min"]), hi=int(fn.attrs["act_max"]),
                      y=c.ptr(fn.outputs[0]))
    elif op in ("Q8MaxPool", "Q8AvgPool"):
        node.kind = "max_pool" if op == "Q8MaxPool" else "avg_pool"
        _pool(c, fn, node)
    elif op == "Q8GlobalAvgPool":
        xs = ins[0].shape
        node.kind = "gap"
        node.f.update(n=int(xs[0]), c=int(xs[1]), hw=_prod(xs[2:]), x=c.ptr(fn.inputs[0]), in_zero=ins[0].zero,
                      mult=_i32_values(c, fn.inputs[1])[0], shift=_i32_values(c, fn.inputs[2])[0],
                      out_zero=y.zero, y=c.ptr(fn.outputs[0]))
    elif op in ("Q8Add", "Q8Mul"):
        node.kind = "add" if op == "Q8Add" else "mul"
        node.f.update(n=n_out, a=c.ptr(fn.inputs[0]), a_zero=ins[0].zero, b=c.ptr(fn.inputs[1]),
                      b_zero=ins[1].zero, out_zero=y.zero, lo=int(fn.attrs["act_min"]), hi=int(fn.attrs["act_max"]),
                      y=c.ptr(fn.outputs[0]))
        if op == "Q8Add":
            node.f.update(mult=c.ptr(fn.inputs[2]), shift=c.ptr(fn.inputs[3]))
        else:
            node.f.update(mult=_i32_values(c, fn.inputs[2])[0], shift=_i32_values(c, fn.inputs[3])[0])
    elif op == "Q8Concat":
        axis = int(fn.attrs["axis"])
        k = len(fn.inputs) - 2
        m, s = _i32_values(c, fn.inputs[k]), _i32_values(c, fn.inputs[k + 1])
        node.kind = "concat"
        node.f.update(outer=_prod(y.shape[:axis]), y=c.ptr(fn.outputs[0]), out_zero=y.zero,
                      parts=[(c.ptr(fn.inputs[j]), _prod(ins[j].shape[axis:]), ins[j].zero, m[j], s[j])
                             for j in range(k)])
        node.f["row"] = sum(part[1] for part in node.f["parts"])
    elif op == "Q8Clamp":
        node.kind = "clamp"
        node.f.update(x=c.ptr(fn.inputs[0]), y=c.ptr(fn.outputs[0]), n=n_out, lo=int(fn.attrs["act_min"]),
                      hi=int(fn.attrs["act_max"]))
    elif op.startswith("Q8") or fn.node is None:  # an integer record this emitter has no call for
        raise NnbError(f"emit-c int8: no emitted kernel for the int8 record {op} (the C runtime runs it: "
                       "nnb run --backend c)")
    else:
        _island(c, i, fn, node, scratch)
        sb = scratch[i]
    if node.macs:
        comment[0] += f", {node.macs:,} MACs"
    node.comment = [c_comment(t) for t in comment]
    node.scratch_bytes = sb
    return node


def _island(c: _Ctx, i: int, fn: Fn, node: I8Node, scratch: list[int]) -> None:
    """A float island: Softmax through its float core, anything else through its kernel record."""
    from nnb.emit.nnb_write import _stored_attrs

    assert fn.node is not None
    x = c.var(fn.inputs[0])
    if fn.op == "Softmax" and len(fn.inputs) == 1 and tuple(x.shape) == tuple(c.var(fn.outputs[0]).shape):
        ax = int(fn.node.attrs.get("axis", len(x.shape) - 1))
        ax = ax + len(x.shape) if ax < 0 else ax
        if 0 <= ax < len(x.shape):
            node.kind = "softmax"
            node.f.update(x=c.ptr(fn.inputs[0]), y=c.ptr(fn.outputs[0]), outer=_prod(x.shape[:ax]),
                          n=int(x.shape[ax]), inner=_prod(x.shape[ax + 1:]))
            return
    try:
        fid, slots = function_id(fn.op, extended=True)
    except NnbError:
        fid, slots = -1, []
    rec = ck.kernel_table().get(fid)
    if rec is None:
        raise NnbError(f"no C kernel for function {fn.op} (layer '{fn.node.name}')")
    attrs = _stored_attrs(c.m.graph, fn.node)
    node.kind = "record"
    node.record = rec
    node.args, node.lists = _arg_inits(fn.op, slots, attrs, f"{c.prefix}_l{i}")
    node.tensors = [c.tensor(n) for n in fn.inputs + fn.outputs]
    node.n_in, node.n_out = len(fn.inputs), len(fn.outputs)
    try:
        from nnb.ops import get_op

        op = get_op(fn.op)
        g = c.m.graph
        node.macs = int(op.macs([g.tensors[t].shape for t in fn.node.inputs],
                                [g.tensors[t].shape for t in fn.node.outputs], fn.node.attrs)) if op.macs else 0
    except Exception:  # noqa: BLE001 - a MAC count is a comment
        node.macs = 0


def _island_scratch(d: Deployed, kernels: str) -> list[int]:
    """Each record-called float island's kernel scratch, as the C runtime computes it (one-function images);
    0 for the int8 records and Softmax (no scratch)."""
    from nnb.emit.csource import node_scratch
    from nnb.ir import Graph

    g = d.graph()
    out = [0] * len(d.fns)
    for i, f in enumerate(d.fns):
        if f.op.startswith("Q8") or f.op == "Softmax" or f.node is None:
            continue
        node = g.nodes[i]
        node.attrs = dict(f.node.attrs)
        sub = Graph(g.name, g.tensors, [node], [], [])
        out[i] = node_scratch(sub, kernels)[0]
    return out


def build_int8_context(m: Int8Model, prefix: str, arena_mode: str, header: list[str], sha256: str,
                       kernels: str = "mcu", extra_outputs: tuple[str, ...] = ()) -> I8Model:
    """The facts of the emitted int8 model ``m`` (``extra_outputs``: tensors also returned, dequantized)."""
    d = deploy(m, tuple(extra_outputs))
    c = _Ctx(d, m, prefix, kernels)
    for f in d.fns:
        if (f.op.startswith("Q8") or f.node is None) and f.op not in C_OPS:
            raise NnbError(f"emit-c int8: no emitted kernel for the int8 record {f.op} (the C runtime runs it: "
                           "nnb run --backend c)")
    taken: set[str] = set()
    in_ids = _io_idents(list(d.inputs), "in", taken, prefix)
    out_ids = _io_idents(list(d.outputs), "out", taken, prefix)
    c.in_ident = dict(zip(d.inputs, in_ids))
    scratch = _island_scratch(d, kernels)
    nodes = [_node(c, i, f, scratch) for i, f in enumerate(d.fns)]
    sizes = [n.scratch_bytes for n in nodes]
    offs = place_scratch(c.ap, sizes)
    tensor_bytes = c.ap.arena_bytes
    arena = max(tensor_bytes, TENSOR_ALIGN)
    for n, off in zip(nodes, offs):
        n.scratch_off = off
        if n.scratch_bytes:
            arena = max(arena, off + n.scratch_bytes + (READ_SLACK if n.kind == "record" else 0))
    arena = (arena + TENSOR_ALIGN - 1) // TENSOR_ALIGN * TENSOR_ALIGN
    up = prefix.upper()

    def io(names: list[str], ids: list[str], outputs: bool) -> list[CIO]:
        out = []
        for n, ident in zip(names, ids):
            v = d.vars[n]
            if v.kind != "f32":
                raise NnbError(f"emit-c int8: network variable '{n}' is not float")
            shape = tuple(int(s) for s in v.shape)
            src = c.ptr(n) if outputs else ident
            out.append(CIO(n, ident, f"{up}_{ident.upper()}", shape, _prod(shape), src))
        return out

    inputs, outputs = io(list(d.inputs), in_ids, False), io(list(d.outputs), out_ids, True)
    kinds = {n.kind for n in nodes}
    records = sorted({n.record for n in nodes if n.kind == "record"})
    srcs = ["int8/requant.c"]
    if kinds & CONV_KINDS:
        srcs.append("int8/conv.c")
    if kinds & {"conv_pool", "qconv", "qconv_pool"}:
        srcs += ["int8/conv_pool.c", "int8/conv_direct.c"]  # the direct form: pooled pixels with no scratch
    if "affine" in kinds:
        srcs.append("int8/affine.c")
    if kinds & (CONV_KINDS | {"affine"}) and kernels == "host":
        srcs += ["int8/conv_x86.c", "int8/conv_x86_dw.c"]
    if kinds & {"conv_pool", "qconv", "qconv_pool"} and kernels == "host":
        srcs.append("int8/conv_x86_pool.c")  # the x86 pooled form conv_pool.c calls
    if kinds & LUT_KINDS:
        srcs.append("int8/lutq.c")
    if kinds & {"conv_pool", "qconv_pool", "max_pool", "avg_pool", "gap", "lut_pool"}:
        srcs.append("int8/pool.c")
    if kinds & {"add", "mul", "concat"}:
        srcs.append("int8/eltwise.c")
    float_needs = records + (["nnbrt_softmax_f32"] if "softmax" in kinds else [])
    if float_needs:
        from nnb.emit.csource_ctx import _absent

        srcs += ck.sources_for(float_needs, KERNEL_PROFILES[kernels][0], _absent(kernels))
    headers = I8_HEADERS + (["int8/lutq.h"] if kinds & LUT_KINDS else []) + \
        (ck.kernel_headers() if float_needs else [])
    params = list(c.params.values())
    # PREFIX_run_q8: every output dequantized from an int8 tensor (none a float island's)
    deq = {n.f["net_out"]: n for n in nodes if n.kind == "dequantize" and n.f["net_out"] is not None}
    quant = {n.f["net_in"]: n for n in nodes
             if n.kind in ("quantize", "qconv", "qconv_pool") and n.f["net_in"] is not None}
    q8_api = len(deq) == len(outputs) and len(quant) == len(inputs) and len(outputs) > 0
    q8_io: dict[str, tuple[str, int]] = {}
    if q8_api:
        for k, io_ in enumerate(inputs):
            qn = quant[k]  # Q8Quantize's output, or Q8QConv's grid
            v = d.vars[qn.f["grid"] if qn.kind != "quantize" else d.fns[qn.index].outputs[0]]
            q8_io[io_.macro] = (repr(float(np.asarray(v.scales).reshape(-1)[0])), int(v.zero))
        for k, io_ in enumerate(outputs):
            v = d.vars[d.fns[deq[k].index].inputs[0]]
            q8_io[io_.macro] = (repr(float(np.asarray(v.scales).reshape(-1)[0])), int(v.zero))
    return I8Model(prefix, up, arena_mode, [c_comment(h) for h in header], sha256, params, nodes, inputs, outputs,
                   tensor_bytes, max(sizes, default=0), arena, sorted(srcs), headers, c.knobs, kernels,
                   sum(p.nbytes for p in params), sum(n.macs for n in nodes), [],
                   [(v, list(k)) for k, v in c.conv_params.items()], [(v, list(k)) for k, v in c.pool_params.items()],
                   c.luts, [(v, list(k)) for k, v in c.dims.items()], records,
                   max([n.n_in + n.n_out for n in nodes if n.kind == "record"] or [1]), q8_api, q8_io)


def load_int8(model_path: str, loaded: Any) -> Int8Model | None:  # noqa: ANN401 - Graph | QuantizedModel
    """The int8 model of a loaded .nnq (calibrated int8, DQ deployed as int8) or int8 .nnb, else None."""
    from nnb.quantize.int8 import from_quantized, is_int8_model
    from nnb.quantize.qmodel import QuantizedModel

    if isinstance(loaded, QuantizedModel):
        return from_quantized(loaded) if is_int8_model(loaded) else None
    if model_path.lower().endswith(".nnb") and getattr(loaded, "executor", None) == "int8":
        from nnb.emit.nnb_int8_read import read_int8_nnb

        with open(model_path, "rb") as f:
            return read_int8_nnb(f.read(), model_path)
    return None


def int8_files(m: I8Model, env: Any) -> dict[str, bytes]:  # noqa: ANN401 - jinja2.Environment
    """The rendered and copied files of an emitted int8 model."""
    from nnb.emit.csource import add_runtime_files

    p = m.prefix
    files: dict[str, bytes] = {}
    for tpl, out in (("model.h.j2", f"{p}.h"), ("model_i8.c.j2", f"{p}.c"), ("weights_i8.c.j2", f"{p}_weights.c"),
                     ("example_main.c.j2", f"{p}_example.c"), ("Makefile.j2", "Makefile")):
        files[out] = env.get_template(tpl).render(m=m).encode()
    add_runtime_files(files, m)
    return files
