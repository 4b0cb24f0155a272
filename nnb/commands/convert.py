"""``nnb convert``: write an NNB binary."""

from __future__ import annotations

import argparse
import os
import sys

from nnb.commands.common import add_model_verb, check_model_file, check_output_file, load, write_file
from nnb.errors import NnbError


def cmd_convert(args: argparse.Namespace) -> int:
    from nnb.emit.convert import convert, load_for_convert

    if args.nnb_version is not None and args.mode != "compat":  # it was ignored: an extended file was written
        raise NnbError(f"--nnb-version {args.nnb_version} is the version of nnabla's layout: add --mode compat")
    out = args.output or os.path.splitext(args.model)[0] + ".nnb"
    check_output_file(out, args.model)
    check_model_file(args.model)
    if args.model.lower().endswith(".nnq") and _convert_fixed(args, out):
        return 0
    src = load_for_convert(args.model) if args.model.lower().endswith(".nnq") else load(args)
    c = convert(src, mode=args.mode, version=args.nnb_version or 2, fuse=not args.no_fuse)
    for w in c.warnings:
        print(f"nnb: warning: {w}", file=sys.stderr)
    write_file(out, c.image)  # whole or nothing: no partial file on an error
    params = sum(t.nbytes for t in c.graph.params())
    kind = "buffers" if c.mode == "compat" else "tensor arena"
    who = ("for nnabla's C runtime" if c.mode == "compat"
           else "for nnb's C runtime; --mode compat writes nnabla's layout")
    print(f"wrote {out}: {len(c.image):,} bytes, {c.mode} NNB ({who}), {len(c.graph.nodes)} functions, "
          f"parameters {params:,} bytes, {kind} {c.buffer_bytes:,} bytes")
    if c.mode != "compat":
        print("  " + runtime_ram_line(c.image, out))
    return 0


def _convert_fixed(args: argparse.Namespace, out: str) -> bool:
    """A calibrated fixed8/fixed16 .nnq becomes the compatible NNB with FIXED variables (what ``nnb quantize
    --nnb`` writes): nnabla's runtime runs it, and nnb's C runtime computes it in integers. False for any other
    .nnq. It used to be refused with "NNB conversion has no integer path", though the writer exists."""
    from nnb.quantize import fixed
    from nnb.quantize.qmodel import load_quantized

    qm = load_quantized(args.model)
    if qm.method not in fixed.METHODS:
        return False
    if args.mode == "extended":
        raise NnbError(f"{args.model}: a calibrated {qm.method} model is written as a compatible NNB (nnabla's "
                       "layout with FIXED variables, which nnb's C runtime computes in integers): use --mode auto "
                       "or compat")
    if args.no_fuse:
        raise NnbError("--no-fuse applies to extended files; a fixed-point model is written as a compatible NNB")
    m = fixed.from_quantized(qm)
    image = fixed.write_fixed_nnb(m, version=args.nnb_version or 2)
    write_file(out, image)
    print(f"wrote {out}: {len(image):,} bytes, compat NNB with {qm.method.upper()} variables (for nnabla's C "
          f"runtime and nnb's; --backend c computes it in integers), {len(m.graph.nodes)} functions")
    return True


def runtime_ram_line(image: bytes, path: str) -> str:
    """What nnb's C runtime asks for besides the tensor plan, from the built host library when there is one
    (the plan alone is not the RAM: the runtime adds tables, input/output staging and kernel scratch). Without
    the library, the line says how to build it: a new user has no nnbrt to run 'nnbrt info' with."""
    from nnb.backends import c as cbackend

    if not os.path.exists(os.path.join(cbackend.C_RUNTIME, "build", "libnnbrt.so")):
        return ("the tensor arena is not all the RAM: nnb's C runtime adds its tables, input/output staging and "
                f"kernel scratch (the whole request is printed here once the C runtime is built: make -C "
                f"{cbackend.C_RUNTIME}, or any --backend c command; then {cbackend.C_RUNTIME}/build/nnbrt info "
                f"{path} shows it too)")
    try:
        net = cbackend.CNet(image)
        isa = cbackend.kernel_isa()
    except NnbError as e:
        return f"the C runtime on this host does not load it: {e}"
    a = net.arena_info
    packed = a["total"] - a["tables"] - a["io"] - a["tensors"] - a["scratch"]
    return (f"C runtime RAM on this host ({isa}): {a['total']:,} bytes = tables {a['tables']:,} + inputs/outputs "
            f"{a['io']:,} + tensors {a['tensors']:,} + kernel scratch {a['scratch']:,} + packed weights "
            f"{packed:,} (nnbrt info {path}; a Cortex-M build's scratch differs: nnb build / nnb emit-c print it)")


def register(sub: argparse._SubParsersAction) -> None:
    help_ = ("write an NNB binary for the nnabla C runtime or the nnb C runtime "
             "(a quantized .nnq becomes an extended NNB with packed weights or int8 records; a fixed8/fixed16 .nnq a "
             "compatible NNB with FIXED variables)")
    sp = add_model_verb(sub, "convert", help_, cmd_convert)
    sp.add_argument("--output", "-o", metavar="MODEL.nnb", help="output file (default: MODEL with .nnb)")
    sp.add_argument("--mode", choices=["auto", "compat", "extended"], default="auto",
                    help="auto (default): the extended file, what nnb's C runtime runs best; extended: nnb's "
                         "arena plan, fused ops and more functions; compat: what nnabla's converter writes, for "
                         "nnabla's C runtime")
    sp.add_argument("--nnb-version", type=int, choices=[2, 3],
                    help="with --mode compat: 2 counts buffers in floats, 3 in bytes (default 2)")
    sp.add_argument("--no-fuse", action="store_true", help="extended mode: do not fuse conv/pool/add/activation")
