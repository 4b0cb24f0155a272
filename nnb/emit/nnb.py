"""NNB binaries: the model format of nnabla's C runtime, and nnb's extension of it.

Layout facts: ../shared/reference/NNB_FORMAT.md (upstream) and docs/nnb_format.md
(the extension).  ``write_nnb`` in compatible mode writes what nnabla's converter
writes (same chunk order, argument packing, transposed Affine weights), so the
upstream runtime runs it; the extended mode adds a one-arena memory plan and is
refused by the upstream runtime (unknown version).  ``read_nnb`` parses both
into the IR, validating every offset.
"""

from __future__ import annotations

import bisect
import math
import struct
from dataclasses import dataclass

import numpy as np

from nnb.emit.function_ids import FUNCTIONS
from nnb.emit.nnb_args import ArgSlot, arg_slots, pack_args, unpack_args
from nnb.errors import NnbError
from nnb.ir import Graph, Node, Tensor
from nnb.ops import get_op
from nnb.ops.packed import BASE_OF, PACKED_OF, base_attrs, check_quant, decode, packed_words
from nnb.plan.buffers import assign_buffers
from nnb.plan.lifetimes import lifetimes

HEADER = struct.Struct("<14I")
EXT_HEADER = struct.Struct("<8I")
EXT_VERSION = 1001  # upstream accepts 2 and 3 only, so it refuses extended files
EXT_MAGIC = 0x58424E4E  # "NNBX"
API_LEVEL = 44
TYPE_FLOAT, TYPE_INT16, TYPE_INT8, TYPE_SIGN = 0, 1, 2, 3
# Quantized variable types (extended format, docs/nnb_format.md "Quantized variable types"):
# bit-packed codes in the data chunk, their meaning in a per-variable descriptor.
TYPE_LUT, TYPE_UNIFORM = 4, 5
QUANT_TYPES = {TYPE_LUT: "lut", TYPE_UNIFORM: "uniform"}
QUANT_TYPE_OF = {v: k for k, v in QUANT_TYPES.items()}
# kind, bits, table_count, table_chunk, step (f32), step_kind, shift, multiplier
QDESC = struct.Struct("<iiiifiii")
STEP_POW2, STEP_Q31 = 1, 2
TRANSPOSED_WEIGHTS = {"Affine", "BinaryConnectAffine", "BinaryWeightAffine"}
PLAN_PARAM, PLAN_EXTERNAL = -1, -2

_BY_NAME = {name: (fid, code, level, impl) for fid, name, code, level, impl in FUNCTIONS}
_BY_ID = {fid: (name, code) for fid, name, code, _, _ in FUNCTIONS}

# Extended-mode function ids (docs/nnb_format.md): nnb's fused ops.
EXT_FUNCTIONS: dict[str, tuple[int, list[ArgSlot]]] = {
    "FusedConv": (1000, [
        ArgSlot("base_axis", "i"), ArgSlot("pad", "iI"), ArgSlot("stride", "iI"), ArgSlot("dilation", "iI"),
        ArgSlot("group", "i"), ArgSlot("channel_last", "B"),
        ArgSlot("pool", "i", ("", "max", "average")), ArgSlot("pool_kernel", "iI"), ArgSlot("pool_stride", "iI"),
        ArgSlot("pool_pad", "iI"), ArgSlot("pool_ignore_border", "B"), ArgSlot("pool_including_pad", "B"),
        ArgSlot("activation", "i", ("", "relu", "relu6")), ArgSlot("residual", "B"), ArgSlot("has_bias", "B"),
    ]),
}
_EXT_BY_ID = {fid: (name, slots) for name, (fid, slots) in EXT_FUNCTIONS.items()}


def _schema_slots(op: str) -> list[ArgSlot] | None:
    """Slots straight from the NNP schema, for extended files where the upstream code disagrees."""
    from nnb.nnp.proto import PARAM_FIELDS_BY_MESSAGE

    kinds = {"int64": "i", "float": "f", "double": "f", "bool": "B", "string": "i"}
    out = []
    for _, name, typ, repeated in PARAM_FIELDS_BY_MESSAGE.get(f"{op}Parameter", []):
        if typ == "Shape" or (repeated and typ == "int64"):
            out.append(ArgSlot(name, "iI"))
        elif repeated and typ in ("float", "double"):
            out.append(ArgSlot(name, "iF"))
        elif typ in kinds and not repeated:
            out.append(ArgSlot(name, kinds[typ]))
        else:
            return None
    return out


def function_id(op: str, extended: bool = False) -> tuple[int, list[ArgSlot]]:
    """NNB id and argument slots of a function; NnbError if this kind of NNB cannot hold it."""
    if op in EXT_FUNCTIONS:
        if not extended:
            raise NnbError(f"function '{op}' needs the extended NNB format")
        return EXT_FUNCTIONS[op]
    if op not in _BY_NAME:
        raise NnbError(f"function '{op}' has no NNB function id")
    fid, code, level, _ = _BY_NAME[op]
    if level is None or level > API_LEVEL:
        raise NnbError(f"function '{op}' is not in NNB API level {API_LEVEL}")
    slots = arg_slots(op, code)
    if slots is None and extended:
        slots = _schema_slots(op)
    if slots is None:
        raise NnbError(f"function '{op}': NNB argument code '{code}' does not match its NNP arguments")
    return fid, slots


def _slots_by_id(fid: int, extended: bool) -> tuple[str, list[ArgSlot] | None]:
    if extended and fid in _EXT_BY_ID:
        return _EXT_BY_ID[fid]
    if fid not in _BY_ID:
        return "", None
    op, code = _BY_ID[fid]
    slots = arg_slots(op, code)
    if slots is None and extended:
        slots = _schema_slots(op)
    return op, slots


def compatible(g: Graph) -> bool:
    """Can the upstream runtime run ``g`` as it is (every function implemented, arguments storable)?"""
    for n in g.nodes:
        if not upstream_runs(n.op):
            return False
        try:
            function_id(n.op)
        except NnbError:
            return False
    return True


def upstream_runs(op: str) -> bool:
    """Does the upstream nnabla C runtime implement this function?"""
    return op in _BY_NAME and _BY_NAME[op][3]


class _Chunks:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def add(self, data: bytes) -> int:
        pad = (-len(data)) % 4
        self.parts.append(bytes(data) + b"\0" * pad)
        return len(self.parts) - 1

    def ints(self, values: list[int]) -> int:
        return self.add(struct.pack("<%di" % len(values), *values))

    def image(self, header: bytes) -> bytes:
        offsets, pos = [], 0
        for p in self.parts:
            offsets.append(pos)
            pos += len(p)
        return header + struct.pack("<%di" % len(offsets), *offsets) + b"".join(self.parts)


@dataclass
class NnbPlan:
    """Where buffers live: upstream buffer list, or arena offsets (extended)."""

    buffer_sizes: list[int]
    buffer_of: dict[str, int]
    arena_bytes: int = 0
    offsets: dict[str, int] | None = None


def compat_plan(g: Graph) -> NnbPlan:
    sizes, where = assign_buffers(lifetimes(g))
    return NnbPlan(sizes, where)


def _param_bytes(node_op: str | None, t: Tensor) -> bytes:
    data = np.ascontiguousarray(t.data, dtype="<f4")
    if node_op in TRANSPOSED_WEIGHTS:  # stored output-major; the recorded shape stays [in, out...]
        data = np.ascontiguousarray(data.reshape(data.shape[0], -1).T)
    return data.tobytes()


def write_nnb(g: Graph, extended: bool = False, version: int = 2, plan: NnbPlan | None = None) -> bytes:
    """Serialise ``g``; float32 parameters.  ``version`` 2 or 3 in compatible mode."""
    if not extended and version not in (2, 3):
        raise NnbError(f"NNB version must be 2 or 3, not {version}")
    plan = plan or compat_plan(g)
    packed = {n.inputs[1]: n for n in g.nodes if n.op in BASE_OF}
    if packed and not extended:
        raise NnbError("quantized (packed) weights need the extended NNB format")
    tables = {n.inputs[2] for n in packed.values()}
    names = [n for n in g.tensors if n not in tables]
    vid = {n: i for i, n in enumerate(names)}
    weight_user = {n.inputs[1]: n.op for n in g.nodes if len(n.inputs) > 1}
    qdesc = [-1] * len(names)
    ch = _Chunks()
    c_in = ch.ints([vid[n] for n in g.inputs])
    c_out = ch.ints([vid[n] for n in g.outputs])
    if extended:
        c_buf = ch.ints([])
    else:
        c_buf = ch.ints([s // 4 if version == 2 else s for s in plan.buffer_sizes])
    var_chunks = []
    for n in names:
        t = g.tensors[n]
        typ = TYPE_FLOAT
        if n in packed:
            node = packed[n]
            shape = tuple(node.attrs["w_shape"])
            typ = QUANT_TYPE_OF[node.attrs["q_kind"]]
            c_shape = ch.ints(list(shape))
            data_index = ch.add(np.ascontiguousarray(t.data, dtype="<u4").tobytes())
            qdesc[vid[n]] = ch.add(_quant_descriptor(node, g.tensors[node.inputs[2]].data, ch))
        elif t.kind == "param":
            c_shape = ch.ints(list(t.shape))
            data_index = ch.add(_param_bytes(weight_user.get(n), t))
        elif extended:
            c_shape = ch.ints(list(t.shape))
            data_index = -1
        else:
            c_shape = ch.ints(list(t.shape))
            data_index = -(plan.buffer_of[n] + 1)
        ndim = len(packed[n].attrs["w_shape"]) if n in packed else len(t.shape)
        var_chunks.append(ch.add(struct.pack("<IIiBxxxi", vid[n], ndim, c_shape, typ, data_index)))
    c_vars = ch.ints(var_chunks)
    fn_chunks = []
    for node in g.nodes:
        attrs = _stored_attrs(g, node)
        if node.op in BASE_OF:  # the base function; its weight variable carries the quantization
            attrs = base_attrs(node.op, attrs)
            node = Node(node.name, BASE_OF[node.op], node.inputs[:2] + node.inputs[3:], node.outputs, attrs)
        fid, slots = function_id(node.op, extended)
        c_fin = ch.ints([vid[i] for i in node.inputs])
        c_fout = ch.ints([vid[o] for o in node.outputs])
        args = pack_args(node.op, slots, attrs, ch.add)
        fn_chunks.append(ch.add(struct.pack("<HHIiIi", fid, 0, len(node.inputs), c_fin, len(node.outputs), c_fout)
                                + args))
    c_fns = ch.ints(fn_chunks)
    c_plan = -1
    if extended:
        assert plan.offsets is not None
        c_plan = ch.ints([plan.offsets.get(n, PLAN_EXTERNAL if n in g.inputs else PLAN_PARAM) for n in names])
    q_size, q_chunk = (len(names), ch.ints(qdesc)) if packed else (0, 0)
    n_chunks = len(ch.parts)
    data_size = sum(len(p) for p in ch.parts)
    header = HEADER.pack(EXT_VERSION if extended else version, API_LEVEL,
                         0 if extended else len(plan.buffer_sizes), c_buf, len(names), c_vars,
                         len(g.nodes), c_fns, len(g.inputs), c_in, len(g.outputs), c_out, n_chunks, data_size)
    if extended:
        header += EXT_HEADER.pack(EXT_MAGIC, plan.arena_bytes, len(names), c_plan, 1, q_size, q_chunk, 0)
    return ch.image(header)


def step_encoding(step: float) -> tuple[int, int, int]:
    """(step_kind, shift, multiplier): 2^shift exactly, or multiplier * 2^(shift-31) with a Q31 multiplier."""
    m, e = math.frexp(float(np.float32(step)))  # step = m 2^e, 0.5 <= m < 1
    if m == 0.5:
        return STEP_POW2, e - 1, 0
    return STEP_Q31, e, int(m * (1 << 31))  # exact: a float32 mantissa has 24 bits


def _quant_descriptor(node: Node, table: np.ndarray, ch: _Chunks) -> bytes:
    kind, bits = node.attrs["q_kind"], node.attrs["q_bits"]
    table = np.asarray(table, "<f4").reshape(-1)
    check_quant(kind, bits, table.size, f"{node.name}: ")
    if kind == "lut":
        return QDESC.pack(TYPE_LUT, bits, table.size, ch.add(table.tobytes()), 0.0, 0, 0, 0)
    step = float(table[0])
    if not (math.isfinite(step) and step > 0):
        raise NnbError(f"{node.name}: quantization step {step} is not a positive number")
    return QDESC.pack(TYPE_UNIFORM, bits, 0, -1, step, *step_encoding(step))


_POOL_OPS = ("MaxPooling", "AveragePooling", "SumPooling")


def _stored_attrs(g: Graph, node: Node) -> dict:
    """Attributes as NNB stores them: defaults that depend on the input resolved, geometry lists explicit
    (the converter always writes them, and runtimes need not guess)."""
    a = dict(node.attrs)
    if "axis" in a and a["axis"] is None and node.inputs:
        a["axis"] = len(g.tensors[node.inputs[0]].shape) - 1
    if "dilation" in a and len(node.inputs) > 1:  # the convolution family: spatial dims from the weight
        w = tuple(a["w_shape"]) if a.get("w_shape") else g.tensors[node.inputs[1]].shape  # packed: logical shape
        nsp = len(w) - (1 if node.op.startswith("DepthwiseConvolution") else 2)
        for key, fill in (("pad", 0), ("stride", 1), ("dilation", 1)):
            if a.get(key) is None:
                a[key] = (fill,) * nsp
        if a.get("pool") and a.get("pool_kernel"):
            a["pool_stride"] = a.get("pool_stride") or tuple(a["pool_kernel"])
            a["pool_pad"] = a.get("pool_pad") or (0,) * len(a["pool_kernel"])
    if node.op in _POOL_OPS and a.get("kernel"):
        a["stride"] = a.get("stride") or tuple(a["kernel"])
        a["pad"] = a.get("pad") or (0,) * len(a["kernel"])
    return a


# ---- reading -------------------------------------------------------------------------

class _Image:
    """Bounds-checked access to an NNB image."""

    def __init__(self, data: bytes, name: str) -> None:
        self.data, self.name = data, name
        if len(data) < HEADER.size:
            raise NnbError(f"{name}: not an NNB file (only {len(data)} bytes)")
        h = HEADER.unpack_from(data, 0)
        self.version, self.api_level = h[0], h[1]
        self.buffers, self.variables, self.functions = (h[2], h[3]), (h[4], h[5]), (h[6], h[7])
        self.inputs, self.outputs = (h[8], h[9]), (h[10], h[11])
        n_chunks, data_size = h[12], h[13]
        if self.version not in (2, 3, EXT_VERSION):
            raise NnbError(f"{name}: unsupported NNB version {self.version} (2, 3 or {EXT_VERSION})")
        if self.api_level > API_LEVEL:
            raise NnbError(f"{name}: NNB API level {self.api_level} is newer than {API_LEVEL}")
        self.header_size = HEADER.size + (EXT_HEADER.size if self.version == EXT_VERSION else 0)
        self.ext = None
        if self.version == EXT_VERSION:
            if len(data) < self.header_size:
                raise NnbError(f"{name}: truncated extended header")
            self.ext = EXT_HEADER.unpack_from(data, HEADER.size)
            if self.ext[0] != EXT_MAGIC:
                raise NnbError(f"{name}: bad extended-header magic")
        if n_chunks > (len(data) - self.header_size) // 4:
            raise NnbError(f"{name}: {n_chunks} chunks cannot fit in {len(data)} bytes")
        self.base = self.header_size + 4 * n_chunks
        if self.base + data_size != len(data):
            raise NnbError(f"{name}: size {len(data)} does not match the header ({self.base + data_size})")
        self.index = struct.unpack_from("<%di" % n_chunks, data, self.header_size)
        for off in self.index:
            if off < 0 or off % 4 or off > data_size:
                raise NnbError(f"{name}: chunk offset {off} out of range")
        self._starts = sorted(set(self.index)) + [data_size]  # a chunk ends where the next one starts

    def chunk(self, i: int, nbytes: int) -> int:
        if not 0 <= i < len(self.index):
            raise NnbError(f"{self.name}: chunk index {i} out of range")
        off = self.index[i]
        end = self._end(off)
        if nbytes < 0 or off + nbytes > end:
            raise NnbError(f"{self.name}: chunk {i} is too short ({nbytes} bytes needed, {end - off} there)")
        return self.base + off

    def ints(self, count: int, chunk: int) -> tuple[int, ...]:
        if count == 0:
            return ()
        if count < 0 or count > len(self.data) // 4:
            raise NnbError(f"{self.name}: bad list length {count}")
        return struct.unpack_from("<%di" % count, self.data, self.chunk(chunk, 4 * count))

    def floats(self, count: int, chunk: int) -> tuple[float, ...]:
        if count < 0 or count > len(self.data) // 4:
            raise NnbError(f"{self.name}: bad list length {count}")
        return struct.unpack_from("<%df" % count, self.data, self.chunk(chunk, 4 * count))

    def _end(self, off: int) -> int:
        """Data-area offset where the chunk at ``off`` ends: the next chunk's start."""
        return self._starts[bisect.bisect_right(self._starts, off)] if off < self._starts[-1] else off

    def record_end(self, i: int) -> int:
        """End of chunk ``i`` (chunks are written back to back)."""
        return self.base + self._end(self.index[i])


def read_nnb(data: bytes, name: str = "model.nnb") -> Graph:
    """Parse an NNB image into a Graph (tensors named v<id>); NnbError on anything malformed."""
    im = _Image(data, name)
    var_records = im.ints(*im.variables)
    tensors: dict[str, Tensor] = {}
    raw_data: dict[str, tuple[int, int, int]] = {}
    quant: dict[str, tuple[int, int]] = {}  # packed variable -> (data chunk, type)
    for k, c in enumerate(var_records):
        vid, ssize, schunk, tbyte, didx = struct.unpack_from("<IIiBxxxi", data, im.chunk(c, 20))
        if vid != k:
            raise NnbError(f"{name}: variable {k} has id {vid}")
        shape = im.ints(ssize, schunk)
        if any(d < 0 for d in shape):
            raise NnbError(f"{name}: variable {k} has a negative dimension")
        t = Tensor(f"v{k}", tuple(shape))
        if (tbyte & 0xF) in QUANT_TYPES:
            if im.ext is None or tbyte >> 4 or didx < 0:
                raise NnbError(f"{name}: variable {k} has quantized type {tbyte & 0xF} outside an extended file's "
                               "parameters")
            t.kind = "param"
            quant[t.name] = (didx, tbyte & 0xF)
        elif didx >= 0:
            t.kind = "param"
            raw_data[t.name] = (didx, tbyte & 0xF, tbyte >> 4)
        tensors[t.name] = t
    names = list(tensors)
    descriptors = _read_descriptors(im, len(names), quant)

    def vname(i: int) -> str:
        if not 0 <= i < len(names):
            raise NnbError(f"{name}: variable id {i} out of range")
        return names[i]

    inputs = [vname(i) for i in im.ints(*im.inputs)]
    outputs = [vname(i) for i in im.ints(*im.outputs)]
    for n in inputs:
        tensors[n].kind = "input"
    nodes = []
    for k, c in enumerate(im.ints(*im.functions)):
        start = im.chunk(c, 20)
        fid, _impl, isz, ich, osz, och = struct.unpack_from("<HHIiIi", data, start)
        op, slots = _slots_by_id(fid, im.ext is not None)
        if not op:
            raise NnbError(f"{name}: function {k} has unknown id {fid}")
        if slots is None:
            raise NnbError(f"{name}: function {k} ({op}) cannot be read (its argument code is not known)")
        body = data[start + 20:im.record_end(c)]

        def read_list(kind: str, count: int, chunk: int) -> tuple:
            return im.ints(count, chunk) if kind == "iI" else im.floats(count, chunk)

        attrs = unpack_args(op, slots, body, read_list)
        try:
            opdef = get_op(op)
        except NnbError:
            raise NnbError(f"{name}: function {k} is {op}, which nnb does not support") from None
        nodes.append(Node(f"{op}_{k}", op, [vname(i) for i in im.ints(isz, ich)],
                          [vname(i) for i in im.ints(osz, och)], opdef.normalize(attrs)))
    if quant:
        nodes = _packed_nodes(im, tensors, nodes, quant, descriptors, inputs, outputs)
    weight_user = {n.inputs[1]: n.op for n in nodes if len(n.inputs) > 1}
    for n, (didx, typ, fp) in raw_data.items():
        t = tensors[n]
        count = t.size
        if typ == TYPE_FLOAT:
            arr = np.frombuffer(data, "<f4", count, im.chunk(didx, 4 * count)).astype(np.float32)
        elif typ in (TYPE_INT16, TYPE_INT8):
            dt = "<i2" if typ == TYPE_INT16 else "i1"
            raw = np.frombuffer(data, dt, count, im.chunk(didx, np.dtype(dt).itemsize * count))
            arr = (raw.astype(np.float32) / np.float32(2 ** fp))
        elif typ == TYPE_SIGN:  # one bit per value, LSB first in little-endian 32-bit words; 1 is +1
            nbytes = (count + 31) // 32 * 4
            bits = np.unpackbits(np.frombuffer(data, np.uint8, nbytes, im.chunk(didx, nbytes)), bitorder="little")
            arr = np.where(bits[:count] == 1, np.float32(1), np.float32(-1))
        else:
            raise NnbError(f"{name}: variable {n} has data type {typ}, which nnb cannot read")
        if weight_user.get(n) in TRANSPOSED_WEIGHTS and t.shape:
            arr = arr.reshape(int(np.prod(t.shape[1:])), t.shape[0]).T
        t.data = np.array(arr.reshape(t.shape), dtype=np.float32, order="C")
    g = Graph(name="nnb", tensors=tensors, nodes=nodes, inputs=inputs, outputs=outputs,
              batch_size=tensors[inputs[0]].shape[0] if inputs and tensors[inputs[0]].shape else 1)
    # NNB shapes carry the batch the file was written for; the reference may run any leading batch
    g.input_specs = {n: (-1,) + tuple(tensors[n].shape[1:]) if tensors[n].shape else () for n in inputs}
    g.validate()
    if quant:
        g.infer_shapes()  # a packed weight's shape against its function
    return g


def _read_descriptors(im: _Image, n_vars: int, quant: dict[str, tuple[int, int]]) -> dict[str, tuple]:
    """Quant descriptors by variable name; every packed variable has one, no other variable does."""
    name = im.name
    size, chunk, spare = (im.ext[5], im.ext[6], im.ext[7]) if im.ext is not None else (0, 0, 0)
    if spare:
        raise NnbError(f"{name}: reserved extended-header word is {spare}, not 0")
    if size == 0:
        if chunk:
            raise NnbError(f"{name}: quant descriptor list of size 0 names chunk {chunk}")
        if quant:
            raise NnbError(f"{name}: quantized variables but no quant descriptor list")
        return {}
    if size != n_vars:
        raise NnbError(f"{name}: quant descriptor list has {size} entries for {n_vars} variables")
    out = {}
    for k, c in enumerate(im.ints(size, chunk)):
        v = f"v{k}"
        if (c != -1) != (v in quant):
            raise NnbError(f"{name}: variable {k} " + ("has a quant descriptor but is not quantized" if c != -1
                                                        else "is quantized but has no quant descriptor"))
        if c == -1:
            continue
        kind, bits, count, tchunk, step, step_kind, shift, mult = QDESC.unpack_from(im.data, im.chunk(c, QDESC.size))
        where = f"{name}: variable {k}: "
        if kind != quant[v][1]:
            raise NnbError(f"{where}descriptor kind {kind} does not match variable type {quant[v][1]}")
        qk = QUANT_TYPES[kind]
        if qk == "lut":
            if not 1 <= bits <= 8 or not 1 <= count <= (1 << bits):
                raise NnbError(f"{where}LUT of {count} entries for {bits}-bit codes")
            if step != 0 or step_kind or shift or mult:
                raise NnbError(f"{where}LUT descriptor has step fields set")
            table = np.array(im.floats(count, tchunk), np.float32)
            if not np.all(np.isfinite(table)):
                raise NnbError(f"{where}LUT holds a non-finite value")
        else:
            if not 2 <= bits <= 8 or count or tchunk != -1:
                raise NnbError(f"{where}uniform codes of {bits} bits (2..8), table count {count}, chunk {tchunk}")
            if not (math.isfinite(step) and step > 0):
                raise NnbError(f"{where}quantization step {step} is not a positive number")
            if (step_kind, shift, mult) != step_encoding(step):
                raise NnbError(f"{where}step kind/shift/multiplier ({step_kind}, {shift}, {mult}) do not encode "
                               f"the step {step}")
            table = np.array([step], np.float32)
        out[v] = (qk, bits, table)
    return out


def _packed_nodes(im: _Image, tensors: dict[str, Tensor], nodes: list[Node], quant: dict[str, tuple[int, int]],
                  descriptors: dict[str, tuple], inputs: list[str], outputs: list[str]) -> list[Node]:
    """Functions whose weight is a packed variable become packed ops; the codes stay packed."""
    name = im.name
    for v in quant:
        if v in inputs or v in outputs:
            raise NnbError(f"{name}: quantized variable {v} is a network input or output")
    words: dict[str, np.ndarray] = {}
    for v, (didx, _) in quant.items():
        t = tensors[v]
        kind, bits, table = descriptors[v]
        nw = packed_words(t.size, bits)
        w = np.frombuffer(im.data, "<u4", nw, im.chunk(didx, 4 * nw)).astype(np.uint32)
        if kind == "lut" and len(table) < (1 << bits):
            for s in range(0, t.size, 1 << 16):
                c = decode(w, bits, s, min(1 << 16, t.size - s), False)
                if c.size and int(c.max()) >= len(table):
                    raise NnbError(f"{name}: variable {v} has code {int(c.max())} outside its {len(table)}-entry "
                                   "table")
        words[v] = w
    out = []
    for node in nodes:
        for pos, i in enumerate(node.inputs):
            if i in quant and (pos != 1 or node.op not in PACKED_OF):
                raise NnbError(f"{name}: quantized variable {i} is input {pos} of {node.op}; only the weight of "
                               f"{', '.join(PACKED_OF)} may be quantized")
        for o in node.outputs:
            if o in quant:
                raise NnbError(f"{name}: function {node.name} writes quantized variable {o}")
        if len(node.inputs) < 2 or node.inputs[1] not in quant:
            out.append(node)
            continue
        v = node.inputs[1]
        kind, bits, table = descriptors[v]
        tname = f"{v}_table"
        tensors[tname] = Tensor(tname, table.shape, kind="param", data=table, need_grad=False)
        attrs = dict(node.attrs, q_kind=kind, q_bits=bits, w_shape=tensors[v].shape)
        op = PACKED_OF[node.op]
        out.append(Node(node.name, op, [node.inputs[0], v, tname] + node.inputs[2:], node.outputs,
                        get_op(op).normalize(attrs)))
    for v, w in words.items():
        t = tensors[v]
        t.shape, t.dtype, t.data, t.need_grad = w.shape, "uint32", w, False
    return out


def load_nnb(path: str) -> Graph:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise NnbError(f"{path}: cannot read ({e.strerror})") from None
    return read_nnb(data, path)
