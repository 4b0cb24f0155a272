"""The facts of an emitted C model, computed in Python for the templates in templates/emit_c/.

Same graph as the extended NNB (nnb.emit.convert: BatchNormalization folded,
fused conv/pool/residual/activation, packed LUT-Q/DQ weights), the same
one-arena plan (nnb.plan.arena) and the same function arguments as the NNB
function records (nnb.emit.nnb).  The C runtime validates the same image once
(microcontroller scratch settings): a function it cannot run stops the emit
before anything is written, and its kernel scratch figures (one per function)
are placed into the plan's free space at that function's step.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnb.emit import csource_kernels as ck
from nnb.emit.csource_forms import conv_forms, form_knobs
from nnb.emit.nnb_layout import TRANSPOSED_WEIGHTS, function_id
from nnb.emit.nnb_write import _stored_attrs
from nnb.errors import NnbError
from nnb.ir import Graph, Node
from nnb.ops import get_op
from nnb.ops.packed import BASE_OF, base_attrs

SCRATCH_ALIGN = 64  # the runtime's arena alignment: the scratch area starts and ends on it
TENSOR_ALIGN = 16
# After a scratch area: the kernels' row tiles may read a little past the end of a scratch row (never
# write); inside the runtime's arena the 63 bytes of alignment slack after the scratch cover it.  A scratch
# area in the middle of the arena is followed by arena bytes; one at the end gets this tail.
READ_SLACK = 64
# Kernel settings of the emitted code -> (defines, optimisation of the C runtime build that computes the
# scratch figures with the same settings, c_runtime/build-emitc-NAME):
# "mcu" (default): c_runtime/Makefile SMALL_DEFS (smallest scratch, no compiler vector extensions) and the
# scalar Cortex-M convolution kernels (conv_mcu.c), which an M-profile Arm build picks anyway: the same
# kernels and scratch on the host and on the target;
# "host": the runtime's default settings (padded planes, im2col, 4-float vectors) as its PORTABLE build has
# them (baseline instruction set: no -mavx/-march=native), never the Cortex-M kernels.
KERNEL_PROFILES: dict[str, tuple[list[str], str]] = {
    "mcu": (["NNBRT_PLANE_MAX=0", "NNBRT_GEMM_IM2COL_MAX=0", "NNBRT_DECONV_GEMM_MAX=0", "NNBRT_NO_VECTOR_EXT",
             "NNBRT_MCU_KERNELS=1"], "-Os"),
    "host": (["NNBRT_NO_MCU_KERNELS"], "-O3"),
}
C_KEYWORDS = set("""auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef union unsigned void
volatile while _Bool _Complex _Imaginary main arena A S T F a t cost NULL NAN HUGE_VALF memmove memcpy size_t
int32_t uint32_t uintptr_t""".split())
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def c_float(v: float) -> str:
    """Exact, compact C99 literal of a float32 value (hex float)."""
    v = float(np.float32(v))
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "HUGE_VALF" if v > 0 else "-HUGE_VALF"
    if v == 0.0:
        return "-0.0f" if math.copysign(1.0, v) < 0 else "0"
    if v == int(v) and abs(v) < 1e7:
        return f"{int(v)}.0f" if v >= 0 else f"-{int(-v)}.0f"
    h = v.hex()  # [-]0x1.8000000000000p+3
    mant, exp = h.split("p")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}p{exp}f"


def c_comment(text: str) -> str:
    """Text safe inside /* */ (ASCII, no comment terminator)."""
    return text.encode("ascii", "backslashreplace").decode().replace("*/", "* /").replace("/*", "/ *")


def c_ident(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_") or "t"
    return ("_" + s) if s[0].isdigit() else s


@dataclass
class CTensor:
    name: str  # NNP variable name
    shape: tuple[int, ...]
    size: int
    dims: str  # C name of the dims array ("NULL" for 0-d)
    kind: str  # input | param | arena
    expr: str  # C expression: the nnbrt_tensor of this variable
    check_expr: str  # the same without data (kernel checks)
    ptr: str = "NULL"  # C expression: the data pointer (const float * for inputs and parameters)


@dataclass
class CParam:
    name: str
    ident: str
    shape: tuple[int, ...]  # logical shape (packed weights: the decoded weight's)
    index: int  # in PREFIX_params[]
    values: list[str]  # float literals (plain) or word literals (packed)
    nbytes: int
    dims: str
    size: int
    packed: bool = False
    kind: int = 0  # 4 LUT, 5 uniform
    bits: int = 0
    table: list[str] = field(default_factory=list)
    step: str = "0"
    note: str = ""
    extern: bool = False  # named from PREFIX.c (a direct call's operand): external linkage


@dataclass
class CNode:
    index: int
    op: str  # the function as run (FusedConv, AffinePacked's base, ...)
    layer: str  # the NNP function name
    record: str  # kernel record symbol
    comment: list[str]
    args: list[tuple[str, str, str, str]]  # (i, f, count, list) C initializers
    lists: list[tuple[str, list[str]]]  # (C name, int literals)
    inputs: list[CTensor]
    outputs: list[CTensor]
    macs: int
    scratch_off: int = 0  # arena offset of this function's kernel scratch
    scratch_bytes: int = 0
    direct: DirectConv | None = None  # "mcu" FusedConv called straight into conv_mcu.c (no kernel record)
    core: DirectCore | None = None  # "mcu" float Affine/Softmax/AveragePooling called straight (kernels/cores.h)


@dataclass
class DirectCore:
    """A float kernel called through its exported core (c_runtime/src/kernels/cores.h) with the sizes fixed
    at emit time, instead of through its record."""
    fn: str
    args: list[str]  # C expressions, in the core's parameter order
    geom: list[int] = field(default_factory=list)  # nnbrt_geom of a pooling core (its name in gname)
    gname: str = ""


@dataclass
class DirectConv:
    """A FusedConv whose geometry is fixed at emit time: ``nnbrt_mcu_conv_blk`` called with const
    ``nnbrt_geom``/``nnbrt_fuse`` (what fused_conv.c's setup computes at run time), so neither the record,
    its argument checks nor the packed/in-place branches are linked."""
    group: int
    geom: list[int]  # nnbrt_geom: outer, C, OC, IH, IW, OH, OW, KH, KW, PH, PW, SH, SW, DH, DW
    fuse: list[int]  # nnbrt_fuse without res: pool, KH, KW, SH, SW, PH, PW, OH, OW, including_pad, act
    x: str
    w: str
    bias: str
    y: str
    res: str  # residual pointer expression or "" (none)
    inplace: bool = False  # the output over the input: nnbrt_dw_inplace (dw_inplace.c), as fused_conv.c runs it
    gname: str = ""  # C names of the const geometry and fuse description (shared by equal layers)
    fname: str = ""

    @property
    def stride(self) -> int:
        return self.geom[12]


@dataclass
class CIO:
    name: str  # NNP variable name
    ident: str  # C parameter name
    macro: str  # PREFIX_IDENT in upper case
    shape: tuple[int, ...]
    size: int
    src: str  # outputs: where the value is after the last node (C expression, float *)


@dataclass
class CModel:
    prefix: str
    upper: str
    arena_mode: str  # static | caller
    header: list[str]
    sha256: str
    dims: list[tuple[str, list[int]]]
    pdims: list[tuple[str, list[int]]]
    params: list[CParam]
    nodes: list[CNode]
    inputs: list[CIO]
    outputs: list[CIO]
    tensor_bytes: int
    scratch_bytes: int  # the largest scratch of one function
    arena_bytes: int
    max_io: int
    records: list[str]
    kernel_sources: list[str]
    kernel_headers: list[str]
    knobs: list[str]
    kernels: str  # the kernel profile (KERNEL_PROFILES)
    weight_bytes: int
    macs: int
    warnings: list[str]
    graph: Graph = field(repr=False, default=None)  # type: ignore[assignment]

    @property
    def record_nodes(self) -> list[CNode]:
        """The nodes called through a kernel record (the rest call conv_mcu.c or a float core directly)."""
        return [n for n in self.nodes if n.direct is None and n.core is None]

    @property
    def table_params(self) -> list[CParam]:
        """The parameters in PREFIX_params[] (those a record call passes; a direct call names the array)."""
        return [p for p in self.params if p.index >= 0]

    @property
    def extern_params(self) -> list[CParam]:
        return [p for p in self.params if p.extern]

    @property
    def used_pdims(self) -> list[tuple[str, list[int]]]:
        used = {p.dims for p in self.table_params}
        return [(name, d) for name, d in self.pdims if name in used]

    @property
    def used_dims(self) -> list[tuple[str, list[int]]]:
        """The shape arrays the record calls use (a direct call takes its sizes from its const geometry)."""
        used = {t.dims for n in self.record_nodes for t in n.inputs + n.outputs}
        return [(name, d) for name, d in self.dims if name in used]

    @property
    def direct_nodes(self) -> list[CNode]:
        return [n for n in self.nodes if n.direct is not None]

    @property
    def uses_cores(self) -> bool:
        return any(n.core is not None for n in self.nodes)

    @property
    def geoms(self) -> list[tuple[str, list[int]]]:
        """The distinct const nnbrt_geom of the direct calls (name, values), in first use order."""
        out: dict[str, list[int]] = {}
        for n in self.nodes:
            if n.direct is not None or (n.core is not None and n.core.geom):
                d = n.direct or n.core
                out.setdefault(d.gname, d.geom)
        return list(out.items())

    @property
    def fuses(self) -> list[tuple[str, list[int]]]:
        out: dict[str, list[int]] = {}
        for n in self.direct_nodes:
            out.setdefault(n.direct.fname, n.direct.fuse)
        return list(out.items())

    @property
    def guard(self) -> list[str]:
        """C conditions that are true when the tree is compiled with other kernel settings than its own: a
        define of this profile missing or different, or a define of another profile present."""
        conds = []
        for k in self.knobs:
            name, _, value = k.partition("=")
            conds.append(f"!defined({name})" + (f" || {name} != {value}" if value else ""))
        mine = {k.partition("=")[0] for k in self.knobs}
        others = {k.partition("=")[0] for p, (ks, _) in KERNEL_PROFILES.items() if p != self.kernels for k in ks}
        conds += [f"defined({n})" for n in sorted(others - mine)]
        return conds

    def call_edges(self) -> dict[str, list[str]]:
        """Calls the compiler cannot see (through the kernel records): PREFIX_run -> each run function,
        PREFIX_check -> each check function (call graph titles)."""
        fns = [ck.record_functions(r) for r in self.records]
        return {f"{self.prefix}_run": sorted(r for _, r in fns if r),
                f"{self.prefix}_check": sorted(c for c, _ in fns if c)}


def _list_arg(args: list, lists: dict[str, list[str]], k: int) -> list[int]:
    name = args[k][3]
    return [int(v) for v in lists.get(name, [])] if name != "NULL" else []


def direct_conv(node: CNode, group_arg: int, lists: dict[str, list[str]], res: str) -> DirectConv | None:
    """The const geometry of a float FusedConv, Convolution or DepthwiseConvolution as fused_conv.c's setup
    (convolution.c, depthwise_convolution.c: nnbrt_conv_geom) derives it from the same arguments and shapes
    (nnbrt_conv_check, nnbrt_pool_geom_p), or None when the form has no direct call."""
    a = node.args
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    b = int(a[0][0])
    nsp = len(x.shape) - b - 1
    fused, dwise = node.op == "FusedConv", node.op == "DepthwiseConvolution"
    if nsp not in (1, 2) or len(w.shape) != nsp + (1 if dwise else 2) or (not dwise and int(a[5][0])):
        return None
    if dwise:
        group_arg = int(x.shape[b])  # depthwise_convolution.c: group = C, weights [C * multiplier, (1,) KH, KW]

    def geom_list(vals: list[int], n: int, dflt: int) -> tuple[int, int]:  # nnbrt_geom_list
        if not vals:
            return dflt, dflt
        return (0 if dflt == 0 else 1, vals[0]) if n == 1 else (vals[0], vals[1])

    def hw(vals: list[int], dflt: int) -> tuple[int, int]:
        return geom_list(vals, nsp, dflt)

    ph, pw = hw(_list_arg(a, lists, 1), 0)
    sh, sw = hw(_list_arg(a, lists, 2), 1)
    dh, dw = hw(_list_arg(a, lists, 3), 1)
    if nsp == 1:
        ph, sh, dh = 0, 1, 1
    outer = int(np.prod(x.shape[:b])) if b else 1
    ih, iw = (1, x.shape[b + 1]) if nsp == 1 else x.shape[b + 1:b + 3]
    kh, kw = (1, w.shape[-1]) if nsp == 1 else w.shape[-2:]
    oh = (ih + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (iw + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    geom = [outer, x.shape[b], w.shape[0], ih, iw, oh, ow, kh, kw, ph, pw, sh, sw, dh, dw]
    pool, act = (int(a[6][0]), int(a[12][0])) if fused else (0, 0)
    if pool:
        pk = _list_arg(a, lists, 7)
        nk = len(pk)
        if nk not in (1, 2) or nk > nsp:
            return None
        pkh, pkw = geom_list(pk, nk, 1)
        ps = _list_arg(a, lists, 8)
        psh, psw = (pkh, pkw) if not ps else geom_list(ps, nk, 1)
        pph, ppw = geom_list(_list_arg(a, lists, 9), nk, 0)
        if nk == 1:
            pkh, psh, pph = 1, 1, 0
        fuse = [pool, pkh, pkw, psh, psw, pph, ppw, y.shape[-2] if nsp == 2 else 1, y.shape[-1], int(a[11][0]), act]
    else:
        if tuple(y.shape) != tuple(x.shape[:b]) + (w.shape[0],) + ((oh, ow) if nsp == 2 else (ow,)):
            return None
        fuse = [0, 0, 0, 0, 0, 0, 0, oh, ow, 0, act]
    has_bias = int(a[14][0]) if fused else len(node.inputs) == 3
    bias = node.inputs[2].ptr if has_bias else "NULL"
    return DirectConv(group_arg, [int(v) for v in geom], [int(v) for v in fuse], x.ptr, w.ptr, bias, y.ptr, res)


def _prod(dims: tuple[int, ...] | list[int]) -> int:
    return int(np.prod(dims)) if len(dims) else 1


def direct_core(node: CNode, lists: dict[str, list[str]]) -> DirectCore | None:
    """The exported float core (kernels/cores.h) that computes ``node`` with these sizes, or None."""
    a, ins, outs = node.args, node.inputs, node.outputs
    x, y = ins[0], outs[0]
    if node.op == "Affine" and len(ins) in (2, 3) and ins[1].kind == "param" and ins[1].ptr != "NULL":
        w = ins[1]
        inner = int(w.shape[0])
        if inner <= 0 or x.size % inner or w.size % inner:
            return None
        b = ins[2].ptr if len(ins) == 3 else "NULL"
        return DirectCore("nnbrt_affine_f32", [x.ptr, w.ptr, b, y.ptr, f"{x.size // inner}u", f"{inner}u",
                                               f"{w.size // inner}u"])
    if node.op == "Softmax" and x.shape and tuple(x.shape) == tuple(y.shape):
        ax = int(a[0][0])
        ax = ax + len(x.shape) if ax < 0 else ax
        if not 0 <= ax < len(x.shape):
            return None
        return DirectCore("nnbrt_softmax_f32", [x.ptr, y.ptr, f"{_prod(x.shape[:ax])}u", f"{x.shape[ax]}u",
                                                f"{_prod(x.shape[ax + 1:])}u"])
    if node.op == "AveragePooling" and not int(a[4][0]):
        k = _list_arg(a, lists, 0)
        nk = len(k)
        if nk not in (1, 2) or nk > len(x.shape) or len(x.shape) != len(y.shape):
            return None

        def geom_list(vals: list[int], dflt: int) -> tuple[int, int]:  # nnbrt_geom_list
            if not vals:
                return dflt, dflt
            return (0 if dflt == 0 else 1, vals[0]) if nk == 1 else (vals[0], vals[1])

        kh, kw = geom_list(k, 1)
        st = _list_arg(a, lists, 1)
        sh, sw = (kh, kw) if not st else geom_list(st, 1)
        ph, pw = geom_list(_list_arg(a, lists, 3), 0)
        if nk == 1:
            kh, sh, ph = 1, 1, 0
        s0 = len(x.shape) - nk
        ih, iw = (1, x.shape[s0]) if nk == 1 else x.shape[s0:s0 + 2]
        oh, ow = (1, y.shape[s0]) if nk == 1 else y.shape[s0:s0 + 2]
        geom = [_prod(x.shape[:s0]), 1, 1, ih, iw, oh, ow, kh, kw, ph, pw, sh, sw, 1, 1]
        return DirectCore("nnbrt_avg_pool_f32", [x.ptr, y.ptr, "", str(int(a[5][0]))], [int(v) for v in geom])
    return None


def _absent(kernels: str) -> list[str]:
    """Macros of the other kernel profiles that this one does not define."""
    mine = {k.partition("=")[0] for k in KERNEL_PROFILES[kernels][0]}
    return sorted({k.partition("=")[0] for p, (ks, _) in KERNEL_PROFILES.items() if p != kernels for k in ks} - mine)


def _io_idents(names: list[str], stem: str, taken: set[str], prefix: str) -> list[str]:
    """C parameter names: the NNP variable name when it is a usable identifier, else in<k>/out<k>."""
    out = []
    for k, n in enumerate(names):
        usable = (_IDENT.match(n) and n not in C_KEYWORDS and n not in taken and len(n) <= 40
                  and not n.lower().startswith((prefix.lower() + "_", "nnbrt_", "_")))
        ident = n if usable else f"{stem}{k}"
        while ident in taken:
            ident += "_"
        taken.add(ident)
        out.append(ident)
    return out


def _node_as_run(node: Node) -> tuple[Node, str]:
    """The packed op's base function (its weight carries the quantization), as the NNB writes it."""
    if node.op in BASE_OF:
        attrs = base_attrs(node.op, node.attrs)
        return Node(node.name, BASE_OF[node.op], node.inputs[:2] + node.inputs[3:], node.outputs, attrs), node.op
    return node, node.op


def _arg_inits(op: str, slots: list, attrs: dict, lname: str) -> tuple[list, list]:
    args, lists = [], []
    for k, s in enumerate(slots):
        v = attrs.get(s.name)
        if s.kind == "B":
            args.append(("1" if v else "0", "0", "0", "NULL"))
        elif s.kind == "i":
            if s.str_choices or isinstance(v, str):
                if v not in s.str_choices:
                    raise NnbError(f"{op}: {s.name}='{v}' has no C form")
                v = s.str_choices.index(v)
            args.append((str(int(v or 0)), "0", "0", "NULL"))
        elif s.kind == "f":
            args.append(("0", c_float(float(v or 0.0)), "0", "NULL"))
        elif s.kind == "iI":
            vals = [int(x) for x in (v or ())]
            if vals:
                name = f"{lname}_{k}"
                lists.append((name, [str(x) for x in vals]))
                args.append(("0", "0", str(len(vals)), name))
            else:
                args.append(("0", "0", "0", "NULL"))
        else:
            raise NnbError(f"{op}: argument {s.name} (a float list) has no C form")
    return args, lists


def place_scratch(plan: Any, sizes: list[int]) -> list[int]:  # noqa: ANN401 - nnb.plan.arena.ArenaPlan
    """Arena offset of each function's scratch: the lowest 64-byte aligned offset that no tensor alive at that
    step occupies (the scratch only lives during its function's call)."""
    offs = []
    for i, s in enumerate(sizes):
        off = 0
        if s:
            live = sorted((plan.offsets[n], plan.offsets[n] + lt.nbytes) for n, lt in plan.lifetimes.items()
                          if n in plan.offsets and lt.start <= i <= lt.end and lt.nbytes)
            for a, b in live:
                if off + s <= a:
                    break
                off = max(off, (b + SCRATCH_ALIGN - 1) // SCRATCH_ALIGN * SCRATCH_ALIGN)
        offs.append(off)
    return offs


def build_context(conv: Any, prefix: str, arena_mode: str, header: list[str], sha256: str,  # noqa: ANN401
                  scratch: list[int], warnings: list[str], kernels: str = "mcu") -> CModel:
    """``conv``: an extended :class:`nnb.emit.convert.Converted`; ``scratch``: each function's kernel scratch
    (aligned), as the C runtime computes it."""
    g: Graph = conv.graph
    plan = conv.arena
    up = prefix.upper()
    shapes = {n: t.shape for n, t in g.tensors.items()}
    dims_of: dict[tuple[int, ...], str] = {}
    pdims_of: dict[tuple[int, ...], str] = {}

    def dims(shape: tuple[int, ...], table: dict | None = None, stem: str = "d") -> str:
        table = dims_of if table is None else table
        if not shape:
            return "NULL"
        if shape not in table:
            table[shape] = f"{prefix}_{stem}{len(table)}"
        return table[shape]

    def pdims(shape: tuple[int, ...]) -> str:
        return dims(shape, pdims_of, "pd")

    packed_nodes = {n.inputs[1]: n for n in g.nodes if n.op in BASE_OF}
    tables = {n.inputs[2] for n in packed_nodes.values()}
    users = {n.inputs[1]: n.op for n in g.nodes if len(n.inputs) > 1}
    taken: set[str] = set()
    in_ids = _io_idents(list(g.inputs), "in", taken, prefix)
    out_ids = _io_idents(list(g.outputs), "out", taken, prefix)
    in_ident = dict(zip(g.inputs, in_ids))

    params: dict[str, CParam] = {}
    idents: set[str] = set()
    for name, t in g.tensors.items():
        if t.kind != "param" or name in tables:
            continue
        ident = f"{prefix}_w_{c_ident(name)}"
        while ident in idents:
            ident += "_"
        idents.add(ident)
        if name in packed_nodes:
            node = packed_nodes[name]
            words = np.ascontiguousarray(t.data, dtype="<u4").reshape(-1)
            table = np.asarray(g.tensors[node.inputs[2]].data, dtype=np.float32).reshape(-1)
            lshape = tuple(int(x) for x in node.attrs["w_shape"])
            lut = node.attrs["q_kind"] == "lut"
            p = CParam(name, ident, lshape, len(params), [f"0x{int(w):08x}u" for w in words],
                       words.nbytes + (table.nbytes if lut else 0), pdims(lshape), int(np.prod(lshape)), True,
                       4 if lut else 5, int(node.attrs["q_bits"]),
                       [c_float(x) for x in table] if lut else [], "0" if lut else c_float(table[0]),
                       f"{node.attrs['q_bits']}-bit " + (f"LUT-Q codes, table of {table.size}" if lut else "DQ codes"))
        else:
            data = np.ascontiguousarray(t.data, dtype=np.float32)
            if users.get(name) in TRANSPOSED_WEIGHTS:  # output-major, as the NNB stores it
                data = np.ascontiguousarray(data.reshape(data.shape[0], -1).T)
            flat = data.reshape(-1)
            note = "stored output-major (transposed)" if users.get(name) in TRANSPOSED_WEIGHTS else ""
            p = CParam(name, ident, tuple(t.shape), len(params), [c_float(x) for x in flat], flat.size * 4,
                       pdims(tuple(t.shape)), int(flat.size), note=note)
        params[name] = p

    def tensor(name: str) -> CTensor:
        t = g.tensors[name]
        if name in params:
            p = params[name]
            e = f"{prefix}_params[{p.index}]"
            return CTensor(name, p.shape, p.size, p.dims, "param", e, e, "NULL" if p.packed else p.ident)
        shape = tuple(shapes[name])
        size = int(np.prod(shape)) if shape else 1
        d = dims(shape)
        if t.kind == "input" or name in g.inputs:
            return CTensor(name, shape, size, d, "input", f"T({len(shape)}, {d}, {size}u, {in_ident[name]})",
                           f"T({len(shape)}, {d}, {size}u, NULL)", in_ident[name])
        if name not in plan.offsets:
            raise NnbError(f"variable '{name}' has no place in the arena plan")
        return CTensor(name, shape, size, d, "arena", f"T({len(shape)}, {d}, {size}u, F({plan.offsets[name]}u))",
                       f"T({len(shape)}, {d}, {size}u, NULL)", f"F({plan.offsets[name]}u)")

    def overlap(a: CTensor, b: CTensor) -> bool:
        if a.kind != "arena" or b.kind != "arena":
            return False
        oa, ob = plan.offsets[a.name], plan.offsets[b.name]
        return oa < ob + 4 * b.size and ob < oa + 4 * a.size

    table = ck.kernel_table()
    nodes: list[CNode] = []
    records: list[str] = []
    total_macs = 0
    for i, node in enumerate(g.nodes):
        run_node, orig_op = _node_as_run(node)
        attrs = _stored_attrs(g, run_node)
        try:
            fid, slots = function_id(run_node.op, extended=True)
        except NnbError:
            fid, slots = -1, []
        rec = table.get(fid)
        if rec is None:
            raise NnbError(f"no C kernel for function {orig_op} (layer '{node.name}')")
        args, lists = _arg_inits(run_node.op, slots, attrs, f"{prefix}_l{i}")
        if len(args) > 16:
            raise NnbError(f"function {orig_op} (layer '{node.name}') has {len(args)} arguments; the C kernels take 16")
        ins = [tensor(x) for x in run_node.inputs]
        outs = [tensor(x) for x in run_node.outputs]
        op = get_op(node.op)
        try:
            macs = int(op.macs([shapes[x] for x in node.inputs], [shapes[x] for x in node.outputs], node.attrs)) \
                if op.macs else 0
        except Exception:  # noqa: BLE001 - a MAC count is a comment; never a reason to fail
            macs = 0
        total_macs += macs
        fused = [f"{k}={attrs[k]}" for k in ("pool", "activation") if attrs.get(k)]
        if attrs.get("residual"):
            fused.append("residual add")
        what = orig_op + (f" ({', '.join(fused)})" if fused else "")
        comment = [f"#{i} {what}: NNP function '{node.name}', {macs:,} MACs"]
        comment += [f"  in  {t.name} {list(t.shape)} ({t.kind})" for t in ins]
        comment += [f"  out {t.name} {list(t.shape)}" for t in outs]
        cn = CNode(i, run_node.op, node.name, rec, [c_comment(c) for c in comment], args, lists, ins, outs, macs)
        conv_ops = ("FusedConv", "Convolution", "DepthwiseConvolution")
        if kernels == "mcu" and run_node.op in conv_ops and ins[1].ptr != "NULL":
            inplace = overlap(ins[0], outs[0])  # only a depthwise FusedConv runs in place (dw_inplace.c)
            res = ins[-1].ptr if run_node.op == "FusedConv" and int(args[13][0]) else ""
            if not (inplace and (res or run_node.op != "FusedConv")):
                cn.direct = direct_conv(cn, int(args[4][0]), dict(lists), res)
            if cn.direct is not None:
                cn.direct.inplace = inplace
        elif kernels == "mcu" and run_node.op in ("Affine", "Softmax", "AveragePooling"):
            cn.core = direct_core(cn, dict(lists))
        nodes.append(cn)
        if cn.direct is None and cn.core is None and rec not in records:
            records.append(rec)

    # PREFIX_params[] holds only what the record calls pass; the direct calls name the arrays
    by_record = [n for n in nodes if n.direct is None and n.core is None]
    in_table = [p for p in params.values() if any(t.name == p.name for n in by_record for t in n.inputs + n.outputs)]
    renumber = {p.index: k for k, p in enumerate(in_table)}
    for n in nodes:
        if n.direct is None and n.core is None:
            for t in n.inputs + n.outputs:
                if t.kind == "param":
                    t.expr = t.check_expr = f"{prefix}_params[{renumber[params[t.name].index]}]"
        else:
            for t in n.inputs:
                if t.kind == "param":
                    params[t.name].extern = True
    for p in params.values():
        p.index = renumber.get(p.index, -1)

    def io(names: list[str], ids: list[str]) -> list[CIO]:
        out = []
        for n, ident in zip(names, ids):
            shape = tuple(shapes[n])
            size = int(np.prod(shape)) if shape else 1
            t = tensor(n)
            if t.kind == "param":
                params[n].extern = True
            src = {"arena": f"F({plan.offsets.get(n, 0)}u)", "input": f"{in_ident.get(n)}",
                   "param": t.ptr}[t.kind]
            out.append(CIO(n, ident, f"{up}_{ident.upper()}", shape, size, src))
        return out

    tensor_bytes = plan.arena_bytes
    offs = place_scratch(plan, scratch)
    arena = max(tensor_bytes, TENSOR_ALIGN)
    for n, off, size in zip(nodes, offs, scratch):
        n.scratch_off, n.scratch_bytes = off, size
        if size:
            arena = max(arena, off + size + READ_SLACK)
    arena = (arena + TENSOR_ALIGN - 1) // TENSOR_ALIGN * TENSOR_ALIGN
    scratch_bytes = max(scratch, default=0)
    max_io = max([len(n.inputs) + len(n.outputs) for n in nodes] or [1])
    knobs = list(KERNEL_PROFILES[kernels][0])
    direct = [n.direct for n in nodes if n.direct is not None]
    gnames: dict[tuple[int, ...], str] = {}
    fnames: dict[tuple[int, ...], str] = {}
    for n in nodes:
        if n.direct is not None:
            n.direct.gname = gnames.setdefault(tuple(n.direct.geom), f"{prefix}_g{len(gnames)}")
            n.direct.fname = fnames.setdefault(tuple(n.direct.fuse), f"{prefix}_f{len(fnames)}")
        elif n.core is not None and n.core.geom:
            n.core.gname = gnames.setdefault(tuple(n.core.geom), f"{prefix}_g{len(gnames)}")
            n.core.args[2] = f"&{n.core.gname}"
    if direct and "conv_mcu.c" not in ck.sources_for(records, knobs, _absent(kernels)):
        # every layer that reaches conv_mcu.c is a direct call: compile only the forms they use
        knobs += form_knobs(conv_forms(d.group if not d.inplace else d.geom[1], d.geom, d.fuse[0], bool(d.res))
                            for d in direct)
    return CModel(prefix, up, arena_mode, [c_comment(h) for h in header], sha256,
                  [(v, list(k)) for k, v in dims_of.items()], [(v, list(k)) for k, v in pdims_of.items()],
                  list(params.values()), nodes,
                  io(list(g.inputs), in_ids), io(list(g.outputs), out_ids), tensor_bytes, scratch_bytes,
                  arena, max_io, sorted(records),
                  ck.sources_for(records + (["nnbrt_mcu_conv_blk"] if any(n.direct for n in nodes) else [])
                                 + (["nnbrt_dw_inplace"] if any(n.direct and n.direct.inplace for n in nodes) else [])
                                 + sorted({n.core.fn for n in nodes if n.core is not None}),
                                 KERNEL_PROFILES[kernels][0], _absent(kernels)),
                  ck.kernel_headers(),
                  knobs, kernels,
                  sum(p.nbytes for p in params.values()), total_macs, warnings, g)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
