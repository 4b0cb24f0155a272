"""Write NNB images: nnabla's compatible layout (version 2/3) or nnb's extended one.

``write_nnb`` in compatible mode writes what nnabla's converter writes (same
chunk order, argument packing, transposed Affine weights), so the upstream
runtime runs it; the extended mode adds a one-arena memory plan (and the
variable-name trailer) and is refused by the upstream runtime (unknown version).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from nnb.emit.nnb_args import ArgSlot, pack_args
from nnb.emit.nnb_layout import (
    API_LEVEL,
    EXT_HEADER,
    EXT_MAGIC,
    EXT_VERSION,
    HEADER,
    NAMES_MAGIC,
    PLAN_EXTERNAL,
    PLAN_PARAM,
    QDESC,
    QUANT_TYPE_OF,
    TRANSPOSED_WEIGHTS,
    TYPE_FLOAT,
    TYPE_INT8,
    TYPE_INT16,
    TYPE_LUT,
    TYPE_UNIFORM,
    function_id,
    step_encoding,
)
from nnb.errors import NnbError
from nnb.ir import Graph, Node, Tensor
from nnb.ops.packed import BASE_OF, base_attrs, check_quant
from nnb.plan.buffers import assign_buffers
from nnb.plan.lifetimes import lifetimes


class Chunks:
    """The data chunks of an image (each padded to 4 bytes), shared by the float and the int8 writer."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def add(self, data: bytes) -> int:
        pad = (-len(data)) % 4
        self.parts.append(bytes(data) + b"\0" * pad)
        return len(self.parts) - 1

    def ints(self, values: list[int]) -> int:
        return self.add(struct.pack("<%di" % len(values), *values))

    def function(self, fid: int, inputs: list[int], outputs: list[int], op: str, slots: list[ArgSlot],
                 attrs: dict) -> int:
        """A function record: id, input and output variable ids, then the arguments (``slots``: the id's argument
        code); the id lists, then any list arguments, get their own chunks in that order (nnabla's converter's)."""
        c_in, c_out = self.ints(inputs), self.ints(outputs)
        args = pack_args(op, slots, attrs, self.add)
        return self.add(struct.pack("<HHIiIi", fid, 0, len(inputs), c_in, len(outputs), c_out) + args)

    def plan(self, offsets: dict[str, int], names: list[str], inputs: list[str]) -> int:
        """The extended memory plan: each variable's arena offset, PLAN_EXTERNAL for a network input the
        caller passes, PLAN_PARAM for one that lives in the file (parameters)."""
        return self.ints([offsets.get(n, PLAN_EXTERNAL if n in inputs else PLAN_PARAM) for n in names])

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


def _param_bytes(node_op: str | None, t: Tensor, fixed: tuple[int, int] | None = None) -> bytes:
    data = np.ascontiguousarray(t.data, dtype="<f4")
    if node_op in TRANSPOSED_WEIGHTS:  # stored output-major; the recorded shape stays [in, out...]
        data = np.ascontiguousarray(data.reshape(data.shape[0], -1).T)
    if fixed is not None:  # FIXED16/FIXED8: round(w * 2^fp_pos) clipped to the integer range
        bits, fp = fixed
        top = (1 << (bits - 1)) - 1
        q = np.clip(np.round(data.astype(np.float64) * 2.0 ** fp), -top - 1, top)
        return np.ascontiguousarray(q, dtype="<i2" if bits == 16 else "i1").tobytes()
    return data.tobytes()


def write_nnb(g: Graph, extended: bool = False, version: int = 2, plan: NnbPlan | None = None,
              fixed: dict[str, tuple[int, int]] | None = None) -> bytes:
    """Serialise ``g``; float32 parameters.  ``version`` 2 or 3 in compatible mode.

    ``fixed``: variable name -> (8 or 16, fp_pos) written as FIXED8/FIXED16 (nnb/quantize/fixed.py)."""
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
    ch = Chunks()
    c_in = ch.ints([vid[n] for n in g.inputs])
    c_out = ch.ints([vid[n] for n in g.outputs])
    if extended:
        c_buf = ch.ints([])
    else:
        c_buf = ch.ints([s // 4 if version == 2 else s for s in plan.buffer_sizes])
    var_chunks = []
    for n in names:
        t = g.tensors[n]
        fx = (fixed or {}).get(n)
        typ = TYPE_FLOAT if fx is None else (TYPE_INT16 if fx[0] == 16 else TYPE_INT8) | (fx[1] << 4)
        if n in packed:
            node = packed[n]
            shape = tuple(node.attrs["w_shape"])
            typ = QUANT_TYPE_OF[node.attrs["q_kind"]]
            c_shape = ch.ints(list(shape))
            data_index = ch.add(np.ascontiguousarray(t.data, dtype="<u4").tobytes())
            qdesc[vid[n]] = ch.add(_quant_descriptor(node, g.tensors[node.inputs[2]].data, ch))
        elif t.kind == "param":
            c_shape = ch.ints(list(t.shape))
            data_index = ch.add(_param_bytes(weight_user.get(n), t, fx))
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
        fn_chunks.append(ch.function(fid, [vid[i] for i in node.inputs], [vid[o] for o in node.outputs], node.op,
                                     slots, attrs))
    c_fns = ch.ints(fn_chunks)
    c_plan = -1
    if extended:
        assert plan.offsets is not None
        c_plan = ch.plan(plan.offsets, names, g.inputs)
    q_size, q_chunk = (len(names), ch.ints(qdesc)) if packed else (0, 0)
    n_chunks = len(ch.parts)
    data_size = sum(len(p) for p in ch.parts)
    ram = plan.arena_bytes if extended else sum(plan.buffer_sizes)
    if data_size > 0x7FFFFFFF or ram > 0x7FFFFFFF:
        raise NnbError(f"the NNB file would hold {data_size:,} data bytes and need {ram:,} bytes of buffers: over "
                       "the runtime's 32-bit limit of 2,147,483,647")
    counts = (0 if extended else len(plan.buffer_sizes), c_buf, len(names), c_vars, len(g.nodes), c_fns,
              len(g.inputs), c_in, len(g.outputs), c_out, n_chunks, data_size)
    header = pack_header(version, counts, (plan.arena_bytes, c_plan, q_size, q_chunk) if extended else None)
    image = ch.image(header)
    return image + names_trailer(names) if extended else image


def pack_header(version: int, counts: tuple[int, ...], ext: tuple[int, int, int, int] | None = None) -> bytes:
    """The NNB header: ``version``, API_LEVEL, then ``counts`` (buffers, buffer chunk, variables, variable
    chunk, functions, function chunk, inputs, input chunk, outputs, output chunk, data chunks, data bytes).
    With ``ext`` = (arena bytes, plan chunk, descriptor count, descriptor chunk) the version is EXT_VERSION and
    the extension header follows (its variable count is the header's).  The int8 writer (nnb_int8) uses it too."""
    header = HEADER.pack(EXT_VERSION if ext else version, API_LEVEL, *counts)
    if ext is None:
        return header
    arena_bytes, c_plan, q_size, q_chunk = ext
    return header + EXT_HEADER.pack(EXT_MAGIC, arena_bytes, counts[2], c_plan, 1, q_size, q_chunk, 0)


def names_trailer(names: list[str]) -> bytes:
    """u32 magic, u32 count, then per variable u32 byte length + UTF-8 bytes padded to 4."""
    out = [struct.pack("<II", NAMES_MAGIC, len(names))]
    for n in names:
        b = n.encode("utf-8")
        out.append(struct.pack("<I", len(b)) + b + b"\0" * ((-len(b)) % 4))
    return b"".join(out)


def _quant_descriptor(node: Node, table: np.ndarray, ch: Chunks) -> bytes:
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
