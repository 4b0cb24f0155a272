"""``nnb emit-c``: the model as firmware-ready C source, with its footprint report."""

from __future__ import annotations

import argparse
import json
import os
import shlex

from nnb.commands.common import check_model_file, refuse_fixed_in_float
from nnb.errors import NnbError


def cmd_emit_c(args: argparse.Namespace) -> int:
    from nnb.emit.csource import default_prefix, emit_c
    from nnb.emit.csource_footprint import format_report, measure

    if args.board:  # a user's natural guess: say which verb makes firmware for a board
        raise NnbError(f"emit-c writes C for any target and takes no --board; firmware for {args.board} from the "
                       f"emitted C: nnb build {args.model} --board {args.board} --with emit-c -o OUTDIR")
    check_model_file(args.model)
    refuse_fixed_in_float(args.model, "the emitted C")
    if args.target == "cortex-m4":  # a missing cross compiler is said before OUTDIR is written, not after
        from nnb.emit.csource_footprint import target_toolchain

        target_toolchain(args.target)
    args.output = os.path.normpath(args.output)  # 'out/' printed as out/ + prefix, not out//
    prefix = args.prefix or default_prefix(args.model)
    command = shlex.join(["nnb", "emit-c", args.model, "-o", args.output, "--prefix", prefix, "--arena", args.arena])
    if args.kernels != "mcu":
        command += f" --kernels {args.kernels}"
    e = emit_c(args.model, args.output, prefix=prefix, arena=args.arena, force=args.force, command=command,
               kernels=args.kernels)
    rep = measure(e, args.target)
    if args.json:
        print(json.dumps({"outdir": args.output, "files": sorted(e.files), "footprint": rep,
                          "warnings": e.model.warnings}, indent=1, sort_keys=True))
        return 0
    for w in e.model.warnings:
        print(f"nnb: warning: {w}")
    print(f"wrote {args.output}/: {prefix}.h {prefix}.c {prefix}_weights.c {prefix}_example.c Makefile "
          f"and {len(e.model.kernel_sources)} kernel files (nnbrt/kernels/)")
    print(format_report(rep))
    if rep.get("tensor_bytes") is not None:  # the arena figure is more than the plan and less than all the RAM
        print(f"  (arena = what {prefix}_run needs besides the caller's input/output buffers: the tensor plan "
              "plus the kernel scratch that does not fit in its free space; stack and .data/.bss come on top)")
    print(f"build and check: make -C {shlex.quote(args.output)} && {shlex.quote(args.output)}/{prefix}_example "
          + " ".join(f"{io.ident}.npy" for io in e.model.inputs) + " -o result")
    print("  (" + "; ".join(f"{io.ident}.npy: float32 {tuple(io.shape)}" for io in e.model.inputs)
          + "; it writes " + ", ".join(f"result.out{k}.npy ({io.name})" for k, io in enumerate(e.model.outputs))
          + ")")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    help_ = ("write the model as C99 source for firmware: NAME.h/NAME.c/NAME_weights.c, the kernels it needs, "
             "a Makefile and an example program; prints the flash/RAM footprint")
    sp = sub.add_parser("emit-c", help=help_, description=help_)
    sp.add_argument("model", help="the model: .nnp, .nnq (LUT-Q/DQ: packed weights; a calibrated int8 .nnq, "
                    "a DQ .nnq with --act-budget or an int8 .nnb: integer C, docs/emit-c.md) or .nnb")
    sp.add_argument("--output", "-o", required=True, metavar="OUTDIR", help="output directory (new or empty)")
    sp.add_argument("--prefix", metavar="NAME", help="C name of the model (default: the file name)")
    sp.add_argument("--arena", choices=["static", "caller"], default="static",
                    help="static: NAME.c holds the arena (default); caller: NAME_run takes it as its first argument")
    sp.add_argument("--kernels", choices=["mcu", "host"], default="mcu",
                    help="kernel settings: mcu = the runtime's Cortex-M kernels and smallest scratch, the same code "
                         "on any target (default); host = the runtime's default settings with 4-float vectors "
                         "(faster on a PC, more scratch); int8 models: mcu = the portable int8 paths (the DSP path "
                         "on a Cortex-M with __ARM_FEATURE_DSP), host = also x86-64 AVX2 / AVX-512 VNNI, chosen at "
                         "run time")
    sp.add_argument("--force", action="store_true", help="write into a non-empty OUTDIR")
    sp.add_argument("--json", action="store_true", help="print the file list and footprint as JSON")
    sp.add_argument("--target", choices=["auto", "cortex-m4", "host"], default="auto",
                    help="compiler for the code/stack figures: auto = arm-none-eabi-gcc when installed, else host")
    sp.add_argument("--board", help=argparse.SUPPRESS)  # refused with a pointer to nnb build --with emit-c
    sp.set_defaults(func=cmd_emit_c)
