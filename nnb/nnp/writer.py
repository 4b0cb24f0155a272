"""Write an IR graph as an NNP (network.nntxt + parameter.h5) that nnabla loads."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import numpy as np
from google.protobuf import text_format

from nnb.ir import Graph
from nnb.nnp.proto import PARAM_FIELD_BY_MESSAGE, PARAM_FIELDS_BY_MESSAGE, NNablaProtoBuf


def _declared_shape(g: Graph, name: str, variable_batch: bool) -> tuple[int, ...]:
    t = g.tensors[name]
    if name in g.input_specs:
        return tuple(g.input_specs[name])
    if variable_batch and t.kind == "buffer" and t.shape and t.shape[0] == g.batch_size:
        return (-1,) + tuple(t.shape[1:])
    return tuple(t.shape)


def _set_params(fn: Any, node_op: str, attrs: dict[str, Any], in_ndim: int) -> None:
    pmsg = f"{node_op}Parameter"
    field = PARAM_FIELD_BY_MESSAGE.get(pmsg)
    if field is None:
        return
    msg = getattr(fn, field)
    msg.SetInParent()
    for _, name, typ, repeated in PARAM_FIELDS_BY_MESSAGE[pmsg]:
        value = attrs.get(name)
        if value is None and name == "axis" and in_ndim:  # nnabla's default: the last axis
            value = in_ndim - 1
        if value is None:
            continue
        if typ == "Shape":
            getattr(msg, name).dim.extend(int(v) for v in value)
        elif repeated:
            getattr(msg, name).extend(value)
        else:
            setattr(msg, name, value)


def to_proto(g: Graph) -> Any:
    """The graph as an ``NNablaProtoBuf`` message (network + executor, no parameter data)."""
    variable_batch = any(s and s[0] < 0 for s in g.input_specs.values())
    p = NNablaProtoBuf()
    p.global_config.default_context.backends.append("cpu:float")
    p.global_config.default_context.array_class = "CpuCachedArray"
    net = p.network.add(name=g.name or "net", batch_size=g.batch_size)
    order = list(g.inputs) + [n for n in g.tensors if n not in g.inputs]
    for name in order:
        t = g.tensors[name]
        v = net.variable.add(name=name, type="Parameter" if t.kind == "param" else "Buffer")
        v.shape.dim.extend(_declared_shape(g, name, variable_batch))
    for n in g.nodes:
        fn = net.function.add(name=n.name, type=n.op)
        fn.input.extend(n.inputs)
        fn.output.extend(n.outputs)
        _set_params(fn, n.op, n.attrs, len(g.tensors[n.inputs[0]].shape) if n.inputs else 0)
    ex = p.executor.add(name=g.executor or "runtime", network_name=net.name)
    for name in g.inputs:
        ex.data_variable.add(variable_name=name, data_name=name)
    for name in g.outputs:
        ex.output_variable.add(variable_name=name, data_name=name)
    for t in g.params():
        ex.parameter_variable.add(variable_name=t.name)
    return p


def parameters_h5(g: Graph) -> bytes:
    """nnabla's parameter.h5: one float32 dataset per parameter with ``index`` and ``need_grad``."""
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        for i, t in enumerate(g.params()):
            assert t.data is not None
            ds = f.create_dataset(t.name, data=np.asarray(t.data, dtype=np.float32))
            ds.attrs["need_grad"] = bool(t.need_grad)
            ds.attrs["index"] = i
    return buf.getvalue()


def save(g: Graph, path: str) -> None:
    """Write ``g`` to ``path`` as an uncompressed NNP zip, as nnabla.utils.save does."""
    text = text_format.MessageToString(to_proto(g))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("nnp_version.txt", "0.1\n")
        z.writestr("network.nntxt", text)
        z.writestr("parameter.h5", parameters_h5(g))
