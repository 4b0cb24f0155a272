"""Open any model file nnb understands: .nnp / .nntxt (NNP) or .nnb (NNB)."""

from __future__ import annotations

from nnb.ir import Graph


def is_nnb(path: str) -> bool:
    return path.lower().endswith(".nnb")


def load_model(path: str, executor: str | None = None) -> Graph:
    if is_nnb(path):
        from nnb.emit.nnb import load_nnb

        return load_nnb(path)
    from nnb.nnp.reader import load

    return load(path, executor=executor)
