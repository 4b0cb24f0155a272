"""``nnb eval``: top-1 accuracy of a model on labelled data, through any backend."""

from __future__ import annotations

import argparse
import os

from nnb.commands.common import add_backend_arg, backend_options
from nnb.commands.train import DATA_HELP, dataset, load_model
from nnb.errors import NnbError


def cmd_eval(args: argparse.Namespace) -> int:
    from nnb.backends import get_predictor
    from nnb.train.evaluate import confusion, format_confusion

    act = None
    if args.model.endswith(".nnq") and os.path.exists(args.model):
        from nnb.quantize.dq import fixed_act_quantizers
        from nnb.quantize.qmodel import load_quantized

        qm = load_quantized(args.model)
        g, act = qm.graph, fixed_act_quantizers(qm.info)
    else:
        g = load_model(args.model, allow_nnb=True)
    x, y = dataset(g, args.data, "test", args.limit)
    if len(x) == 0:
        raise NnbError("no samples to evaluate")
    options = backend_options(args)
    if act:
        options["act"] = act
    z = get_predictor(args.backend)(args.model, g, x, options)
    pred = z.argmax(axis=1)
    acc = float((pred == y).mean())
    print(f"top-1 accuracy: {acc:.2%} ({int((pred == y).sum())}/{len(y)})")
    if args.confusion:
        print(format_confusion(confusion(pred, y, z.shape[1])))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("eval", help="top-1 accuracy of a model on labelled data",
                        description="Top-1 accuracy (argmax of the output). Inputs: uint8 images / 255, "
                                    "float data as is.")
    sp.add_argument("model", help="the model (.nnp, a quantized .nnq, or an .nnb)")
    sp.add_argument("--data", required=True, help=DATA_HELP + " (default split: test)")
    add_backend_arg(sp)
    sp.add_argument("--device", help="OpenCL device number for --backend opencl (see nnb devices; default 0)")
    sp.add_argument("--limit", type=int, help="evaluate only the first N samples")
    sp.add_argument("--batch", type=int, default=500, help="evaluation batch (default 500)")
    sp.add_argument("--confusion", action="store_true", help="also print the confusion matrix")
    sp.set_defaults(func=cmd_eval)
