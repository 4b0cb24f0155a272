"""Time one training epoch of fmnist_lenet (60k images, batch 64, Adam) with nnb and with nnabla 1.39.

Both run as subprocesses of this script, one after the other, on the same data
and batch, so they see the same machine load.  nnabla is taken from
the repository's .venv-nnabla (`make nnabla`; override with --nnabla-python).  BLAS threads for nnb are set
with --threads (OPENBLAS_NUM_THREADS; on a loaded 2-core machine 1 is faster).

usage: .venv/bin/python benchmarks/train_speed.py [--iters N] [--threads 1]
prints seconds per epoch for each and the ratio nnb / nnabla (target <= 1.5).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENET = os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "trained", "fmnist_lenet.nnp")

NNABLA = r"""
import json, sys, time, numpy as np
import nnabla as nn, nnabla.functions as F, nnabla.parametric_functions as PF, nnabla.solvers as S
sys.path.insert(0, sys.argv[2])
from nnb.datasets import fashion_mnist
iters, B = int(sys.argv[1]), 64
xtr, ytr = fashion_mnist("train")
def lenet(x):
    h = F.relu(F.max_pooling(PF.convolution(x, 16, (5, 5), name="conv1"), (2, 2)))
    h = F.relu(F.max_pooling(PF.convolution(h, 32, (5, 5), name="conv2"), (2, 2)))
    h = F.relu(PF.affine(h, 64, name="fc3"))
    return PF.affine(h, 10, name="fc4")
x = nn.Variable((B, 1, 28, 28)); t = nn.Variable((B, 1))
loss = F.mean(F.softmax_cross_entropy(lenet(x), t))
solver = S.Adam(1e-3); solver.set_parameters(nn.get_parameters())
perm = np.random.RandomState(0).permutation(len(xtr))
t0 = time.perf_counter()
for i in range(iters):
    b = perm[i * B:(i + 1) * B]
    x.d = xtr[b] / 255.0; t.d = ytr[b, None]
    loss.forward(clear_no_need_grad=True); solver.zero_grad(); loss.backward(clear_buffer=True); solver.update()
print(json.dumps({"seconds": time.perf_counter() - t0, "iters": iters}))
"""

NNB = r"""
import json, sys, time, numpy as np
sys.path.insert(0, sys.argv[2])
from nnb.nnp.reader import load
from nnb.train.data import input_array, load_data
from nnb.train.trainer import Trainer, TrainConfig
iters, B = int(sys.argv[1]), 64
g = load(sys.argv[3])
x, y = load_data("fashion-mnist", "train")
t = Trainer(g, TrainConfig(epochs=1, batch=B, lr=1e-3, progress=False))
n = iters * B
xs = input_array(g, x[:n]); ys = y[:n]
t0 = time.perf_counter()
t.fit(xs, ys)
print(json.dumps({"seconds": time.perf_counter() - t0, "iters": iters}))
"""


def _run(py: str, code: str, iters: int, env: dict[str, str]) -> float:
    out = subprocess.run([py, "-c", code, str(iters), ROOT, LENET], capture_output=True, text=True, env=env)
    if out.returncode:
        sys.exit(f"benchmark failed: {out.stderr.strip().splitlines()[-1:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["seconds"] / r["iters"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=937, help="iterations to time (937 = one epoch)")
    ap.add_argument("--threads", default="1", help="OPENBLAS_NUM_THREADS for nnb (default 1)")
    ap.add_argument("--repeat", type=int, default=1, help="alternate the two runs this many times, keep the best")
    default_nnabla = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".venv-nnabla", "bin", "python")
    ap.add_argument("--nnabla-python", default=default_nnabla)
    args = ap.parse_args()
    env_nnb = dict(os.environ, OPENBLAS_NUM_THREADS=args.threads)
    best_nnb, best_nn = float("inf"), float("inf")
    for _ in range(args.repeat):
        best_nn = min(best_nn, _run(args.nnabla_python, NNABLA, args.iters, dict(os.environ)))
        best_nnb = min(best_nnb, _run(sys.executable, NNB, args.iters, env_nnb))
    per_epoch = 60000 // 64
    print(f"nnabla 1.39 CPU : {best_nn * 1e3:.1f} ms/iter, {best_nn * per_epoch:.1f} s/epoch")
    print(f"nnb (numpy)     : {best_nnb * 1e3:.1f} ms/iter, {best_nnb * per_epoch:.1f} s/epoch "
          f"(OPENBLAS_NUM_THREADS={args.threads})")
    print(f"ratio nnb/nnabla: {best_nnb / best_nn:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
