"""``nnb convert``: write an NNB binary."""

from __future__ import annotations

import argparse
import os
import sys

from nnb.commands.common import add_model_arg, load
from nnb.errors import NnbError


def cmd_convert(args: argparse.Namespace) -> int:
    from nnb.emit.convert import convert, load_for_convert

    src = load_for_convert(args.model) if args.model.lower().endswith(".nnq") else load(args)
    c = convert(src, mode=args.mode, version=args.nnb_version, fuse=not args.no_fuse)
    for w in c.warnings:
        print(f"nnb: warning: {w}", file=sys.stderr)
    out = args.output or os.path.splitext(args.model)[0] + ".nnb"
    try:
        with open(out, "wb") as f:
            f.write(c.image)
    except OSError as e:
        raise NnbError(f"{out}: cannot write ({e.strerror})") from None
    params = sum(t.nbytes for t in c.graph.params())
    kind = "buffers" if c.mode == "compat" else "arena"
    print(f"wrote {out}: {len(c.image):,} bytes, {c.mode} NNB, {len(c.graph.nodes)} functions, "
          f"parameters {params:,} bytes, {kind} {c.buffer_bytes:,} bytes")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    help_ = ("write an NNB binary for the nnabla C runtime or the nnb C runtime "
             "(a quantized .nnq becomes an extended NNB with packed weights)")
    sp = sub.add_parser("convert", help=help_, description=help_)
    add_model_arg(sp)
    sp.add_argument("--output", "-o", metavar="MODEL.nnb", help="output file (default: MODEL with .nnb)")
    sp.add_argument("--mode", choices=["auto", "compat", "extended"], default="auto",
                    help="compat: what nnabla's converter writes (upstream runtime runs it); extended: "
                         "nnb's arena plan, fused ops and more functions; auto: compat when the upstream "
                         "runtime can run the model (default)")
    sp.add_argument("--nnb-version", type=int, choices=[2, 3], default=2,
                    help="compatible-mode version: 2 counts buffers in floats, 3 in bytes (default 2)")
    sp.add_argument("--no-fuse", action="store_true", help="extended mode: do not fuse conv/pool/add/activation")
    sp.set_defaults(func=cmd_convert)
