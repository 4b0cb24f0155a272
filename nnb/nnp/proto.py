"""Protobuf message classes for NNP files, built at import time from schema.py.

nnabla's ``nnabla.proto`` is proto3 without a package.  We rebuild an
equivalent descriptor from the field numbers in :mod:`nnb.nnp.schema` (the
function parameter messages all live in the ``Function.parameter`` oneof), so
text (``.nntxt``) and binary (``.protobuf``) NNP parts parse with the stock
protobuf runtime.  Fields whose types the reference does not define (solver
states, schedulers, communicators) are left out; text parsing skips them.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from nnb.nnp.schema import FUNCTION_PARAMS, MESSAGES

_FDP = descriptor_pb2.FieldDescriptorProto
_SCALAR_TYPES = {
    "int64": _FDP.TYPE_INT64,
    "float": _FDP.TYPE_FLOAT,
    "double": _FDP.TYPE_DOUBLE,
    "bool": _FDP.TYPE_BOOL,
    "string": _FDP.TYPE_STRING,
}
_PACKAGE = "nnb_nnp"


def _add_field(msg: descriptor_pb2.DescriptorProto, num: int, name: str, typ: str, repeated: bool,
               known: set[str], oneof_index: int | None = None) -> None:
    if typ not in _SCALAR_TYPES and typ not in known:
        return  # a type the reference does not describe: leave the field out
    f = msg.field.add()
    f.name, f.number = name, num
    f.label = _FDP.LABEL_REPEATED if repeated else _FDP.LABEL_OPTIONAL
    if typ in _SCALAR_TYPES:
        f.type = _SCALAR_TYPES[typ]
    else:
        f.type = _FDP.TYPE_MESSAGE
        f.type_name = f".{_PACKAGE}.{typ}"
    if oneof_index is not None:
        f.oneof_index = oneof_index


def _build() -> dict[str, type]:
    fdp = descriptor_pb2.FileDescriptorProto(name="nnb_nnabla.proto", package=_PACKAGE, syntax="proto3")
    known = set(MESSAGES) | {m for _, _, m, _ in FUNCTION_PARAMS}
    for name, fields in MESSAGES.items():
        msg = fdp.message_type.add(name=name)
        for num, fname, typ, repeated in fields:
            _add_field(msg, num, fname, typ, repeated, known)
        if name == "Function":
            msg.oneof_decl.add(name="parameter")
            for num, fname, pmsg, _ in FUNCTION_PARAMS:
                _add_field(msg, num, fname, pmsg, False, known, oneof_index=0)
    for _, _, pmsg, fields in FUNCTION_PARAMS:
        msg = fdp.message_type.add(name=pmsg)
        for num, fname, typ, repeated in fields:
            _add_field(msg, num, fname, typ, repeated, known)
    pool = descriptor_pool.DescriptorPool()
    fd = pool.Add(fdp)
    return {name: message_factory.GetMessageClass(fd.message_types_by_name[name])
            for name in fd.message_types_by_name}


CLASSES = _build()
NNablaProtoBuf = CLASSES["NNablaProtoBuf"]
Shape = CLASSES["Shape"]

# function type (e.g. "Convolution") is mapped to its oneof field through the
# parameter message name: "<Type>Parameter" -> field name
PARAM_FIELD_BY_MESSAGE = {pmsg: fname for _, fname, pmsg, _ in FUNCTION_PARAMS}
PARAM_FIELDS_BY_MESSAGE = {pmsg: fields for _, _, pmsg, fields in FUNCTION_PARAMS}
