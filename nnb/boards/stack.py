"""Worst-case stack depth from gcc's -fcallgraph-info=su files (.ci, one per object).

Each function's frame comes from the node label ("N bytes (static)"), calls from
the edges.  Calls through a pointer (``__indirect_call``) are resolved to the
largest of the ``indirect`` candidates (the model's kernels from its kernel
table).  Calls to functions without a node (newlib's memcpy, expf, ...) count
a fixed allowance; recursion (none in the runtime) would be cut at the repeated function.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from nnb.errors import NnbError

_NODE = re.compile(r'node: \{ title: "([^"]+)" label: "([^"]*)"')
_EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"(?: label: "([^"]*)")?')
_BYTES = re.compile(r"\\n(\d+) bytes \((static|dynamic[^)]*)\)")
INDIRECT = "__indirect_call"


@dataclass
class CallGraph:
    frames: dict[str, int] = field(default_factory=dict)  # qualified "file:name" -> bytes
    calls: dict[str, list[str]] = field(default_factory=dict)  # qualified -> target titles (unresolved)
    by_name: dict[str, list[str]] = field(default_factory=dict)  # plain name -> qualified names
    dynamic: set[str] = field(default_factory=set)  # frames of dynamic size (alloca/VLA): a lower bound

    def resolve(self, name: str, unit: str) -> list[str]:
        local = f"{unit}:{name}"
        if local in self.frames:
            return [local]
        return self.by_name.get(name, [])


def read_callgraph(paths: list[str], base: str = "") -> CallGraph:
    """The call graph of these .ci files (``base``: the directory the compiler ran in, for relative paths)."""
    g = CallGraph()
    for path in paths:
        unit = os.path.basename(path)[:-3]
        try:
            with open(path) as f:
                text = f.read()
        except OSError as e:
            raise NnbError(f"cannot read call graph {path}: {e.strerror}") from None
        for m in _NODE.finditer(text):
            title, label = m.group(1), m.group(2)
            if title == INDIRECT:
                continue
            b = _BYTES.search(label)
            if b is None:  # a declaration (defined in another unit or a library)
                continue
            q = f"{unit}:{title}"
            g.frames[q] = int(b.group(1))
            if b.group(2) != "static":
                g.dynamic.add(q)
            g.by_name.setdefault(title, []).append(q)
            g.calls.setdefault(q, [])
        for m in _EDGE.finditer(text):
            src = f"{unit}:{m.group(1)}"
            target = m.group(2)
            if target == INDIRECT:  # keep the call site: which member of the kernel it calls
                target = f"{INDIRECT}@{_call_site(m.group(3) or '', base)}"
            g.calls.setdefault(src, []).append(target)
    return g


def _call_site(label: str, base: str = "") -> str:
    """The source text of a call site "file.c:LINE:COL" ("" when unreadable)."""
    m = re.match(r"(.+):(\d+):\d+$", label)
    if not m:
        return ""
    try:
        with open(os.path.join(base, m.group(1))) as f:
            lines = f.read().splitlines()
        return lines[int(m.group(2)) - 1]
    except (OSError, IndexError):
        return ""


def find_ci(directory: str) -> list[str]:
    out = []
    for d, _, files in os.walk(directory):
        out += [os.path.join(d, f) for f in files if f.endswith(".ci")]
    return sorted(out)


def worst_depth(g: CallGraph, root: str, indirect: dict[str, list[str]],
                extern_bytes: int = 0) -> tuple[int, list[str]]:
    """Deepest stack from ``root`` (a plain function name) and the call chain that reaches it.  A call to a
    function outside the graph (libc, libm, libgcc's soft float) counts ``extern_bytes``."""
    memo: dict[str, tuple[int, list[str]]] = {}

    def visit(q: str, active: frozenset[str]) -> tuple[int, list[str]]:
        if q in memo:
            return memo[q]
        unit = q.split(":", 1)[0]
        best: tuple[int, list[str]] = (0, [])
        for t in g.calls.get(q, []):
            targets = _indirect(t, indirect) if t.startswith(INDIRECT) else g.resolve(t, unit)
            if not targets and extern_bytes > best[0]:
                best = (extern_bytes, [f"{t} (library, {extern_bytes} B allowed)"])
            for tq in targets:
                if tq in active:
                    continue
                d = visit(tq, active | {tq})
                if d[0] > best[0]:
                    best = d
        r = (g.frames.get(q, 0) + best[0], [q.split(":", 1)[1]] + best[1])
        memo[q] = r
        return r

    roots = g.by_name.get(root, [])
    if not roots:
        raise NnbError(f"stack analysis: no function '{root}' in the call graph")
    return max((visit(q, frozenset({q})) for q in roots), key=lambda d: d[0])


def _indirect(target: str, indirect: dict[str, list[str]]) -> list[str]:
    """Targets of a call through a pointer: the kernels' ``check`` or ``run`` functions, by the call's text."""
    m = re.search(r"(?:->|\.)\s*(check|run)\s*\(", target)
    return indirect.get(m.group(1), []) if m else indirect.get("check", []) + indirect.get("run", [])


_KERNEL_DEF = re.compile(r"(?:const nnbrt_kernel\s+|^NNBRT_\w*KERNEL\(\s*)(nnbrt_k_\w+)", re.M)
CHECK_HELPERS = ["nnbrt_check_unary", "nnbrt_check_binary"]


_STRUCT = re.compile(r"const nnbrt_kernel\s+(nnbrt_k_\w+)\s*=\s*\{([^}]*)\}")
_MACRO = re.compile(r"^NNBRT_(\w*)KERNEL\(\s*(nnbrt_k_\w+)", re.M)
_MACRO_CHECK = {"UNARY_": "nnbrt_check_unary", "BINARY_": "nnbrt_check_binary"}


def kernel_functions(kernel_table_c: str, kernels_dir: str, g: CallGraph) -> dict[str, list[str]]:
    """The ``check`` and ``run`` functions (qualified "unit:title") of the kernels a generated kernel table
    names: the targets of the loader's calls through the kernel table."""
    with open(kernel_table_c) as f:
        used = set(re.findall(r"&(nnbrt_k_\w+)", f.read()))
    names: dict[str, list[tuple[str, str]]] = {"check": [], "run": []}  # (unit, plain name)
    for fn in sorted(os.listdir(kernels_dir)):
        if not fn.endswith(".c") or fn == "kernel_table.c":
            continue
        unit = fn[:-2]
        with open(os.path.join(kernels_dir, fn)) as f:
            text = f.read()
        for m in _STRUCT.finditer(text):
            fields = [x.strip() for x in m.group(2).split(",")]
            if m.group(1) in used and len(fields) >= 2:
                names["check"].append((unit, fields[-2]))
                names["run"].append((unit, fields[-1]))
        for m in _MACRO.finditer(text):
            if m.group(2) in used:
                names["run"].append((unit, m.group(2) + "_run"))
                names["check"].append((unit, _MACRO_CHECK.get(m.group(1), m.group(2) + "_check")))
    out: dict[str, list[str]] = {}
    for member, pairs in names.items():
        qs = []
        for unit, name in pairs:
            qs += [q for q in g.frames if q.split(":", 1)[0] == unit and q.rsplit(":", 1)[-1] == name]
            qs += g.by_name.get(name, []) if not name.startswith("nnbrt_k_") else []
        out[member] = sorted(set(qs))
    return out


def titled_functions(g: CallGraph, edges: dict[str, list[str]]) -> dict[str, list[str]]:
    """Qualified names of call-graph titles ("path/file.c:name" or a global name) from
    ``nnb.emit.csource_ctx.CModel.call_edges`` ({caller: [titles]}), as ``{"run": [...], "check": [...]}``."""
    out: dict[str, list[str]] = {"run": [], "check": []}
    for caller, titles in edges.items():
        member = "check" if caller.endswith("_check") else "run"
        for t in titles:
            qs = [q for q in g.frames if q.split(":", 1)[1] == t or q.split(":", 1)[1].endswith("/" + t)]
            out[member] += qs or g.by_name.get(t, [])
    return out
