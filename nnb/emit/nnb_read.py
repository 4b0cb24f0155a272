"""Read NNB images (compatible and extended) into the IR, bounds-checking every offset.

The graph then goes through nnb.validate like any other model.
"""

from __future__ import annotations

import bisect
import math
import struct

import numpy as np

from nnb.emit.nnb_args import unpack_args
from nnb.emit.nnb_layout import (
    API_LEVEL,
    EXT_HEADER,
    EXT_MAGIC,
    EXT_VERSION,
    HEADER,
    NAMES_MAGIC,
    QDESC,
    QUANT_TYPES,
    TRANSPOSED_WEIGHTS,
    TYPE_FLOAT,
    TYPE_INT8,
    TYPE_INT16,
    TYPE_SIGN,
    slots_by_id,
    step_encoding,
)
from nnb.errors import NnbError
from nnb.ir import Graph, Node, Tensor
from nnb.ops import get_op
from nnb.ops.packed import PACKED_OF, decode, packed_words
from nnb.readfile import read_bytes
from nnb.validate import validate_graph


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
        self.end = self.base + data_size
        if self.end > len(data) or (self.end != len(data) and self.ext is None):
            raise NnbError(f"{name}: size {len(data)} does not match the header ({self.end})")
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
        op, slots = slots_by_id(fid, im.ext is not None)
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
        nodes.append(Node(f"{op}_{k}", op, [vname(i) for i in im.ints(isz, ich)], [vname(i) for i in im.ints(osz, och)],
                          opdef.normalize(attrs, f"{name}: function {k} ({op})")))
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
    if im.end != len(data):
        g = _renamed(g, _read_names(im, len(names)))
    # every check of nnb.validate, and each buffer's stored shape against its function's
    validate_graph(g, declared={n: t.shape for n, t in g.tensors.items() if t.kind == "buffer"})
    return g


def _read_names(im: _Image, count: int) -> list[str]:
    """The extended file's name trailer (after the data area): one name per variable."""
    data, pos, where = im.data, im.end, f"{im.name}: name trailer"
    if len(data) - pos < 8:
        raise NnbError(f"{where}: {len(data) - pos} stray bytes after the data area")
    magic, n = struct.unpack_from("<II", data, pos)
    if magic != NAMES_MAGIC or n != count:
        raise NnbError(f"{where}: bad magic 0x{magic:08x} or {n} names for {count} variables")
    pos += 8
    names = []
    for k in range(n):
        if len(data) - pos < 4:
            raise NnbError(f"{where}: truncated at name {k}")
        (size,) = struct.unpack_from("<I", data, pos)
        if size == 0 or size > len(data) - pos - 4:
            raise NnbError(f"{where}: name {k} has length {size}")
        try:
            names.append(data[pos + 4:pos + 4 + size].decode("utf-8"))
        except UnicodeDecodeError:
            raise NnbError(f"{where}: name {k} is not UTF-8") from None
        pos += 4 + size + (-size) % 4
    if pos != len(data):
        raise NnbError(f"{where}: {len(data) - pos} bytes left after {n} names")
    if len(set(names)) != len(names):
        raise NnbError(f"{where}: name '{next(x for x in names if names.count(x) > 1)}' is used twice")
    return names


def _renamed(g: Graph, names: list[str]) -> Graph:
    """The graph with variable v<k> called names[k] (packed-weight tables keep their own names)."""
    new = {f"v{k}": n for k, n in enumerate(names)}
    clash = set(names) & {t for t in g.tensors if t not in new}
    if clash:
        raise NnbError(f"{g.name}: variable name '{sorted(clash)[0]}' clashes with a packed weight's table")

    def r(x: str) -> str:
        return new.get(x, x)

    tensors = {}
    for k, t in g.tensors.items():
        t.name = r(k)
        tensors[t.name] = t
    nodes = [Node(n.name, n.op, [r(i) for i in n.inputs], [r(o) for o in n.outputs], n.attrs) for n in g.nodes]
    return Graph(name=g.name, tensors=tensors, nodes=nodes, inputs=[r(i) for i in g.inputs],
                 outputs=[r(o) for o in g.outputs], batch_size=g.batch_size,
                 input_specs={r(k): v for k, v in g.input_specs.items()})


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
    data = read_bytes(path, "NNB file")
    from nnb.emit.nnb_int8_read import is_int8_image, read_int8_nnb

    if is_int8_image(data):  # a calibrated int8 model: its network ops with the int8 weights dequantized
        g = read_int8_nnb(data, path).graph
        g.executor = "int8"
        validate_graph(g)
        return g
    return read_nnb(data, path)
