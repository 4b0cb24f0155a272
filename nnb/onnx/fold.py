"""Constant folding at import: numpy versions of the ONNX ops that compute shapes.

Exporters compute reshape targets at run time (``Shape -> Gather -> Unsqueeze
-> Concat -> Reshape``).  With every input known at import time these
functions run here, keeping integer types, and nothing of them reaches the IR.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from onnx import helper

from nnb.onnx.context import ONode

FoldFn = Callable[[ONode, list[np.ndarray], int], list[np.ndarray]]


def _axes(node: ONode, xs: list[np.ndarray], opset: int, pos: int = 1) -> list[int] | None:
    if opset >= 13 and len(xs) > pos:
        return [int(a) for a in xs[pos].reshape(-1)]
    a = node.attr("axes")
    return None if a is None else [int(v) for v in a]


def _unsqueeze(node: ONode, xs: list[np.ndarray], opset: int) -> list[np.ndarray]:
    x, axes = xs[0], _axes(node, xs, opset) or []
    nd = x.ndim + len(axes)
    shape = list(x.shape)
    for a in sorted(v % nd for v in axes):
        shape.insert(a, 1)
    return [x.reshape(shape)]


def _squeeze(node: ONode, xs: list[np.ndarray], opset: int) -> list[np.ndarray]:
    axes = _axes(node, xs, opset)
    x = xs[0]
    return [np.squeeze(x, axis=tuple(a % x.ndim for a in axes)) if axes else np.squeeze(x)]


def _slice(node: ONode, xs: list[np.ndarray], opset: int) -> list[np.ndarray]:
    x = xs[0]
    if opset < 10:
        starts, ends, axes, steps = node.attr("starts"), node.attr("ends"), node.attr("axes"), None
    else:
        starts, ends = xs[1].tolist(), xs[2].tolist()
        axes = xs[3].tolist() if len(xs) > 3 and xs[3].size else None
        steps = xs[4].tolist() if len(xs) > 4 and xs[4].size else None
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps or [1] * len(starts)
    sl = [slice(None)] * x.ndim
    for a, b, e, s in zip(axes, starts, ends, steps):
        sl[int(a) % x.ndim] = slice(int(b), int(e), int(s))
    return [x[tuple(sl)]]


def _reshape(node: ONode, xs: list[np.ndarray], opset: int) -> list[np.ndarray]:
    from nnb.onnx.ops_shape import reshape_target

    shape = node.attr("shape") if opset < 5 else xs[1].tolist()
    return [xs[0].reshape(reshape_target(xs[0].shape, shape, bool(node.attr("allowzero", 0))))]


def _constant_of_shape(node: ONode, xs: list[np.ndarray], opset: int) -> list[np.ndarray]:
    v = node.attr("value")
    v = np.zeros(1, np.float32) if v is None else np.asarray(v)
    return [np.full(tuple(int(d) for d in xs[0].reshape(-1)), v.reshape(-1)[0], dtype=v.dtype)]


def _cast(node: ONode, xs: list[np.ndarray], opset: int) -> list[np.ndarray]:
    return [xs[0].astype(helper.tensor_dtype_to_np_dtype(int(node.attr("to"))))]


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        return np.trunc(a / b).astype(np.result_type(a, b))
    return np.divide(a, b)


def _gather(node: ONode, xs: list[np.ndarray], opset: int) -> list[np.ndarray]:
    axis = int(node.attr("axis", 0))
    return [np.take(xs[0], xs[1].astype(np.int64), axis=axis)]


FOLD: dict[str, FoldFn] = {
    "Identity": lambda n, xs, o: [xs[0]],
    "Cast": _cast,
    "Gather": _gather,
    "Concat": lambda n, xs, o: [np.concatenate([x.reshape(x.shape or (1,)) if x.ndim == 0 else x for x in xs],
                                               axis=int(n.attr("axis", 0)))],
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Slice": _slice,
    "Reshape": _reshape,
    "ConstantOfShape": _constant_of_shape,
    "Add": lambda n, xs, o: [np.add(xs[0], xs[1])],
    "Sub": lambda n, xs, o: [np.subtract(xs[0], xs[1])],
    "Mul": lambda n, xs, o: [np.multiply(xs[0], xs[1])],
    "Div": lambda n, xs, o: [_int_div(xs[0], xs[1])],
    "Range": lambda n, xs, o: [np.arange(xs[0], xs[1], xs[2]).astype(xs[0].dtype)],
    "Equal": lambda n, xs, o: [np.equal(xs[0], xs[1])],
    "Where": lambda n, xs, o: [np.where(xs[0], xs[1], xs[2])],
    "Expand": lambda n, xs, o: [xs[0] * np.ones(tuple(int(d) for d in xs[1]), dtype=xs[0].dtype)],
    "Transpose": lambda n, xs, o: [np.transpose(xs[0], n.attr("perm"))],
    "Floor": lambda n, xs, o: [np.floor(xs[0])],
    "Ceil": lambda n, xs, o: [np.ceil(xs[0])],
    "Neg": lambda n, xs, o: [np.negative(xs[0])],
    "Min": lambda n, xs, o: [functools.reduce(np.minimum, xs)],
    "Max": lambda n, xs, o: [functools.reduce(np.maximum, xs)],
}
