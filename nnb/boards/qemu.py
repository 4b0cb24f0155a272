"""Running firmware: qemu-system-arm with semihosting and -icount (or natively for the host board)."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass

from nnb.boards.load import Board, load_board
from nnb.boards.tools import need_tool
from nnb.errors import NnbError

# the emulated machine that runs a CPU's code when the board itself has no QEMU machine (arena probe)
STAND_IN = {"cortex-m0plus": "qemu-mps2-an385", "cortex-m3": "qemu-mps2-an385", "cortex-m4": "qemu-mps2-an386",
            "cortex-m7": "qemu-mps2-an500", "cortex-m33": "qemu-mps2-an505"}


@dataclass
class RunResult:
    console: str  # semihosting output (QEMU's stderr) or the program's stdout
    files: dict[str, bytes]  # files the firmware wrote (nnb_out.bin)
    plugin_log: str = ""


def emulator_board(board: Board) -> Board:
    """The board whose QEMU machine runs this board's code."""
    if board.qemu_machine or board.is_host:
        return board
    return load_board(STAND_IN[board.cpu])


def qemu_command(board: Board, elf: str, plugin: str | None = None, log: str | None = None) -> list[str]:
    cmd = [need_tool("qemu-system-arm", f"running firmware for {board.name}"), "-M", board.qemu_machine or "",
           "-nographic", "-monitor", "none", "-serial", "none", "-icount", "shift=0",
           "-semihosting-config", "enable=on,target=native", "-kernel", elf]
    if plugin:
        cmd += ["-plugin", plugin, "-d", "plugin", "-D", log or os.devnull]
    return cmd


def run_firmware(board: Board, elf: str, files: dict[str, bytes], want: tuple[str, ...] = (),
                 plugin: str | None = None, timeout: float = 600) -> RunResult:
    """Run ``elf`` in a scratch directory holding ``files``; return its console and the files in ``want``."""
    emu = emulator_board(board)
    with tempfile.TemporaryDirectory(prefix="nnb-fw-") as d:
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        log = os.path.join(d, "plugin.log")
        if emu.is_host:
            cmd = [os.path.abspath(elf)]
        else:
            cmd = qemu_command(emu, os.path.abspath(elf), plugin, log)
        try:
            r = subprocess.run(cmd, cwd=d, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise NnbError(f"the firmware did not finish within {timeout:.0f} s on {emu.name}") from None
        console = r.stdout + r.stderr if emu.is_host else r.stderr
        if r.returncode != 0 or "nnb: error" in console:
            m = re.search(r"nnb: error: (.*)", console)
            why = m.group(1) if m else (console.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
            raise NnbError(f"the firmware failed on {emu.name}: {why}")
        out = {}
        for name in want:
            p = os.path.join(d, name)
            if not os.path.exists(p):
                raise NnbError(f"the firmware did not write {name}")
            with open(p, "rb") as f:
                out[name] = f.read()
        plog = ""
        if plugin and os.path.exists(log):
            with open(log) as f:
                plog = f.read()
        return RunResult(console, out, plog)


def console_values(console: str) -> dict[str, int]:
    """The firmware's "nnb: key value ..." lines as {key: value} (first number after each word)."""
    vals: dict[str, int] = {}
    for line in console.splitlines():
        if not line.startswith("nnb: ") or line.startswith("nnb: layer"):
            continue
        words = line[5:].split()
        for k in range(len(words) - 1):
            if re.fullmatch(r"[a-z_]+", words[k]) and re.fullmatch(r"\d+", words[k + 1]):
                vals.setdefault(words[k], int(words[k + 1]))
    return vals


def console_layers(console: str) -> list[tuple[int, int, str, int]]:
    """Profile lines "nnb: layer F id ID NAME UNIT COUNT" -> (index, function id, name, count)."""
    out = []
    for m in re.finditer(r"^nnb: layer (\d+) id (\d+) (\S+) \w+ (\d+)$", console, re.M):
        out.append((int(m.group(1)), int(m.group(2)), m.group(3), int(m.group(4))))
    return out
