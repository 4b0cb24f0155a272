"""``nnb train``, and the data and training options that ``eval`` and ``quantize`` share with it.

Each command function takes the parsed namespace and returns an exit status,
raising NnbError for bad input (the CLI prints it and exits 2).
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
    from nnb.commands.common import check_model_file

    check_model_file(path)
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
    if path.lower().endswith(".onnx"):
        from nnb.onnx import load_onnx

        return load_onnx(path)
    from nnb.nnp.reader import load

    return load(path)


def dataset(graph: Graph, spec: str, split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
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


def val_spec(args: argparse.Namespace) -> str | None:
    if args.val:
        return None if args.val == "none" else args.val
    name = args.data.partition(":")[0]
    return "fashion-mnist:test" if name in ("fashion-mnist", "fashion_mnist", "fmnist") else None


def train_config(args: argparse.Namespace):  # noqa: ANN202 - TrainConfig
    from nnb.train.trainer import TrainConfig

    return TrainConfig(epochs=args.epochs, batch=args.batch, lr=args.lr, optimizer=args.optimizer,
                       momentum=args.momentum, weight_decay=args.weight_decay, schedule=args.schedule,
                       step_epochs=args.step_epochs, gamma=args.gamma, warmup=args.warmup, seed=args.seed,
                       progress=not args.quiet)


def run_training(trainer, args: argparse.Namespace, graph: Graph) -> bool:  # noqa: ANN001
    """Fit with checkpoint/resume and per-epoch validation; False when interrupted."""
    from nnb.train.trainer import Interrupted

    x, y = dataset(graph, args.data, "train", args.limit)
    vspec = val_spec(args)
    val = dataset(graph, vspec, "test", args.val_limit) if vspec else None
    ckpt = args.checkpoint or (args.output + ".ckpt.npz")
    if args.resume:
        trainer.load_checkpoint(args.resume)
        print(f"resumed from {args.resume} at iteration {trainer.it}", file=sys.stderr)

    def report(rec: dict) -> None:
        line = f"epoch {rec['epoch']}: loss {rec['loss']:.6f} train acc {train_acc_text(rec)}"
        if "val_acc" in rec:
            line += f" val acc {rec['val_acc']:.2%}"
        print(line, file=sys.stderr)

    try:
        trainer.fit(x, y, checkpoint=ckpt, val=val, on_epoch=report)
    except Interrupted as e:
        print(f"nnb: interrupted; checkpoint saved to {e.path} (continue with --resume {e.path})", file=sys.stderr)
        return False
    return True


def train_acc_text(rec: dict) -> str:
    """An epoch's training accuracy with its hit count (records before the count was kept: the percentage). Two
    runs with the same count of correct images print the same percentage; the count and the 6-digit loss let a
    reader see they are separate runs (the demo's LUT-Q and DQ epochs both hit 25,463 of 29,952 images)."""
    n = rec.get("train_samples")
    if not n:
        return f"{rec['train_acc']:.2%}"
    return f"{rec['train_acc']:.2%} ({round(rec['train_acc'] * n)}/{n} images)"


def cmd_train(args: argparse.Namespace) -> int:
    from nnb.commands.common import check_output_file, refuse_data_folders
    from nnb.nnp.writer import save
    from nnb.train.trainer import Trainer

    refuse_data_folders(args)
    check_output_file(args.output, args.model)  # before the training, not after it
    g = load_model(args.model)
    trainer = Trainer(g, train_config(args))
    if not run_training(trainer, args, g):
        return 130
    save(trainer.trained_graph(), args.output)
    print(f"wrote {args.output}")
    return 0


def common_training(sp: argparse.ArgumentParser, epochs: float, lr: float) -> None:
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
    """Add ``train`` to the ``nnb`` subcommands."""
    sp = subparsers.add_parser("train", help="fine-tune a float model on labelled data",
                               description="Fine-tune a float model (softmax cross-entropy on the logits "
                                           "before the final Softmax) and write an NNP.")
    sp.add_argument("model", help="the model (.nnp)")
    common_training(sp, 1.0, 1e-4)
    sp.set_defaults(func=cmd_train)
