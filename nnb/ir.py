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

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnb.errors import NnbError

AttrValue = Any  # int | float | bool | str | tuple[int, ...] | tuple[float, ...]


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
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

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
    def validate(self) -> None:
        """Every name resolves, parameters have data of their shape, order is topological."""
        from nnb.ops import get_op

        known = set(self.inputs) | {t.name for t in self.params()}
        for name in self.inputs:
            if name not in self.tensors:
                raise NnbError(f"network input '{name}' is not a variable of the network")
        for t in self.params():
            if t.data is None:
                raise NnbError(f"parameter '{t.name}' has no data in the model file")
            if tuple(t.data.shape) != tuple(t.shape):
                raise NnbError(
                    f"parameter '{t.name}' has shape {tuple(t.data.shape)} in the parameter file "
                    f"but {tuple(t.shape)} in the network")
        for n in self.nodes:
            get_op(n.op)
            for i in n.inputs:
                if i not in self.tensors:
                    raise NnbError(f"function '{n.name}' reads undefined variable '{i}'")
                if i not in known:
                    raise NnbError(f"function '{n.name}' reads '{i}' before any function writes it")
            known.update(n.outputs)
        for o in self.outputs:
            if o not in known:
                raise NnbError(f"network output '{o}' is never computed")

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
