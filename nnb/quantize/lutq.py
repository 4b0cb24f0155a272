"""LUT-Q: per-layer look-up-table quantization trained with a k-means step per minibatch.

Each quantized weight W keeps a dictionary ``d`` (K values) and an assignment
``A`` (W's shape, entries 0..K-1).  The forward pass uses ``Q = d[A]``; the
gradient dJ/dQ updates the float shadow W (straight-through); after every
optimizer step one k-means step moves A and d towards W.  Options (applied
after each mean step): power-of-two dictionary (multiplierless inference),
pruning (one entry fixed at 0 holding the p*N smallest |W|), symmetric
dictionary (k-means on |W| with K/2 centres, mirrored).
Cardinaux et al., arXiv 1811.05355 / 1911.04951.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nnb.errors import NnbError
from nnb.quantize.qmodel import QLayer
from nnb.train.trainer import Hook


@dataclass(frozen=True)
class LutqConfig:
    k: int = 4
    pow2: bool = False
    prune: float = 0.0
    symmetric: bool = False
    init_iters: int = 30

    def check(self) -> None:
        if self.k < 2 or self.k > 256:
            raise NnbError(f"LUT-Q: K must be in 2..256, got {self.k}")
        if not 0.0 <= self.prune < 1.0:
            raise NnbError(f"LUT-Q: pruning rate must be in [0, 1), got {self.prune}")
        if self.symmetric and (self.k % 2 or self.prune):
            raise NnbError("LUT-Q: --symmetric needs an even K and no pruning")
        if self.prune and self.k < 2:
            raise NnbError("LUT-Q: pruning needs K >= 2")

    @property
    def bits(self) -> int:
        return max(1, math.ceil(math.log2(self.k)))


def pow2_round(d: np.ndarray) -> np.ndarray:
    """sign(d) 2^round(log2|d|); zeros stay zero."""
    out = np.zeros_like(d)
    nz = d != 0
    out[nz] = np.sign(d[nz]) * np.exp2(np.round(np.log2(np.abs(d[nz]))))
    return out


def nearest(w: np.ndarray, d: np.ndarray) -> np.ndarray:
    """argmin_k |w - d_k| for every entry of w (d need not be sorted)."""
    order = np.argsort(d, kind="stable")
    ds = d[order]
    mid = (ds[1:] + ds[:-1]) / 2
    return order[np.searchsorted(mid, w)]


class LutqLayer:
    """Dictionary and assignment of one weight tensor; ``step(W)`` is one constrained k-means step."""

    def __init__(self, w: np.ndarray, cfg: LutqConfig) -> None:
        self.cfg = cfg
        flat = w.reshape(-1).astype(np.float64)
        if cfg.symmetric:
            c = np.quantile(np.abs(flat), (np.arange(cfg.k // 2) + 0.5) / (cfg.k // 2))
            self.d = np.concatenate([-c[::-1], c])
        else:
            n_free = cfg.k - (1 if cfg.prune else 0)
            self.d = np.quantile(flat, (np.arange(n_free) + 0.5) / n_free)
            if cfg.prune:
                self.d = np.concatenate([[0.0], self.d])
        self.d = self._constrain(self.d)
        self.a = np.zeros(w.shape, dtype=np.int64)
        for _ in range(cfg.init_iters):
            self.step(w)

    def _constrain(self, d: np.ndarray) -> np.ndarray:
        if self.cfg.pow2:
            d = pow2_round(d)
            if self.cfg.prune:
                d[0] = 0.0
        return d

    def assign(self, w: np.ndarray) -> np.ndarray:
        flat = w.reshape(-1)
        cfg = self.cfg
        if cfg.symmetric:
            half = cfg.k // 2
            pos = self.d[half:]
            idx = nearest(np.abs(flat), pos)
            a = np.where(flat >= 0, half + idx, half - 1 - idx)
        elif cfg.prune:
            a = np.empty(flat.size, dtype=np.int64)
            n0 = int(round(cfg.prune * flat.size))
            mag = np.abs(flat)
            small = np.argpartition(mag, n0)[:n0] if 0 < n0 < flat.size else np.arange(n0)
            a[:] = 1 + nearest(flat, self.d[1:])
            a[small] = 0
        else:
            a = nearest(flat, self.d)
        return a.reshape(w.shape)

    def step(self, w: np.ndarray) -> None:
        """A = argmin |W - d|, then d_k = mean(W[A == k]) (old value for an empty cluster), then constraints."""
        cfg = self.cfg
        self.a = self.assign(w)
        flat, a = w.reshape(-1).astype(np.float64), self.a.reshape(-1)
        if cfg.symmetric:
            half = cfg.k // 2
            folded = np.where(a >= half, a - half, half - 1 - a)
            cnt = np.bincount(folded, minlength=half)
            s = np.bincount(folded, weights=np.abs(flat), minlength=half)
            c = np.where(cnt > 0, s / np.maximum(cnt, 1), self.d[half:])
            d = np.concatenate([-c[::-1], c])
        else:
            cnt = np.bincount(a, minlength=cfg.k)
            s = np.bincount(a, weights=flat, minlength=cfg.k)
            d = np.where(cnt > 0, s / np.maximum(cnt, 1), self.d)
            if cfg.prune:
                d[0] = 0.0
        self.d = self._constrain(d)

    def quantized(self) -> np.ndarray:
        return self.d[self.a].astype(np.float32)

    def to_qlayer(self) -> QLayer:
        return QLayer("lut", tuple(self.a.shape), self.cfg.bits, self.d.astype(np.float32), self.a)


class LutqHook(Hook):
    """Plugs LUT-Q into :class:`nnb.train.trainer.Trainer`."""

    def __init__(self, params: dict[str, np.ndarray], names: list[str], cfg: LutqConfig) -> None:
        cfg.check()
        self.cfg = cfg
        self.layers = {n: LutqLayer(params[n], cfg) for n in names}

    def forward_params(self, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = dict(params)
        out.update({n: q.quantized() for n, q in self.layers.items()})
        return out

    def after_step(self, params: dict[str, np.ndarray]) -> None:
        for n, q in self.layers.items():
            q.step(params[n])

    def state_dict(self) -> dict[str, np.ndarray]:
        out = {}
        for n, q in self.layers.items():
            out[f"{n}/d"], out[f"{n}/a"] = q.d, q.a
        return out

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None:
        for n, q in self.layers.items():
            if f"{n}/d" in d:
                q.d, q.a = np.array(d[f"{n}/d"]), np.array(d[f"{n}/a"])

    def qlayers(self) -> dict[str, QLayer]:
        return {n: q.to_qlayer() for n, q in self.layers.items()}
