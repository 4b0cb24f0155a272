"""DQ: differentiable quantization with a learned step ``d`` and range ``q_max`` (U3 parametrization).

Per weight tensor: ``Q(W) = d * round(clip(W, -q_max, q_max) / d)``; the
bitwidth follows from the two, ``b = ceil(log2(q_max/d + 1) + 1)`` (signed).
Gradients (straight-through): dQ/dW = 1 inside [-q_max, q_max], 0 outside;
dQ/dd = (Q - W)/d inside, 0 outside; dQ/dq_max = 0 inside, sign(W) outside.
A weight-memory budget S_w0 adds ``lambda * max(0, sum_l params_l b_l - S_w0)^2``
(sizes in kB, lambda 0.1) whose gradient reaches d and q_max through b with a
straight-through ceil.  ``bits=N`` fixes b (q_max = (2^(N-1) - 1) d): the
LSQ-style fixed-bitwidth baseline with a learned step.
Uhlich et al., "Mixed Precision DNNs", ICLR 2020 (arXiv 1905.11452).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from nnb.errors import NnbError
from nnb.quantize.qmodel import QLayer
from nnb.train.trainer import Hook

LN2 = math.log(2.0)
KB_BITS = 8 * 1024  # 1 kB = 1024 bytes


@dataclass(frozen=True)
class DqConfig:
    budget_kb: float | None = None  # weight memory budget in kB (1024 bytes)
    bits: int | None = None  # fixed bitwidth (baseline) instead of learned q_max
    pow2_step: bool = False  # round d to a power of two in the forward pass (Sony's hardware constraint)
    init_bits: int = 4
    lam: float = 0.1
    lr_scale: float = 10.0  # d and q_max learn faster than the weights: they must travel a few steps' worth
    hard_budget: bool = True  # project onto the budget after every step (see DqHook.project)


def parse_size(text: str) -> float:
    """'11.4kB', '11.4KiB', '93216bit', '2048B', '1.5MB' -> kB (1024 bytes)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(kb|kib|k|b|bytes?|bits?|mb|mib)?\s*", text.lower())
    if not m:
        raise NnbError(f"cannot read size '{text}' (examples: 11.4kB, 93216bit, 2048B)")
    v, unit = float(m.group(1)), m.group(2) or "kb"
    factor = {"kb": 1.0, "kib": 1.0, "k": 1.0, "b": 1 / 1024, "byte": 1 / 1024, "bytes": 1 / 1024,
              "bit": 1 / KB_BITS, "bits": 1 / KB_BITS, "mb": 1024.0, "mib": 1024.0}[unit]
    if v <= 0:
        raise NnbError(f"size must be positive, got '{text}'")
    return v * factor


def bits_of(d: float, qmax: float) -> int:
    return int(min(8, max(2, math.ceil(math.log2(qmax / d + 1) + 1 - 1e-9))))


class DqLayer:
    """Step and range of one weight tensor."""

    def __init__(self, w: np.ndarray, cfg: DqConfig) -> None:
        self.cfg = cfg
        self.n = w.size
        self.cap: int | None = None  # bitwidth limit set by DqHook.project
        amax = float(np.abs(w).max()) or 1.0
        if cfg.bits:
            qp = (1 << (cfg.bits - 1)) - 1
            d = 2 * float(np.abs(w).mean()) / math.sqrt(qp)  # LSQ's initial step
            self.d = np.array(min(max(d, 2 ** -8), 1.0))
            self.qmax = np.array(float(self.d) * qp)
        else:
            qp = (1 << (cfg.init_bits - 1)) - 1
            self.d = np.array(2.0 ** math.floor(math.log2(amax / qp)))
            self.qmax = np.array(float(self.d) * qp)
        self.clamp()

    def step_size(self) -> float:
        d = float(self.d)
        return 2.0 ** round(math.log2(d)) if self.cfg.pow2_step else d

    def range(self) -> float:
        if self.cfg.bits:
            return self.step_size() * ((1 << (self.cfg.bits - 1)) - 1)
        if self.cap is not None:
            return min(float(self.qmax), self.step_size() * ((1 << (self.cap - 1)) - 1))
        return float(self.qmax)

    def _bound_bits(self) -> int | None:
        """The bitwidth that ties the range to the step (fixed bits, or a budget cap that binds), else None."""
        if self.cfg.bits:
            return self.cfg.bits
        if self.cap is not None and float(self.qmax) > self.step_size() * ((1 << (self.cap - 1)) - 1):
            return self.cap
        return None

    @property
    def bits(self) -> int:
        return self.cfg.bits or bits_of(self.step_size(), self.range())

    def clamp(self) -> None:
        d = min(max(float(self.d), 2 ** -8), 1.0)
        q = min(max(float(self.qmax), 2 ** -8, d), 127.0, 127 * d)
        self.d[...] = d
        self.qmax[...] = q

    def codes(self, w: np.ndarray) -> np.ndarray:
        qm, d = self.range(), self.step_size()
        return np.round(np.clip(w, -qm, qm) / d).astype(np.int64)

    def quantized(self, w: np.ndarray) -> np.ndarray:
        return (self.codes(w) * self.step_size()).astype(np.float32)

    def grads(self, w: np.ndarray, gq: np.ndarray) -> tuple[np.ndarray, float, float]:
        """dJ/dW, dJ/dd, dJ/dq_max from dJ/dQ (U3; with fixed bits q_max follows d)."""
        d, qm = self.step_size(), self.range()
        inside = np.abs(w) <= qm
        q = self.quantized(w)
        gw = gq * inside
        gd = float((gq * inside * ((q - w) / d)).sum())
        gout = float((gq * ~inside * np.sign(w)).sum())
        tied = self._bound_bits()
        if tied:  # q_max = (2^(b-1) - 1) d: the clipped weights' gradient goes to d
            return gw, gd + gout * ((1 << (tied - 1)) - 1), 0.0
        return gw, gd, gout

    def to_qlayer(self, w: np.ndarray) -> QLayer:
        return QLayer("uniform", tuple(w.shape), self.bits, np.array([self.step_size()], np.float32), self.codes(w))


class DqHook(Hook):
    """Plugs DQ into :class:`nnb.train.trainer.Trainer`; d and q_max are extra trainable variables."""

    def __init__(self, params: dict[str, np.ndarray], names: list[str], cfg: DqConfig) -> None:
        if cfg.bits is not None and not 2 <= cfg.bits <= 8:
            raise NnbError(f"DQ: --bits must be in 2..8, got {cfg.bits}")
        if cfg.bits is None and cfg.budget_kb is None:
            raise NnbError("DQ needs --weight-budget (learned bitwidths) or --bits (fixed)")
        self.cfg = cfg
        self.layers = {n: DqLayer(params[n], cfg) for n in names}
        self.lr_scale = cfg.lr_scale
        self.penalty = 0.0
        if cfg.hard_budget:
            self.project()

    def weight_kb(self) -> float:
        return sum(q.n * q.bits for q in self.layers.values()) / KB_BITS

    def forward_params(self, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = dict(params)
        out.update({n: q.quantized(params[n]) for n, q in self.layers.items()})
        return out

    def variables(self) -> dict[str, np.ndarray]:
        out = {}
        for n, q in self.layers.items():
            out[f"dq/{n}/d"] = q.d
            if not self.cfg.bits:
                out[f"dq/{n}/qmax"] = q.qmax
        return out

    def backward(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> tuple[dict, float]:
        grads = dict(grads)
        excess = self.weight_kb() - self.cfg.budget_kb if self.cfg.budget_kb and not self.cfg.bits else 0.0
        active = excess > 0
        self.penalty = self.cfg.lam * excess ** 2 if active else 0.0
        for n, q in self.layers.items():
            if n not in grads:
                continue
            gw, gd, gq = q.grads(params[n], grads[n])
            grads[n] = gw
            if active:
                d, qm = q.step_size(), q.range()
                db = 2 * self.cfg.lam * excess * q.n / KB_BITS  # dP/db_l
                gq += db / ((qm + d) * LN2)
                gd += db * (-qm / (d * (qm + d) * LN2))
                lim = float(q.d)
                gd, gq = float(np.clip(gd, -lim, lim)), float(np.clip(gq, -lim, lim))
            grads[f"dq/{n}/d"] = np.array(gd)
            if not self.cfg.bits:
                grads[f"dq/{n}/qmax"] = np.array(gq)
        return grads, self.penalty

    def after_step(self, params: dict[str, np.ndarray]) -> None:
        for q in self.layers.values():
            q.clamp()
        if self.cfg.hard_budget:
            self.project()

    def project(self) -> None:
        """Meet the budget by capping bitwidths one bit at a time, the largest layer (most bits saved) first.

        The penalty alone is weak for a small network (sizes in kB, lambda 0.1)
        and the task gradient keeps pushing the ranges up; the caps keep every
        step's model within the budget (the reference code instead keeps only
        checkpoints that satisfy the constraints).  A capped layer trains like
        the fixed-bitwidth quantizer; caps are recomputed every step, so a
        layer can widen again when another one shrinks.
        """
        if self.cfg.bits or self.cfg.budget_kb is None:
            return
        for q in self.layers.values():
            q.cap = None
        while self.weight_kb() > self.cfg.budget_kb + 1e-9:
            cand = [q for q in self.layers.values() if q.bits > 2]
            if not cand:
                break
            q = max(cand, key=lambda q: (q.n, q.bits))
            q.cap = q.bits - 1

    def within_budget(self) -> bool:
        return self.cfg.budget_kb is None or self.weight_kb() <= self.cfg.budget_kb + 1e-9

    def state_dict(self) -> dict[str, np.ndarray]:
        return {k: np.array(v) for k, v in self.variables().items()}

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None:
        for k, v in self.variables().items():
            if k in d:
                v[...] = d[k]

    def qlayers(self, params: dict[str, np.ndarray]) -> dict[str, QLayer]:
        return {n: q.to_qlayer(params[n]) for n, q in self.layers.items()}
