"""The numpy reference executor: the oracle every backend is tested against."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph
from nnb.ops import get_op
from nnb.validate import validate_graph


def check_input(graph: Graph, name: str, x: np.ndarray) -> np.ndarray:
    """Validate one input array against the shape the network declares for it."""
    spec = graph.input_specs.get(name, graph.tensors[name].shape)
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise NnbError(f"input '{name}' has dtype {x.dtype}, expected numbers")
    shown = tuple(spec)
    if spec and spec[0] < 0:
        tail = tuple(spec[1:])
        ok = x.ndim >= len(spec) and (not tail or tuple(x.shape[x.ndim - len(tail):]) == tail)
    else:
        ok = tuple(x.shape) == tuple(spec)
    if not ok:
        raise NnbError(f"input '{name}' has shape {tuple(x.shape)}, the network expects {shown}"
                       + (" (-1: any batch)" if spec and spec[0] < 0 else ""))
    if x.size == 0:
        raise NnbError(f"input '{name}' is empty (shape {tuple(x.shape)}): give at least one sample")
    if x.dtype.kind in "iub":
        raise NnbError(f"input '{name}' holds integers ({x.dtype}); nnb does not guess their scale: convert it to "
                       "float32 first (e.g. images: x.astype('float32') / 255, as --data does)")
    return np.ascontiguousarray(x, dtype=np.float32)


def bind_inputs(graph: Graph, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    if isinstance(inputs, Mapping):
        unknown = [k for k in inputs if k not in graph.inputs]
        if unknown:
            raise NnbError(f"unknown input '{unknown[0]}' (network inputs: {', '.join(graph.inputs)})")
        missing = [k for k in graph.inputs if k not in inputs]
        if missing:
            raise NnbError(f"missing input '{missing[0]}' (network inputs: {', '.join(graph.inputs)})")
        arrays = [inputs[k] for k in graph.inputs]
    else:
        arrays = list(inputs)
        if len(arrays) != len(graph.inputs):
            raise NnbError(f"the network takes {len(graph.inputs)} input(s) ({', '.join(graph.inputs)}), "
                           f"got {len(arrays)}")
    return {k: check_input(graph, k, a) for k, a in zip(graph.inputs, arrays)}


def run(graph: Graph, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray],
        keep: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Run the graph once; returns the network outputs (and any names in ``keep``) by name."""
    values: dict[str, np.ndarray] = {t.name: t.data for t in graph.params()}  # type: ignore[misc]
    bound = bind_inputs(graph, inputs)
    # the shapes of this run (the batch may differ from the file's): every rule checked before any op runs
    validate_graph(graph, input_shapes={k: tuple(v.shape) for k, v in bound.items()})
    values.update(bound)
    wanted = set(graph.outputs) | set(keep)
    last_use: dict[str, int] = {}
    for i, n in enumerate(graph.nodes):
        for name in n.inputs:
            last_use[name] = i
    with np.errstate(all="ignore"):  # inf/NaN follow IEEE arithmetic silently, as in nnabla and the C runtime
        for i, n in enumerate(graph.nodes):
            op = get_op(n.op)
            outs = op.forward([values[k] for k in n.inputs], n.attrs)
            for name, v in zip(n.outputs, outs):
                values[name] = v
            for name in n.inputs:  # free intermediates early: data sets run in big batches
                if last_use.get(name) == i and name not in wanted and graph.tensors[name].kind == "buffer":
                    values.pop(name, None)
    return {k: values[k] for k in list(graph.outputs) + [k for k in keep if k not in graph.outputs]}


def run_batched(graph: Graph, inputs: Sequence[np.ndarray], batch: int = 500) -> dict[str, np.ndarray]:
    """Run a data set through the graph in chunks of ``batch`` along the leading axis."""
    n = len(inputs[0])
    parts: dict[str, list[np.ndarray]] = {}
    for s in range(0, n, batch):
        out = run(graph, [x[s:s + batch] for x in inputs])
        for k, v in out.items():
            parts.setdefault(k, []).append(v)
    return {k: np.concatenate(v, axis=0) for k, v in parts.items()}
