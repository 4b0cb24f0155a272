"""Optimizers (SGD with momentum, Adam) with L2 weight decay, and learning-rate schedules.

The update formulas are nnabla's (``nnabla.solvers.Momentum`` / ``Adam``), with
weight decay added to the gradient as ``solver.weight_decay`` does, so a
fine-tuning run here behaves like one there.  State is a dict of arrays so a
checkpoint can save and restore it exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from nnb.errors import NnbError


class Optimizer:
    """Base: ``step(params, grads, lr)`` updates ``params`` in place."""

    def __init__(self, weight_decay: float = 0.0) -> None:
        self.weight_decay = weight_decay
        self.t = 0
        self.state: dict[str, np.ndarray] = {}

    def _grad(self, name: str, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        return g + self.weight_decay * p if self.weight_decay else g

    def step(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray], lr: float) -> None:
        self.t += 1
        for name, g in grads.items():
            if name in params:
                p = params[name]
                self._update(name, p, self._grad(name, p, g.astype(p.dtype, copy=False)), lr)

    def _update(self, name: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"t": np.array(self.t), **{f"s/{k}": v for k, v in self.state.items()}}

    def load_state_dict(self, d: Mapping[str, np.ndarray]) -> None:
        self.t = int(d["t"])
        self.state = {k[2:]: np.array(v) for k, v in d.items() if k.startswith("s/")}


class SGD(Optimizer):
    """Momentum SGD: ``v = m v + lr g; p -= v`` (nnabla's Momentum; plain SGD with momentum 0)."""

    def __init__(self, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        super().__init__(weight_decay)
        self.momentum = momentum

    def _update(self, name: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        if not self.momentum:
            p -= lr * g
            return
        v = self.state.get(name)
        if v is None:
            v = self.state[name] = np.zeros_like(p)
        v *= self.momentum
        v += lr * g
        p -= v


class Adam(Optimizer):
    """Adam with nnabla's bias correction folded into the step size."""

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(weight_decay)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def _update(self, name: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        m = self.state.get("m/" + name)
        if m is None:
            m = self.state["m/" + name] = np.zeros_like(p)
            self.state["v/" + name] = np.zeros_like(p)
            self.state["t/" + name] = np.zeros((), dtype=np.int64)
        v = self.state["v/" + name]
        tt = self.state["t/" + name]
        tt += 1
        t = int(tt)
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * (g * g)
        alpha = lr * math.sqrt(1 - self.beta2 ** t) / (1 - self.beta1 ** t)
        p -= alpha * m / (np.sqrt(v) + self.eps)


def make_optimizer(name: str, weight_decay: float = 0.0, momentum: float = 0.9) -> Optimizer:
    if name == "adam":
        return Adam(weight_decay=weight_decay)
    if name in ("sgd", "momentum"):
        return SGD(momentum=momentum, weight_decay=weight_decay)
    raise NnbError(f"unknown optimizer '{name}' (adam or sgd)")


class Schedule:
    """Learning rate per iteration: constant, step (x gamma every ``step_epochs``) or cosine to 0.

    ``warmup`` iterations ramp linearly from 0, which keeps a fine-tuning run
    from knocking a trained network off its minimum in the first steps.
    """

    def __init__(self, kind: str, base_lr: float, total_iters: int, iters_per_epoch: int,
                 step_epochs: int = 1, gamma: float = 0.1, warmup: int = 0) -> None:
        if kind not in ("constant", "step", "cosine"):
            raise NnbError(f"unknown learning-rate schedule '{kind}' (constant, step or cosine)")
        if base_lr <= 0 or not math.isfinite(base_lr):
            raise NnbError(f"learning rate must be positive, got {base_lr}")
        self.kind, self.base_lr, self.total = kind, base_lr, max(total_iters, 1)
        self.per_epoch, self.step_epochs, self.gamma, self.warmup = max(iters_per_epoch, 1), step_epochs, gamma, warmup

    def __call__(self, it: int) -> float:
        if it < self.warmup:
            return self.base_lr * (it + 1) / self.warmup
        if self.kind == "constant":
            return self.base_lr
        if self.kind == "step":
            return self.base_lr * self.gamma ** ((it // self.per_epoch) // max(self.step_epochs, 1))
        frac = (it - self.warmup) / max(self.total - self.warmup, 1)
        return 0.5 * self.base_lr * (1 + math.cos(math.pi * min(frac, 1.0)))
