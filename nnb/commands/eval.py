"""``nnb eval``: top-1 accuracy of a model on labelled data, through any backend."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from nnb.commands.common import (
    FLOAT_DECODING,
    add_backend_arg,
    backend_options,
    nnb_path_for,
    prepare_c_runtime,
    refuse_data_folders,
    refuse_fixed_in_float,
)
from nnb.commands.train import DATA_HELP, dataset, load_model
from nnb.errors import NnbError
from nnb.train.progress import Progress


def cmd_eval(args: argparse.Namespace) -> int:
    from nnb.backends import get_predictor
    from nnb.train.evaluate import confusion, format_confusion

    refuse_data_folders(args)
    act = None
    if args.model.endswith(".nnq") and os.path.exists(args.model):
        from nnb.quantize.dq import fixed_act_quantizers
        from nnb.quantize.qmodel import load_quantized

        qm = load_quantized(args.model)
        g, act = qm.graph, fixed_act_quantizers(qm.info)
    else:
        g = load_model(args.model, allow_nnb=True)
    if args.backend in FLOAT_DECODING:
        refuse_fixed_in_float(args.model, FLOAT_DECODING[args.backend], g)
    x, y = dataset(g, args.data, "test", args.limit)
    if len(x) == 0:
        raise NnbError("no samples to evaluate")
    options = backend_options(args)
    if act:
        options["act"] = act
    prepare_c_runtime(args.backend)
    with nnb_path_for(args.model, args.backend) as path:
        z = _predict_in_chunks(get_predictor(args.backend), args, path, g, x, options)
    pred = z.argmax(axis=1)
    acc = float((pred == y).mean())
    print(f"top-1 accuracy: {acc:.2%} ({int((pred == y).sum())}/{len(y)})")
    if args.confusion:
        print(format_confusion(confusion(pred, y, z.shape[1])))
    return 0


def _predict_in_chunks(predict: Callable, args: argparse.Namespace, path: str, g: Any, x: np.ndarray,
                       options: dict) -> np.ndarray:
    """The backend's scores on ``x`` in chunks of about two seconds (at least --batch samples), with a progress
    line on stderr: the integer simulation takes minutes on 10,000 images, and each call costs a fraction of
    a second of set-up, so chunks grow until the set-up is a small part of their time."""
    bar = Progress(len(x), "evaluating ", enabled=not args.quiet)
    parts, done, chunk = [], 0, max(1, args.batch)
    while done < len(x):
        t0 = time.perf_counter()
        xs = x[done:done + chunk]
        parts.append(np.asarray(predict(path, g, xs, options)))
        done += len(xs)
        bar.update(done)
        took = time.perf_counter() - t0
        chunk = int(min(max(chunk * 2.0 / max(took, 1e-3), args.batch, 1), 4 * chunk))
    bar.close()
    return np.concatenate(parts)


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("eval", help="top-1 accuracy of a model on labelled data",
                        description="Top-1 accuracy (argmax of the output). Inputs: uint8 images / 255, "
                                    "float data as is.")
    sp.add_argument("model", help="the model (.nnp, a quantized .nnq, or an .nnb)")
    sp.add_argument("--data", required=True, help=DATA_HELP + " (default split: test)")
    add_backend_arg(sp, evaluating=True)
    sp.add_argument("--device", help="OpenCL device number for --backend opencl (see nnb devices; default 0)")
    sp.add_argument("--limit", type=int, help="evaluate only the first N samples")
    sp.add_argument("--batch", type=int, default=500, help="evaluation batch: the first call's samples "
                    "(default 500); later calls grow to about two seconds each")
    sp.add_argument("--confusion", action="store_true", help="also print the confusion matrix")
    sp.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    sp.set_defaults(func=cmd_eval)
