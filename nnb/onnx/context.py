"""The state of one ONNX import: constants, shapes, the IR being built.

ONNX values that are known at import time (initializers, Constant, Shape and
everything computed only from them) stay numpy arrays in ``consts``; they
become float32 parameters only when a run-time function reads them.  Every
function emitted through :meth:`Ctx.emit` whose inputs are all constant is
computed at once with the op registry's numpy reference instead of being
added to the graph, so constant subgraphs fold at import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Node, Tensor
from nnb.ops import get_op


@dataclass
class ONode:
    """One ONNX node with its attributes decoded to Python values."""

    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)

    def attr(self, key: str, default: Any = None) -> Any:  # noqa: ANN401 - ONNX attributes are any type
        return self.attrs.get(key, default)

    def input(self, i: int) -> str:
        """The i-th input name, '' when absent (ONNX optional inputs)."""
        return self.inputs[i] if i < len(self.inputs) else ""


class Ctx:
    """Builds IR tensors and nodes while an ONNX graph is read."""

    def __init__(self, opset: int) -> None:
        self.opset = opset
        self.consts: dict[str, np.ndarray] = {}
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[Node] = []
        self.alias: dict[str, str] = {}
        self.node: ONode | None = None  # the ONNX node being converted (names and messages)
        self.graph_outputs: set[str] = set()
        self.used: set[str] = set()  # every name some ONNX node or the graph output reads
        self._params: dict[str, str] = {}
        self._count = 0
        self.fired: dict[str, int] = {}  # canonical rewrites the converters made, by name (load_onnx_report)

    def rewrote(self, name: str) -> None:
        """Count one canonical rewrite made while converting (named as nnb.passes.canon.REWRITES names it)."""
        self.fired[name] = self.fired.get(name, 0) + 1

    # ---- values ---------------------------------------------------------------
    def resolve(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def const(self, name: str) -> np.ndarray | None:
        return self.consts.get(self.resolve(name)) if name else None

    def need_const(self, name: str, what: str) -> np.ndarray:
        v = self.const(name)
        if v is None:
            raise self.error(f"{what} must be a constant")
        return v

    def shape(self, name: str) -> tuple[int, ...]:
        name = self.resolve(name)
        if name in self.consts:
            return tuple(self.consts[name].shape)
        if name not in self.tensors:
            raise self.error(f"reads '{name}', which no earlier node computes")
        return self.tensors[name].shape

    def value(self, name: str) -> str:
        """The IR tensor holding ``name``; a constant becomes a float32 parameter."""
        name = self.resolve(name)
        if name in self.consts:
            if name not in self._params:
                data = np.ascontiguousarray(self.consts[name], dtype=np.float32)
                pname = name if name not in self.tensors else self.fresh(name)
                self.tensors[pname] = Tensor(pname, tuple(data.shape), kind="param", data=data)
                self._params[name] = pname
            return self._params[name]
        self.shape(name)
        return name

    def param(self, data: np.ndarray, hint: str) -> str:
        """A new parameter from an array computed at import time."""
        name = self.fresh(hint)
        self.consts[name] = np.asarray(data, dtype=np.float32)
        return self.value(name)

    def fresh(self, hint: str) -> str:
        self._count += 1
        base = f"{self.node.name}/{hint}" if self.node is not None else hint
        name = base
        while name in self.tensors or name in self.consts:
            self._count += 1
            name = f"{base}_{self._count}"
        return name

    # ---- functions --------------------------------------------------------------
    def emit(self, op: str, inputs: list[str], out: str | None = None, **attrs: Any) -> str:  # noqa: ANN401
        """Append ``op`` (an IR op) reading ``inputs``; returns its output name (``out`` or a fresh one)."""
        d = get_op(op)
        a = d.normalize(attrs)
        out = out or self.fresh(op)
        if all(self.const(i) is not None for i in inputs):
            vals = [np.asarray(self.const(i), dtype=np.float32) for i in inputs]
            self.consts[out] = d.forward(vals, a)[0]
            return out
        names = [self.value(i) for i in inputs]
        try:
            shapes = d.infer([self.tensors[i].shape for i in names], a)
        except NnbError as e:
            raise self.error(str(e)) from None
        self.tensors[out] = Tensor(out, tuple(int(v) for v in shapes[0]))
        node_name = self.node.name if self.node is not None else out
        if any(n.name == node_name for n in self.nodes):
            node_name = f"{node_name}/{op}_{len(self.nodes)}"
        self.nodes.append(Node(node_name, op, names, [out], a))
        return out

    def error(self, msg: str) -> NnbError:
        n = self.node
        where = f"ONNX node '{n.name}' ({n.op}, opset {self.opset}): " if n is not None else ""
        return NnbError(where + msg)
