"""The one validator every graph nnb reads or rewrites passes through.

NNP and NNB readers, the quantized-model loader and the rewrites
(``nnb.passes.optimize``) all end in :func:`validate_graph`, so a model that
``nnb inspect`` refuses is refused by ``run``, ``plan``, ``convert`` and
``eval`` with the same one-line message, and ``convert`` never writes it.

Checks, in order (each failure is an :class:`NnbError` naming the node or
variable, the field and the value):

* network inputs/outputs: declared, distinct; inputs are not parameters;
* variables: every dimension >= 1, element count and byte size within the C
  runtime's 32-bit limits (Python integers: no numpy wrap-around); parameters
  hold data of their shape and of a float dtype (packed weight codes: uint32);
* functions, in file order: a known op with an allowed number of inputs,
  arguments of the right type, integers within int32 and above each
  argument's declared minimum (``Attr.min`` in the op's ``register`` call),
  every input defined before use (so no cycles), outputs that are neither a
  parameter, a network input nor written twice; the op's shape rule (which
  holds the shape-dependent argument rules: group divides the channels, axes
  in range or a permutation, broadcastable shapes, ...) must accept the
  inputs and give dimensions >= 1;
* every variable is used (read, written, or a network input/output);
* declared shapes of intermediate variables equal the inferred ones (a
  leading -1 in the declaration matches any leading shape, as nnabla's
  variable batch does).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph, Node, Tensor, shape_size
from nnb.ops.registry import Attr, OpDef, get_op

Shape = tuple[int, ...]

INT32_MAX = 0x7FFFFFFF
INT32_MIN = -0x80000000
MAX_BYTES = INT32_MAX  # the runtime's arena and every tensor are addressed with 32-bit sizes
PACKED_CODE_OPS = {"AffinePacked", "ConvolutionPacked", "DepthwiseConvolutionPacked", "FusedConvPacked"}


def validate_graph(g: Graph, declared: Mapping[str, Shape] | None = None,
                   input_shapes: Mapping[str, Shape] | None = None, infer: bool = True) -> dict[str, Shape]:
    """Check ``g`` completely; returns the inferred shape of every variable.

    ``declared``: shapes the file declares for intermediate variables (checked
    against inference; may hold a leading -1).  ``input_shapes``: run-time
    shapes of the network inputs (default: the tensors' shapes).  ``infer``
    False: everything but the shape rules (for a variable-batch model whose
    real input shape is known only at run time).
    """
    _check_io(g)
    for t in g.tensors.values():
        check_tensor(t)
    _check_params(g)
    shapes = _check_nodes(g, input_shapes, infer)
    _check_used(g)
    if declared and infer:
        check_declared(shapes, declared)
    return shapes


def require_shapes(g: Graph) -> None:
    """Raise the shape error a reader deferred to run time (``Graph.deferred_error``), if any."""
    if g.deferred_error:
        raise NnbError(g.deferred_error)


# ---- variables ----------------------------------------------------------------------

def check_shape(shape: Iterable[int], what: str, itemsize: int = 4) -> Shape:
    """Every dimension an int >= 1; element count and bytes within the 32-bit limits."""
    dims = tuple(shape)
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise NnbError(f"{what}: dimension {d!r} of shape {dims} is not an integer")
        if d < 1:
            raise NnbError(f"{what}: dimension {int(d)} of shape {dims} must be >= 1")
    n = shape_size(dims)
    if n > INT32_MAX or n * itemsize > MAX_BYTES:
        raise NnbError(f"{what}: shape {dims} has {n:,} elements ({n * itemsize:,} bytes), over the runtime's "
                       f"32-bit limit of {MAX_BYTES:,} bytes")
    return tuple(int(d) for d in dims)


def check_tensor(t: Tensor) -> None:
    try:
        itemsize = np.dtype(t.dtype).itemsize
    except TypeError:
        raise NnbError(f"variable '{t.name}': unknown dtype {t.dtype!r}") from None
    check_shape(t.shape, f"variable '{t.name}'", itemsize)


def _check_io(g: Graph) -> None:
    for what, names in (("input", g.inputs), ("output", g.outputs)):
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise NnbError(f"network {what} '{dup}' is listed twice")
        for n in names:
            if n not in g.tensors:
                raise NnbError(f"network {what} '{n}' is not a variable of the network")
    for n in g.inputs:
        if g.tensors[n].kind == "param":
            raise NnbError(f"network input '{n}' is a parameter")
    if not g.outputs:
        raise NnbError("the network has no outputs")


def _check_params(g: Graph) -> None:
    codes = {n.inputs[1] for n in g.nodes if n.op in PACKED_CODE_OPS and len(n.inputs) > 1}
    for t in g.params():
        if t.data is None:
            raise NnbError(f"parameter '{t.name}' has no data in the model file")
        data = np.asarray(t.data)
        want = "u" if t.name in codes else "f"
        if data.dtype.kind != want or str(data.dtype) != t.dtype:
            kind = "uint32 codes" if want == "u" else "a float dtype"
            raise NnbError(f"parameter '{t.name}' has dtype {data.dtype}, expected {kind}")
        if tuple(data.shape) != tuple(t.shape):
            raise NnbError(f"parameter '{t.name}' has shape {tuple(data.shape)} in the parameter file "
                           f"but {tuple(t.shape)} in the network")


# ---- functions ----------------------------------------------------------------------

def check_attrs(node: Node, op: OpDef) -> None:
    """Argument names, types, int32 range and minimums of one function."""
    where = f"function '{node.name}' ({node.op})"
    for key, v in node.attrs.items():
        a = op.attr_index.get(key)
        if a is None:
            raise NnbError(f"{where}: unknown argument '{key}'")
        if v is None:
            continue
        _check_value(where, a, v)


def _check_value(where: str, a: Attr, v: Any) -> None:
    bad = f"{where}: argument {a.name}={v!r}"
    if a.kind in ("int", "ints"):
        vals = (v,) if a.kind == "int" else v
        if a.kind == "ints" and not isinstance(v, tuple):
            raise NnbError(f"{bad} is not a list of integers")
        for x in vals:
            if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
                raise NnbError(f"{bad} is not {'an integer' if a.kind == 'int' else 'a list of integers'}")
            if not INT32_MIN <= x <= INT32_MAX:
                raise NnbError(f"{bad} is outside the 32-bit integer range")
            if a.min is not None and x < a.min:
                raise NnbError(f"{bad} must be >= {a.min}" + (" in every entry" if a.kind == "ints" else ""))
    elif a.kind in ("float", "floats"):
        vals = (v,) if a.kind == "float" else v
        if a.kind == "floats" and not isinstance(v, tuple):
            raise NnbError(f"{bad} is not a list of numbers")
        if any(isinstance(x, bool) or not isinstance(x, (int, float, np.floating, np.integer)) for x in vals):
            raise NnbError(f"{bad} is not a number")
    elif a.kind == "bool" and not isinstance(v, (bool, np.bool_)):
        raise NnbError(f"{bad} is not a boolean")
    elif a.kind == "str" and not isinstance(v, str):
        raise NnbError(f"{bad} is not a string")


def _check_nodes(g: Graph, input_shapes: Mapping[str, Shape] | None, infer: bool = True) -> dict[str, Shape]:
    shapes: dict[str, Shape] = {t.name: tuple(t.shape) for t in g.params()}
    for name in g.inputs:
        s = tuple((input_shapes or {}).get(name, g.tensors[name].shape))
        shapes[name] = check_shape(s, f"network input '{name}'")
    written: dict[str, str] = {}
    for n in g.nodes:
        op = get_op(n.op)
        where = f"function '{n.name}' ({n.op})"
        lo, hi = op.num_inputs
        if not lo <= len(n.inputs) <= hi:
            raise NnbError(f"{where} has {len(n.inputs)} inputs, expected {lo}..{hi}" if lo != hi
                           else f"{where} has {len(n.inputs)} inputs, expected {lo}")
        if not n.outputs:
            raise NnbError(f"{where} has no outputs")
        check_attrs(n, op)
        for i in n.inputs:
            if i not in g.tensors:
                raise NnbError(f"{where} reads undefined variable '{i}'")
            if i not in shapes:
                if i in {o for m in g.nodes for o in m.outputs}:
                    raise NnbError(f"{where} reads '{i}' before any function writes it (the functions are out "
                                   "of order or form a cycle)")
                raise NnbError(f"{where} reads '{i}', which is no network input or parameter and no function writes")
        for o in n.outputs:
            if o not in g.tensors:
                raise NnbError(f"{where} writes undefined variable '{o}'")
            kind = g.tensors[o].kind
            if kind == "param":
                raise NnbError(f"{where} writes parameter '{o}'")
            if kind == "input" or o in g.inputs:
                raise NnbError(f"{where} writes network input '{o}'")
            if o in written:
                raise NnbError(f"{where} writes '{o}', which function '{written[o]}' already writes")
            if o in n.inputs:
                raise NnbError(f"{where} writes its own input '{o}'")
        if not infer:
            shapes.update((o, ()) for o in n.outputs)
            written.update((o, n.name) for o in n.outputs)
            continue
        try:
            outs = op.infer([shapes[i] for i in n.inputs], n.attrs)
        except NnbError as e:
            msg = str(e)
            if msg.startswith(f"{n.op}: "):
                msg = msg[len(n.op) + 2:]
            raise NnbError(msg if msg.startswith("function '") else f"{where}: {msg}") from None
        except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError, OverflowError) as e:
            raise NnbError(f"{where}: arguments or input shapes rejected: {' '.join(str(e).split())}") from None
        if len(outs) != len(n.outputs):
            raise NnbError(f"{where} has {len(n.outputs)} outputs, its arguments give {len(outs)}")
        for o, s in zip(n.outputs, outs):
            shapes[o] = check_shape(s, f"{where}: output '{o}'", np.dtype(g.tensors[o].dtype).itemsize)
            written[o] = n.name
    for o in g.outputs:
        if o not in shapes:
            raise NnbError(f"network output '{o}' is never computed")
    return shapes


def _check_used(g: Graph) -> None:
    used = set(g.inputs) | set(g.outputs)
    for n in g.nodes:
        used.update(n.inputs)
        used.update(n.outputs)
    for name in g.tensors:
        if name not in used:
            raise NnbError(f"variable '{name}' is declared but no function reads or writes it")


def check_declared(shapes: Mapping[str, Shape], declared: Mapping[str, Shape]) -> None:
    """Each declared shape against the inferred one (a leading -1 matches any leading shape)."""
    for name, d in declared.items():
        s = shapes.get(name)
        if s is None:
            continue
        d = tuple(d)
        if d and d[0] < 0:
            tail = d[1:]
            ok = len(s) >= len(d) and (not tail or tuple(s[len(s) - len(tail):]) == tail)
        else:
            ok = tuple(s) == d
        if not ok:
            raise NnbError(f"variable '{name}' is declared with shape {d}, but its function gives {tuple(s)}")
