"""LUT-Q with integer activations (issue 13 point 3): accuracy on the 10k Fashion-MNIST test set and Cortex-M4
instructions of the per-entry kernel against the int8 kernel, on the trained LeNet.

For each LUT-Q setting (default: K=4, and K=4 with a power-of-two dictionary):

1. LUT-Q fine-tuning of ../shared/fixtures/trained/fmnist_lenet.nnp (the demo's settings: one epoch, lr 2e-4,
   on the first --train training images): ``nnb quantize --method lutq``;
2. deployed with integer activations, the codes kept: ``nnb quantize LUTQ.nnq --method int8 --keep-lutq
   --calib fashion-mnist --calib-samples 500``;
3. for comparison, plain int8 of the same float LUT-Q network (its weights re-quantized to int8 per channel);
4. top-1 on the 10k test set: float LUT-Q (numpy reference), integer LUT-Q and int8 from the C runtime; the
   integer simulation's predictions on the first --check images must equal the C runtime's;
5. with --m4: both integer NNB files as firmware on QEMU mps2-an386 (-O2, the board's setting): instructions
   per inference and per layer (profile build), flash and RAM.

    .venv/bin/python benchmarks/int8_lutq.py [--train 5000] [--test 10000] [--check 1000] [--m4]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from nnb.cli import main as nnb_main  # noqa: E402
from nnb.executor import run_batched  # noqa: E402
from nnb.quantize.int8 import from_quantized  # noqa: E402
from nnb.quantize.int_sim import run_int8  # noqa: E402
from nnb.quantize.qmodel import load_quantized  # noqa: E402
from nnb.train.data import input_array, load_data  # noqa: E402

TRAINED = os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "trained")
CONFIGS = {"k4": ["--k", "4"], "k4pow2": ["--k", "4", "--pow2"], "k8": ["--k", "8"], "k16": ["--k", "16"]}


def cli(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        rc = nnb_main(list(args))
    if rc != 0:
        raise SystemExit(f"nnb {' '.join(args)} failed ({rc})")
    return out.getvalue()


def c_predict(m, x: np.ndarray) -> tuple[np.ndarray, bytes]:  # noqa: ANN001
    from nnb.backends.c import CNet
    from nnb.emit.convert import convert_int8

    image = convert_int8(m).image
    return CNet(image).run_batch([x])[0].reshape(len(x), -1), image


def c_outputs(m, x: np.ndarray, tensor: str) -> np.ndarray:  # noqa: ANN001
    """The C runtime's (dequantized) values of one integer tensor of the model."""
    from nnb.backends.c import CNet
    from nnb.emit.nnb_int8 import write_int8_nnb

    image, d, _ = write_int8_nnb(m, extra_outputs=(tensor,))
    return dict(zip(d.outputs, CNet(image).run_batch([x])))[f"{tensor}@dq" if f"{tensor}@dq" in d.outputs
                                                           else tensor]


def m4(name: str, image: bytes, x1: np.ndarray, tmp: str) -> None:
    from nnb.boards.run import run_on_board

    path = os.path.join(tmp, f"{name}.nnb")
    with open(path, "wb") as f:
        f.write(image)
    _, rep = run_on_board(path, "qemu-mps2-an386", [x1])
    _, prof = run_on_board(path, "qemu-mps2-an386", [x1], profile=True)
    print(f"  {name}: {rep.run_count:,} instructions per inference (nnbrt_init {rep.init_count:,}); flash "
          f"{rep.linked.get('flash', 0):,} B, RAM {rep.linked.get('ram', 0):,} B, arena {rep.arena:,} B")
    for layer in prof.layers:
        print(f"    {layer}")


def bench(cfg: str, args: argparse.Namespace, xte: np.ndarray, yte: np.ndarray) -> None:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        lut, flt = os.path.join(tmp, "lutq.nnq"), os.path.join(tmp, "lutq_float.nnp")
        cli("quantize", os.path.join(TRAINED, "fmnist_lenet.nnp"), "--method", "lutq", *CONFIGS[cfg],
            "--data", "fashion-mnist", "--limit", str(args.train), "--epochs", "1", "--lr", "2e-4", "--val", "none",
            "-q", "-o", lut, "--export-nnp", flt)
        li8, pi8 = os.path.join(tmp, "lutq_i8.nnq"), os.path.join(tmp, "int8.nnq")
        shown = cli("quantize", lut, "--method", "int8", "--keep-lutq", "--calib", "fashion-mnist",
                    "--calib-samples", str(args.calib), "-q", "-o", li8)
        cli("quantize", flt, "--method", "int8", "--calib", "fashion-mnist", "--calib-samples", str(args.calib),
            "-q", "-o", pi8)
        qm = load_quantized(lut)
        x = input_array(qm.graph, xte)
        fl = run_batched(qm.graph, [x])[qm.graph.outputs[0]].reshape(len(x), -1).argmax(1)
        ml, mp = from_quantized(load_quantized(li8)), from_quantized(load_quantized(pi8))
        cl, img_l = c_predict(ml, x)
        cp, img_p = c_predict(mp, x)
        n = min(args.check, len(x))
        last = [s.output for s in ml.steps if s.kind == "int"][-1]  # the integer logits (before the Softmax)
        sim = run_int8(ml, [x[:n]], keep=[last])
        c_last = c_outputs(ml, x[:n], last)
        same = int((sim[ml.graph.outputs[0]].reshape(n, -1).argmax(1) == cl[:n].argmax(1)).sum())
        exact = bool(np.array_equal(sim[last].reshape(c_last.shape), c_last))
        acc = {k: 100.0 * float((v == yte).mean()) for k, v in (("float", fl), ("lutq", cl.argmax(1)),
                                                                   ("int8", cp.argmax(1)))}
        print(f"\n## LeNet, LUT-Q {' '.join(CONFIGS[cfg])} ({args.train} training images, 1 epoch), "
              f"{args.calib} calibration images ({time.perf_counter() - t0:.0f} s)\n")
        for line in shown.splitlines():
            if line.startswith(("LUT-Q layers", "constants")):
                print(line)
        print(f"NNB files: LUT-Q with integer activations {len(img_l):,} B, int8 {len(img_p):,} B")
        print(f"top-1 on {len(x)} test images: float LUT-Q {acc['float']:.2f} %, LUT-Q with integer activations "
              f"(C runtime) {acc['lutq']:.2f} % ({acc['lutq'] - acc['float']:+.2f}), plain int8 of the same network "
              f"(C runtime) {acc['int8']:.2f} %; identical predictions float vs integer LUT-Q "
              f"{int((fl == cl.argmax(1)).sum())}/{len(x)}")
        print(f"integer simulation vs C runtime on the first {n}: integer logits {'equal' if exact else 'DIFFER'}, "
              f"{same}/{n} identical predictions")
        if args.m4:
            print("Cortex-M4 (QEMU mps2-an386, -O2):")
            m4(f"lenet_lutq_{cfg}_i8", img_l, x[:1], tmp)
            m4("lenet_int8", img_p, x[:1], tmp)
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", type=int, default=5000, help="LUT-Q training images (one epoch)")
    ap.add_argument("--calib", type=int, default=500)
    ap.add_argument("--test", type=int, default=10000)
    ap.add_argument("--check", type=int, default=1000, help="images on which the simulation is compared with C")
    ap.add_argument("--configs", default="k4,k4pow2", help=f"LUT-Q settings ({', '.join(CONFIGS)})")
    ap.add_argument("--m4", action="store_true", help="also count instructions on the emulated Cortex-M4")
    args = ap.parse_args()
    xte, yte = load_data("fashion-mnist:test")
    xte, yte = xte[:args.test], yte[:args.test]
    for cfg in args.configs.split(","):
        bench(cfg, args, xte, yte)


if __name__ == "__main__":
    main()
