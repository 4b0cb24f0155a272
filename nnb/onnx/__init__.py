"""ONNX in: read .onnx files into nnb's IR (needs the ``onnx`` package)."""

from __future__ import annotations

from nnb.ir import Graph


def is_onnx(path: str) -> bool:
    return path.lower().endswith(".onnx")


def load_onnx(path: str) -> Graph:
    """Read ``path`` (opsets 6-17) into a Graph; see nnb/onnx/reader.py."""
    from nnb.onnx.reader import load_onnx as _load

    return _load(path)


__all__ = ["is_onnx", "load_onnx"]
