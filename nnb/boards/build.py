"""`nnb build`: a firmware project for a board from templates/firmware/, the fit check, the toolchain run.

Steps (each result cached where it can be):
1. the C runtime library for the board (its flags and scratch settings), compiled once into the cache;
2. the arena: ``nnbrt_arena_size`` of this image run on the target's ABI (the arena probe: a small firmware
   that reads the image over semihosting, run in QEMU; natively for the host board), so it is exact;
3. the project: startup, linker script, main.c, port, kernel table of the model's kernels, the image;
4. the fit check (nnb.boards.fit) with the compiled objects: stack from the call graph, code and static data
   from a link without the weights; a model that does not fit stops here;
5. the firmware link, and the prediction checked against the linker map.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass, field

import jinja2

from nnb.boards.fit import Footprint, check_fit, linked_usage, predict, predict_emitc, quick_fit
from nnb.boards.image import ModelImage, pack_inputs
from nnb.boards.load import ROOT, Board, load_board
from nnb.boards.qemu import STAND_IN, console_values, run_firmware
from nnb.boards.tools import C_RUNTIME, ar_for, cache_root, need_tool, run_checked, touch, tree_hash
from nnb.errors import NnbError

TEMPLATES = os.path.join(ROOT, "templates", "firmware")
UNITS = {"systick-icount": "instructions", "dwt": "cycles", "systick": "cycles", "clock": "ns"}
COUNTER_DOC = {"systick-icount": "instructions from SysTick under qemu -icount shift=0",
               "dwt": "cycles from DWT CYCCNT", "systick": "cycles from SysTick on the core clock",
               "clock": "nanoseconds from clock_gettime"}


# what the boards' arena figure counts (the probe reports nnbrt_arena_size's total only, not its parts)
ARENA_WHAT = ("all the C runtime asks for: tables, input/output staging, tensors and kernel scratch; "
              "nnbrt_arena_size")
# what it counts with --with emit-c (no runtime: the emitted model's one static array)
EMITC_ARENA_WHAT = "the emitted model's static arena: tensors and kernel scratch; NAME_ARENA_BYTES"


@dataclass
class BuildResult:
    board: str
    model: str
    outdir: str
    elf: str
    image_bytes: int
    predicted: Footprint
    linked: dict[str, int] = field(default_factory=dict)  # from the linker map: ram, flash
    stack_chain: list[str] = field(default_factory=list)
    emitc: bool = False  # built with --with emit-c: the arena is the emitted model's, not the runtime's

    def summary(self) -> str:
        p, lk = self.predicted, self.linked
        arena = (f"emitted arena {p.arena:,} B ({EMITC_ARENA_WHAT})" if self.emitc
                 else f"runtime arena {p.arena:,} B ({ARENA_WHAT})")
        lines = [f"{self.model} on {self.board}: {self.elf}",
                 f"  {arena}",
                 f"  stack {p.stack_reserved:,} B reserved "
                 f"(runtime {p.stack_runtime:,} B predicted), static data {p.static_ram:,} B",
                 f"  RAM   predicted {p.ram:,} B, linked {lk.get('ram', 0):,} B" + _of(p.ram_capacity),
                 f"  flash predicted {p.flash:,} B (weights {self.image_bytes:,} B + code {p.code_flash:,} B), "
                 f"linked {lk.get('flash', 0):,} B" + _of(p.flash_capacity)]
        if not lk:  # the host board: no memory map to fit
            lines = lines[:1] + [f"  {arena}, weights {self.image_bytes:,} B (host: no memory limits)"]
        return "\n".join(lines)


def _of(cap: int) -> str:
    return f" of {cap:,} B" if cap else ""


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def _context(board: Board, layout: Board, **kw: object) -> dict:
    ctx = dict(board=board, fpu=board.fpu not in ("none", "sse2"), unit=UNITS[board.counter],
               counter_doc=COUNTER_DOC[board.counter],
               tick_scale=board.insn_per_tick if board.counter == "systick-icount" else 1,
               runtime_dir=C_RUNTIME, ar=ar_for(board.cc), flash=layout.region("flash"), ram=layout.region("ram"),
               stack_paint=not board.is_host, model_name="probe", image_len=0, inputs_len=0, arena_bytes=16,
               runs=1, profile=False, io_buf_bytes=16, stack_reserved=8192, probe_bytes=0, emitc=False, m=None)
    ctx.update(kw)
    return ctx


def render_project(outdir: str, board: Board, layout: Board, files: list[str], rename: dict | None = None,
                   **kw: object) -> None:
    """Render templates/firmware/NAME.j2 for each NAME in files into outdir (port_*.c becomes port.c)."""
    env = _env()
    ctx = _context(board, layout, **kw)
    os.makedirs(outdir, exist_ok=True)
    for name in files:
        text = env.get_template(name + ".j2").render(**ctx)
        target = (rename or {}).get(name) or ("port.c" if name.startswith("port_") else name)
        path = os.path.join(outdir, target)
        old = None
        if os.path.exists(path):
            with open(path) as f:
                old = f.read()
        if old != text:  # keep timestamps of unchanged files: make rebuilds only what changed
            with open(path, "w") as f:
                f.write(text)


def _project_files(board: Board, *extra: str) -> list[str]:
    base = ["Makefile", "port.h", "port_host.c" if board.is_host else "port_semihost.c"]
    if not board.is_host:
        base += ["startup.c", "link.ld"]
    return base + list(extra)


def _make(outdir: str, targets: list[str], rtbuild: str, what: str) -> None:
    need_tool("make", what)
    run_checked(["make", "-C", outdir, "-j2", f"RTBUILD={rtbuild}"] + targets, what)


def check_toolchain(board: Board) -> None:
    what = f"building firmware for {board.name}"
    need_tool(board.cc, what)
    need_tool(ar_for(board.cc), what)


def _probe_board(board: Board) -> Board:
    """The board the arena probe runs on: the emulated machine of this CPU (4 MiB RAM for the whole image)
    with this board's compiler, flags and FPU (so the runtime library is the board's own)."""
    if board.is_host:
        return board
    layout = load_board(STAND_IN[board.cpu])
    return dataclasses.replace(layout, cc=board.cc, cflags=board.cflags, opt=board.opt, defines=board.defines,
                               ldflags=board.ldflags, fpu=board.fpu)


def runtime_key(board: Board) -> str:
    """The name of the runtime library's cache directory: the CPU and a hash of the runtime's sources, the
    templates, the board's compiler and flags (nothing is built)."""
    pb = _probe_board(board)
    flags = "\0".join([board.cc, board.opt, *board.cflags, *board.defines, *board.ldflags, pb.name, pb.fpu])
    key = tree_hash([os.path.join(C_RUNTIME, "src"), os.path.join(C_RUNTIME, "include"), TEMPLATES],
                    flags.encode() + pb.source)
    return f"rt-{board.cpu}-{key}"


def runtime_dir(board: Board) -> str:
    """The cache directory of the runtime library for this board's toolchain and flags, and of its arena
    probe (compiled on first use; boards with the same compiler and flags share it)."""
    check_toolchain(board)
    pb = _probe_board(board)
    d = os.path.join(cache_root(), runtime_key(board))
    probe = os.path.join(d, "probe", "probe.elf")
    touch(d)
    if not os.path.exists(probe):
        pdir = os.path.join(d, "probe")
        ram = pb.region("ram")
        probe_bytes = (ram.length - 256 * 1024) if ram else 64 << 20
        render_project(pdir, pb, pb, _project_files(pb, "probe.c"), probe_bytes=probe_bytes, stack_reserved=16384)
        _make(pdir, ["probe.elf"], os.path.join(d, "rt"), f"building the C runtime for {board.name}")
    return d


def probe_arena(board: Board, image: bytes) -> int:
    """nnbrt_arena_size of ``image`` computed by the runtime compiled for the board (exact; cached)."""
    d = runtime_dir(board)
    key = tree_hash([], image)
    cache = os.path.join(d, f"arena-{key}")
    if os.path.exists(cache):
        with open(cache) as f:
            return int(f.read())
    r = run_firmware(_probe_board(board), os.path.join(d, "probe", "probe.elf"), {"nnb_probe.nnb": image},
                     timeout=300)
    arena = console_values(r.console).get("arena")
    if arena is None:
        raise NnbError(f"the arena probe for {board.name} printed no arena size")
    with open(cache, "w") as f:
        f.write(str(arena))
    return arena


def _write_model_inputs(outdir: str, mi: ModelImage, inputs) -> tuple[bytes, int]:  # noqa: ANN001
    """model.nnb and (when inputs are embedded) inputs.bin in OUTDIR; the packed inputs and the 4-aligned
    bytes of the firmware's i/o buffer (outputs, and inputs when they come over semihosting)."""
    os.makedirs(os.path.join(outdir, "build"), exist_ok=True)
    with open(os.path.join(outdir, "model.nnb"), "wb") as f:
        f.write(mi.image)
    blob = pack_inputs(mi, inputs) if inputs is not None else b""
    if blob:
        with open(os.path.join(outdir, "inputs.bin"), "wb") as f:
            f.write(blob)
    return blob, (max(mi.output_bytes, 0 if blob else mi.input_bytes, 16) + 3) // 4 * 4


def build_firmware(mi: ModelImage, board: Board, outdir: str, inputs: list | None = None, runs: int = 1,
                   profile: bool = False, log=None, emitc_from: str | None = None) -> BuildResult:  # noqa: ANN001
    """Write the project to outdir, check the fit, run the toolchain; the linked footprint is in the result.
    ``emitc_from``: a model file to build as emitted C (nnb.emit.csource) instead of the runtime + image;
    ``log``: a callable for progress lines."""
    say = log or (lambda s: None)
    if emitc_from is not None:
        return _build_emitc(mi, board, outdir, emitc_from, inputs, runs, say)
    if board.is_host is False and board.region("flash") is None:
        raise NnbError(f"board {board.name} has no flash region")
    check_toolchain(board)
    rt = runtime_dir(board)
    arena = probe_arena(board, mi.image)
    say(f"arena: {arena:,} bytes (nnbrt_arena_size of the runtime built for {board.name})")
    quick_fit(board, arena, len(mi.image))
    outdir = os.path.abspath(outdir)
    blob, io_buf = _write_model_inputs(outdir, mi, inputs)
    kt = os.path.join(outdir, "kernel_table_model.c")
    run_checked([sys.executable, os.path.join(C_RUNTIME, "tools", "gen_kernel_table.py"), "-o", kt,
                 os.path.join(outdir, "model.nnb")], "listing the model's kernels")
    kw = dict(model_name=mi.name, image_len=len(mi.image), inputs_len=len(blob), arena_bytes=arena, runs=runs,
              profile=profile, io_buf_bytes=io_buf)
    files = _project_files(board, "main.c", "model.S", "model_empty.S")
    render_project(outdir, board, board, files, **kw)
    _render_code_link(outdir, board, kw)
    rtbuild = os.path.join(rt, "rt")
    # compile (no link): the call graph of main + runtime gives the stack, checked before linking
    objs = ["build/main.o", "build/port.o", "build/kernel_table_model.o", "build/model.o"]
    if not board.is_host:
        objs.append("build/startup.o")
    _make(outdir, objs, rtbuild, f"compiling the firmware for {board.name}")
    fp = predict(board, outdir, rtbuild, kt, arena, len(mi.image), len(blob))
    return _fit_and_link(outdir, board, mi.name, len(mi.image), fp, rtbuild, kw)


def _render_code_link(outdir: str, board: Board, kw: dict) -> None:
    """The code-only link script of the fit check (link_code.ld): regions large enough for any model."""
    if not board.is_host:
        big = {k: dataclasses.replace(board.region(k), length=0x08000000) for k in ("flash", "ram")}
        render_project(outdir, board, board, ["link.ld"], rename={"link.ld": "link_code.ld"}, **kw,
                       flash=big["flash"], ram=big["ram"])


def _fit_and_link(outdir: str, board: Board, model_name: str, model_bytes: int, fp: Footprint, rtbuild: str,
                  kw: dict) -> BuildResult:
    """Refuse what does not fit, link firmware.elf with the predicted stack reserved, and record the
    predicted and linked figures (footprint.json); both build paths end here."""
    check_fit(board, fp)
    if not board.is_host:
        render_project(outdir, board, board, ["link.ld"], stack_reserved=fp.stack_reserved, **kw)
    _make(outdir, ["firmware.elf"], rtbuild, f"linking the firmware for {board.name}")
    res = BuildResult(board.name, model_name, outdir, os.path.join(outdir, "firmware.elf"), model_bytes, fp,
                      stack_chain=fp.chain)
    if not board.is_host:
        res.linked = linked_usage(board, os.path.join(outdir, "firmware.map"))
    with open(os.path.join(outdir, "footprint.json"), "w") as f:
        json.dump({"predicted": asdict(fp), "linked": res.linked}, f, indent=1)
    return res


def _build_emitc(mi: ModelImage, board: Board, outdir: str, model_path: str, inputs: list | None, runs: int,
                 say) -> BuildResult:  # noqa: ANN001 - say: callable(str)
    """`nnb build --with emit-c`: the emitted C of the model (its static arena: the emitter's exact figure)
    with the same startup, port and counters. The weights are C arrays, so the code-only link is the firmware
    link itself: the fit check's stack comes from the call graph, RAM and flash from that link."""
    try:
        from nnb.emit.csource import render
    except ImportError:
        raise NnbError("nnb build --with emit-c needs nnb.emit.csource (nnb emit-c), which is not in this "
                       "checkout; use --with runtime") from None
    check_toolchain(board)
    e = render(model_path, prefix="nnbmodel", arena="static", command=f"nnb build --with emit-c --board {board.name}")
    m = e.model
    say(f"arena: {m.arena_bytes:,} bytes (the emitted model's static arena)")
    outdir = os.path.abspath(outdir)
    emit_dir = os.path.join(outdir, "emitc")
    for rel, data in e.files.items():
        path = os.path.join(emit_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        old = None
        if os.path.exists(path):
            with open(path, "rb") as f:
                old = f.read()
        if old != data:
            with open(path, "wb") as f:
                f.write(data)
    blob, io_buf = _write_model_inputs(outdir, mi, inputs)
    kw = dict(model_name=mi.name, image_len=0, inputs_len=len(blob), arena_bytes=m.arena_bytes, runs=runs,
              io_buf_bytes=io_buf, emitc=True, m=m)
    files = _project_files(board, "main_emitc.c", "model.S")
    render_project(outdir, board, board, files, rename={"main_emitc.c": "main.c"}, **kw)
    _render_code_link(outdir, board, kw)
    fp = predict_emitc(board, outdir, m.arena_bytes, m.weight_bytes, m.call_edges())
    res = _fit_and_link(outdir, board, mi.name, m.weight_bytes, fp, "build/rt", kw)
    res.emitc = True
    return res


def have_cross_tools(board: Board) -> str | None:
    """None when the board's compiler (and QEMU, for emulated boards) are installed, else why not."""
    try:
        check_toolchain(board)
        if board.qemu_machine or not board.is_host:
            need_tool("qemu-system-arm", f"running firmware for {board.name}")
    except NnbError as e:
        return str(e)
    return None


def remove_project(outdir: str) -> None:
    shutil.rmtree(outdir, ignore_errors=True)




