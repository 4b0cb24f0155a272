"""``nnb run``: one forward pass through any backend."""

from __future__ import annotations

import argparse
import io
import sys

import numpy as np

from nnb.commands.common import (
    FLOAT_DECODING,
    add_backend_arg,
    add_model_verb,
    backend_options,
    board_or_hint,
    check_output_file,
    load,
    nnb_path_for,
    parse_inputs,
    prepare_c_runtime,
    refuse_fixed_in_float,
    write_file,
)
from nnb.errors import NnbError
from nnb.ir import Graph


def cmd_run(args: argparse.Namespace) -> int:
    from nnb.backends import get_runner

    if args.board and args.backend not in ("reference", "board"):  # --board alone would be silently ignored
        raise NnbError(f"--board runs the model as firmware (--backend board); it does not apply to --backend "
                       f"{args.backend}: drop one of them")
    if args.output:  # checked before the run, which may build firmware for minutes
        check_output_file(args.output, args.model)
    g = load(args, allow_deferred=True)  # a folded variable batch resolves with the real input
    inputs = parse_inputs(args.input or [], g.inputs)
    _check_inputs(g, inputs)
    if args.backend in FLOAT_DECODING and not args.board:
        refuse_fixed_in_float(args.model, FLOAT_DECODING[args.backend], g)
    backend = "board" if getattr(args, "board", None) and args.backend == "reference" else args.backend
    if args.board:
        board_or_hint(args.board)
    prepare_c_runtime(backend)
    if backend == "board" and args.board:  # silence otherwise: the first runtime build for a CPU, then QEMU
        print(f"nnb: building {args.model} as firmware for {args.board} and running it (the runtime library is "
              "built once per CPU and cached; NNB_CACHE moves the cache) ...", file=sys.stderr, flush=True)
    model_path = _model_path(args, backend)
    with nnb_path_for(model_path, backend) as path:
        if path != model_path:  # a fixed .nnq's FIXED NNB: its variables are named v<id>; keep the model's names
            from nnb.emit.nnb import load_nnb

            gn = load_nnb(path)
            got = get_runner(backend)(path, gn, dict(zip(gn.inputs, (inputs[k] for k in g.inputs))),
                                      backend_options(args))
            outputs = dict(zip(g.outputs, (got[k] for k in gn.outputs)))
        else:
            outputs = get_runner(backend)(path, g, inputs, backend_options(args))
    if backend == "board":
        from nnb.boards import backend as board_backend

        if board_backend.last_report is not None:
            print(board_backend.last_report.summary())
    if args.output:
        buf = io.BytesIO()
        np.savez(buf, **outputs)
        write_file(args.output, buf.getvalue())  # exactly the name given (np.savez would append .npz)
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


def _model_path(args: argparse.Namespace, backend: str) -> str:
    """The path the backend reads. With --executor: the board backend is given no path, so it builds the graph of
    that executor (from a path it builds the file's first one); emit-c, which emits from the file, refuses."""
    if not args.executor:
        return args.model
    if backend == "emit-c":
        raise NnbError("--executor: the emit-c backend emits the file's first executor (as nnb emit-c does); "
                       "--backend c runs the one named")
    return "" if backend == "board" else args.model


def _check_inputs(g: Graph, inputs: dict[str, np.ndarray]) -> None:
    """Every network input given and of the declared shape, before any backend builds or runs anything; a
    missing one says how to give it."""
    from nnb.executor import check_input

    for name in g.inputs:
        if name not in inputs:
            spec = g.input_specs.get(name) or g.tensors[name].shape
            shape = tuple(spec) if spec else "?"
            raise NnbError(f"missing input '{name}': give --input FILE.npy, a float32 array of shape {shape}"
                           + (" (-1: any batch)" if spec and spec[0] < 0 else "")
                           + f" (network inputs: {', '.join(g.inputs)})")
        check_input(g, name, inputs[name])


def register(sub: argparse._SubParsersAction) -> None:
    help_ = "run the model with the numpy reference executor or another backend"
    sp = add_model_verb(sub, "run", help_, cmd_run)
    sp.add_argument("--input", "-i", action="append", metavar="[NAME=]FILE.npy",
                    help="an input array; repeat for several inputs (in the executor's order, or NAME=FILE)")
    sp.add_argument("--output", "-o", metavar="OUT.npz", help="save the outputs, keyed by output name")
    add_backend_arg(sp)
    sp.add_argument("--device", help="OpenCL device number for --backend opencl (see nnb devices; default 0)")
    sp.add_argument("--board", help="run as firmware on this board (see nnb boards): built, run under QEMU, "
                    "instructions per inference printed; implies --backend board")
