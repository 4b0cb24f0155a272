"""``nnb demo``: the built-in default job (what ``make demo`` runs); the job itself is demo_job.py."""

from __future__ import annotations

import argparse


def cmd_demo(args: argparse.Namespace) -> int:
    from nnb.commands.demo_job import main as demo_main

    return demo_main(args.out, quick=args.quick)


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("demo", help="the built-in default job (what `make demo` runs): train a LeNet on "
                                     "Fashion-MNIST, quantize it (LUT-Q, DQ), pack it to NNB, run it in C, as "
                                     "emitted C, on OpenCL and on an emulated Cortex-M4",
                        description="Train a LeNet for one epoch on Fashion-MNIST (Debian's dataset-fashion-mnist, "
                                    "nothing is downloaded), quantize it with LUT-Q (K=4) and DQ (2 bits/weight "
                                    "+ 5 %), write the three models as extended NNB files and evaluate the "
                                    "10,000 test images with the numpy reference and the C runtime: accuracy, "
                                    "agreement, parameter/file bytes, plan and C RAM and C latency side by side; then "
                                    "emit the float model as C (footprint, build, run), run it on the first "
                                    "OpenCL device, and run the LUT-Q model as firmware under QEMU (mps2-an386) "
                                    "with its footprint and instruction count. About a minute and a half "
                                    "(84 s on a quiet 2-core machine); --quick about half a minute (27 s).")
    sp.add_argument("--out", default="out/demo", help="folder for the files the demo writes (default: out/demo)")
    sp.add_argument("--quick", action="store_true", help="train on fewer images (about half a minute in all)")
    sp.set_defaults(func=cmd_demo)
