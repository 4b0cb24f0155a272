"""The backward-rule table: one entry per op that training can differentiate.

A rule pairs a training forward (which may keep what its backward needs in a
``Ctx``, e.g. the im2col matrix of a convolution) with a backward that maps
output gradients to input gradients.  Forwards here preserve the input dtype
so gradients can be checked against finite differences in float64; the
registry's references in ``nnb.ops`` always compute in float32.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnb.errors import NnbError

Attrs = dict[str, Any]
Grad = np.ndarray | None


@dataclass
class Ctx:
    """Per-call scratch space a forward fills for its backward.

    ``training`` selects batch statistics in BatchNormalization; ``update_stats``
    lets it move the running mean/variance the way nnabla does while training;
    ``needs`` says which inputs want a gradient (a backward may skip the others).
    """

    training: bool = False
    update_stats: bool = False
    needs: tuple[bool, ...] = ()
    saved: dict[str, Any] = field(default_factory=dict)


ForwardFn = Callable[[list[np.ndarray], Attrs, Ctx], list[np.ndarray]]
BackwardFn = Callable[[list[Grad], Attrs, Ctx], list[Grad]]


@dataclass(frozen=True)
class Rule:
    op: str
    forward: ForwardFn
    backward: BackwardFn


_RULES: dict[str, Rule] = {}


def rule(op: str, forward: ForwardFn) -> Callable[[BackwardFn], BackwardFn]:
    """Decorator on a backward function: register ``(forward, backward)`` for ``op``."""

    def deco(bw: BackwardFn) -> BackwardFn:
        if op in _RULES:
            raise ValueError(f"backward rule for {op} registered twice")
        _RULES[op] = Rule(op, forward, bw)
        return bw

    return deco


def get_rule(op: str) -> Rule:
    _load_rule_modules()
    r = _RULES.get(op)
    if r is None:
        raise NnbError(f"cannot train through function '{op}': it has no backward rule "
                       f"(trainable: {', '.join(sorted(_RULES))})")
    return r


def all_rules() -> dict[str, Rule]:
    _load_rule_modules()
    return dict(_RULES)


def _load_rule_modules() -> None:
    from nnb.train import rules_basic, rules_conv, rules_pool  # noqa: F401 - registration side effect


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a broadcast gradient back down to ``shape``."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g
