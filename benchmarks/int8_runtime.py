"""The calibrated int8 models as NNB files in nnb's C runtime, beside the float NNB in the same run (issue 13).

For fmnist_lenet and fmnist_dscnn: ``nnb quantize --method int8 --calib fashion-mnist --calib-samples N``
(minmax), then

* the int8 NNB (``nnb convert X.nnq``): file bytes, the plan's arena (header) and the C runtime's whole
  request (``nnbrt_arena_size``: tensors + scratch + tables) against the float extended NNB's;
* top-1 on the 10k test images through the C runtime (``nnb eval X.nnq --backend c``) and through the
  integer simulation (``--backend intsim``), and whether their predictions agree on every image;
* host latency per image, C runtime, int8 NNB vs float NNB (batch 1, best of 3 passes over 1000 images).

    .venv/bin/python benchmarks/int8_runtime.py [--calib 500] [--test 10000] [--models lenet,dscnn]
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

from nnb.backends import c as c_backend  # noqa: E402
from nnb.backends import intsim  # noqa: E402
from nnb.cli import main as nnb_main  # noqa: E402
from nnb.emit.convert import convert, load_for_convert  # noqa: E402
from nnb.nnp.reader import load  # noqa: E402
from nnb.train.data import input_array, load_data  # noqa: E402

TRAINED = os.path.normpath(os.path.join(ROOT, "..", "shared", "fixtures", "trained"))


def latency(net: c_backend.CNet, x: np.ndarray) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for i in range(len(x)):
            net.run([x[i:i + 1]])
        best = min(best, (time.perf_counter() - t) / len(x))
    return best * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calib", type=int, default=500)
    ap.add_argument("--test", type=int, default=10000)
    ap.add_argument("--models", default="lenet,dscnn")
    args = ap.parse_args()
    xt_raw, yt = load_data("fashion-mnist", "test")
    xt_raw, yt = xt_raw[:args.test], yt[:args.test]
    print(f"{'model':8} {'file B':>8} {'plan B':>8} {'float plan':>10} {'ratio':>6} {'C arena B':>10} "
          f"{'float C arena':>13} {'ratio':>6} {'scratch':>8} {'f scratch':>9}  {'top-1 C':>8} {'top-1 sim':>9} "
          f"{'agree':>6}  {'us int8':>8} {'us float':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.models.split(","):
            nnp = os.path.join(TRAINED, f"fmnist_{arch}.nnp")
            nnq = os.path.join(tmp, f"{arch}.nnq")
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                rc = nnb_main(["quantize", nnp, "--method", "int8", "--calib", "fashion-mnist", "--calib-samples",
                               str(args.calib), "-o", nnq])
            if rc:
                print(f"{arch}: nnb quantize failed ({rc})")
                return 1
            g = load(nnp)
            xt = input_array(g, xt_raw)
            q8 = convert(load_for_convert(nnq))
            fl = convert(g)
            n8, nf = c_backend.CNet(q8.image), c_backend.CNet(fl.image)
            pc = c_backend.predict(nnq, g, xt)
            ps = intsim.predict(nnq, g, xt)
            acc_c = 100 * float((pc.argmax(1) == yt).mean())
            acc_s = 100 * float((ps.argmax(1) == yt).mean())
            agree = int((pc.argmax(1) == ps.argmax(1)).sum())
            xl = xt[:1000]
            print(f"{arch:8} {len(q8.image):>8,} {q8.buffer_bytes:>8,} {fl.buffer_bytes:>10,} "
                  f"{q8.buffer_bytes / fl.buffer_bytes:>6.1%} {n8.arena_bytes:>10,} {nf.arena_bytes:>13,} "
                  f"{n8.arena_bytes / nf.arena_bytes:>6.1%} {n8.arena_info['scratch']:>8,} "
                  f"{nf.arena_info['scratch']:>9,}  {acc_c:>7.2f}% {acc_s:>8.2f}% {agree:>6}  "
                  f"{latency(n8, xl):>8.1f} {latency(nf, xl):>8.1f}")
    print("plan = the tensors' one-arena plan (header arena_bytes); C arena = nnbrt_arena_size (tables, input, "
          "tensors, kernel scratch); scratch = its kernel-scratch part; agree = images where C and the simulation "
          "predict the same class; us = host latency per image, batch 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
