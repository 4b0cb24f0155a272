"""Function arguments in NNB function records.

The argument code of a function id (``nnabla_function_ids.tsv``) lists its
arguments in ``functions.yaml`` order: ``i`` int32 (int64 or a string choice),
``f`` float32, ``B`` bool byte, ``iI`` int list {count, chunk}, ``iF`` float
list {count, chunk}.  Records use natural C alignment.  Argument names come
from the NNP parameter message of the same function (same order).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from nnb.errors import NnbError
from nnb.nnp.proto import PARAM_FIELDS_BY_MESSAGE

# string arguments are stored as the index of the value in nnabla's choices
STRING_CHOICES: dict[tuple[str, str], list[str]] = {
    ("Pad", "mode"): ["constant", "reflect", "repeat"],
}


@dataclass(frozen=True)
class ArgSlot:
    name: str
    kind: str  # "i" | "f" | "B" | "iI" | "iF"
    str_choices: tuple[str, ...] = ()


def parse_code(code: str) -> list[str]:
    out, i = [], 0
    while i < len(code):
        if code[i] == "i" and i + 1 < len(code) and code[i + 1] in "IF":
            out.append(code[i:i + 2])
            i += 2
        else:
            out.append(code[i])
            i += 1
    return out


def arg_slots(op: str, code: str) -> list[ArgSlot] | None:
    """Name each token of ``code`` from the NNP schema; None when they do not line up."""
    tokens = parse_code(code)
    fields = PARAM_FIELDS_BY_MESSAGE.get(f"{op}Parameter", [])
    if len(fields) != len(tokens):
        return None
    slots = []
    for tok, (_, name, typ, _repeated) in zip(tokens, fields):
        choices = tuple(STRING_CHOICES.get((op, name), ()))
        if typ == "string" and tok != "i":
            return None
        slots.append(ArgSlot(name, tok, choices))
    return slots


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def pack_args(op: str, slots: list[ArgSlot], attrs: dict[str, Any], add_chunk) -> bytes:  # noqa: ANN001
    """The argument bytes of a record; list values are appended through ``add_chunk(bytes) -> index``."""
    out = bytearray()
    for s in slots:
        v = attrs.get(s.name)
        if s.kind == "B":
            out += struct.pack("<B", 1 if v else 0)
            continue
        out += b"\0" * (_align(len(out), 4) - len(out))
        if s.kind == "i":
            if s.str_choices or isinstance(v, str):
                if v not in s.str_choices:
                    raise NnbError(f"{op}: {s.name}='{v}' cannot be stored in NNB")
                v = s.str_choices.index(v)
            out += struct.pack("<i", int(v or 0))
        elif s.kind == "f":
            out += struct.pack("<f", float(v or 0.0))
        else:
            vals = list(v or ())
            fmt = "<%di" % len(vals) if s.kind == "iI" else "<%df" % len(vals)
            idx = add_chunk(struct.pack(fmt, *vals)) if vals else -1
            out += struct.pack("<ii", len(vals), idx)
    out += b"\0" * (_align(len(out), 4) - len(out))
    return bytes(out)


def unpack_args(op: str, slots: list[ArgSlot], data: bytes, read_list) -> dict[str, Any]:  # noqa: ANN001
    """Inverse of :func:`pack_args`; ``read_list(kind, count, chunk) -> tuple``."""
    attrs: dict[str, Any] = {}
    pos = 0
    for s in slots:
        if s.kind == "B":
            if pos + 1 > len(data):
                raise NnbError(f"{op}: function record too short for argument {s.name}")
            attrs[s.name] = bool(data[pos])
            pos += 1
            continue
        pos = _align(pos, 4)
        need = 4 if s.kind in "if" else 8
        if pos + need > len(data):
            raise NnbError(f"{op}: function record too short for argument {s.name}")
        if s.kind == "i":
            (v,) = struct.unpack_from("<i", data, pos)
            if s.str_choices:
                if not 0 <= v < len(s.str_choices):
                    raise NnbError(f"{op}: {s.name} choice {v} out of range")
                attrs[s.name] = s.str_choices[v]
            else:
                attrs[s.name] = v
        elif s.kind == "f":
            (attrs[s.name],) = struct.unpack_from("<f", data, pos)
        else:
            count, chunk = struct.unpack_from("<ii", data, pos)
            attrs[s.name] = read_list(s.kind, count, chunk) if count else None
        pos += need
    return attrs


def record_args_size(slots: list[ArgSlot]) -> int:
    pos = 0
    for s in slots:
        if s.kind == "B":
            pos += 1
        else:
            pos = _align(pos, 4) + (4 if s.kind in "if" else 8)
    return _align(pos, 4)
