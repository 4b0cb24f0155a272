"""Build graphs in code (tests, the demo, training): shapes come from the op registry."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnb.ir import Graph, Node, Tensor
from nnb.ops import get_op


class GraphBuilder:
    """Append-only builder: ``x = b.input("x", (-1, 1, 28, 28)); y = b.op("ReLU", [x])``."""

    def __init__(self, name: str = "net", batch_size: int = 1) -> None:
        self.g = Graph(name=name, tensors={}, nodes=[], inputs=[], outputs=[], batch_size=batch_size)
        self._counts: dict[str, int] = {}

    def input(self, name: str, shape: tuple[int, ...]) -> str:
        """A network input; a leading -1 means any batch."""
        self.g.input_specs[name] = tuple(shape)
        concrete = tuple(self.g.batch_size if d < 0 else d for d in shape)
        self.g.tensors[name] = Tensor(name, concrete, kind="input")
        self.g.inputs.append(name)
        return name

    def param(self, name: str, data: np.ndarray, need_grad: bool = True) -> str:
        data = np.ascontiguousarray(data, dtype=np.float32)
        self.g.tensors[name] = Tensor(name, tuple(data.shape), kind="param", data=data, need_grad=need_grad)
        return name

    def op(self, op: str, inputs: list[str], name: str | None = None, outputs: list[str] | None = None,
           **attrs: Any) -> str:
        """Append one function; returns its (first) output name."""
        d = get_op(op)
        a = d.normalize(attrs)
        shapes = d.infer([self.g.tensors[i].shape for i in inputs], a)
        k = self._counts.get(op, 0)
        self._counts[op] = k + 1
        name = name or f"@{self.g.name}/{op}" + (f"_{k}" if k else "")
        outputs = outputs or [f"{name}_out" if i == 0 else f"{name}_out_{i}" for i in range(len(shapes))]
        for o, s in zip(outputs, shapes):
            self.g.tensors[o] = Tensor(o, tuple(s))
        self.g.nodes.append(Node(name, op, list(inputs), list(outputs), a))
        return outputs[0]

    def output(self, name: str) -> None:
        self.g.outputs.append(name)

    def build(self) -> Graph:
        self.g.validate()
        return self.g
