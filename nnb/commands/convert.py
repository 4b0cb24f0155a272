"""``nnb convert``: write an NNB binary."""

from __future__ import annotations

import argparse
import os
import sys

from nnb.commands.common import add_model_arg, load, same_file, write_file
from nnb.errors import NnbError


def cmd_convert(args: argparse.Namespace) -> int:
    from nnb.emit.convert import convert, load_for_convert

    out = args.output or os.path.splitext(args.model)[0] + ".nnb"
    if same_file(out, args.model):
        raise NnbError(f"-o {out} is the input model: choose another output file")
    src = load_for_convert(args.model) if args.model.lower().endswith(".nnq") else load(args)
    c = convert(src, mode=args.mode, version=args.nnb_version, fuse=not args.no_fuse)
    for w in c.warnings:
        print(f"nnb: warning: {w}", file=sys.stderr)
    write_file(out, c.image)  # whole or nothing: no partial file on an error
    params = sum(t.nbytes for t in c.graph.params())
    kind = "buffers" if c.mode == "compat" else "arena"
    who = ("for nnabla's C runtime" if c.mode == "compat"
           else "for nnb's C runtime; --mode compat writes nnabla's layout")
    print(f"wrote {out}: {len(c.image):,} bytes, {c.mode} NNB ({who}), {len(c.graph.nodes)} functions, "
          f"parameters {params:,} bytes, {kind} {c.buffer_bytes:,} bytes")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    help_ = ("write an NNB binary for the nnabla C runtime or the nnb C runtime "
             "(a quantized .nnq becomes an extended NNB with packed weights)")
    sp = sub.add_parser("convert", help=help_, description=help_)
    add_model_arg(sp)
    sp.add_argument("--output", "-o", metavar="MODEL.nnb", help="output file (default: MODEL with .nnb)")
    sp.add_argument("--mode", choices=["auto", "compat", "extended"], default="auto",
                    help="auto (default): the extended file, what nnb's C runtime runs best; extended: nnb's "
                         "arena plan, fused ops and more functions; compat: what nnabla's converter writes, for "
                         "nnabla's C runtime")
    sp.add_argument("--nnb-version", type=int, choices=[2, 3], default=2,
                    help="compatible-mode version: 2 counts buffers in floats, 3 in bytes (default 2)")
    sp.add_argument("--no-fuse", action="store_true", help="extended mode: do not fuse conv/pool/add/activation")
    sp.set_defaults(func=cmd_convert)
