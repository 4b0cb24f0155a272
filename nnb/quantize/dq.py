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
    act_budget_kb: float | None = None  # activation memory budget (kB): quantize the ReLU outputs
    act_budget_kind: str = "max"  # "max": the largest activation; "sum": all quantized activations together


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


def act_bits_of(d: float, qmax: float) -> int:
    """Unsigned (after ReLU): no sign bit."""
    return int(min(8, max(1, math.ceil(math.log2(qmax / d + 1) - 1e-9))))


ACT_OPS = ("ReLU", "ReLU6")


def activation_targets(graph) -> dict[str, int]:  # noqa: ANN001 - nnb.ir.Graph
    """Activations DQ quantizes: the outputs of ReLU/ReLU6 (unsigned), with their elements per sample."""
    name = graph.inputs[0]
    shapes = graph.infer_shapes({name: (1,) + tuple(graph.tensors[name].shape[1:])})
    out = {}
    for n in graph.nodes:
        if n.op in ACT_OPS and n.outputs[0] not in graph.outputs:
            out[n.outputs[0]] = int(np.prod(shapes[n.outputs[0]]))
    return out


class ActQuant:
    """Unsigned uniform quantizer of one activation tensor: ``Q(x) = d round(clip(x, 0, q_max) / d)``.

    U3 parametrization like the weights; ``b = ceil(log2(q_max/d + 1))`` (1..8).
    d and q_max are trained as log2 d and log2 q_max: Adam's steps are then
    relative, which keeps an 8-bit step of 0.01 from jumping by 20 % per step
    (the gradients are the U3 ones times d ln 2 and q_max ln 2).  Calibrated on
    the first training batch: q_max = the 99.99th percentile, d = q_max / 255
    (or / (2^cap - 1) under a budget cap; QUANTIZATION.md starts from d = 2^-3,
    coarse for activations of a few units).  Quantizers loaded from a .nnq only
    run forward.
    """

    def __init__(self, elements: int, cfg: DqConfig, d: float = 2.0 ** -3, qmax: float = 255 * 2.0 ** -3,
                 calibrated: bool = False) -> None:
        self.n, self.cfg = elements, cfg
        self.ld, self.lq = np.array(math.log2(d)), np.array(math.log2(qmax))
        self.calibrated = np.array(calibrated)
        self.cap: int | None = None
        self.gd = self.gq = 0.0  # dJ/dd, dJ/dq_max accumulated by backward (linear domain)

    @property
    def d(self) -> float:
        return 2.0 ** float(self.ld)

    @property
    def qmax(self) -> float:
        return 2.0 ** float(self.lq)

    def step_size(self) -> float:
        return 2.0 ** round(float(self.ld)) if self.cfg.pow2_step else self.d

    def range(self) -> float:
        if self.cap is not None:
            return min(self.qmax, self.step_size() * ((1 << self.cap) - 1))
        return self.qmax

    @property
    def bits(self) -> int:
        return act_bits_of(self.step_size(), self.range())

    def tied(self) -> bool:
        """A budget cap binds: q_max follows d."""
        return self.cap is not None and self.qmax > self.step_size() * ((1 << self.cap) - 1)

    def clamp(self) -> None:
        ld = min(max(float(self.ld), -16.0), 4.0)
        self.ld[...] = ld
        self.lq[...] = min(max(float(self.lq), ld), ld + math.log2(255))

    def calibrate(self, x: np.ndarray) -> None:
        top = float(np.percentile(x, 99.99)) if x.size else 1.0
        top = top if top > 0 else 1.0
        self.ld[...] = math.log2(top / ((1 << self.cap) - 1 if self.cap else 255))
        self.lq[...] = math.log2(top)
        self.calibrated[...] = True
        self.clamp()

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not bool(self.calibrated):
            self.calibrate(x)
        d, qm = self.step_size(), self.range()
        y = (np.round(np.clip(x, 0, qm) / d) * d).astype(x.dtype, copy=False)
        return y, x

    def backward(self, gy: np.ndarray, x: np.ndarray) -> np.ndarray:
        d, qm = self.step_size(), self.range()
        inside = (x >= 0) & (x <= qm)
        above = x > qm
        q = np.round(np.clip(x, 0, qm) / d) * d
        gd = float((gy * inside * ((q - x) / d)).sum())
        gq = float((gy * above).sum())
        if self.tied():
            gd, gq = gd + gq * ((1 << self.cap) - 1), 0.0
        self.gd += gd
        self.gq += gq
        return gy * inside

    def kb(self) -> float:
        return self.n * self.bits / KB_BITS

    def to_dict(self) -> dict:
        return {"bits": self.bits, "step": self.step_size(), "range": self.range(), "elements": self.n,
                "signed": False}


def fixed_act_quantizers(info: dict) -> dict[str, ActQuant]:
    """The activation quantizers a .nnq records (``info["activations"]``), forward only."""
    out = {}
    for name, a in (info.get("activations") or {}).items():
        q = ActQuant(int(a.get("elements", 0)), DqConfig(bits=8), d=a["step"], qmax=a["range"], calibrated=True)
        out[name] = q
    return out


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

    def __init__(self, params: dict[str, np.ndarray], names: list[str], cfg: DqConfig,
                 act_sizes: dict[str, int] | None = None) -> None:
        if cfg.bits is not None and not 2 <= cfg.bits <= 8:
            raise NnbError(f"DQ: --bits must be in 2..8, got {cfg.bits}")
        if cfg.bits is None and cfg.budget_kb is None:
            raise NnbError("DQ needs --weight-budget (learned bitwidths) or --bits (fixed)")
        if cfg.bits is None and cfg.budget_kb is not None:
            n = sum(int(np.asarray(params[k]).size) for k in names)
            need = 2 * n / KB_BITS
            if cfg.budget_kb < need - 1e-9:
                raise NnbError(f"DQ: weight budget {cfg.budget_kb:.2f} kB is below the minimum {need:.2f} kB "
                               f"({2 * n} bit: 2 bits for each of the {n} weights)")
        self.cfg = cfg
        self.layers = {n: DqLayer(params[n], cfg) for n in names}
        self.acts: dict[str, ActQuant] = {}
        if cfg.act_budget_kb is not None:
            if cfg.act_budget_kind not in ("max", "sum"):
                raise NnbError(f"DQ: --act-budget-kind must be max or sum, not '{cfg.act_budget_kind}'")
            if not act_sizes:
                raise NnbError("DQ: --act-budget needs ReLU/ReLU6 activations to quantize; the network has none")
            need = (max(act_sizes.values()) if cfg.act_budget_kind == "max" else sum(act_sizes.values())) / KB_BITS
            if cfg.act_budget_kb < need - 1e-9:
                what = "the largest activation" if cfg.act_budget_kind == "max" else "all quantized activations"
                raise NnbError(f"DQ: activation budget {cfg.act_budget_kb:.3f} kB is below the minimum {need:.3f} kB "
                               f"(1 bit per element of {what})")
            self.acts = {n: ActQuant(k, cfg) for n, k in act_sizes.items()}
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
        for n, a in self.acts.items():
            out[f"dqa/{n}/log2d"] = a.ld
            out[f"dqa/{n}/log2qmax"] = a.lq
        return out

    def act_quantizers(self, training: bool = False) -> dict[str, object]:
        return dict(self.acts)

    def act_bits(self) -> dict[str, int]:
        return {n: a.bits for n, a in self.acts.items()}

    def act_kb(self) -> float:
        """The constrained activation memory: largest or total, per cfg.act_budget_kind."""
        if not self.acts:
            return 0.0
        kbs = [a.kb() for a in self.acts.values()]
        return max(kbs) if self.cfg.act_budget_kind == "max" else sum(kbs)

    def _act_backward(self, grads: dict[str, np.ndarray]) -> float:
        """Gradients of the activation steps/ranges (task + budget penalty); returns the penalty."""
        cfg = self.cfg
        penalty = 0.0
        over: dict[str, float] = {}
        if cfg.act_budget_kb is not None:
            if cfg.act_budget_kind == "max":
                over = {n: a.kb() - cfg.act_budget_kb for n, a in self.acts.items() if a.kb() > cfg.act_budget_kb}
                penalty = cfg.lam * max(over.values(), default=0.0) ** 2
            else:
                excess = sum(a.kb() for a in self.acts.values()) - cfg.act_budget_kb
                if excess > 0:
                    over = {n: excess for n in self.acts}
                    penalty = cfg.lam * excess ** 2
        for n, a in self.acts.items():
            gd, gq = a.gd, a.gq
            a.gd = a.gq = 0.0
            if n in over:
                d, qm = a.step_size(), a.range()
                db = 2 * cfg.lam * over[n] * a.n / KB_BITS
                if not a.tied():
                    gq += db / ((qm + d) * LN2)
                gd += db * (-qm / (d * (qm + d) * LN2))
                lim = a.d
                gd, gq = float(np.clip(gd, -lim, lim)), float(np.clip(gq, -lim, lim))
            grads[f"dqa/{n}/log2d"] = np.array(gd * a.d * LN2)  # chain rule into the log2 parameters
            grads[f"dqa/{n}/log2qmax"] = np.array(gq * a.qmax * LN2)
        return penalty

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
        if self.acts:
            self.penalty += self._act_backward(grads)
        return grads, self.penalty

    def after_step(self, params: dict[str, np.ndarray]) -> None:
        for q in self.layers.values():
            q.clamp()
        for a in self.acts.values():
            a.clamp()
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
        self.project_acts()
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

    def project_acts(self) -> None:
        """Activation budget: max -> cap every activation at the bits that fit; sum -> cap the largest first."""
        cfg = self.cfg
        if not self.acts or cfg.act_budget_kb is None:
            return
        budget_bits = cfg.act_budget_kb * KB_BITS
        for a in self.acts.values():
            a.cap = None
            if cfg.act_budget_kind == "max":
                a.cap = int(min(8, max(1, math.floor(budget_bits / a.n + 1e-9))))
                if a.cap >= 8:
                    a.cap = None
        if cfg.act_budget_kind == "sum":
            while sum(a.kb() for a in self.acts.values()) > cfg.act_budget_kb + 1e-9:
                cand = [a for a in self.acts.values() if a.bits > 1]
                if not cand:
                    break
                a = max(cand, key=lambda a: (a.n, a.bits))
                a.cap = a.bits - 1

    def within_budget(self) -> bool:
        acts_ok = self.cfg.act_budget_kb is None or self.act_kb() <= self.cfg.act_budget_kb + 1e-9
        return acts_ok and (self.cfg.budget_kb is None or self.weight_kb() <= self.cfg.budget_kb + 1e-9)

    def state_dict(self) -> dict[str, np.ndarray]:
        out = {k: np.array(v) for k, v in self.variables().items()}
        out.update({f"dqa/{n}/calibrated": np.array(a.calibrated) for n, a in self.acts.items()})
        return out

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None:
        for k, v in self.variables().items():
            if k in d:
                v[...] = d[k]
        for n, a in self.acts.items():
            if f"dqa/{n}/calibrated" in d:
                a.calibrated[...] = d[f"dqa/{n}/calibrated"]
        if self.cfg.hard_budget:
            self.project()

    def activations_info(self) -> dict[str, dict]:
        return {n: a.to_dict() for n, a in self.acts.items()}

    def qlayers(self, params: dict[str, np.ndarray]) -> dict[str, QLayer]:
        return {n: q.to_qlayer(params[n]) for n, q in self.layers.items()}
