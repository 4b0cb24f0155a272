"""The ``nnb`` command line: argument parsing only; the work is done by the API."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

import numpy as np

from nnb import __version__
from nnb.errors import NnbError

DESCRIPTION = """\
nnb: ahead-of-time embedded inference for nnabla / Neural Network Console models.

Reads a trained .nnp (or .nntxt with its parameters), checks it against the
numpy reference executor, and reports what running it on a device costs.
"""

EPILOG = """\
examples:
  nnb inspect model.nnp                 per-layer table: shapes, parameters, MACs, activation bytes
  nnb inspect model.nnp --json          the same as JSON
  nnb run model.nnp --input x.npy       run the numpy reference and print the outputs
  nnb run model.nnp --input a=a.npy --input b=b.npy --output out.npz
  nnb convert model.nnp -o model.nnb    NNB for nnabla's C runtime (compatible) or nnb's (extended)
  nnb plan model.nnp                    the one-arena memory plan as a table and a picture
  nnb train model.nnp --data fashion-mnist --epochs 2 -o tuned.nnp
  nnb quantize model.nnp --method lutq --k 4 --data fashion-mnist --epochs 1 -o model.nnq
  nnb quantize model.nnp --method dq --weight-budget 12kB --data fashion-mnist --epochs 1 -o model.nnq
  nnb eval model.nnq --data fashion-mnist [--confusion] [--backend reference|c]
  nnb convert model.nnq -o model.nnb    packed sub-byte weights in an extended NNB
  nnb demo [--quick]                    train, quantize, pack and run a Fashion-MNIST LeNet

exit status: 0 on success, 2 on bad input (the message names the problem).
"""


def _load(args: argparse.Namespace):  # noqa: ANN202 - returns nnb.ir.Graph
    from nnb.model import load_model

    return load_model(args.model, executor=args.executor)


def cmd_inspect(args: argparse.Namespace) -> int:
    from nnb.inspect import format_table, memory_stats, model_stats

    g = _load(args)
    stats = model_stats(g)
    mem = memory_stats(g)
    if args.json:
        print(json.dumps({**stats.to_dict(), "memory": mem}, indent=1))
    else:
        print(format_table(stats))
        print(f"memory: arena {mem['arena_bytes']:,} bytes after BN folding and fusion "
              f"({mem['arena_bytes_unfused']:,} unfused; no reuse {mem['no_reuse_bytes']:,}; "
              f"upstream-style buffers {mem['upstream_buffer_bytes']:,}); inputs {mem['input_bytes']:,} bytes")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from nnb.emit.convert import convert, load_for_convert

    src = load_for_convert(args.model) if args.model.lower().endswith(".nnq") else _load(args)
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


def cmd_plan(args: argparse.Namespace) -> int:
    from nnb.passes import optimize
    from nnb.plan.arena import plan_arena
    from nnb.plan.report import plan_picture, plan_summary, plan_table

    g = _load(args)
    bound = plan_arena(g).lower_bound
    if not args.no_fuse:
        g = optimize(g)
    plan = plan_arena(g)
    print(plan_table(g, plan))
    print()
    print(plan_picture(g, plan, width=args.width))
    print()
    print(plan_summary(plan, bound))
    return 0


def _read_npy(path: str) -> np.ndarray:
    if not os.path.exists(path):
        raise NnbError(f"{path}: no such input file")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise NnbError(f"{path}: not a readable .npy array ({' '.join(str(e).split())})") from None


def parse_inputs(specs: Sequence[str], input_names: Sequence[str]) -> dict[str, np.ndarray]:
    """``--input`` values: ``file.npy`` in the network's input order, or ``name=file.npy``."""
    out: dict[str, np.ndarray] = {}
    positional = iter(input_names)
    for spec in specs:
        name, sep, path = spec.partition("=")
        if sep and name in input_names:
            out[name] = _read_npy(path)
            continue
        if sep and not os.path.exists(spec):
            raise NnbError(f"--input {spec}: the network has no input '{name}' (inputs: {', '.join(input_names)})")
        try:
            name = next(n for n in positional if n not in out)
        except StopIteration:
            raise NnbError(f"too many --input files: the network takes {len(input_names)} "
                           f"({', '.join(input_names)})") from None
        out[name] = _read_npy(spec)
    return out


def run_c_backend(args: argparse.Namespace, g, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:  # noqa: ANN001
    """Run through the C runtime: the .nnb as given, or the model converted (auto mode)."""
    from nnb.backends.c import CNet
    from nnb.emit.convert import convert
    from nnb.executor import bind_inputs
    from nnb.model import is_nnb

    bound = bind_inputs(g, inputs)
    if is_nnb(args.model):
        with open(args.model, "rb") as f:
            image = f.read()
    else:
        image = convert(g).image
    net = CNet(image)
    outs = net.run_batch([bound[k] for k in g.inputs])
    return dict(zip(g.outputs, outs))


def cmd_run(args: argparse.Namespace) -> int:
    from nnb.executor import run

    g = _load(args)
    inputs = parse_inputs(args.input or [], g.inputs)
    outputs = run(g, inputs) if args.backend == "reference" else run_c_backend(args, g, inputs)
    if args.output:
        try:
            np.savez(args.output, **outputs)
        except OSError as e:
            raise NnbError(f"{args.output}: cannot write ({e.strerror})") from None
        print(f"wrote {len(outputs)} output(s) to {args.output}: " + ", ".join(outputs))
        return 0
    for name, y in outputs.items():
        line = f"{name}: shape {tuple(y.shape)} min {y.min():.6g} max {y.max():.6g} mean {y.mean():.6g}"
        if y.ndim == 2 and y.shape[1] > 1:
            line += f" argmax {y.argmax(axis=1).tolist()[:16]}"
        print(line)
        flat = y.reshape(-1)[:8]
        print("  " + " ".join(f"{v:.6g}" for v in flat) + (" ..." if y.size > 8 else ""))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from nnb.demo import main as demo_main

    return demo_main(args.out, quick=args.quick)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnb", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"nnb {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def model_cmd(name: str, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("model", help="the model: .nnp, .nntxt with parameter.h5/.protobuf beside it, or .nnb")
        sp.add_argument("--executor", help="executor to use (default: the first in the file)")
        return sp

    sp = model_cmd("inspect", "print a per-layer table: op, output shape, parameters, MACs, activation bytes")
    sp.add_argument("--json", action="store_true", help="print the same information as JSON")
    sp.set_defaults(func=cmd_inspect)

    sp = model_cmd("run", "run the model with the numpy reference executor or the C runtime")
    sp.add_argument("--input", "-i", action="append", metavar="[NAME=]FILE.npy",
                    help="an input array; repeat for several inputs (in the executor's order, or NAME=FILE)")
    sp.add_argument("--output", "-o", metavar="OUT.npz", help="save the outputs, keyed by output name")
    sp.add_argument("--backend", choices=["reference", "c"], default="reference",
                    help="reference: the numpy executor (default); c: the nnb C runtime via cffi (an .nnp is "
                         "converted to NNB first)")
    sp.set_defaults(func=cmd_run)

    sp = model_cmd("convert", "write an NNB binary for the nnabla C runtime or the nnb C runtime "
                              "(a quantized .nnq becomes an extended NNB with packed weights)")
    sp.add_argument("--output", "-o", metavar="MODEL.nnb", help="output file (default: MODEL with .nnb)")
    sp.add_argument("--mode", choices=["auto", "compat", "extended"], default="auto",
                    help="compat: what nnabla's converter writes (upstream runtime runs it); extended: "
                         "nnb's arena plan, fused ops and more functions; auto: compat when the upstream "
                         "runtime can run the model (default)")
    sp.add_argument("--nnb-version", type=int, choices=[2, 3], default=2,
                    help="compatible-mode version: 2 counts buffers in floats, 3 in bytes (default 2)")
    sp.add_argument("--no-fuse", action="store_true", help="extended mode: do not fuse conv/pool/add/activation")
    sp.set_defaults(func=cmd_convert)

    sp = model_cmd("plan", "print the one-arena memory plan (after BN folding and fusion)")
    sp.add_argument("--no-fuse", action="store_true", help="plan the graph as it is in the file")
    sp.add_argument("--width", type=int, default=64, help="columns of the picture (default 64)")
    sp.set_defaults(func=cmd_plan)

    from nnb.train.commands import register as register_training

    register_training(sub)

    sp = sub.add_parser("demo", help="the built-in default job (what `make demo` runs): train a LeNet on "
                                     "Fashion-MNIST, quantize it (LUT-Q, DQ), pack it to NNB, run it in C",
                        description="Train a LeNet for one epoch on Fashion-MNIST (Debian's dataset-fashion-mnist, "
                                    "nothing is downloaded), quantize it with LUT-Q (K=4) and DQ (2 bits/weight "
                                    "+ 5 %), write the three models as extended NNB files and evaluate the "
                                    "10,000 test images with the numpy reference and the C runtime: accuracy, "
                                    "agreement, parameter/file/arena bytes and C latency side by side. About a "
                                    "minute and a half; --quick about half a minute.")
    sp.add_argument("--out", default="out/demo", help="folder for the files the demo writes (default: out/demo)")
    sp.add_argument("--quick", action="store_true", help="train on fewer images (about half a minute in all)")
    sp.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except NnbError as e:
        print(f"nnb: error: {e}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:  # output piped into head & co.
        return 0
    except KeyboardInterrupt:
        print("nnb: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("nnb: error: out of memory", file=sys.stderr)
        return 2
    except OSError as e:  # a file or folder nnb was asked to read or write
        if os.environ.get("NNB_DEBUG"):
            raise
        where = f": {e.filename}" if e.filename else ""
        print(f"nnb: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug in nnb: still one line unless asked for the traceback
        if os.environ.get("NNB_DEBUG"):
            raise
        print(f"nnb: internal error: {type(e).__name__}: {' '.join(str(e).split())} "
              "(set NNB_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
