"""NNB layout facts shared by the reader (nnb_read) and the writer (nnb_write).

Upstream: ../shared/reference/NNB_FORMAT.md; nnb's extension: docs/nnb_format.md.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from nnb.emit.function_ids import FUNCTIONS
from nnb.emit.nnb_args import ArgSlot, arg_slots
from nnb.errors import NnbError
from nnb.ir import Graph

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
# Extended files: the variables' names after the data area (docs/nnb_format.md, "Name trailer"); the C loader
# reads only header + index + data_size bytes, so it never sees them.
NAMES_MAGIC = 0x4E424E4E  # "NNBN"

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
        raise NnbError(f"{op} has no compatible NNB form; use --mode extended")
    return fid, slots


def slots_by_id(fid: int, extended: bool) -> tuple[str, list[ArgSlot] | None]:
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


def step_encoding(step: float) -> tuple[int, int, int]:
    """(step_kind, shift, multiplier): 2^shift exactly, or multiplier * 2^(shift-31) with a Q31 multiplier."""
    m, e = math.frexp(float(np.float32(step)))  # step = m 2^e, 0.5 <= m < 1
    if m == 0.5:
        return STEP_POW2, e - 1, 0
    return STEP_Q31, e, int(m * (1 << 31))  # exact: a float32 mantissa has 24 bits
