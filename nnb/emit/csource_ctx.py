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
            return CTensor(name, p.shape, p.size, p.dims, "param", e, e)
        shape = tuple(shapes[name])
        size = int(np.prod(shape)) if shape else 1
        d = dims(shape)
        if t.kind == "input" or name in g.inputs:
            return CTensor(name, shape, size, d, "input", f"T({len(shape)}, {d}, {size}u, {in_ident[name]})",
                           f"T({len(shape)}, {d}, {size}u, NULL)")
        if name not in plan.offsets:
            raise NnbError(f"variable '{name}' has no place in the arena plan")
        return CTensor(name, shape, size, d, "arena", f"T({len(shape)}, {d}, {size}u, F({plan.offsets[name]}u))",
                       f"T({len(shape)}, {d}, {size}u, NULL)")

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
        nodes.append(CNode(i, run_node.op, node.name, rec, [c_comment(c) for c in comment], args, lists, ins, outs,
                           macs))
        if rec not in records:
            records.append(rec)

    def io(names: list[str], ids: list[str]) -> list[CIO]:
        out = []
        for n, ident in zip(names, ids):
            shape = tuple(shapes[n])
            size = int(np.prod(shape)) if shape else 1
            t = tensor(n)
            src = {"arena": f"F({plan.offsets.get(n, 0)}u)", "input": f"{in_ident.get(n)}",
                   "param": f"{prefix}_params[{params[n].index if n in params else 0}].data"}[t.kind]
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
    return CModel(prefix, up, arena_mode, [c_comment(h) for h in header], sha256,
                  [(v, list(k)) for k, v in dims_of.items()], [(v, list(k)) for k, v in pdims_of.items()],
                  list(params.values()), nodes,
                  io(list(g.inputs), in_ids), io(list(g.outputs), out_ids), tensor_bytes, scratch_bytes,
                  arena, max_io, sorted(records),
                  ck.sources_for(records, KERNEL_PROFILES[kernels][0], _absent(kernels)),
                  ck.kernel_headers(),
                  KERNEL_PROFILES[kernels][0], kernels,
                  sum(p.nbytes for p in params.values()), total_macs, warnings, g)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
