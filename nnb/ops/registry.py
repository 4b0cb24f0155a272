"""The op registry: every op declares, in one place, its attribute schema,
shape rule, numpy reference implementation and (optionally) its MAC count.

Adding an op means writing one ``register(...)`` call in an ``nnb/ops/*.py``
module; the NNP reader/writer, the executor and ``nnb inspect`` all look ops up
here.  Op and attribute names are nnabla's (``functions.yaml``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnb.errors import NnbError

Shape = tuple[int, ...]
Attrs = dict[str, Any]
InferFn = Callable[[list[Shape], Attrs], list[Shape]]
ForwardFn = Callable[[list[np.ndarray], Attrs], list[np.ndarray]]
MacsFn = Callable[[list[Shape], list[Shape], Attrs], int]
InplaceFn = Callable[[Attrs, int], list[int]]

ATTR_KINDS = ("int", "float", "bool", "str", "ints", "floats")


@dataclass(frozen=True)
class Attr:
    """One argument of an nnabla function.

    ``kind`` is one of int, float, bool, str, ints (Shape or repeated int64),
    floats.  ``default`` is nnabla's default; ``None`` for shapes the op fills
    in itself (e.g. a missing ``pad`` means zeros).
    """

    name: str
    kind: str
    default: Any = None
    min: int | None = None  # int/ints: the smallest allowed value (every entry), checked by nnb.validate

    def __post_init__(self) -> None:
        if self.kind not in ATTR_KINDS:
            raise ValueError(f"unknown attribute kind {self.kind}")


@dataclass
class OpDef:
    """Everything nnb knows about one nnabla function."""

    name: str
    attrs: tuple[Attr, ...]
    infer: InferFn
    forward: ForwardFn
    num_inputs: tuple[int, int] = (1, 1)  # min, max (parameters included)
    macs: MacsFn | None = None
    elementwise: bool = False  # output element i depends on input element i only
    inplace: InplaceFn | None = None  # inputs whose storage the output may take over (default: elementwise)
    attr_index: dict[str, Attr] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.attr_index = {a.name: a for a in self.attrs}

    def inplace_inputs(self, attrs: Attrs, n_inputs: int) -> list[int]:
        """Input positions the output may overwrite when their storage dies at this op."""
        if self.inplace is not None:
            return self.inplace(attrs, n_inputs)
        return list(range(n_inputs)) if self.elementwise else []

    @property
    def doc(self) -> str:
        return (self.forward.__doc__ or "").strip()

    def normalize(self, attrs: Attrs, where: str = "") -> Attrs:
        """Fill defaults, coerce types, refuse unknown names; ``where`` names the function in errors."""
        where = where or self.name
        out: Attrs = {}
        for key in attrs:
            if key not in self.attr_index:
                raise NnbError(f"{where}: unknown argument '{key}'")
        for a in self.attrs:
            v = attrs.get(a.name)
            if v is None:  # absent or given as None: nnabla's default
                v = a.default
            try:
                out[a.name] = _coerce(a, v)
            except NnbError as e:
                raise NnbError(f"{where}: {e}") from None
        return out


def _coerce(a: Attr, v: Any) -> Any:
    if v is None:
        return None
    try:
        return _coerce_value(a, v)
    except (TypeError, ValueError, OverflowError):
        raise NnbError(f"argument {a.name}={v!r} is not of type {a.kind}") from None


def _coerce_value(a: Attr, v: Any) -> Any:
    if a.kind == "int":
        return int(v)
    if a.kind == "float":
        return float(v)
    if a.kind == "bool":
        return bool(v)
    if a.kind == "str":
        return str(v)
    if a.kind == "ints":
        return tuple(int(x) for x in v)
    return tuple(float(x) for x in v)


_REGISTRY: dict[str, OpDef] = {}


def register(name: str, *, attrs: Sequence[Attr] = (), infer: InferFn, num_inputs: tuple[int, int] = (1, 1),
             macs: MacsFn | None = None, elementwise: bool = False,
             inplace: InplaceFn | None = None) -> Callable[[ForwardFn], ForwardFn]:
    """Decorator: register ``fn`` as the numpy reference of nnabla function ``name``."""

    def deco(fn: ForwardFn) -> ForwardFn:
        if name in _REGISTRY:
            raise ValueError(f"op {name} registered twice")
        _REGISTRY[name] = OpDef(name=name, attrs=tuple(attrs), infer=infer, forward=fn, num_inputs=num_inputs,
                                macs=macs, elementwise=elementwise, inplace=inplace)
        return fn

    return deco


def get_op(name: str) -> OpDef:
    op = _REGISTRY.get(name)
    if op is None:
        raise NnbError(f"unsupported function '{name}' (supported: {', '.join(sorted(_REGISTRY))})")
    return op


def all_ops() -> dict[str, OpDef]:
    return dict(_REGISTRY)


# ---- shape helpers shared by op modules -----------------------------------

def same_shape(shapes: list[Shape], attrs: Attrs) -> list[Shape]:
    return [shapes[0]]


def broadcast_shape(shapes: list[Shape], attrs: Attrs) -> list[Shape]:
    try:
        return [tuple(np.broadcast_shapes(*shapes))]
    except ValueError:
        raise NnbError(f"shapes {' and '.join(str(s) for s in shapes)} do not broadcast") from None


def norm_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < max(ndim, 1):
        raise NnbError(f"axis {axis} out of range for {ndim}-d input")
    return axis % max(ndim, 1)


def prod(xs: Sequence[int]) -> int:
    return math.prod(int(x) for x in xs)
