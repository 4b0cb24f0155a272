"""When is each intermediate tensor alive?

Steps are node indices.  A tensor is live from the step that writes it to the
last step that reads it, both inclusive.  Network inputs are live from before
the first step (-1) to the end: nnb never overwrites an input, so a second run
without reloading it is still right (the upstream runtime gets this wrong).
Network outputs live to the end.  A tensor takes ``itemsize`` bytes per value
(float32), or its own dtype's width when that is not float32 (int8 models: one byte).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnb.ir import Graph


@dataclass(frozen=True)
class Lifetime:
    name: str
    start: int
    end: int
    nbytes: int

    def overlaps(self, other: Lifetime) -> bool:
        return self.start <= other.end and other.start <= self.end


def lifetimes(g: Graph, shapes: dict[str, tuple[int, ...]] | None = None, itemsize: int = 4) -> list[Lifetime]:
    """Lifetimes of every input and buffer tensor, in definition order."""
    shapes = shapes or {n: t.shape for n, t in g.tensors.items()}
    last = len(g.nodes) - 1
    start: dict[str, int] = {n: -1 for n in g.inputs}
    end: dict[str, int] = {n: last for n in g.inputs}
    for i, node in enumerate(g.nodes):
        for o in node.outputs:
            start.setdefault(o, i)
            end[o] = max(end.get(o, i), i)
        for n in node.inputs:
            if g.tensors[n].kind != "param":
                end[n] = max(end.get(n, i), i)
    for n in g.outputs:
        end[n] = last
    out = []
    for n, s in start.items():
        size = 1
        for d in shapes[n]:
            size *= d
        t = g.tensors.get(n)
        width = itemsize if t is None or t.dtype == "float32" else np.dtype(t.dtype).itemsize
        out.append(Lifetime(n, s, end[n], size * width))
    return out


def peak_live_bytes(lts: list[Lifetime], steps: int) -> int:
    """The no-fusion lower bound: the largest total of tensors live at one step."""
    return max((sum(lt.nbytes for lt in lts if lt.start <= s <= lt.end) for s in range(-1, max(steps, 1))), default=0)
