"""The instruction-counting QEMU plugin (tools/qemu_plugin/count.c): built once with the host gcc, and
the count between the firmware's two nnb_mark() calls (one nnbrt_run) read from its log."""

from __future__ import annotations

import os
import re
import subprocess

from nnb.boards.load import ROOT
from nnb.boards.tools import cache_root, need_tool, run_checked, tree_hash
from nnb.errors import NnbError

SOURCE = os.path.join(ROOT, "tools", "qemu_plugin", "count.c")


def build_plugin() -> str:
    """The plugin's .so (compiled on first use into the cache)."""
    gcc = need_tool("gcc", "building the QEMU instruction-counting plugin")
    so = os.path.join(cache_root(), f"libcount-{tree_hash([SOURCE])}.so")
    if not os.path.exists(so):
        tmp = so + f".{os.getpid()}.tmp"
        run_checked([gcc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-O2", "-o", tmp, SOURCE],
                    "building the QEMU instruction-counting plugin")
        os.replace(tmp, so)
    return so


def symbol_address(elf: str, symbol: str, nm: str = "arm-none-eabi-nm") -> int:
    tool = need_tool(nm, "reading firmware symbols")
    out = subprocess.run([tool, elf], capture_output=True, text=True).stdout
    m = re.search(rf"^([0-9a-fA-F]+) \w {re.escape(symbol)}$", out, re.M)
    if not m:
        raise NnbError(f"{elf}: no symbol {symbol}")
    return int(m.group(1), 16) & ~1


def plugin_spec(elf: str) -> str:
    """The -plugin argument that counts instructions and marks each nnb_mark() call."""
    return f"{build_plugin()},mark={symbol_address(elf, 'nnb_mark'):#x}"


def plugin_counts(log: str) -> tuple[int, list[int]]:
    """(instructions of the whole run, counts at each nnb_mark call) from the plugin's output."""
    total = re.search(r"^insns (\d+)$", log, re.M)
    if not total:
        raise NnbError("the QEMU plugin printed no count (was it loaded with -d plugin?)")
    marks = [int(m.group(2)) for m in re.finditer(r"^mark (\d+) (\d+)$", log, re.M)]
    return int(total.group(1)), marks
