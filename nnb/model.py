"""Open any model file nnb understands: .nnp / .nntxt (NNP), .nnb (NNB) or .nnq (quantized model).

Every path ends in nnb.validate (the readers call it), so each command sees
the same checked graph.
"""

from __future__ import annotations

from nnb.ir import Graph


def is_nnb(path: str) -> bool:
    return path.lower().endswith(".nnb")


def is_nnq(path: str) -> bool:
    return path.lower().endswith(".nnq")


def load_model(path: str, executor: str | None = None, allow_deferred: bool = False) -> Graph:
    """The model as a validated Graph (a .nnq: its network with the dequantized weights).

    ``allow_deferred``: accept a variable-batch model whose shapes only resolve
    with the real input (the executor checks them per run); other callers get
    the shape error now.
    """
    if is_nnb(path):
        from nnb.emit.nnb_read import load_nnb

        return load_nnb(path)
    if path.lower().endswith(".onnx"):
        from nnb.onnx import load_onnx

        return load_onnx(path)
    if is_nnq(path):
        from nnb.quantize.qmodel import load_quantized

        if executor is not None:
            from nnb.errors import NnbError

            raise NnbError(f"{path}: --executor does not apply to a quantized model (.nnq holds one network)")
        g = load_quantized(path).graph
    else:
        from nnb.nnp.reader import load

        g = load(path, executor=executor)
    if not allow_deferred:
        from nnb.validate import require_shapes

        require_shapes(g)
    return g
