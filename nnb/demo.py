"""The built-in default job (``make demo`` / ``nnb demo``).

With nothing downloaded: fit a small Fashion-MNIST classifier in closed form
(random ReLU features + ridge-regression read-out), write it as an NNP that
nnabla loads, inspect it, and evaluate it with the numpy reference executor on
the 10,000 test images.  Later stages (NNB + C runtime, quantization) are added
to this job as they land.
"""

from __future__ import annotations

import os
import time

import numpy as np

from nnb.builder import GraphBuilder
from nnb.datasets import fashion_mnist
from nnb.executor import run_batched
from nnb.inspect import format_table, model_stats
from nnb.ir import Graph
from nnb.nnp.reader import load
from nnb.nnp.writer import save


def fit_random_feature_classifier(x: np.ndarray, y: np.ndarray, hidden: int = 1024, ridge: float = 10.0,
                                  seed: int = 0) -> Graph:
    """Affine(784->hidden, random) -> ReLU -> Affine(hidden->10, least squares) -> Softmax."""
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    xf = x.reshape(n, -1).astype(np.float32) / 255.0
    w1 = (rng.standard_normal((xf.shape[1], hidden)) / np.sqrt(xf.shape[1] * 0.1)).astype(np.float32)
    b1 = (rng.standard_normal(hidden) * 0.5).astype(np.float32)
    h = np.maximum(xf @ w1 + b1, 0).astype(np.float64)
    h1 = np.hstack([h, np.ones((n, 1))])
    target = np.eye(10)[y] * 10.0 - 5.0  # logits-like targets keep the softmax sharp
    a = h1.T @ h1 + ridge * np.eye(h1.shape[1])
    w2 = np.linalg.solve(a, h1.T @ target)
    b = GraphBuilder("demo")
    xin = b.input("x", (-1, 1, 28, 28))
    t = b.op("Affine", [xin, b.param("fc1/affine/W", w1), b.param("fc1/affine/b", b1)], name="fc1")
    t = b.op("ReLU", [t], name="relu1")
    t = b.op("Affine", [t, b.param("fc2/affine/W", w2[:-1]), b.param("fc2/affine/b", w2[-1])], name="fc2")
    b.output(b.op("Softmax", [t], name="softmax", outputs=["y"], axis=1))
    return b.build()


def main(out_dir: str = "out/demo") -> int:
    os.makedirs(out_dir, exist_ok=True)
    print("== 1. data: Fashion-MNIST from Debian's dataset-fashion-mnist")
    xtr, ytr = fashion_mnist("train")
    xte, yte = fashion_mnist("test")
    print(f"   train {xtr.shape}, test {xte.shape}")
    print("== 2. fit a small classifier (random ReLU features + ridge read-out, closed form)")
    t0 = time.perf_counter()
    g = fit_random_feature_classifier(xtr, ytr)
    path = os.path.join(out_dir, "fmnist_rf.nnp")
    save(g, path)
    print(f"   fitted in {time.perf_counter() - t0:.1f} s, wrote {path}")
    print("== 3. nnb inspect")
    g = load(path)
    print("   " + format_table(model_stats(g)).replace("\n", "\n   "))
    print("== 4. numpy reference executor on the 10,000 test images")
    t0 = time.perf_counter()
    probs = run_batched(g, [xte.astype(np.float32) / 255.0], batch=1000)["y"]
    dt = time.perf_counter() - t0
    acc = float((probs.argmax(axis=1) == yte).mean())
    print(f"   top-1 accuracy {acc * 100:.2f} %  ({dt:.2f} s, {len(xte) / dt:,.0f} images/s)")
    c_runtime_stage(g, xte, yte, probs, out_dir)
    return 0


def c_runtime_stage(g: Graph, xte: np.ndarray, yte: np.ndarray, ref_probs: np.ndarray, out_dir: str) -> None:
    """Convert to NNB, run every test image through the C runtime, compare with the reference."""
    from nnb.backends.c import CNet
    from nnb.emit.convert import convert
    from nnb.emit.nnb import compat_plan
    from nnb.errors import NnbError

    print("== 5. nnb convert: NNB for the C runtime")
    conv = convert(g, "extended")
    path = os.path.join(out_dir, "fmnist_rf.nnb")
    with open(path, "wb") as f:
        f.write(conv.image)
    params = sum(t.nbytes for t in conv.graph.params())
    upstream = sum(compat_plan(g).buffer_sizes)
    arena = conv.arena.arena_bytes if conv.arena else conv.buffer_bytes
    print(f"   wrote {path}: {len(conv.image):,} bytes ({conv.mode}), parameters {params:,} bytes, "
          f"arena {arena:,} bytes (upstream-style buffers {upstream:,})")
    print("== 6. C runtime (cffi) on the 10,000 test images")
    try:
        net = CNet(conv.image)
    except NnbError as e:
        print(f"   the C runtime refused the extended file ({e}); using the compatible one")
        try:
            net = CNet(convert(g, "compat").image)
        except NnbError as e2:
            print(f"   C runtime unavailable: {e2}")
            return
    xf = xte.astype(np.float32) / 255.0
    t0 = time.perf_counter()
    probs = np.concatenate([net.run([xf[i:i + 1]])[0] for i in range(len(xf))])
    dt = time.perf_counter() - t0
    acc = float((probs.argmax(axis=1) == yte).mean())
    same = float((probs.argmax(axis=1) == ref_probs.argmax(axis=1)).mean())
    err = float(np.abs(probs - ref_probs).max())
    print(f"   top-1 accuracy {acc * 100:.2f} %, same prediction as the reference on {same * 100:.2f} % "
          f"(max abs difference {err:.2g}), {dt / len(xf) * 1e3:.3f} ms per image including the Python call")


if __name__ == "__main__":
    raise SystemExit(main())
