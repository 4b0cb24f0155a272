"""CLI subcommands ``train``, ``eval`` and ``quantize``: argument parsing only.

``register(subparsers)`` adds them to the ``nnb`` parser; each command
function takes the parsed namespace and returns an exit status, raising
NnbError for bad input (the CLI prints it and exits 2).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph

DATA_HELP = ("fashion-mnist (Debian's IDX files; :train/:test picks a split), FILE.npz with x and y, "
             "or an nnabla CSV data set (x:image,y:label). uint8 images are divided by 255")


def load_model(path: str, allow_nnb: bool = False) -> Graph:
    """A float NNP, a quantized model file (.nnq) expanded to its float weights, or (``allow_nnb``) an NNB."""
    if not os.path.exists(path):
        raise NnbError(f"{path}: no such model file")
    if path.endswith(".nnq"):
        from nnb.quantize.qmodel import load_quantized

        return load_quantized(path).graph
    from nnb.model import is_nnb

    if is_nnb(path):
        if not allow_nnb:
            raise NnbError(f"{path}: an NNB file cannot be trained or quantized (use the .nnp)")
        from nnb.model import load_model as load_any

        return load_any(path)
    from nnb.nnp.reader import load

    return load(path)


def _dataset(graph: Graph, spec: str, split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    from nnb.train.data import input_array, load_data
    from nnb.train.loss import check_labels, logits_name

    x, y = load_data(spec, split)
    if limit is not None:
        if limit <= 0:
            raise NnbError("--limit must be positive")
        x, y = x[:limit], y[:limit]
    if len(x) != len(y):
        raise NnbError(f"{spec}: {len(x)} samples but {len(y)} labels")
    ncls = int(np.prod(graph.tensors[logits_name(graph)].shape[1:]))
    return input_array(graph, x), check_labels(y, ncls)


def _val_spec(args: argparse.Namespace) -> str | None:
    if args.val:
        return None if args.val == "none" else args.val
    name = args.data.partition(":")[0]
    return "fashion-mnist:test" if name in ("fashion-mnist", "fashion_mnist", "fmnist") else None


def _train_config(args: argparse.Namespace):  # noqa: ANN202 - TrainConfig
    from nnb.train.trainer import TrainConfig

    return TrainConfig(epochs=args.epochs, batch=args.batch, lr=args.lr, optimizer=args.optimizer,
                       momentum=args.momentum, weight_decay=args.weight_decay, schedule=args.schedule,
                       step_epochs=args.step_epochs, gamma=args.gamma, warmup=args.warmup, seed=args.seed,
                       progress=not args.quiet)


def run_training(trainer, args: argparse.Namespace, graph: Graph) -> bool:  # noqa: ANN001
    """Fit with checkpoint/resume and per-epoch validation; False when interrupted."""
    from nnb.train.trainer import Interrupted

    x, y = _dataset(graph, args.data, "train", args.limit)
    vspec = _val_spec(args)
    val = _dataset(graph, vspec, "test", args.val_limit) if vspec else None
    ckpt = args.checkpoint or (args.output + ".ckpt.npz")
    if args.resume:
        trainer.load_checkpoint(args.resume)
        print(f"resumed from {args.resume} at iteration {trainer.it}", file=sys.stderr)

    def report(rec: dict) -> None:
        line = f"epoch {rec['epoch']}: loss {rec['loss']:.4f} train acc {rec['train_acc']:.2%}"
        if "val_acc" in rec:
            line += f" val acc {rec['val_acc']:.2%}"
        print(line, file=sys.stderr)

    try:
        trainer.fit(x, y, checkpoint=ckpt, val=val, on_epoch=report)
    except Interrupted as e:
        print(f"nnb: interrupted; checkpoint saved to {e.path} (continue with --resume {e.path})", file=sys.stderr)
        return False
    return True


def cmd_train(args: argparse.Namespace) -> int:
    from nnb.nnp.writer import save
    from nnb.train.trainer import Trainer

    g = load_model(args.model)
    trainer = Trainer(g, _train_config(args))
    if not run_training(trainer, args, g):
        return 130
    save(trainer.trained_graph(), args.output)
    print(f"wrote {args.output}")
    return 0


def _reference_scores(g: Graph, x: np.ndarray, batch: int, from_nnb: bool) -> np.ndarray:
    """Class scores from the numpy reference; an NNB graph (written for one batch) runs in batches when it can."""
    from nnb.train.evaluate import predict

    if not from_nnb:
        return predict(g, x, batch=batch)
    from nnb.executor import run_batched

    name, out = g.inputs[0], g.outputs[0]
    fixed = g.tensors[name].shape
    g.input_specs = {name: (-1,) + tuple(fixed[1:])}
    try:
        run_batched(g, [x[:2]], batch=2)
    except (NnbError, ValueError):  # a Reshape with the file's batch baked in: one file-sized batch at a time
        g.input_specs = {}
        batch = fixed[0] if fixed else 1
        if len(x) % batch:
            raise NnbError(f"{len(x)} samples do not divide into the NNB file's batch {batch}") from None
    z = run_batched(g, [x], batch=batch)[out]
    return z.reshape(len(x), -1)


def _c_scores(model_path: str, g: Graph, x: np.ndarray) -> np.ndarray:
    """Class scores from the C runtime: the .nnb as it is, or the model converted (auto mode; packed for .nnq)."""
    from nnb.backends.c import CNet
    from nnb.emit.convert import convert, load_for_convert
    from nnb.model import is_nnb

    if is_nnb(model_path):
        with open(model_path, "rb") as f:
            image = f.read()
    else:
        image = convert(load_for_convert(model_path)).image
    try:
        net = CNet(image)
    except NnbError as e:
        raise NnbError(f"{model_path}: the C runtime cannot run this model ({e}); use --backend reference") from None
    return net.run_batch([x])[0].reshape(len(x), -1)


def cmd_eval(args: argparse.Namespace) -> int:
    from nnb.model import is_nnb
    from nnb.train.evaluate import confusion, format_confusion

    act = None
    if args.model.endswith(".nnq") and os.path.exists(args.model):
        from nnb.quantize.dq import fixed_act_quantizers
        from nnb.quantize.qmodel import load_quantized

        qm = load_quantized(args.model)
        g, act = qm.graph, fixed_act_quantizers(qm.info)
    else:
        g = load_model(args.model, allow_nnb=True)
    x, y = _dataset(g, args.data, "test", args.limit)
    if len(x) == 0:
        raise NnbError("no samples to evaluate")
    if getattr(args, "backend", "reference") == "c":
        if act:
            raise NnbError(f"{args.model}: quantized activations are not in NNB files yet; use --backend reference")
        z = _c_scores(args.model, g, x)
    elif act:
        from nnb.train.evaluate import predict

        z = predict(g, x, batch=args.batch, act=act)
    else:
        z = _reference_scores(g, x, args.batch, is_nnb(args.model))
    pred = z.argmax(axis=1)
    acc = float((pred == y).mean())
    print(f"top-1 accuracy: {acc:.2%} ({int((pred == y).sum())}/{len(y)})")
    if args.confusion:
        print(format_confusion(confusion(pred, y, z.shape[1])))
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    from nnb.quantize.commands import quantize_main

    return quantize_main(args)


def _common_training(sp: argparse.ArgumentParser, epochs: float, lr: float) -> None:
    sp.add_argument("--data", required=True, help=DATA_HELP)
    sp.add_argument("--val", help="validation data (default: the Fashion-MNIST test split when training on "
                                  "Fashion-MNIST; 'none' to skip)")
    sp.add_argument("--limit", type=int, help="use only the first N training samples")
    sp.add_argument("--val-limit", type=int, help="use only the first N validation samples")
    sp.add_argument("--epochs", type=float, default=epochs, help=f"epochs, may be fractional (default {epochs})")
    sp.add_argument("--batch", type=int, default=64, help="minibatch size (default 64)")
    sp.add_argument("--lr", type=float, default=lr, help=f"learning rate (default {lr})")
    sp.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    sp.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    sp.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay (default 0)")
    sp.add_argument("--schedule", choices=("constant", "step", "cosine"), default="cosine")
    sp.add_argument("--step-epochs", type=int, default=1, help="step schedule: epochs between decays")
    sp.add_argument("--gamma", type=float, default=0.1, help="step schedule: decay factor")
    sp.add_argument("--warmup", type=int, default=0, help="iterations of linear warm-up")
    sp.add_argument("--seed", type=int, default=0, help="shuffling seed (runs are deterministic)")
    sp.add_argument("--checkpoint", help="checkpoint written on Ctrl-C (default: OUT.ckpt.npz)")
    sp.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint")
    sp.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    sp.add_argument("-o", "--output", required=True, help="output file")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train``, ``eval`` and ``quantize`` to the ``nnb`` subcommands."""
    sp = subparsers.add_parser("train", help="fine-tune a float model on labelled data",
                               description="Fine-tune a float model (softmax cross-entropy on the logits "
                                           "before the final Softmax) and write an NNP.")
    sp.add_argument("model", help="the model (.nnp)")
    _common_training(sp, 1.0, 1e-4)
    sp.set_defaults(func=cmd_train)

    sp = subparsers.add_parser("eval", help="top-1 accuracy of a model on labelled data",
                               description="Top-1 accuracy (argmax of the output). Inputs: uint8 images / 255, "
                                           "float data as is.")
    sp.add_argument("model", help="the model (.nnp, a quantized .nnq, or an .nnb)")
    sp.add_argument("--data", required=True, help=DATA_HELP + " (default split: test)")
    sp.add_argument("--backend", choices=("reference", "c"), default="reference",
                    help="reference: the numpy executor (default); c: the nnb C runtime (an .nnp/.nnq is "
                         "converted to NNB first)")
    sp.add_argument("--limit", type=int, help="evaluate only the first N samples")
    sp.add_argument("--batch", type=int, default=500, help="evaluation batch (default 500)")
    sp.add_argument("--confusion", action="store_true", help="also print the confusion matrix")
    sp.set_defaults(func=cmd_eval)

    sp = subparsers.add_parser("quantize", help="quantization-aware training: LUT-Q or DQ",
                               description="Quantize the weights of Convolution/DepthwiseConvolution/Affine "
                                           "layers while fine-tuning; writes a quantized model (.nnq) and "
                                           "optionally a float NNP with the quantized values.")
    sp.add_argument("model", help="the float model (.nnp)")
    sp.add_argument("--method", choices=("lutq", "dq"), required=True)
    sp.add_argument("--k", type=int, default=4, help="LUT-Q: dictionary size K (default 4)")
    sp.add_argument("--pow2", action="store_true", help="LUT-Q: power-of-two dictionary")
    sp.add_argument("--prune", type=float, default=0.0, help="LUT-Q: pruning rate p (one entry fixed at 0)")
    sp.add_argument("--symmetric", action="store_true", help="LUT-Q: symmetric dictionary")
    sp.add_argument("--bits", type=int, help="DQ: fixed bitwidth baseline (LSQ-style, step learned)")
    sp.add_argument("--weight-budget", help="DQ: total weight memory, e.g. 11.4kB, 93216bit (1 kB = 1024 bytes)")
    sp.add_argument("--pow2-step", action="store_true", help="DQ: round the step to a power of two")
    sp.add_argument("--act-budget", metavar="SIZE",
                    help="DQ: also quantize the ReLU outputs (unsigned, learned step/range) within this activation "
                         "memory, e.g. 2kB (per sample)")
    sp.add_argument("--act-budget-kind", choices=("max", "sum"), default="max",
                    help="DQ: the activation budget bounds the largest activation (max, default) or their sum")
    sp.add_argument("--export-nnp", metavar="OUT.nnp", help="also write a float NNP with the quantized weights")
    sp.add_argument("--report", metavar="REPORT.html",
                    help="write an HTML report: per-layer bits/K, weight and activation kB, training curves")
    _common_training(sp, 1.0, 1e-4)
    sp.set_defaults(func=cmd_quantize)
