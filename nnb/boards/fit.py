"""The fit check: what a model needs on a board (RAM, flash) before linking, and what the linker placed.

- arena: nnbrt_arena_size on the target (nnb.boards.build.probe_arena), exact;
- stack: the deepest call chain from the reset handler in gcc's call graph (-fcallgraph-info=su, which
  carries -fstack-usage's frames), calls through the kernel table resolved to the model's kernels, plus
  an exception frame for the counter interrupt and the board's margin;
- static data and code: from a link of the same objects without the weights (code.elf);
- flash = code + the NNB image (+ embedded inputs).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from nnb.boards.load import Board
from nnb.boards.stack import find_ci, kernel_functions, read_callgraph, titled_functions, worst_depth
from nnb.boards.tools import C_RUNTIME, run_checked
from nnb.errors import NnbError

KERNELS_DIR = os.path.join(C_RUNTIME, "src", "kernels")
_SECTION = re.compile(r"^(\.\S+)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)", re.M)
FLASH_SECTIONS = {".isr_vector", ".text", ".ARM.extab", ".ARM.exidx", ".nnb_model"}  # templates/firmware/link.ld
RAM_SECTIONS = {".stack", ".data", ".bss", ".nnb_arena"}
_NOT_ALLOC = re.compile(r"^\.(comment|ARM\.attributes|debug|stab|note|gnu|symtab|strtab|shstrtab)")


@dataclass
class Footprint:
    arena: int
    stack_runtime: int  # below main's frame after painting: nnbrt_init, nnbrt_run, i/o (+ interrupt frame)
    stack_runtime_only: int  # deepest of nnbrt_init / nnbrt_run alone
    stack_whole: int  # from the reset handler (+ interrupt frame)
    stack_reserved: int  # the .stack section: whole + the board's margin
    static_ram: int  # .data + .bss besides the arena
    code_flash: int  # code, constants, vector table, .data initialisers
    image_flash: int  # the NNB image (+ embedded inputs), 16-aligned
    ram_capacity: int
    flash_capacity: int
    chain: list[str] = field(default_factory=list)  # the deepest call chain

    @property
    def ram(self) -> int:
        return self.stack_reserved + self.static_ram + _align(self.arena, 16)

    @property
    def flash(self) -> int:
        return self.code_flash + self.image_flash


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def _kb(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n >= 10 * 1024 else f"{n / 1024:.1f} KB"


def library_stack(board: Board) -> int:
    """Stack allowed for a call into newlib/libgcc (no call graph for them): soft float nests deeper."""
    return 256 if board.fpu == "none" else 128


def exception_frame(board: Board, frames: dict[str, int]) -> int:
    """Stack taken by the SysTick interrupt (the counter) when it lands on the deepest point."""
    if board.counter not in ("systick", "systick-icount"):
        return 0
    handler = max((v for k, v in frames.items() if k.endswith(":SysTick_Handler")), default=0)
    fp = board.fpu not in ("none", "sse2")
    return (104 if fp else 32) + 4 + handler  # basic (+FP lazy) frame, 8-byte alignment pad, the handler


def predict(board: Board, outdir: str, rtbuild: str, kernel_table_c: str, arena: int, image_len: int,
            inputs_len: int) -> Footprint:
    g = read_callgraph(find_ci(rtbuild) + find_ci(os.path.join(outdir, "build")), base=outdir)
    kern = kernel_functions(kernel_table_c, KERNELS_DIR, g)
    lib = library_stack(board)
    d_main, chain = worst_depth(g, "main", kern, lib)
    main_q = next(q for q in g.by_name.get("main", []))
    # the painted region: what main calls after painting (nnbrt_arena_size runs before)
    below_main = max((worst_depth(g, t, kern, lib)[0] for t in set(g.calls.get(main_q, []))
                      if t != "nnbrt_arena_size" and g.by_name.get(t)), default=0)
    rt_only = max(worst_depth(g, fn, kern, lib)[0] for fn in ("nnbrt_init", "nnbrt_run", "nnbrt_arena_size"))
    exc = exception_frame(board, g.frames)
    if board.is_host:
        whole, code, static = d_main + exc, 0, 0
    else:
        whole, chain = worst_depth(g, "Reset_Handler", kern, lib)
        whole += exc
        run_checked(["make", "-C", outdir, f"RTBUILD={rtbuild}", "code.elf"], "linking the firmware's code")
        use = section_usage(board, os.path.join(outdir, "code.map"))
        code = use["flash"]
        static = use["ram"] - use.get(".stack", 0) - use.get(".nnb_arena", 0)
    reserved = _align(whole + board.stack_margin, 8)
    return Footprint(arena=arena, stack_runtime=below_main + exc, stack_runtime_only=rt_only,
                     stack_whole=whole, stack_reserved=reserved, static_ram=static, code_flash=code,
                     image_flash=_align(image_len, 16) + _align(inputs_len, 16), ram_capacity=board.ram_bytes,
                     flash_capacity=board.flash_bytes, chain=chain)


def check_fit(board: Board, fp: Footprint) -> None:
    """Stop with one line when the model does not fit the board's RAM or flash."""
    if board.is_host:
        return
    if fp.ram > fp.ram_capacity:
        raise NnbError(f"needs {_kb(fp.ram)} RAM, {board.name} has {_kb(fp.ram_capacity)} "
                       f"(arena {_kb(fp.arena)}, stack {_kb(fp.stack_reserved)}, static data {_kb(fp.static_ram)})")
    if fp.flash > fp.flash_capacity:
        raise NnbError(f"needs {_kb(fp.flash)} flash, {board.name} has {_kb(fp.flash_capacity)} "
                       f"(weights {_kb(fp.image_flash)}, code {_kb(fp.code_flash)})")


def quick_fit(board: Board, arena: int, image_len: int) -> None:
    """The part of the fit check that needs no compiler: arena alone vs RAM, image alone vs flash."""
    if board.is_host:
        return
    if arena > board.ram_bytes:
        raise NnbError(f"needs {_kb(arena)} RAM, {board.name} has {_kb(board.ram_bytes)} (arena {_kb(arena)})")
    if image_len > board.flash_bytes:
        raise NnbError(f"needs {_kb(image_len)} flash, {board.name} has {_kb(board.flash_bytes)} "
                       f"(weights {_kb(image_len)})")


def section_usage(board: Board, map_path: str) -> dict[str, int]:
    """Bytes the linker map puts in the board's flash and RAM regions, and each output section's size."""
    try:
        with open(map_path) as f:
            text = f.read()
    except OSError:
        raise NnbError(f"no linker map at {map_path}") from None
    text = text[text.find("Linker script and memory map"):]
    flash, ram = board.region("flash"), board.region("ram")
    out = {"flash": 0, "ram": 0}
    for m in _SECTION.finditer(text):
        name, addr, size = m.group(1), int(m.group(2), 16), int(m.group(3), 16)
        if _NOT_ALLOC.match(name) or size == 0:
            continue
        out[name] = out.get(name, 0) + size
        if name in FLASH_SECTIONS or (name not in RAM_SECTIONS and flash.origin <= addr < flash.origin + flash.length):
            out["flash"] += size
        elif name in RAM_SECTIONS or ram.origin <= addr < ram.origin + ram.length:
            out["ram"] += size
            if name == ".data":
                out["flash"] += size  # its initial values are stored in flash
    return out


def linked_usage(board: Board, map_path: str) -> dict[str, int]:
    u = section_usage(board, map_path)
    return {k: u[k] for k in ("flash", "ram", ".stack", ".nnb_arena", ".nnb_model") if k in u}


def predict_emitc(board: Board, outdir: str, arena: int, weight_bytes: int,
                  call_edges: dict[str, list[str]]) -> Footprint:
    """The fit check of an emitted-C firmware: the stack from the call graph (every kernel call is direct),
    code + weights and static data (its arena included) from the code link."""
    run_checked(["make", "-C", outdir, "-j2", "code.elf" if not board.is_host else "build/main.o"],
                "compiling the emitted C")
    g = read_callgraph(find_ci(os.path.join(outdir, "build")), base=outdir)
    lib = library_stack(board)
    kern = titled_functions(g, call_edges)  # the calls through the kernel records
    main_q = next(iter(g.by_name.get("main", [])), None)
    if main_q is None:
        raise NnbError("stack analysis: no main in the emitted firmware's call graph")
    below_main = max((worst_depth(g, t, kern, lib)[0] for t in set(g.calls.get(main_q, [])) if g.by_name.get(t)),
                     default=0)
    exc = exception_frame(board, g.frames)
    if board.is_host:
        whole, chain, flash, static = worst_depth(g, "main", kern, lib)[0] + exc, [], 0, 0
    else:
        whole, chain = worst_depth(g, "Reset_Handler", kern, lib)
        whole += exc
        use = section_usage(board, os.path.join(outdir, "code.map"))
        flash = use["flash"]
        static = use["ram"] - use.get(".stack", 0) - arena
    return Footprint(arena=arena, stack_runtime=below_main + exc, stack_runtime_only=below_main,
                     stack_whole=whole, stack_reserved=_align(whole + board.stack_margin, 8), static_ram=static,
                     code_flash=flash - weight_bytes if flash else 0, image_flash=weight_bytes,
                     ram_capacity=board.ram_bytes, flash_capacity=board.flash_bytes, chain=chain)
