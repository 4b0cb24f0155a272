"""``nnb build MODEL --board BOARD -o OUTDIR``: a complete firmware project, fit-checked and compiled."""

from __future__ import annotations

import argparse
import os

import numpy as np

from nnb.commands.common import (
    add_model_verb,
    board_or_hint,
    check_model_file,
    check_output_dir,
    load,
    nnb_path_for,
    parse_inputs,
    refuse_fixed_in_float,
)
from nnb.errors import NnbError


def cmd_build(args: argparse.Namespace) -> int:
    board = board_or_hint(args.board)
    check_model_file(args.model)
    check_output_dir(args.output)
    if args.with_ == "emit-c":
        refuse_fixed_in_float(args.model, "the emitted C (--with emit-c)")
    from nnb.boards.build import build_firmware
    from nnb.boards.image import model_image

    if args.executor:  # model_image reads a file's first executor: the one asked for is loaded here
        if args.with_ == "emit-c":
            raise NnbError("--executor: --with emit-c builds from the file's first executor (as nnb emit-c does)")
        mi = model_image(load(args), name=os.path.splitext(os.path.basename(args.model))[0])
    else:
        with nnb_path_for(args.model, "board") as path:  # a fixed8/fixed16 .nnq: its FIXED NNB
            mi = model_image(path, name=os.path.splitext(os.path.basename(args.model))[0])
    inputs = None
    if args.input:
        got = parse_inputs(args.input, [n for n, _ in mi.inputs])
        missing = [n for n, _ in mi.inputs if n not in got]
        if missing:
            raise NnbError(f"--input: no array for {', '.join(missing)}")
        inputs = [_embeddable(n, shape, got[n]) for n, shape in mi.inputs]
    if args.runs < 1:  # the firmware would time no inference and print an unset count
        raise NnbError(f"--runs {args.runs}: give at least 1 inference to time")
    if args.with_ == "emit-c" and args.profile:
        raise NnbError("--profile counts the runtime's functions; the emitted C has no per-layer entry")
    res = build_firmware(mi, board, args.output, inputs=inputs, runs=args.runs, profile=args.profile, log=print,
                         emitc_from=args.model if args.with_ == "emit-c" else None)
    print(res.summary())
    if res.linked:
        for what in ("ram", "flash"):
            pred, got = getattr(res.predicted, what), res.linked[what]
            print(f"  {what}: predicted {pred:,} B, linker map {got:,} B "
                  f"({100.0 * (pred - got) / max(got, 1):+.2f} %)")
    how = "make run" if board.qemu_machine or board.is_host else "flash firmware.elf with the board's tools"
    print(f"project in {res.outdir}: make -C {res.outdir} rebuilds it; {how}")
    if how == "make run" and inputs is None:  # else make run stops at 'cannot read nnb_in.bin', unexplained
        names = ", ".join(n for n, _ in mi.inputs)
        print(f"  make run reads the inputs ({names}) from {res.outdir}/nnb_in.bin: float32 little-endian, one "
              "after the other (numpy: x.astype('<f4').tofile(...)); or build with --input x.npy; nnb run "
              f"{args.model} --board {args.board} --input x.npy does all of it")
    return 0


def _embeddable(name: str, shape: tuple[int, ...], x: np.ndarray) -> np.ndarray:
    """An input the firmware embeds: float, and exactly the model's shape (the firmware runs one batch of
    it; the same number of values in another shape, or integer pixels, would run without a word)."""
    if not np.issubdtype(x.dtype, np.floating):
        raise NnbError(f"input '{name}' holds {x.dtype}; nnb does not guess its scale: convert it to float32 first "
                       "(e.g. images: x.astype('float32') / 255, as --data does)")
    if tuple(x.shape) != tuple(shape):
        raise NnbError(f"input '{name}' has shape {tuple(x.shape)}, the firmware's model takes {tuple(shape)}")
    return x


def register(sub: argparse._SubParsersAction) -> None:
    help_ = "write a firmware project for a board (startup, linker script, main.c, Makefile) and build it"
    sp = add_model_verb(sub, "build", help_, cmd_build,
                        description=help_ + "; stops when the model does not fit the board")
    sp.add_argument("--board", "-b", required=True, help="board name (see nnb boards) or a board .toml file")
    sp.add_argument("--output", "-o", required=True, metavar="OUTDIR", help="the project directory")
    sp.add_argument("--with", dest="with_", choices=("runtime", "emit-c"), default="runtime",
                    help="runtime: the C runtime with the NNB image in flash (default); emit-c: the emitted C")
    sp.add_argument("--input", "-i", action="append", metavar="[NAME=]FILE.npy",
                    help="embed these inputs in the firmware (default: read nnb_in.bin over semihosting)")
    sp.add_argument("--runs", type=int, default=1, help="inferences to time (the fewest counts is printed)")
    sp.add_argument("--profile", action="store_true", help="also count each layer (nnbrt_run_range)")
