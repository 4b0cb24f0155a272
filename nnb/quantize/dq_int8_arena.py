"""Arena of an integer model with per-tensor element sizes (int8: 1 byte, float: 4, packed: bits / 8).

The planner in nnb/plan/ sizes every tensor at 4 bytes per value; this module
takes its lifetimes (``nnb.plan.lifetimes``) over the integer model's steps
(a fused ReLU's output is the step's output; the intermediate is never
stored) and places the tensors itself, biggest first at the lowest 4-byte
aligned offset free for their lifetime (the planner's greedy-by-size order,
without its in-place aliasing, so the figure is an upper bound of what the
planner would give).  Network inputs are bound by the caller, as in the
planner, and are not counted.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np

from nnb.ir import Node
from nnb.plan.lifetimes import lifetimes
from nnb.quantize.int8 import Int8Model


def _align(n: int, a: int = 4) -> int:
    return (n + a - 1) // a * a


def step_graph_lifetimes(m: Int8Model) -> tuple[list, dict[str, int]]:
    """(lifetimes in elements, elements per tensor) of the integer model's steps at batch 1."""
    g = copy.deepcopy(m.graph)
    name = g.inputs[0]
    shapes = g.infer_shapes({name: (1,) + tuple(g.tensors[name].shape[1:])})
    g.nodes = [Node(s.node.name, s.node.op, list(s.node.inputs),
                    [s.output] if s.kind == "int" else list(s.node.outputs), s.node.attrs) for s in m.steps]
    elems = {k: int(np.prod(v)) for k, v in shapes.items()}
    return lifetimes(g, shapes, itemsize=1), elems


def place(sizes: list[tuple[int, int, int]]) -> int:
    """Arena bytes for (start, end, bytes) spans: biggest first, lowest aligned free offset."""
    placed: list[tuple[int, int, int, int]] = []
    for start, end, size in sorted(sizes, key=lambda s: (-s[2], s[0])):
        off = 0
        for o, sz, _s, _e in sorted(p for p in placed if p[2] <= end and start <= p[3]):
            if off + size <= o:
                break
            off = max(off, _align(o + sz))
        placed.append((off, size, start, end))
    return _align(max((o + s for o, s, _, _ in placed), default=0))


def arena(m: Int8Model, bits_of: Callable[[str], float]) -> int:
    """The arena with ``bits_of(tensor)`` bits per value (rounded up to whole bytes per tensor)."""
    lts, elems = step_graph_lifetimes(m)
    spans = [(lt.start, lt.end, math.ceil(elems[lt.name] * bits_of(lt.name) / 8)) for lt in lts
             if lt.name not in m.graph.inputs]
    return place(spans)


def arena_figures(m: Int8Model, act_bits: dict[str, int]) -> dict[str, int]:
    """int8 (one byte per integer value, 4 per float one), packed (quantized activations at their widths) and
    float (every value 4 bytes), same placement."""
    def stored(t: str) -> float:
        return 32 if t in m.float_tensors else 8

    def packed(t: str) -> float:
        return act_bits.get(t, stored(t))

    return {"int8": arena(m, stored), "packed": arena(m, packed), "float": arena(m, lambda t: 32)}
