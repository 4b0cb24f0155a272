"""Read nnabla NNP models into the IR.

An ``.nnp`` is a zip holding ``*.nntxt``/``*.prototxt`` (protobuf text) and
parameters as ``*.h5`` or ``*.protobuf`` (binary).  Like nnabla, every text part
is merged first, then every parameter part.  A bare ``.nntxt``/``.prototxt``
is read with the ``.h5``/``.protobuf`` beside it (same stem, else
``parameter.h5``/``parameter.protobuf`` in the same folder).
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterable
from typing import Any

import numpy as np
from google.protobuf import text_format
from google.protobuf.message import DecodeError

from nnb.errors import NnbError
from nnb.ir import Graph, Node, Tensor, shape_size
from nnb.nnp.proto import PARAM_FIELD_BY_MESSAGE, PARAM_FIELDS_BY_MESSAGE, NNablaProtoBuf
from nnb.ops import get_op
from nnb.readfile import read_bytes
from nnb.validate import check_declared, check_shape, validate_graph

TEXT_EXT = (".nntxt", ".prototxt")
PARAM_EXT = (".h5", ".protobuf")


class NnpContents:
    """The merged protobuf message plus HDF5 parameters (name -> (index, array, need_grad))."""

    def __init__(self) -> None:
        self.proto = NNablaProtoBuf()
        self.h5_params: dict[str, tuple[int, np.ndarray, bool]] = {}

    def merge_text(self, name: str, data: bytes) -> None:
        try:
            text_format.Merge(data.decode("utf-8"), self.proto, allow_unknown_field=True)
        except (text_format.ParseError, UnicodeDecodeError) as e:
            raise NnbError(f"{name}: not a valid NNP network description: {_one_line(e)}") from None

    def merge_params(self, name: str, data: bytes) -> None:
        if name.endswith(".protobuf"):
            try:
                self.proto.MergeFromString(data)
            except DecodeError as e:
                raise NnbError(f"{name}: corrupt parameter protobuf: {_one_line(e)}") from None
            return
        self.h5_params.update(_read_h5(name, data))


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def _read_h5(name: str, data: bytes) -> dict[str, tuple[int, np.ndarray, bool]]:
    import h5py

    out: dict[str, tuple[int, np.ndarray, bool]] = {}
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            def visit(path: str, obj: Any) -> None:
                if isinstance(obj, h5py.Dataset):
                    if obj.dtype.kind != "f":
                        raise NnbError(f"{name}: parameter '{path}' has dtype {obj.dtype}, expected a float dtype")
                    idx = int(obj.attrs.get("index", len(out)))
                    need_grad = bool(obj.attrs.get("need_grad", True))
                    out[path] = (idx, np.asarray(obj[()], dtype=np.float32), need_grad)
            f.visititems(visit)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise NnbError(f"{name}: corrupt HDF5 parameter file: {_one_line(e)}") from None
    return out


def _members(path: str) -> Iterable[tuple[str, bytes]]:
    """(member name, bytes) of the model's parts, whatever the container."""
    if not os.path.exists(path):
        raise NnbError(f"{path}: no such file")
    if os.path.isdir(path):
        raise NnbError(f"{path}: is a folder, not a model file")
    lower = path.lower()
    if lower.endswith(TEXT_EXT):
        parts = [(os.path.basename(path), read_bytes(path, "network description"))]
        stem = os.path.splitext(path)[0]
        folder = os.path.dirname(path)
        for cand in [stem + ext for ext in PARAM_EXT] + [os.path.join(folder, "parameter" + e) for e in PARAM_EXT]:
            if os.path.exists(cand):
                parts.append((os.path.basename(cand), read_bytes(cand, "parameter file")))
                break
        return parts
    if not zipfile.is_zipfile(path):
        raise NnbError(f"{path}: not an NNP file (not a zip archive)")
    try:
        with zipfile.ZipFile(path) as z:
            return [(n, z.read(n)) for n in z.namelist()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as e:
        raise NnbError(f"{path}: corrupt or truncated NNP archive: {_one_line(e)}") from None


def read_contents(path: str) -> NnpContents:
    parts = list(_members(path))
    c = NnpContents()
    texts = [(n, d) for n, d in parts if n.lower().endswith(TEXT_EXT)]
    if not texts:
        raise NnbError(f"{path}: no .nntxt/.prototxt network description inside")
    for n, d in texts:
        c.merge_text(n, d)
    for n, d in parts:
        if n.lower().endswith(PARAM_EXT):
            c.merge_params(n, d)
    return c


# ---- protobuf -> IR ------------------------------------------------------------

def _attrs_from_proto(fn: Any) -> dict[str, Any]:
    op = get_op(fn.type)
    pmsg_name = f"{fn.type}Parameter"
    field = PARAM_FIELD_BY_MESSAGE.get(pmsg_name)
    if field is None:
        return {}
    msg = getattr(fn, field)
    attrs: dict[str, Any] = {}
    for _, name, typ, repeated in PARAM_FIELDS_BY_MESSAGE[pmsg_name]:
        if not hasattr(msg, name):
            continue
        if typ == "Shape":
            value = tuple(getattr(msg, name).dim) if msg.HasField(name) else None
        elif repeated:
            value = tuple(getattr(msg, name)) or None
        else:
            value = getattr(msg, name)
        if name in op.attr_index:
            attrs[name] = value
        elif value not in (None, 0, 0.0, False, ""):
            raise NnbError(f"function '{fn.name}' ({fn.type}): argument {name}={value!r} is not supported")
    return attrs


def _resolve(name: str, shape: Iterable[int], batch: int) -> tuple[int, ...]:
    """The declared shape with a leading -1 (nnabla's variable batch) replaced by the batch size."""
    dims = tuple(int(d) for d in shape)
    for i, d in enumerate(dims):
        if d < 0 and not (i == 0 and d == -1):
            raise NnbError(f"variable '{name}': dimension {d} of shape {dims} must be >= 1 "
                           "(only a leading -1, the batch, may be negative)")
    return tuple(batch if d < 0 else d for d in dims)


def graph_from_contents(c: NnpContents, path: str, executor: str | None = None) -> Graph:
    proto = c.proto
    if not proto.network:
        raise NnbError(f"{path}: the model has no network")
    if proto.executor:
        names = [e.name for e in proto.executor]
        if executor is None:
            ex = proto.executor[0]
        elif executor in names:
            ex = proto.executor[names.index(executor)]
        else:
            raise NnbError(f"{path}: no executor '{executor}' (executors: {', '.join(names)})")
        nets = {n.name: n for n in proto.network}
        if ex.network_name not in nets:
            raise NnbError(f"{path}: executor '{ex.name}' names missing network '{ex.network_name}'")
        net = nets[ex.network_name]
        inputs = [d.variable_name for d in ex.data_variable]
        outputs = [o.variable_name for o in ex.output_variable]
        ex_name = ex.name
    else:
        if executor is not None:
            raise NnbError(f"{path}: no executor '{executor}' (the model has no executors)")
        net, ex_name = proto.network[0], ""
        produced = {o for f in net.function for o in f.output}
        consumed = {i for f in net.function for i in f.input}
        inputs = [v.name for v in net.variable if v.type == "Buffer" and v.name not in produced]
        outputs = [v.name for v in net.variable if v.type == "Buffer" and v.name in produced and v.name not in consumed]
    batch = int(net.batch_size) if net.batch_size > 0 else 1

    params = {p.variable_name: p for p in proto.parameter}
    tensors: dict[str, Tensor] = {}
    specs: dict[str, tuple[int, ...]] = {}
    declared_shapes: dict[str, tuple[int, ...]] = {}
    for v in net.variable:
        declared = tuple(int(d) for d in v.shape.dim)
        if v.name in tensors:
            raise NnbError(f"{path}: variable '{v.name}' is declared twice in network '{net.name}'")
        if v.type == "Parameter":
            if v.name in inputs:
                raise NnbError(f"{path}: executor input '{v.name}' is a parameter")
            tensors[v.name] = _param_tensor(v.name, declared, params, c.h5_params)
        else:
            kind = "input" if v.name in inputs else "buffer"
            tensors[v.name] = Tensor(v.name, _resolve(v.name, declared, batch), kind=kind)
            if kind == "input":
                specs[v.name] = declared
            else:
                declared_shapes[v.name] = declared
    for name in inputs:
        if name not in tensors:
            raise NnbError(f"{path}: executor input '{name}' is not a variable of network '{net.name}'")
    nodes = []
    seen: set[str] = set()
    for fn in net.function:
        if fn.name in seen:
            raise NnbError(f"{path}: function '{fn.name}' is declared twice in network '{net.name}'")
        seen.add(fn.name)
        op = get_op(fn.type)
        lo, hi = op.num_inputs
        if not lo <= len(fn.input) <= hi:
            raise NnbError(f"function '{fn.name}' ({fn.type}) has {len(fn.input)} inputs, expected {lo}..{hi}")
        for name in list(fn.input) + list(fn.output):
            if name not in tensors:  # nnabla tolerates undeclared intermediates; shapes come from inference
                tensors[name] = Tensor(name, (), kind="buffer")
        where = f"function '{fn.name}' ({fn.type})"
        nodes.append(Node(fn.name, fn.type, list(fn.input), list(fn.output),
                          op.normalize(_attrs_from_proto(fn), where)))
    g = Graph(name=net.name, tensors=tensors, nodes=nodes, inputs=inputs, outputs=outputs, batch_size=batch,
              input_specs=specs, executor=ex_name)
    # every check of nnb.validate; buffer shapes become the inferred ones (nnabla may fold batch axes into -1)
    try:
        shapes = validate_graph(g)
    except NnbError as e:
        if not any(s and s[0] < 0 for s in specs.values()):
            raise
        validate_graph(g, infer=False)  # structure and arguments do not depend on the input
        g.deferred_error = str(e)
        return g
    check_declared(shapes, declared_shapes)  # a leading -1 matches any leading shape
    for name, s in shapes.items():
        g.tensors[name].shape = s
    return g


def _param_tensor(name: str, declared: tuple[int, ...], params: dict[str, Any],
                  h5: dict[str, tuple[int, np.ndarray, bool]]) -> Tensor:
    shape = check_shape(declared, f"parameter '{name}'")
    if name in h5:
        _, data, need_grad = h5[name]
        if data.size != shape_size(shape) or (data.ndim and data.shape != shape):
            raise NnbError(f"parameter '{name}' has shape {data.shape} in the parameter file "
                           f"but {shape} in the network")
        return Tensor(name, shape, kind="param", data=data.reshape(shape), need_grad=need_grad)
    if name in params:
        p = params[name]
        data = np.asarray(p.data, dtype=np.float32)
        pshape = tuple(p.shape.dim)
        if data.size != shape_size(shape) or (pshape and pshape != shape):
            raise NnbError(f"parameter '{name}' has shape {pshape or (data.size,)} in the parameter file "
                           f"but {shape} in the network")
        return Tensor(name, shape, kind="param", data=data.reshape(shape), need_grad=bool(p.need_grad))
    raise NnbError(f"parameter '{name}' is missing from the model's parameter file")


def load(path: str, executor: str | None = None) -> Graph:
    """Read an NNP model (``.nnp`` zip, or ``.nntxt`` with its parameters) into a :class:`Graph`."""
    return graph_from_contents(read_contents(path), path, executor)
