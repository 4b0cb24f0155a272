"""Shared helpers for the training tests: fixture paths and a finite-difference gradient check."""

from __future__ import annotations

import os

import numpy as np

from nnb.ir import Graph
from nnb.train.autograd import Program

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(os.path.dirname(ROOT), "shared", "fixtures")
LENET = os.path.join(FIXTURES, "trained", "fmnist_lenet.nnp")
DSCNN = os.path.join(FIXTURES, "trained", "fmnist_dscnn.nnp")
TEST_2K = os.path.join(FIXTURES, "data", "fmnist_test_2k.npz")


def gradcheck(g: Graph, x: np.ndarray, training: bool = False, seed: int = 0, samples: int = 12,
              eps: float = 1e-6, rtol: float = 1e-5) -> None:
    """Compare autograd with central differences of sum(r * output) in float64, for the input and all params."""
    rng = np.random.default_rng(seed)
    params = {t.name: t.data.astype(np.float64) for t in g.params()}
    xname = g.inputs[0]
    wrt = [xname] + [t.name for t in g.params() if t.need_grad]
    prog = Program(g, g.outputs[0], wrt=wrt)
    feeds = {xname: x.astype(np.float64)}
    y = prog.forward(feeds, params, training).values[g.outputs[0]]
    r = rng.standard_normal(y.shape)
    grads = prog.backward(prog.forward(feeds, params, training), r)

    def f() -> float:
        return float((prog.forward(feeds, params, training).values[g.outputs[0]] * r).sum())

    for name in wrt:
        arr = feeds[name] if name == xname else params[name]
        assert name in grads, f"no gradient for {name}"
        assert grads[name].shape == arr.shape, f"{name}: grad shape {grads[name].shape} != {arr.shape}"
        flat = arr.reshape(-1)
        for i in rng.choice(flat.size, size=min(samples, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + eps
            fp = f()
            flat[i] = old - eps
            fm = f()
            flat[i] = old
            num = (fp - fm) / (2 * eps)
            ana = grads[name].reshape(-1)[i]
            assert abs(num - ana) <= rtol * max(1.0, abs(num)) + 1e-7, f"{name}[{i}]: autograd {ana} vs numeric {num}"
