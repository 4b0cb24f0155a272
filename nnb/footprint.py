"""Flash/RAM footprint from compiler outputs: section sizes, symbol sizes, worst-case stack.

Generic helpers, used by ``nnb emit-c`` (its footprint report) and by the
board builds (fit checks).  Nothing here knows about models.

API (stable):

``sections(path, size_tool="size") -> dict[str, int]``
    every allocated section of one object/ELF file with its size in bytes,
    from ``SIZE -A`` (``arm-none-eabi-size`` for ARM objects).
``section_sizes(paths, size_tool="size") -> dict[str, int]``
    the sections of several files summed into the four classes ``text``
    (``.text*``, ``.init``/``.fini``, ``.ARM.ex*``, ``.plt*``), ``rodata`` (``.rodata*``),
    ``data`` (``.data*``, ``.init_array``/``.fini_array``, ...) and ``bss`` (``.bss*``, ``COMMON``);
    ``flash = text + rodata + data`` and ``ram = data + bss`` are added.
``classify(section_name) -> str``
    the class of one section name (``""`` for debug/notes/other non-allocated sections).
``symbol_sizes(path, nm_tool="nm") -> dict[str, tuple[str, int]]``
    symbol -> (nm type letter, size) from ``NM -S``.
``parse_su(text) -> dict[str, StackFrame]``
    a ``-fstack-usage`` ``.su`` file: function -> frame bytes and qualifier
    (``static``, ``dynamic``, ``dynamic,bounded``).
``parse_ci(text) -> tuple[dict[str, StackFrame], list[tuple[str, str]]]``
    a ``-fcallgraph-info=su`` ``.ci`` file (VCG): node frames and call edges.
    Static functions are titled ``file.c:name``, global ones ``name``.
``stack_usage(su_paths, roots, ci_paths=(), extra_edges=None) -> dict[str, int]``
    worst-case stack of each root function in bytes: its frame plus the
    deepest chain of callees (the call graph from the ``.ci`` files, plus
    ``extra_edges`` {caller: [callees]} for calls the compiler cannot see,
    such as calls through a const table of function pointers).  Frames come
    from the ``.ci`` labels and from the ``.su`` files.  Unknown callees
    (library functions without a frame) count as 0 bytes; a recursive cycle
    raises :class:`nnb.errors.NnbError` (its depth has no bound).
``stack_report(...)``
    the same with the details: the worst path per root, unknown callees,
    dynamic frames.
``reachable_code(objects, roots, extra_edges=None, nm_tool="nm") -> tuple[int, set[str]]``
    bytes of the functions reachable from ``roots`` (what ``--gc-sections``
    keeps of objects compiled with ``-ffunction-sections``): the call graph
    from the ``.ci`` file beside each object (same stem), function sizes from
    ``NM -S`` of that object; returns (bytes, reached function titles).
``parse_map(text) -> LinkMap``
    a GNU ld map file (``-Wl,-Map=FILE``; with ``-Wl,--cref`` also the cross
    reference table): every input section the link kept with its output
    section, size and file (``lib.a(member.o)`` for archive members), and
    which files reference each symbol.
``map_split(link_map, own) -> dict[str, dict[str, int]]``
    the kept bytes by class (text, rodata, data, bss) of the files ``own(file)``
    says are ours plus every archive member they pull in (transitively through
    the cross reference table: a member one of ours references), and of all
    the others ("own" / "other"; a member used by both counts in "own" and
    in "other"); ``exclude(section)`` sets sections apart (e.g. the weights).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from nnb.errors import NnbError

__all__ = ["LinkMap", "StackFrame", "StackReport", "classify", "map_split", "parse_ci", "parse_map", "parse_su",
           "reachable_code", "sections", "section_sizes", "stack_report", "stack_usage", "symbol_sizes"]


@dataclass(frozen=True)
class StackFrame:
    bytes: int
    qualifier: str  # static | dynamic | dynamic,bounded


@dataclass
class StackReport:
    worst: dict[str, int]  # root -> bytes
    path: dict[str, list[str]]  # root -> the deepest call chain (root first)
    unknown: set[str] = field(default_factory=set)  # callees with no frame information (counted as 0)
    dynamic: set[str] = field(default_factory=set)  # functions whose frame is not static


def _tool(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError:
        raise NnbError(f"'{cmd[0]}' is not installed (binutils: apt-get install binutils, or "
                       "binutils-arm-none-eabi for ARM objects)") from None
    if r.returncode != 0:
        msg = (r.stderr or r.stdout).strip().splitlines()
        raise NnbError(f"{' '.join(cmd[:2])}: {msg[-1] if msg else 'failed'}")
    return r.stdout


def classify(name: str) -> str:
    """Section class: text, rodata, data, bss, or "" (not counted)."""
    if name.startswith((".text", ".init", ".fini", ".ARM.extab", ".ARM.exidx", ".plt", ".glue_7", ".vfp11_veneer",
                        ".isr_vector", ".vectors")) and not name.startswith((".init_array", ".fini_array")):
        return "text"
    if name.startswith(".rodata"):
        return "rodata"
    if name.startswith((".data", ".init_array", ".fini_array", ".preinit_array", ".tdata", ".got")):
        return "data"
    if name.startswith((".bss", ".tbss", "COMMON", ".noinit")):
        return "bss"
    return ""


def sections(path: str, size_tool: str = "size") -> dict[str, int]:
    """Section name -> bytes of one object or ELF file (``SIZE -A``)."""
    out: dict[str, int] = {}
    for line in _tool([size_tool, "-A", path]).splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith((".", "COMMON")) and parts[1].isdigit():
            out[parts[0]] = out.get(parts[0], 0) + int(parts[1])
    return out


def section_sizes(paths: str | Sequence[str], size_tool: str = "size") -> dict[str, int]:
    """text/rodata/data/bss summed over ``paths``, plus flash (text+rodata+data) and ram (data+bss)."""
    if isinstance(paths, str):
        paths = [paths]
    tot = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    for p in paths:
        for name, n in sections(p, size_tool).items():
            c = classify(name)
            if c:
                tot[c] += n
    tot["flash"] = tot["text"] + tot["rodata"] + tot["data"]
    tot["ram"] = tot["data"] + tot["bss"]
    return tot


def symbol_sizes(path: str, nm_tool: str = "nm") -> dict[str, tuple[str, int]]:
    """Symbol -> (type letter, size in bytes) for the sized symbols of ``path`` (``NM -S``)."""
    out: dict[str, tuple[str, int]] = {}
    for line in _tool([nm_tool, "-S", path]).splitlines():
        parts = line.split()
        if len(parts) == 4:
            out[parts[3]] = (parts[2], int(parts[1], 16))
    return out


_SU = re.compile(r"^(?P<loc>.*?):(?P<line>\d+):(?P<col>\d+):(?P<name>[^\t]+)\t(?P<n>\d+)\t(?P<q>\S+)\s*$")


def parse_su(text: str) -> dict[str, StackFrame]:
    """``-fstack-usage`` lines ``file.c:LINE:COL:function<TAB>bytes<TAB>qualifier``."""
    out: dict[str, StackFrame] = {}
    for line in text.splitlines():
        m = _SU.match(line)
        if m:
            out[m["name"]] = StackFrame(int(m["n"]), m["q"])
    return out


_CI_NODE = re.compile(r'node:\s*\{\s*title:\s*"(?P<title>[^"]*)"\s*label:\s*"(?P<label>[^"]*)"')
_CI_EDGE = re.compile(r'edge:\s*\{\s*sourcename:\s*"(?P<src>[^"]*)"\s*targetname:\s*"(?P<dst>[^"]*)"')
_CI_BYTES = re.compile(r"\\n(\d+) bytes \(([^)]*)\)")


def parse_ci(text: str) -> tuple[dict[str, StackFrame], list[tuple[str, str]]]:
    """Nodes with a frame size and the call edges of a ``-fcallgraph-info=su`` file."""
    nodes: dict[str, StackFrame] = {}
    edges: list[tuple[str, str]] = []
    for m in _CI_NODE.finditer(text):
        b = _CI_BYTES.search(m["label"])
        if b:
            nodes[m["title"]] = StackFrame(int(b[1]), b[2])
    for m in _CI_EDGE.finditer(text):
        edges.append((m["src"], m["dst"]))
    return nodes, edges


def _short(name: str) -> str:
    """``file.c:func`` -> ``func`` (the .su and edge-key form of a static function)."""
    return name.rsplit(":", 1)[-1]


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as e:
        raise NnbError(f"{path}: cannot read ({e.strerror})") from None


def stack_report(su_paths: Iterable[str], roots: Sequence[str], ci_paths: Iterable[str] = (),
                 extra_edges: Mapping[str, Sequence[str]] | None = None) -> StackReport:
    """Worst-case stack per root with the path that reaches it (see the module docstring)."""
    frames: dict[str, StackFrame] = {}
    calls: dict[str, set[str]] = {}
    for p in su_paths:
        for name, fr in parse_su(_read(p)).items():
            frames.setdefault(name, fr)
    for p in ci_paths:
        nodes, edges = parse_ci(_read(p))
        for title, fr in nodes.items():
            frames[title] = fr
        for a, b in edges:
            calls.setdefault(a, set()).add(b)
    for a, bs in (extra_edges or {}).items():
        calls.setdefault(a, set()).update(bs)

    def frame_of(name: str) -> StackFrame | None:
        return frames.get(name) or frames.get(_short(name))

    def callees(name: str) -> set[str]:
        return calls.get(name, set()) | (calls.get(_short(name), set()) if _short(name) != name else set())

    memo: dict[str, tuple[int, list[str]]] = {}
    unknown: set[str] = set()
    dynamic: set[str] = set()
    active: set[str] = set()

    def worst(name: str) -> tuple[int, list[str]]:
        if name in memo:
            return memo[name]
        if name in active:
            raise NnbError(f"recursion through {_short(name)}: the stack depth has no static bound")
        active.add(name)
        fr = frame_of(name)
        if fr is None:
            unknown.add(_short(name))
        elif fr.qualifier != "static":
            dynamic.add(_short(name))
        best, best_path = 0, []
        for c in sorted(callees(name)):
            if c == "__indirect_call":
                unknown.add(c)
                continue
            n, p = worst(c)
            if n > best:
                best, best_path = n, p
        active.discard(name)
        memo[name] = ((fr.bytes if fr else 0) + best, [_short(name)] + best_path)
        return memo[name]

    report = StackReport({}, {}, unknown, dynamic)
    for r in roots:
        key = r if (r in frames or r in calls) else next((t for t in frames if _short(t) == r), r)
        n, p = worst(key)
        report.worst[r], report.path[r] = n, p
    return report


def stack_usage(su_paths: Iterable[str], roots: Sequence[str], ci_paths: Iterable[str] = (),
                extra_edges: Mapping[str, Sequence[str]] | None = None) -> dict[str, int]:
    """Worst-case stack bytes of each root (frames from .su/.ci, calls from .ci + ``extra_edges``)."""
    return stack_report(su_paths, roots, ci_paths, extra_edges).worst


def reachable_code(objects: Sequence[str], roots: Sequence[str],
                   extra_edges: Mapping[str, Sequence[str]] | None = None, nm_tool: str = "nm") -> tuple[int, set[str]]:
    """Bytes of the functions reachable from ``roots`` through the .ci call graphs (+ ``extra_edges``)."""
    size: dict[str, int] = {}
    calls: dict[str, set[str]] = {}
    for obj in objects:
        syms = {n: sz for n, (t, sz) in symbol_sizes(obj, nm_tool).items() if t in "tTwW"}
        ci = obj[:-2] + ".ci" if obj.endswith(".o") else obj + ".ci"
        titles: list[str] = []
        if os.path.exists(ci):
            text = _read(ci)
            titles = [m["title"] for m in _CI_NODE.finditer(text)]
            for a, b in parse_ci(text)[1]:
                calls.setdefault(a, set()).add(b)
        for t in titles:
            if _short(t) in syms:
                size[t] = syms[_short(t)]
        for n, sz in syms.items():  # global functions are called by their plain name
            size.setdefault(n, sz)
    for a, bs in (extra_edges or {}).items():
        calls.setdefault(a, set()).update(bs)
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        todo.extend(calls.get(f, ()))
    return sum(size.get(f, 0) for f in seen), seen


@dataclass
class LinkMap:
    kept: list[tuple[str, str, int, str]]  # (output section, input section, bytes, file) of every kept input section
    refs: dict[str, tuple[str, list[str]]]  # symbol -> (defining file, referencing files) from --cref
    symbols: dict[str, str] = field(default_factory=dict)  # symbol -> the input section defining it (map lines)


_MAP_IN = re.compile(r"^ (?P<sec>[.\w$-][^\s]*)?\s+0x(?P<addr>[0-9a-f]+)\s+0x(?P<size>[0-9a-f]+)\s+(?P<file>\S.*)$")
_MAP_OUT = re.compile(r"^(?P<sec>\.[^\s]+)(\s+0x[0-9a-f]+\s+0x[0-9a-f]+)?\s*$")


def parse_map(text: str) -> LinkMap:
    """The kept input sections and the cross references of a GNU ld map file."""
    kept: list[tuple[str, str, int, str]] = []
    refs: dict[str, tuple[str, list[str]]] = {}
    lines = text.splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if ln.startswith("Linker script and memory map"))
    except StopIteration:
        raise NnbError("not a GNU ld map file (no 'Linker script and memory map')") from None
    end = next((i for i, ln in enumerate(lines) if ln.startswith("Cross Reference Table")), len(lines))
    out_sec, pending = "", ""
    for ln in lines[start:end]:
        if ln.startswith("."):
            m = _MAP_OUT.match(ln)
            if m:
                out_sec = m["sec"]
            continue
        if ln.startswith(" ") and not ln.startswith("  ") and len(ln.split()) == 1 and ln.strip().startswith("."):
            pending = ln.strip()  # a long input section name: its address, size and file on the next line
            continue
        m = _MAP_IN.match(ln)
        if m and (m["sec"] or pending) and not m["file"].startswith("("):
            sec = m["sec"] or pending
            if sec != "*fill*" and not sec.startswith("*("):
                size = int(m["size"], 16)
                if size:
                    kept.append((out_sec, sec, size, m["file"].strip()))
        pending = ""
    sym = ""
    for ln in lines[end + 1:]:
        if not ln.strip() or ln.startswith("Symbol"):
            continue
        if not ln.startswith(" "):
            parts = ln.split(None, 1)
            sym = parts[0]
            if len(parts) == 2:
                refs[sym] = (parts[1].strip(), [])
            continue
        f = ln.strip()
        if sym in refs:
            refs[sym][1].append(f)
        elif sym:
            refs[sym] = (f, [])
    return LinkMap(kept, refs)


def map_split(lm: LinkMap, own: Callable[[str], bool],
              exclude: Callable[[str], bool] | None = None) -> dict[str, dict[str, int]]:
    """Kept bytes per class of ours (``own`` files and the archive members they pull in) and of the rest; input
    sections whose name ``exclude`` accepts (e.g. the weights) are counted apart, under "excluded"."""
    files = {f for _, _, _, f in lm.kept}
    ours = {f for f in files if own(f)}
    others = files - ours
    uses: dict[str, set[str]] = {}  # file -> the files defining what it references
    for _sym, (definer, users) in lm.refs.items():
        for u in users:
            uses.setdefault(u, set()).add(definer)

    def closure(roots: set[str]) -> set[str]:
        seen, todo = set(roots), list(roots)
        while todo:
            for d in uses.get(todo.pop(), ()):
                if d not in seen and "(" in d:  # archive members only: the objects are split by ``own``
                    seen.add(d)
                    todo.append(d)
        return seen

    own_set = closure(ours)
    other_set = closure({f for f in others if "(" not in f}) | (others - own_set)
    out = {k: {"text": 0, "rodata": 0, "data": 0, "bss": 0} for k in ("own", "other", "excluded")}
    for out_sec, sec, size, f in lm.kept:
        cls = classify(sec) or classify(out_sec)
        if not cls:
            continue
        if exclude is not None and exclude(sec):
            out["excluded"][cls] += size
            continue
        if f in own_set:
            out["own"][cls] += size
        if f in other_set:
            out["other"][cls] += size
    return out
