"""Which C runtime files an emitted model needs: function id -> kernel record -> source files.

The kernel table (``c_runtime/src/kernels/kernel_table.c``) names the record
(``nnbrt_k_*``) of every function id; the sources are scanned once for the
external symbols each file defines and uses, and the files a model needs are
the closure over those references.  The files are copied unchanged, so the
emitted code compiles the same kernels as the runtime.
"""

from __future__ import annotations

import functools
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
C_RUNTIME = os.path.join(ROOT, "c_runtime")
KERNELS = os.path.join(C_RUNTIME, "src", "kernels")
# headers every emitted model needs (copied beside the kernels, same relative layout)
HEADERS = [("include/nnbrt.h", "nnbrt/nnbrt.h"), ("src/internal.h", "nnbrt/internal.h")]
SKIP = {"kernel_table.c"}
# the runtime's x86-64 run-time dispatch (one engine compiled per instruction set) is never emitted
NEVER_DEFINED = frozenset({"NNBRT_DISPATCH", "NNBRT_ISA_SUFFIX"})  # the runtime's dispatch table: never emitted

_TABLE = re.compile(r"\[(\d+)\]\s*=\s*\{\s*&(nnbrt_k_\w+)|\{\s*&(nnbrt_k_\w+),[^}]*\},\s*/\*\s*(\d+)")
_RECORD = re.compile(r"^const nnbrt_kernel (nnbrt_k_\w+)|^NNBRT_\w+_KERNEL\((nnbrt_k_\w+)", re.M)
_DEF = re.compile(r"^(?!static|extern|typedef|#|/|\s|})[^;{]*?\b(nnbrt_\w+)\s*\([^;]*$", re.M)
_DISPATCH = re.compile(r"^#ifdef NNBRT_DISPATCH\b.*?^#else\b", re.M | re.S)
_USE = re.compile(r"\bnnbrt_\w+\b")


_COND = re.compile(r"^\s*#\s*(ifdef|ifndef|if|elif|else|endif)\b(.*)$")


def strip_conditionals(text: str, defined: frozenset[str], undefined: frozenset[str]) -> str:
    """``text`` without the lines an ``#ifdef NAME`` / ``#ifndef NAME`` block excludes when every NAME in
    ``defined`` is defined and every NAME in ``undefined`` is not; other conditionals are kept whole (both
    branches), so only what these settings certainly leave out is dropped."""
    out: list[str] = []
    stack: list[tuple[bool, bool]] = []  # (decided by us, this branch live)
    for line in text.splitlines():
        m = _COND.match(line)
        live = all(b for _, b in stack)
        if m:
            kind, rest = m[1], m[2].split("/*")[0].strip()
            if kind in ("ifdef", "ifndef") and rest in defined | undefined:
                on = (rest in defined) == (kind == "ifdef")
                stack.append((True, on))
                continue
            if kind in ("if", "ifdef", "ifndef"):
                stack.append((False, True))
            elif kind == "else" and stack and stack[-1][0]:
                stack[-1] = (True, not stack[-1][1])
                continue
            elif kind == "endif" and stack:
                ours = stack.pop()[0]
                if ours:
                    continue
        if live:
            out.append(line)
    return "\n".join(out)


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


@functools.lru_cache(maxsize=1)
def kernel_table() -> dict[int, str]:
    """Function id -> kernel record symbol."""
    out = {}
    for i, sym, ext_sym, ext_id in _TABLE.findall(_read(os.path.join(KERNELS, "kernel_table.c"))):
        out[int(i or ext_id)] = sym or ext_sym  # [id] = {&k, ...} or the extended list {&k, NULL}, /* id */
    return out


@functools.lru_cache(maxsize=4)
def _scan(defined_macros: frozenset[str] = frozenset(),
          undefined_macros: frozenset[str] = frozenset()) -> tuple[dict[str, str], dict[str, set[str]]]:
    """(symbol -> defining file, file -> symbols it uses) over c_runtime/src/kernels/*.c, with the blocks the
    given settings exclude left out (:func:`strip_conditionals`)."""
    defined: dict[str, str] = {}
    uses: dict[str, set[str]] = {}
    undefined_macros = undefined_macros | NEVER_DEFINED
    for fn in sorted(os.listdir(KERNELS)):
        if not fn.endswith(".c") or fn in SKIP:
            continue
        text = re.sub(r"/\*.*?\*/", " ", _read(os.path.join(KERNELS, fn)), flags=re.S)
        text = _DISPATCH.sub("", text)  # the x86-64 run-time dispatch is never emitted
        text = strip_conditionals(text, defined_macros, undefined_macros)
        for a, b in _RECORD.findall(text):
            defined.setdefault(a or b, fn)
        for sym in _DEF.findall(text):
            defined.setdefault(sym, fn)
        uses[fn] = set(_USE.findall(text)) | _header_uses(text, KERNELS, set(), defined_macros, undefined_macros)
    return defined, uses


def _macro_bodies(text: str) -> str:
    """The #define lines of a header (with their continuations): what a file including it may call through
    its macros (a header's prototypes are declarations, not uses)."""
    out, cont = [], False
    for line in text.splitlines():
        if cont or line.lstrip().startswith("#define"):
            out.append(line)
            cont = line.rstrip().endswith("\\")
    return "\n".join(out)


def _header_uses(text: str, where: str, seen: set[str], defined_macros: frozenset[str],
                 undefined_macros: frozenset[str]) -> set[str]:
    """Symbols used by the project headers ``text`` includes, transitively (their macros call helpers)."""
    out: set[str] = set()
    for h in re.findall(r'^#include "([\w./]+\.h)"', text, re.M):
        hp = os.path.normpath(os.path.join(where, h))
        if hp in seen or not os.path.exists(hp):
            continue
        seen.add(hp)
        htext = strip_conditionals(_read(hp), defined_macros, undefined_macros)
        out |= set(_USE.findall(_macro_bodies(htext))) | _header_uses(htext, os.path.dirname(hp), seen,
                                                                      defined_macros, undefined_macros)
    return out


def record_functions(record: str) -> tuple[str, str]:
    """(check, run) of a kernel record as the call graph titles them: ``nnbrt/kernels/FILE.c:name`` for a
    static function, the plain name for an external one; ("", "") for an unknown record."""
    defined, _ = _scan()
    fn = defined.get(record)
    if fn is None:
        return "", ""
    text = _read(os.path.join(KERNELS, fn))
    m = re.search(r"^const nnbrt_kernel " + record + r"\s*=\s*\{([^}]*)\}\s*;", text, re.M | re.S)
    if m:
        check, run = [x.strip() for x in m[1].split(",")][-2:]
    else:
        macro = re.search(r"^(NNBRT_\w+_KERNEL)\(" + record + r"\b", text, re.M)
        kind = macro[1] if macro else ""
        check = {"NNBRT_UNARY_KERNEL": "nnbrt_check_unary",
                 "NNBRT_BINARY_KERNEL": "nnbrt_check_binary"}.get(kind, f"{record}_check")
        run = f"{record}_run"
    return tuple(x if x in defined else f"nnbrt/kernels/{fn}:{x}" for x in (check, run))  # type: ignore[return-value]


def sources_for(records: list[str], knobs: list[str] = (), not_defined: list[str] = ()) -> list[str]:  # type: ignore[assignment]
    """Kernel .c files (names in c_runtime/src/kernels) defining ``records`` and what they call, under the
    kernel settings ``knobs`` (NAME or NAME=VALUE defines) with the macros ``not_defined`` absent."""
    defined, uses = _scan(frozenset(k.partition("=")[0] for k in knobs), frozenset(not_defined))
    need: set[str] = set()
    todo = [defined[r] for r in records]
    while todo:
        fn = todo.pop()
        if fn in need:
            continue
        need.add(fn)
        for sym in uses[fn]:
            other = defined.get(sym)
            if other and other not in need:
                todo.append(other)
    return sorted(need)


def kernel_headers() -> list[str]:
    """Kernel-private headers (conv_util.h, ...), copied with the kernels."""
    return sorted(f for f in os.listdir(KERNELS) if f.endswith(".h"))
