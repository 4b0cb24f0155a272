"""The memory plan for people: a table and an ASCII picture (steps down, arena across)."""

from __future__ import annotations

import string

from nnb.ir import Graph
from nnb.plan.arena import ArenaPlan

_MARKS = string.ascii_uppercase + string.ascii_lowercase + string.digits


def plan_table(g: Graph, plan: ArenaPlan) -> str:
    lts = plan.lifetimes
    rows = [("mark", "tensor", "bytes", "offset", "end", "live steps", "shares with")]
    marks = {}
    for i, (off, _size, _start, _end, names) in enumerate(plan.groups):
        mark = _MARKS[i % len(_MARKS)]
        for n in names:
            marks[n] = mark
            lt = lts[n]
            rows.append((mark, n, f"{lt.nbytes:,}", f"{off:,}", f"{off + lt.nbytes:,}", f"{lt.start}..{lt.end}",
                         plan.aliases.get(n, "")))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    right = {2, 3, 4}
    lines = ["  ".join(v.rjust(w) if c in right else v.ljust(w) for c, (v, w) in enumerate(zip(r, widths))).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plan_picture(g: Graph, plan: ArenaPlan, width: int = 64) -> str:
    """One line per step: which group occupies which part of the arena."""
    total = max(plan.arena_bytes, 1)
    scale = width / total
    lines = [f"arena {plan.arena_bytes:,} bytes, one column = {total / width:,.0f} bytes"]
    steps = range(0, len(g.nodes))
    for s in steps:
        row = ["."] * width
        for i, (off, size, start, end, _names) in enumerate(plan.groups):
            if start <= s <= end:
                a, b = int(off * scale), max(int((off + size) * scale), int(off * scale) + 1)
                for c in range(a, min(b, width)):
                    row[c] = _MARKS[i % len(_MARKS)]
        node = g.nodes[s]
        lines.append(f"{s:4d} |{''.join(row)}| {node.op} -> {', '.join(node.outputs)}")
    return "\n".join(lines)


def plan_summary(plan: ArenaPlan, lower_bound: int | None = None) -> str:
    bound = plan.lower_bound if lower_bound is None else lower_bound
    return (f"arena {plan.arena_bytes:,} bytes; no reuse {plan.no_reuse_bytes:,} bytes; "
            f"no-fusion lower bound {bound:,} bytes (tensors only; network inputs are bound by the caller, not in "
            "the arena; the C runtime adds tables, input staging and kernel scratch: nnb convert / nnbrt info)")
