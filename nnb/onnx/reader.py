"""Read an .onnx file (opsets 6-21 of the default domain) into nnb's IR.

Initializers and constant subgraphs stay numpy arrays at import (see
``context.py``); each remaining node is mapped by the converter table of its
operator family onto the IR's canonical ops, and the canonicalisation passes
(nnb/passes/canon.py) then merge what exporters spell out in several nodes.  An operator without a converter
is an error naming the node and the opset.
"""

from __future__ import annotations

import os

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph, Tensor
from nnb.onnx import ops_math, ops_nn, ops_resize, ops_shape
from nnb.onnx.context import Ctx, ONode
from nnb.onnx.fold import FOLD
from nnb.passes.canon import canonicalize_report

CONVERTERS = {**ops_math.CONVERTERS, **ops_nn.CONVERTERS, **ops_shape.CONVERTERS, **ops_resize.CONVERTERS}
OPSETS = (6, 21)


def _attrs(node) -> dict:  # noqa: ANN001 - onnx.NodeProto
    from onnx import helper, numpy_helper

    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [x.decode() for x in v]
        elif hasattr(v, "dims") and hasattr(v, "data_type"):  # TensorProto
            v = numpy_helper.to_array(v)
        out[a.name] = v
    return out


def _load_proto(path: str):  # noqa: ANN202 - onnx.ModelProto
    try:
        import onnx
    except ImportError:
        raise NnbError("reading .onnx files needs the 'onnx' package (pip install onnx)") from None
    if not os.path.exists(path):
        raise NnbError(f"{path}: no such file")
    try:
        return onnx.load(path)
    except Exception as e:  # protobuf raises several types on corrupt files
        raise NnbError(f"{path}: not a readable ONNX model ({type(e).__name__})") from None


def _opset(model) -> int:  # noqa: ANN001
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    return int(versions[0]) if versions else 1


def _constant(ctx: Ctx, node: ONode) -> np.ndarray:
    from onnx import helper

    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in node.attrs:
            v = node.attrs[key]
            return np.asarray(v, dtype=np.float32 if "float" in key else (np.int64 if "int" in key else None))
    raise ctx.error(f"unsupported Constant attributes {sorted(node.attrs)} ({helper.__name__})")


def _input_shape(vi) -> tuple[tuple[int, ...], tuple[int, ...]]:  # noqa: ANN001 - onnx.ValueInfoProto
    """(concrete shape, declared spec): a symbolic leading dimension is the batch (1, spec -1)."""
    t = vi.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
    if any(d < 0 for d in dims[1:]):
        raise NnbError(f"input '{vi.name}' has unknown dimensions {dims}: nnb needs fixed shapes (batch aside)")
    return tuple(max(d, 1) for d in dims), tuple(dims)


# load_onnx_report's name for ONNX nodes whose inputs were all constants, computed while reading
READER_FOLDS = "constant ONNX nodes computed while reading"


def load_onnx(path: str) -> Graph:
    """The IR of an ONNX model; bad files and unsupported operators raise NnbError."""
    return load_onnx_report(path)[0]


def load_onnx_report(path: str) -> tuple[Graph, dict[str, int]]:
    """The IR of an ONNX model and what was canonicalised on the way: the passes' counts
    (nnb.passes.canon.canonicalize_report: each rewrite that fired, how often) after the reader's count of
    constant nodes it computed (READER_FOLDS) and the converters' rewrites (e.g. Clip(0, 6) -> ReLU6, under the
    pass's name), added up by name, each only when not zero."""
    from onnx import TensorProto, numpy_helper

    model = _load_proto(path)
    ctx = Ctx(_opset(model))
    if not OPSETS[0] <= ctx.opset <= OPSETS[1]:
        raise NnbError(f"{path}: ONNX opset {ctx.opset} is not supported (opsets {OPSETS[0]}-{OPSETS[1]})")
    graph = model.graph
    for t in graph.initializer:
        try:
            ctx.consts[t.name] = numpy_helper.to_array(t)
        except Exception as e:  # data of another size than its dims, unknown type, ...
            raise NnbError(f"{path}: initializer '{t.name}' is corrupt ({type(e).__name__})") from None
    inputs, specs = [], {}
    for vi in graph.input:
        if vi.name in ctx.consts:
            continue
        if vi.type.tensor_type.elem_type not in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16):
            raise NnbError(f"input '{vi.name}' is not a floating-point tensor")
        shape, spec = _input_shape(vi)
        ctx.tensors[vi.name] = Tensor(vi.name, shape, kind="input")
        inputs.append(vi.name)
        specs[vi.name] = spec
    ctx.graph_outputs = {o.name for o in graph.output}
    ctx.used = {i for n in graph.node for i in n.input} | ctx.graph_outputs
    for k, proto in enumerate(graph.node):
        try:
            attrs = _attrs(proto)
        except Exception as e:  # a tensor attribute whose data does not match its dims, ...
            where = proto.name or proto.op_type
            raise NnbError(f"ONNX node '{where}': corrupt attribute ({type(e).__name__})") from None
        node = ONode(proto.op_type, proto.name or f"{proto.op_type}_{k}", list(proto.input), list(proto.output), attrs)
        ctx.node = node
        _convert(ctx, node, proto.domain)
    ctx.node = None
    outputs = []
    for o in graph.output:
        src = ctx.resolve(o.name)
        if src in ctx.consts:
            raise NnbError(f"network output '{o.name}' is a constant; nothing to compute")
        if src != o.name:
            ctx.emit("Identity", [src], o.name)
        outputs.append(o.name)
    batch = next((ctx.tensors[i].shape[0] for i in inputs if ctx.tensors[i].shape), 1)
    name = graph.name or os.path.splitext(os.path.basename(path))[0]
    g = Graph(name=name, tensors=ctx.tensors, nodes=ctx.nodes, inputs=inputs, outputs=outputs, batch_size=batch,
              input_specs={k: v for k, v in specs.items()})
    g.validate()
    # exporters spell out what the IR has as one op (softmax, clip, flatten + Gemm, ...): canonical from the start
    g, fired = canonicalize_report(g)
    for name, n in fired.items():
        ctx.fired[name] = ctx.fired.get(name, 0) + n
    return g, ctx.fired


def _convert(ctx: Ctx, node: ONode, domain: str) -> None:
    if domain not in ("", "ai.onnx"):
        raise ctx.error(f"operator domain '{domain}' is not supported")
    if node.op == "Constant":
        ctx.consts[node.outputs[0]] = _constant(ctx, node)
        return
    if node.op == "Shape":
        s = np.array(ctx.shape(node.input(0)), dtype=np.int64)
        ctx.consts[node.outputs[0]] = s[node.attr("start", 0):node.attr("end", len(s))] if ctx.opset >= 15 else s
        return
    ins = [i for i in node.inputs if i]
    if ins and node.op in FOLD and all(ctx.const(i) is not None for i in ins):
        try:
            outs = FOLD[node.op](node, [ctx.const(i) for i in node.inputs if i] if node.op != "Slice"
                                 else [ctx.const(i) if i else np.zeros(0) for i in node.inputs], ctx.opset)
        except NnbError as e:
            raise ctx.error(str(e)) from None
        except Exception as e:  # numpy refusing the constants' shapes
            raise ctx.error(f"cannot fold constant inputs ({e})") from None
        for name, v in zip(node.outputs, outs):
            ctx.consts[name] = np.asarray(v)
        ctx.rewrote(READER_FOLDS)
        return
    fn = CONVERTERS.get(node.op)
    if fn is None:
        raise ctx.error(f"unsupported ONNX operator '{node.op}' (supported: {', '.join(sorted(CONVERTERS))})")
    try:
        fn(ctx, node)
    except NnbError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, AttributeError) as e:
        # a missing attribute or input, a value of the wrong kind: the file is malformed, not nnb
        raise ctx.error(f"malformed node ({type(e).__name__}: {e})") from None
