"""The graph IR: one small, typed model of a network.

A :class:`Graph` holds named :class:`Tensor` objects (network inputs,
parameters and intermediate buffers) and a list of :class:`Node` objects in
execution order.  Node ``op`` strings are nnabla function names and ``attrs``
keep nnabla's argument names, so a graph maps one-to-one onto an NNP network.

Shapes: ``Tensor.shape`` is the concrete shape for the network's batch size.
``Graph.input_specs`` keeps the shape an input was declared with, where a
leading ``-1`` means "any leading shape" (nnabla writes -1 for the batch and,
when saving with a variable batch, may fold several leading axes into it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnb.errors import NnbError

AttrValue = Any  # int | float | bool | str | tuple[int, ...] | tuple[float, ...]


def shape_size(shape: tuple[int, ...] | list[int]) -> int:
    """Element count as a Python integer (never a wrapped numpy int64)."""
    return math.prod(int(d) for d in shape)


@dataclass
class Tensor:
    """A named value in the graph."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    kind: str = "buffer"  # "input" | "param" | "buffer"
    data: np.ndarray | None = None  # parameters only
    need_grad: bool = True  # parameters: trainable in nnabla

    @property
    def size(self) -> int:
        return shape_size(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize


@dataclass
class Node:
    """One function application: ``outputs = op(inputs, **attrs)``."""

    name: str
    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, AttrValue] = field(default_factory=dict)


@dataclass
class Graph:
    """A network: tensors by name, nodes in execution order, inputs and outputs."""

    name: str
    tensors: dict[str, Tensor]
    nodes: list[Node]
    inputs: list[str]
    outputs: list[str]
    batch_size: int = 1
    input_specs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    executor: str = "runtime"
    # a shape error the reader could not decide without the run-time input (variable batch folded into -1);
    # the executor checks the real shapes, and nnb.validate.require_shapes raises it for shape-only consumers
    deferred_error: str = ""

    # ---- queries -----------------------------------------------------
    def params(self) -> list[Tensor]:
        return [t for t in self.tensors.values() if t.kind == "param"]

    def num_parameters(self) -> int:
        return sum(t.size for t in self.params())

    def producer(self) -> dict[str, Node]:
        return {o: n for n in self.nodes for o in n.outputs}

    def consumers(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                out.setdefault(i, []).append(n)
        return out

    # ---- checks ------------------------------------------------------
    def validate(self) -> dict[str, tuple[int, ...]]:
        """The full check of nnb.validate (names, order, arguments, shapes, limits); returns inferred shapes."""
        from nnb.validate import validate_graph

        return validate_graph(self)

    def infer_shapes(self, input_shapes: dict[str, tuple[int, ...]] | None = None) -> dict[str, tuple[int, ...]]:
        """Propagate shapes through the registered shape rules; returns name -> shape."""
        from nnb.ops import get_op

        shapes: dict[str, tuple[int, ...]] = {t.name: t.shape for t in self.params()}
        for name in self.inputs:
            shapes[name] = tuple((input_shapes or {}).get(name, self.tensors[name].shape))
        for n in self.nodes:
            op = get_op(n.op)
            try:
                outs = op.infer([shapes[i] for i in n.inputs], n.attrs)
            except NnbError:
                raise
            except Exception as e:  # a shape rule tripping over bad attributes
                raise NnbError(f"function '{n.name}' ({n.op}): cannot infer output shape: {e}") from None
            if len(outs) != len(n.outputs):
                raise NnbError(f"function '{n.name}' ({n.op}) has {len(n.outputs)} outputs, expected {len(outs)}")
            for o, s in zip(n.outputs, outs):
                shapes[o] = tuple(int(d) for d in s)
        return shapes
