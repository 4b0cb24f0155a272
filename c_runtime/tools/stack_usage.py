#!/usr/bin/env python3
"""Worst-case stack of the C runtime's entry points on a target, from the compiler.

    python3 tools/stack_usage.py [--cc arm-none-eabi-gcc] [--models a.nnb ...] [--all-kernels]

Compiles every runtime source with the Cortex-M4 flags of the Makefile and
`-fcallgraph-info=su` (GCC >= 10: per-function frame sizes and the call
graph), then sums the frames along the deepest call path from nnbrt_init,
nnbrt_run and nnbrt_arena_size. The two indirect calls of the loader (the
kernel's check in the loader's check pass, the kernel's run in
nnbrt_run_range) are resolved to the check/run functions of the kernels the
given models use (default: every zoo .nnb plus FusedConv, which the extended
files use), or of every kernel with --all-kernels. Calls into libc/libm
(memset, memcpy, expf, ...) count as LIBC_LEAF_BYTES each (newlib's leaf
routines; their frames are not in our call graph). A frame the compiler
marks dynamic, or recursion, is an error.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import glob
import importlib.util
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CRT = os.path.dirname(HERE)
ZOO = os.path.join(os.path.dirname(os.path.dirname(CRT)), "shared", "fixtures", "zoo")
M4_FLAGS = [
    "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wdouble-promotion",
    "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-Os",
    "-ffunction-sections", "-fdata-sections", "-ffp-contract=fast", "-fno-math-errno",
    "-DNNBRT_PLANE_MAX=0", "-DNNBRT_GEMM_IM2COL_MAX=0", "-DNNBRT_DECONV_GEMM_MAX=0",
    "-DNNBRT_NO_VECTOR_EXT",
]
LIBC_LEAF_BYTES = 64
ENTRIES = ("nnbrt_init", "nnbrt_run", "nnbrt_arena_size")
# self-recursion with a bound: Unpooling's expand() recurses once per axis
BOUNDED_RECURSION = {"src/kernels/unpooling.c:expand": 8}  # NNBRT_MAX_NDIM
INDIRECT = {"nnbrt_run_range": "run", "src/loader.c:check_functions": "check"}

_NODE = re.compile(r'node: \{ title: "([^"]+)" label: "([^"]*)"')
_EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')
_BYTES = re.compile(r"\\n(\d+) bytes \((\w+)")


def compile_callgraph(cc: str, outdir: str, extra: list[str] | None = None) -> list[str]:
    """Compile the runtime with -fcallgraph-info=su into outdir; the .ci files."""
    srcs = [os.path.join("src", "loader.c")] + sorted(
        os.path.relpath(p, CRT) for p in glob.glob(os.path.join(CRT, "src", "kernels", "*.c")))

    def one(src: str) -> str:
        stem = os.path.splitext(os.path.basename(src))[0]
        cmd = [cc, *M4_FLAGS, *(extra or []), "-Iinclude", "-Isrc", "-fcallgraph-info=su",
               "-c", src, "-o", os.path.join(outdir, stem + ".o"),
               "-dumpbase", stem, "-dumpdir", outdir + os.sep]
        r = subprocess.run(cmd, cwd=CRT, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"{' '.join(cmd)}\n{r.stderr}")
        return os.path.join(outdir, stem + ".ci")

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
        return list(ex.map(one, srcs))


def read_graph(ci_files: list[str]) -> tuple[dict[str, tuple[int, str]], dict[str, set[str]]]:
    """{function: (frame bytes, qualifier)} and {caller: {callees}} over all files."""
    frames: dict[str, tuple[int, str]] = {}
    calls: dict[str, set[str]] = {}
    for path in ci_files:
        text = open(path).read()
        for title, label in _NODE.findall(text):
            m = _BYTES.search(label)
            if m:
                frames[title] = (int(m.group(1)), m.group(2))
        for src, dst in _EDGE.findall(text):
            calls.setdefault(src, set()).add(dst)
    return frames, calls


def kernel_functions(frames: dict[str, tuple[int, str]]) -> dict[str, dict[str, str]]:
    """{kernel symbol: {"check": node, "run": node}} from the kernel definitions."""
    out: dict[str, dict[str, str]] = {}
    for path in glob.glob(os.path.join(CRT, "src", "kernels", "*.c")):
        rel = os.path.relpath(path, CRT)
        text = open(path).read()

        def node(name: str, rel: str = rel) -> str:
            return f"{rel}:{name}" if f"{rel}:{name}" in frames else name

        for m in re.finditer(r"const nnbrt_kernel (\w+) = \{[^}]*?,\s*(\w+),\s*(\w+)\s*\};", text):
            out[m.group(1)] = {"check": node(m.group(2)), "run": node(m.group(3))}
        for m in re.finditer(r"NNBRT_(UNARY|BINARY|REDUCE)_KERNEL\((\w+),", text):
            chk = {"UNARY": "nnbrt_check_unary", "BINARY": "nnbrt_check_binary",
                   "REDUCE": node(m.group(2) + "_check")}[m.group(1)]
            out[m.group(2)] = {"check": chk, "run": node(m.group(2) + "_run")}
    return out


def model_kernels(models: list[str]) -> set[str]:
    """Kernel symbols the models use (tools/gen_kernel_table.py's reading of the files)."""
    spec = importlib.util.spec_from_file_location("gen_kernel_table", os.path.join(HERE, "gen_kernel_table.py"))
    assert spec and spec.loader
    gkt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gkt)
    table = gkt.table_entries()
    ids: set[int] = {1000}  # FusedConv: the extended files of the same models
    for m in models:
        ids |= gkt.function_ids(m)
    return {table[i][0] for i in ids if i in table}


def worst_paths(frames, calls, kernels: dict[str, dict[str, str]]) -> dict[str, tuple[int, list[str]]]:
    """Deepest path (bytes, [functions]) from each entry point."""
    memo: dict[str, tuple[int, list[str]]] = {}
    active: set[str] = set()

    def callees(fn: str) -> set[str]:
        out = set(calls.get(fn, ()))
        if "__indirect_call" in out:
            out.discard("__indirect_call")
            if fn not in INDIRECT:
                raise RuntimeError(f"unresolved indirect call in {fn}")
            out |= {k[INDIRECT[fn]] for k in kernels.values()}
        return out

    def walk(fn: str) -> tuple[int, list[str]]:
        if fn in memo:
            return memo[fn]
        if fn in active:
            raise RuntimeError(f"recursion through {fn}")
        if fn not in frames:  # libc / libm leaf
            return LIBC_LEAF_BYTES, [fn + " (libc, counted as %d)" % LIBC_LEAF_BYTES]
        size, qual = frames[fn]
        if qual != "static":
            raise RuntimeError(f"{fn}: {qual} stack frame")
        active.add(fn)
        best: tuple[int, list[str]] = (0, [])
        depth = 1
        for c in sorted(callees(fn)):
            if c == fn and fn in BOUNDED_RECURSION:
                depth = BOUNDED_RECURSION[fn]
                continue
            r = walk(c)
            if r[0] > best[0]:
                best = r
        active.discard(fn)
        memo[fn] = (depth * size + best[0], [f"{fn} ({size}{' x %d' % depth if depth > 1 else ''})"] + best[1])
        return memo[fn]

    return {e: walk(e) for e in ENTRIES}


def measure(cc: str, models: list[str] | None, all_kernels: bool = False) -> dict[str, tuple[int, list[str]]]:
    with tempfile.TemporaryDirectory() as tmp:
        frames, calls = read_graph(compile_callgraph(cc, tmp))
    kernels = kernel_functions(frames)
    if not all_kernels:
        used = model_kernels(models or [])
        kernels = {k: v for k, v in kernels.items() if k in used}
    return worst_paths(frames, calls, kernels)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cc", default="arm-none-eabi-gcc")
    ap.add_argument("--models", nargs="*", help="NNB files (default: the zoo's)")
    ap.add_argument("--all-kernels", action="store_true")
    args = ap.parse_args()
    models = args.models if args.models is not None else sorted(glob.glob(os.path.join(ZOO, "*.nnb")))
    for entry, (size, path) in measure(args.cc, models, args.all_kernels).items():
        print(f"{entry}: {size} bytes")
        for p in path:
            print(f"    {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
