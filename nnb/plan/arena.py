"""One-arena memory plan: every intermediate tensor gets a byte offset.

1. Lifetimes over the node order (:mod:`nnb.plan.lifetimes`).
2. Aliasing: Reshape output is a view of its input; an elementwise op may
   write over an input of the same shape whose storage dies at that op
   (in place), and so may a depthwise convolution (:mod:`nnb.plan.inplace`).
   Aliased tensors form one group with the union lifetime.
3. Placement: groups taken in some order, each at the lowest aligned offset
   that collides with no placed group alive at the same time.  Biggest first
   is TFLM's greedy-by-size planner; a few other orders are tried too and the
   smallest arena wins.
Network inputs are bound by the caller and are not in the arena: the runtime
only reads them, so they are never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass

from nnb.ir import Graph
from nnb.ops import get_op
from nnb.plan.inplace import inplace_depthwise
from nnb.plan.lifetimes import Lifetime, lifetimes, peak_live_bytes

VIEW_OPS = {"Reshape"}


@dataclass
class ArenaPlan:
    offsets: dict[str, int]  # tensor name -> byte offset (every arena tensor)
    arena_bytes: int
    groups: list[tuple[int, int, int, int, list[str]]]  # (offset, nbytes, first step, last step, tensors)
    lifetimes: dict[str, Lifetime]
    no_reuse_bytes: int  # every tensor its own buffer
    lower_bound: int  # largest total of tensors live at one step (no fusion)
    aliases: dict[str, str]  # tensor -> tensor whose storage it shares (views and in-place)


class _Groups:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        while self.parent.get(x, x) != x:
            x = self.parent[x]
        return x

    def union(self, keep: str, other: str) -> None:
        self.parent[self.find(other)] = self.find(keep)


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


ORDERS = {
    "size": lambda s: (-s[3], s[1], s[0]),
    "start": lambda s: (s[1], -s[3], s[0]),
    "duration": lambda s: (-(s[2] - s[1]), -s[3], s[0]),
    "area": lambda s: (-(s[2] - s[1] + 1) * s[3], s[1], s[0]),
}


def _place(spans: list, key, align: int) -> tuple[int, list]:  # noqa: ANN001
    placed: list[tuple[int, int, int, int]] = []  # offset, size, start, end
    out = []
    for _root, start, end, size, names in sorted(spans, key=key):
        off = 0
        for o, sz, _s, _e in sorted(p for p in placed if p[2] <= end and start <= p[3]):
            if off + size <= o:
                break
            off = max(off, _align(o + sz, align))
        placed.append((off, size, start, end))
        out.append((off, size, start, end, names))
    return _align(max((o + s for o, s, _, _ in placed), default=0), align), out


def plan_arena(g: Graph, align: int = 4, inplace: bool = True, inplace_dw: bool = True) -> ArenaPlan:
    shapes = {n: t.shape for n, t in g.tensors.items()}
    lts = {lt.name: lt for lt in lifetimes(g, shapes) if lt.name not in g.inputs}
    groups = _Groups()
    aliases: dict[str, str] = {}
    group_end = {n: lt.end for n, lt in lts.items()}
    for i, node in enumerate(g.nodes):
        out = node.outputs[0]
        if out not in lts:
            continue
        src = None
        if node.op in VIEW_OPS and node.inputs[0] in lts:
            src = node.inputs[0]
        elif inplace and len(node.outputs) == 1:
            kept = set(g.outputs)  # a network output keeps its values to the end: nothing writes over it
            for k in get_op(node.op).inplace_inputs(node.attrs, len(node.inputs)):
                x = node.inputs[k]
                if x in lts and x not in kept and shapes[x] == shapes[out] and group_end[groups.find(x)] == i:
                    src = x
                    break
            x = node.inputs[0]
            if src is None and inplace_dw and x in lts and x not in kept and group_end[groups.find(x)] == i \
                    and inplace_depthwise(g, node):
                src = x
        if src is not None:
            root = groups.find(src)
            groups.union(root, out)
            group_end[root] = max(group_end[root], lts[out].end)
            aliases[out] = src
    members: dict[str, list[str]] = {}
    for n in lts:
        members.setdefault(groups.find(n), []).append(n)
    spans = []
    for root, names in members.items():
        start = min(lts[n].start for n in names)
        end = max(lts[n].end for n in names)
        size = max(lts[n].nbytes for n in names)
        spans.append((root, start, end, size, names))
    arena, out_groups = min((_place(spans, key, align) for key in ORDERS.values()), key=lambda r: r[0])
    offsets = {n: off for off, _, _, _, names in out_groups for n in names}
    plain = list(lts.values())
    return ArenaPlan(offsets=offsets, arena_bytes=arena,
                     groups=sorted(out_groups, key=lambda t: (t[0], t[2])),
                     lifetimes=lts, no_reuse_bytes=sum(lt.nbytes for lt in plain),
                     lower_bound=peak_live_bytes(plain, len(g.nodes)), aliases=aliases)


def check_plan(g: Graph, plan: ArenaPlan) -> None:
    """Assert no two tensors alive at the same step overlap in memory (unless aliased)."""
    lts = plan.lifetimes
    names = list(lts)
    root = {}
    for n in names:
        r = n
        while r in plan.aliases:
            r = plan.aliases[r]
        root[n] = r
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if root[a] == root[b] or not lts[a].overlaps(lts[b]):
                continue
            oa, ob = plan.offsets[a], plan.offsets[b]
            if oa < ob + lts[b].nbytes and ob < oa + lts[a].nbytes:
                raise AssertionError(f"plan overlaps {a} and {b}")
