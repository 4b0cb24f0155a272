"""NNB binaries: the model format of nnabla's C runtime, and nnb's extension of it.

Layout facts: ../shared/reference/NNB_FORMAT.md (upstream) and docs/nnb_format.md
(the extension).  ``write_nnb`` in compatible mode writes what nnabla's converter
writes (same chunk order, argument packing, transposed Affine weights), so the
upstream runtime runs it; the extended mode adds a one-arena memory plan and is
refused by the upstream runtime (unknown version).  ``read_nnb`` parses both
into the IR, validating every offset.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from nnb.emit.function_ids import FUNCTIONS
from nnb.emit.nnb_args import ArgSlot, arg_slots, pack_args, unpack_args
from nnb.errors import NnbError
from nnb.ir import Graph, Node, Tensor
from nnb.ops import get_op
from nnb.plan.buffers import assign_buffers
from nnb.plan.lifetimes import lifetimes

HEADER = struct.Struct("<14I")
EXT_HEADER = struct.Struct("<8I")
EXT_VERSION = 1001  # upstream accepts 2 and 3 only, so it refuses extended files
EXT_MAGIC = 0x58424E4E  # "NNBX"
API_LEVEL = 44
TYPE_FLOAT, TYPE_INT16, TYPE_INT8, TYPE_SIGN = 0, 1, 2, 3
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
    names = list(g.tensors)
    vid = {n: i for i, n in enumerate(names)}
    weight_user = {n.inputs[1]: n.op for n in g.nodes if len(n.inputs) > 1}
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
        c_shape = ch.ints(list(t.shape))
        if t.kind == "param":
            data_index = ch.add(_param_bytes(weight_user.get(n), t))
        elif extended:
            data_index = -1
        else:
            data_index = -(plan.buffer_of[n] + 1)
        var_chunks.append(ch.add(struct.pack("<IIiBxxxi", vid[n], len(t.shape), c_shape, TYPE_FLOAT, data_index)))
    c_vars = ch.ints(var_chunks)
    fn_chunks = []
    for node in g.nodes:
        fid, slots = function_id(node.op, extended)
        c_fin = ch.ints([vid[i] for i in node.inputs])
        c_fout = ch.ints([vid[o] for o in node.outputs])
        args = pack_args(node.op, slots, _stored_attrs(g, node), ch.add)
        fn_chunks.append(ch.add(struct.pack("<HHIiIi", fid, 0, len(node.inputs), c_fin, len(node.outputs), c_fout)
                                + args))
    c_fns = ch.ints(fn_chunks)
    c_plan = -1
    if extended:
        assert plan.offsets is not None
        c_plan = ch.ints([plan.offsets.get(n, PLAN_EXTERNAL if n in g.inputs else PLAN_PARAM) for n in names])
    n_chunks = len(ch.parts)
    data_size = sum(len(p) for p in ch.parts)
    header = HEADER.pack(EXT_VERSION if extended else version, API_LEVEL,
                         0 if extended else len(plan.buffer_sizes), c_buf, len(names), c_vars,
                         len(g.nodes), c_fns, len(g.inputs), c_in, len(g.outputs), c_out, n_chunks, data_size)
    if extended:
        header += EXT_HEADER.pack(EXT_MAGIC, plan.arena_bytes, len(names), c_plan, 1, 0, 0, 0)
    return ch.image(header)


def _stored_attrs(g: Graph, node: Node) -> dict:
    """Attributes as NNB stores them: defaults that depend on the input resolved."""
    a = dict(node.attrs)
    if "axis" in a and a["axis"] is None and node.inputs:
        a["axis"] = len(g.tensors[node.inputs[0]].shape) - 1
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

    def chunk(self, i: int, nbytes: int) -> int:
        if not 0 <= i < len(self.index):
            raise NnbError(f"{self.name}: chunk index {i} out of range")
        start = self.base + self.index[i]
        if nbytes < 0 or start + nbytes > len(self.data):
            raise NnbError(f"{self.name}: chunk {i} is too short ({nbytes} bytes needed)")
        return start

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

    def record_end(self, i: int) -> int:
        """End of chunk ``i``: the next chunk's start (chunks are written back to back)."""
        start = self.index[i]
        later = [o for o in self.index if o > start]
        return self.base + (min(later) if later else len(self.data) - self.base)


def read_nnb(data: bytes, name: str = "model.nnb") -> Graph:
    """Parse an NNB image into a Graph (tensors named v<id>); NnbError on anything malformed."""
    im = _Image(data, name)
    var_records = im.ints(*im.variables)
    tensors: dict[str, Tensor] = {}
    raw_data: dict[str, tuple[int, int, int]] = {}
    for k, c in enumerate(var_records):
        vid, ssize, schunk, tbyte, didx = struct.unpack_from("<IIiBxxxi", data, im.chunk(c, 20))
        if vid != k:
            raise NnbError(f"{name}: variable {k} has id {vid}")
        shape = im.ints(ssize, schunk)
        if any(d < 0 for d in shape):
            raise NnbError(f"{name}: variable {k} has a negative dimension")
        t = Tensor(f"v{k}", tuple(shape))
        if didx >= 0:
            t.kind = "param"
            raw_data[t.name] = (didx, tbyte & 0xF, tbyte >> 4)
        tensors[t.name] = t
    names = list(tensors)

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
        else:
            raise NnbError(f"{name}: variable {n} has data type {typ}, which nnb cannot read")
        if weight_user.get(n) in TRANSPOSED_WEIGHTS and t.shape:
            arr = arr.reshape(int(np.prod(t.shape[1:])), t.shape[0]).T
        t.data = np.array(arr.reshape(t.shape), dtype=np.float32, order="C")
    g = Graph(name="nnb", tensors=tensors, nodes=nodes, inputs=inputs, outputs=outputs,
              batch_size=tensors[inputs[0]].shape[0] if inputs and tensors[inputs[0]].shape else 1)
    g.validate()
    return g


def load_nnb(path: str) -> Graph:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise NnbError(f"{path}: cannot read ({e.strerror})") from None
    return read_nnb(data, path)
