"""Run a model on a board: build the firmware (cached by content under ~/.cache/nnb/fw), run it in QEMU
(or natively for the host board), return the outputs and a report (footprint, instruction count, stack)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from nnb.boards.build import ARENA_WHAT, TEMPLATES, UNITS, BuildResult, build_firmware, runtime_key
from nnb.boards.fit import Footprint
from nnb.boards.image import ModelImage, model_image, pack_inputs, unpack_outputs
from nnb.boards.load import Board, load_board
from nnb.boards.qemu import console_layers, console_values, run_firmware
from nnb.boards.tools import cache_root, touch, tree_hash
from nnb.errors import NnbError


@dataclass
class BoardReport:
    board: str
    model: str
    unit: str  # instructions (QEMU), cycles (DWT/SysTick), ns (host)
    init_count: int
    run_count: int  # one nnbrt_run
    arena: int  # what the runtime asked for on the target
    predicted: dict
    linked: dict
    stack_measured: int  # painted stack below main after init + run (0 on the host)
    stack_total: int
    layers: list[tuple[int, int, str, int]] = field(default_factory=list)
    console: str = ""
    plugin_run: int = 0  # instructions of one nnbrt_run counted by the TCG plugin (plugin=True)
    plugin_total: int = 0  # instructions of the whole program (plugin)

    def summary(self) -> str:
        p, lk = self.predicted, self.linked
        s = [f"{self.model} on {self.board}: {self.run_count:,} {self.unit} per inference "
             f"(nnbrt_init {self.init_count:,})",
             f"  runtime arena {self.arena:,} B ({ARENA_WHAT}; predicted {p['arena']:,} B)"]
        if self.plugin_run:
            s[0] += f"; TCG plugin: {self.plugin_run:,} instructions per inference, {self.plugin_total:,} in all"
        if lk:
            ram = p["stack_reserved"] + p["static_ram"] + (p["arena"] + 15) // 16 * 16
            s.append(f"  RAM {lk['ram']:,} B linked, {ram:,} B predicted; flash {lk['flash']:,} B linked, "
                     f"{p['code_flash'] + p['image_flash']:,} B predicted")
            s.append(f"  stack below main {self.stack_measured:,} B measured (painted), {p['stack_runtime']:,} B "
                     f"predicted; whole program {self.stack_total:,} B of {p['stack_reserved']:,} B reserved")
        return "\n".join(s)


def _key(mi: ModelImage, board: Board, runs: int, profile: bool, emitc: str | None) -> str:
    rt = runtime_key(board)
    h = hashlib.sha256(mi.image + board.source + f"{runs}:{profile}:{rt}:{mi.name}:{emitc}".encode())
    h.update(tree_hash([TEMPLATES]).encode())
    return h.hexdigest()[:16]


def firmware_for(model, board: Board | str, runs: int = 1, profile: bool = False,  # noqa: ANN001
                 name: str | None = None, with_: str = "runtime") -> tuple[ModelImage, BuildResult]:
    """Build (or reuse from the cache) the firmware that reads its inputs over semihosting.
    ``with_``: "runtime" (the C runtime + the NNB image) or "emit-c" (the emitted C; ``model`` a file)."""
    board = load_board(board) if isinstance(board, str) else board
    mi = model if isinstance(model, ModelImage) else model_image(model, name)
    emitc = None
    if with_ == "emit-c":
        if not isinstance(model, str):
            raise NnbError("the emit-c firmware is built from a model file")
        emitc = os.path.abspath(model)
        if profile:
            raise NnbError("--profile counts the runtime's functions; the emitted C has no per-layer entry")
    elif with_ != "runtime":
        raise NnbError(f"--with must be runtime or emit-c, not '{with_}'")
    tag = "emitc-" if emitc else ""
    d = os.path.join(cache_root(), f"fw-{board.name}-{tag}{mi.name}-{_key(mi, board, runs, profile, emitc)}")
    meta = os.path.join(d, "build.json")
    touch(d)
    if os.path.exists(meta) and os.path.exists(os.path.join(d, "firmware.elf")):
        with open(meta) as f:
            m = json.load(f)
        m["predicted"] = Footprint(**m["predicted"])
        return mi, BuildResult(**m)
    res = build_firmware(mi, board, d, runs=runs, profile=profile, emitc_from=emitc)
    with open(meta, "w") as f:
        json.dump(asdict(res), f)
    return mi, res


def run_on_board(model, board: Board | str, inputs: list[np.ndarray] | dict[str, np.ndarray],  # noqa: ANN001
                 runs: int = 1, profile: bool = False, plugin: bool = False, name: str | None = None,
                 with_: str = "runtime") -> tuple[dict[str, np.ndarray], BoardReport]:
    """``model``: a path (.nnp/.nnb/.nnq), a Graph or a QuantizedModel.  Returns ({output name: array},
    report).  The firmware is built once per (model, board) and cached; inputs go over semihosting.
    ``plugin``: also count instructions with the TCG plugin (nnb.boards.plugin; QEMU boards only)."""
    board = load_board(board) if isinstance(board, str) else board
    if not board.qemu_machine and not board.is_host:
        raise NnbError(f"{board.name} is a real board and QEMU does not emulate it: build its firmware with "
                       f"nnb build --board {board.name} and flash it (boards QEMU runs: nnb boards)")
    mi, res = firmware_for(model, board, runs, profile, name, with_)
    if isinstance(inputs, dict):
        missing = [n for n, _ in mi.inputs if n not in inputs]
        if missing:
            raise NnbError(f"no input given for {', '.join(missing)}")
        inputs = [inputs[n] for n, _ in mi.inputs]
    blob = pack_inputs(mi, list(inputs))
    spec = None
    if plugin:
        from nnb.boards.plugin import plugin_spec

        if not board.qemu_machine:
            raise NnbError(f"the instruction-counting plugin needs a QEMU board; {board.name} has none")
        spec = plugin_spec(res.elf)
    r = run_firmware(board, res.elf, {"nnb_in.bin": blob}, want=("nnb_out.bin",), plugin=spec)
    outs = unpack_outputs(mi, r.files["nnb_out.bin"])
    v = console_values(r.console)
    unit = UNITS[board.counter]
    rep = BoardReport(board.name, mi.name, unit, v.get(f"init_{unit}", 0), v.get(f"run_{unit}", 0),
                      v.get("arena", 0), asdict(res.predicted), res.linked, v.get("stack_runtime", 0),
                      v.get("total", 0), console_layers(r.console), r.console)
    if plugin:
        from nnb.boards.plugin import plugin_counts

        rep.plugin_total, marks = plugin_counts(r.plugin_log)
        if len(marks) < 2:
            raise NnbError("the QEMU plugin did not see the firmware's two nnb_mark() calls")
        rep.plugin_run = marks[1] - marks[0]
    return {n: y for (n, _), y in zip(mi.outputs, outs)}, rep


def demo_step(model, inputs: list[np.ndarray], board: str = "qemu-mps2-an386",  # noqa: ANN001
              reference: list[np.ndarray] | None = None, name: str | None = None) -> str:
    """The last step of ``nnb demo``: the model as firmware on an emulated Cortex-M4. Returns the lines to print
    (footprint, instructions per inference, the difference from ``reference``), or why the step was skipped
    (no cross compiler or QEMU). ``model``: a path, a Graph or a QuantizedModel; ``inputs``: one batch."""
    from nnb.boards.build import have_cross_tools

    b = load_board(board)
    missing = have_cross_tools(b)
    if missing:
        return f"{board}: skipped ({missing})"
    outs, rep = run_on_board(model, b, inputs, name=name)
    lines = [rep.summary()]
    if reference is not None:
        errs = [float(np.abs(y.astype(np.float64) - r).max()) for y, r in zip(outs.values(), reference)]
        same = all(np.array_equal(y.reshape(len(y), -1).argmax(1), np.asarray(r).reshape(len(r), -1).argmax(1))
                   for y, r in zip(outs.values(), reference))
        lines.append(f"  outputs vs the reference: max abs error {max(errs):.3g}, argmax "
                     f"{'identical' if same else 'DIFFERENT'}")
    return "\n".join(lines)
