"""The numpy reference executor as a backend (see nnb/backends/__init__.py)."""

from __future__ import annotations

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph


def _refuse_calibrated(model_path: str, graph: Graph | None = None) -> None:
    """A calibrated .nnq, or an int8 NNB (its graph's executor is "int8"), computed in float would silently give
    the float network's results: refuse it and name the backends that compute its integers."""
    if graph is not None and graph.executor == "int8":
        raise NnbError(f"{model_path}: an int8 NNB file; the float reference has no integer path for it "
                       "(use --backend intsim for its integer simulation or --backend c for the C runtime)")
    if model_path.lower().endswith(".nnq"):
        from nnb.quantize.qmodel import load_quantized, refuse_calibrated

        refuse_calibrated(model_path, load_quantized(model_path), "the float reference")


def run(model_path: str, graph: Graph, inputs: dict[str, np.ndarray], options: dict | None = None) -> dict:
    from nnb.executor import run as run_graph

    _refuse_calibrated(model_path, graph)

    return run_graph(graph, inputs)


def predict(model_path: str, graph: Graph, x: np.ndarray, options: dict | None = None) -> np.ndarray:
    """Class scores; an NNB graph (written for one batch) runs in batches when it can."""
    from nnb.model import is_nnb
    from nnb.train.evaluate import predict as predict_graph

    _refuse_calibrated(model_path, graph)
    options = options or {}
    batch = int(options.get("batch") or 500)
    act = options.get("act")
    if act is not None or not is_nnb(model_path):
        return predict_graph(graph, x, batch=batch, act=act)
    from nnb.executor import run_batched

    name, out = graph.inputs[0], graph.outputs[0]
    fixed = graph.tensors[name].shape
    graph.input_specs = {name: (-1,) + tuple(fixed[1:])}
    try:
        run_batched(graph, [x[:2]], batch=2)
    except (NnbError, ValueError):  # a Reshape with the file's batch baked in: one file-sized batch at a time
        graph.input_specs = {}
        batch = fixed[0] if fixed else 1
        if len(x) % batch:
            raise NnbError(f"{len(x)} samples do not divide into the NNB file's batch {batch}") from None
    z = run_batched(graph, [x], batch=batch)[out]
    return z.reshape(len(x), -1)
