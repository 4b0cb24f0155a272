"""How fast is the numpy reference executor on a data set?

Runs ../shared/fixtures/trained/fmnist_lenet.nnp (or --model) over the full
Fashion-MNIST test set (10,000 images, Debian's dataset-fashion-mnist), input
image/255 as the trained fixtures expect, and prints wall time, images/s and
top-1 accuracy (nnabla measured 88.57 % for this model).  Target: < 10 s.

usage: python benchmarks/reference_speed.py [--model M.nnp] [--batch 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from nnb.datasets import fashion_mnist
from nnb.executor import run_batched
from nnb.nnp.reader import load

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "..", "..", "shared", "fixtures", "trained", "fmnist_lenet.nnp")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    g = load(args.model)
    x, y = fashion_mnist("test")
    xf = x.astype(np.float32) / 255.0
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        out = run_batched(g, [xf], batch=args.batch)[g.outputs[0]]
        times.append(time.perf_counter() - t0)
    acc = float((out.argmax(axis=1) == y).mean())
    ref = os.path.splitext(args.model)[0] + ".json"
    nnabla_acc = json.load(open(ref))["test_accuracy"] if os.path.exists(ref) else None
    best = min(times)
    print(f"model            {os.path.basename(args.model)}")
    print(f"images           {len(x)}")
    print(f"best of {args.repeat} runs    {best:.2f} s  ({len(x) / best:,.0f} images/s, batch {args.batch})")
    print(f"top-1 accuracy   {acc * 100:.2f} %" + (f"  (nnabla: {nnabla_acc * 100:.2f} %)" if nnabla_acc else ""))
    print(f"target < 10 s    {'PASS' if best < 10 else 'FAIL'}")


if __name__ == "__main__":
    main()
