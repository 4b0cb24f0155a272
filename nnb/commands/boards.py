"""``nnb boards``: the board files in boards/ (CPU, FPU, memory, toolchain, QEMU machine)."""

from __future__ import annotations

import argparse


def _kb(n: int) -> str:
    return f"{n / (1 << 20):g} MB" if n % (1 << 20) == 0 else f"{n // 1024} KB"


def cmd_boards(args: argparse.Namespace) -> int:
    from nnb.boards import list_boards
    from nnb.boards.build import have_cross_tools

    rows = [("board", "cpu", "fpu", "clock", "flash", "RAM", "emulated by", "toolchain")]
    for b in list_boards():
        missing = have_cross_tools(b)
        rows.append((b.name, b.cpu, b.fpu, f"{b.clock_hz / 1e6:g} MHz" if b.clock_hz else "-",
                     _kb(b.flash_bytes) if b.flash_bytes else "-", _kb(b.ram_bytes) if b.ram_bytes else "-",
                     f"qemu {b.qemu_machine}" if b.qemu_machine else ("native" if b.is_host else "-"),
                     b.cc + ("" if missing is None else " (missing)")))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    if args.verbose:
        for b in list_boards():
            print(f"\n{b.name}: {b.description}\n  file {b.path}\n  flags {' '.join(b.cflags)} {b.opt} "
                  + " ".join("-D" + d for d in b.defines))
            for r in b.memory:
                print(f"  {r.kind:8s} {r.name:10s} 0x{r.origin:08x} {_kb(r.length)}")
            print("  supports " + ", ".join(k for k, v in b.supports.items() if v))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    help_ = "list the boards nnb builds firmware for (boards/*.toml)"
    sp = sub.add_parser("boards", help=help_, description=help_ + "; docs/boards.md explains how to add one")
    sp.add_argument("--verbose", "-v", action="store_true", help="also memory regions, flags and features")
    sp.set_defaults(func=cmd_boards)
