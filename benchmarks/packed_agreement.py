"""Packed deployment: a quantized model as an extended NNB run by the reference agrees with the .nnq model.

For each quantized fmnist_lenet (LUT-Q K=4, K=16, DQ at the 2-bit and 3-bit
weight budgets, DQ 3-bit power-of-two step; or the .nnq files given), convert
to an extended NNB whose weights stay bit-packed, read it back (packed-weight
ops, no float expansion) and compare the top-1 predictions of the NNB on the
10k Fashion-MNIST test set with those of the .nnq model (float graph of the
dequantized weights).  Prints agreement, accuracies and sizes.
``--backend c``: also run the NNB in the C runtime (nnb.backends.c, packed
weights decoded block by block) and print the agreement of its top-1
predictions with the reference's, its max abs error on the outputs, its
arena bytes and its time per image.

usage: OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/packed_agreement.py [--train-limit 6000] [--backend c]
       [M.nnq ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from nnb.emit.convert import convert
from nnb.emit.nnb import read_nnb
from nnb.executor import run_batched
from nnb.inspect import model_stats
from nnb.quantize.qmodel import load_quantized
from nnb.train.data import input_array, load_data
from nnb.train.evaluate import predict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENET = os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "trained", "fmnist_lenet.nnp")
CONFIGS = {
    "lutq4": ["--method", "lutq", "--k", "4"],
    "lutq16": ["--method", "lutq", "--k", "16"],
    "dq2budget": ["--method", "dq", "--weight-budget", "93216bit"],
    "dq3budget": ["--method", "dq", "--weight-budget", "139824bit"],
    "dq3pow2": ["--method", "dq", "--bits", "3", "--pow2-step"],
}


def make_models(tmp: str, limit: int) -> list[tuple[str, str]]:
    from nnb.cli import main

    out = []
    for label, args in CONFIGS.items():
        path = os.path.join(tmp, f"{label}.nnq")
        rc = main(["quantize", LENET, *args, "--data", "fashion-mnist", "--limit", str(limit), "--epochs", "1",
                   "--lr", "2e-4", "-q", "--val", "none", "-o", path])
        if rc:
            sys.exit(rc)
        out.append((label, path))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("nnq", nargs="*", help=".nnq files (default: quantize fmnist_lenet now)")
    ap.add_argument("--train-limit", type=int, default=6000, help="training images for the quick models")
    ap.add_argument("--backend", choices=["ref", "c"], default="ref",
                    help="c: add the C runtime's agreement with the reference (default: reference only)")
    args = ap.parse_args()
    x, y = load_data("fashion-mnist", "test")
    with tempfile.TemporaryDirectory() as tmp:
        models = [(os.path.basename(p), p) for p in args.nnq] or make_models(tmp, args.train_limit)
        print(f"{'model':<12} {'agree':>8} {'acc nnq':>8} {'acc nnb':>8} {'file B':>8} {'codes B':>8} "
              f"{'tables B':>8} {'float B':>8} {'f32 W B':>9} {'ref s':>6}"
              + (f" {'agree C':>8} {'C maxerr':>9} {'C arena':>8} {'C us/img':>8}" if args.backend == "c" else ""))
        for label, path in models:
            m = load_quantized(path)
            xi = input_array(m.graph, x)
            want = predict(m.graph, xi).argmax(axis=1)
            c = convert(m)
            g = read_nnb(c.image)
            g.input_specs = {g.inputs[0]: (-1,) + tuple(g.tensors[g.inputs[0]].shape[1:])}
            t0 = time.perf_counter()
            ref_out = run_batched(g, [xi])[g.outputs[0]].reshape(len(xi), -1)
            got = ref_out.argmax(axis=1)
            dt = time.perf_counter() - t0
            extra = ""
            if args.backend == "c":
                from nnb.backends.c import CNet

                net = CNet(c.image)
                t1 = time.perf_counter()
                c_out = net.run_batch([xi])[0].reshape(len(xi), -1)
                ct = time.perf_counter() - t1
                extra = (f" {(c_out.argmax(axis=1) == got).mean():>8.2%} {float(abs(c_out - ref_out).max()):>9.2g}"
                         f" {net.arena_bytes:>8} {ct / len(xi) * 1e6:>8.1f}")
            s = model_stats(g)
            codes = sum(p.code_bytes for p in c.packed.values())
            tables = sum(p.table_bytes for p in c.packed.values())
            assert s.packed_weight_bytes == codes + tables and s.param_bytes == c.param_bytes
            f32 = 4 * sum(p.weights for p in c.packed.values())
            print(f"{label:<12} {(got == want).mean():>8.2%} {(want == y).mean():>8.2%} {(got == y).mean():>8.2%} "
                  f"{len(c.image):>8} {codes:>8} {tables:>8} {s.param_bytes - codes - tables:>8} {f32:>9} {dt:>6.1f}"
                  + extra)
            bits = {n.split("/")[0]: f"{p.kind[0]}{p.bits}" for n, p in c.packed.items()}
            print(f"{'':<12} layers {bits}")


if __name__ == "__main__":
    main()
