"""ONNX in: read .onnx files into nnb's IR (needs the ``onnx`` package)."""

from __future__ import annotations

from nnb.ir import Graph


def is_onnx(path: str) -> bool:
    return path.lower().endswith(".onnx")


def load_onnx(path: str) -> Graph:
    """Read ``path`` (opsets 6-21) into a Graph; see nnb/onnx/reader.py."""
    from nnb.onnx.reader import load_onnx as _load

    return _load(path)


def load_onnx_report(path: str) -> tuple[Graph, dict[str, int]]:
    """The Graph of ``path`` and what the reader canonicalised, by rewrite: counts that ``nnb inspect`` shows
    for an .onnx file (rewriting the loaded graph again finds nothing left to fire)."""
    from nnb.onnx.reader import load_onnx_report as _report

    return _report(path)


__all__ = ["is_onnx", "load_onnx", "load_onnx_report"]
