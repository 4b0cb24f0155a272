"""ONNX elementwise and reduction operators -> IR: activations, Clip, PRelu,
arithmetic (with the legacy broadcast attribute), Softmax/LogSoftmax, Reduce*."""

from __future__ import annotations

import numpy as np

from nnb.onnx.context import Ctx, ONode
from nnb.onnx.ops_shape import to_shape
from nnb.ops.registry import prod
from nnb.passes.canon import REWRITES
from nnb.passes.canon_clip import canon_clip

# a Clip the converter writes as its activation is the rewrite nnb.passes.canon_clip makes on NNP graphs
CLIP_REWRITE = next(name for name, fn in REWRITES if fn is canon_clip)

_UNARY = {"Relu": "ReLU", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Abs": "Abs", "Exp": "Exp", "Log": "Log",
          "Softsign": "SoftSign"}
_SELU = (1.67326319217681884765625, 1.05070102214813232421875)


def _unary(ctx: Ctx, node: ONode) -> None:
    ctx.emit(_UNARY[node.op], [node.input(0)], node.outputs[0])


def _simple(op: str, **fixed: object):  # noqa: ANN202 - converter factory
    def conv(ctx: Ctx, node: ONode) -> None:
        attrs = {k: (v(node) if callable(v) else v) for k, v in fixed.items()}
        ctx.emit(op, [node.input(0)], node.outputs[0], **attrs)
    return conv


def clip_range(ctx: Ctx, x: str, lo: float, hi: float, out: str) -> None:
    """clip(x, lo, hi) with the activation that says it where there is one."""
    named = {(0.0, 6.0): "ReLU6", (0.0, np.inf): "ReLU", (-1.0, 1.0): "HardTanh"}.get((lo, hi))
    if named:
        ctx.emit(named, [x], out)
        ctx.rewrote(CLIP_REWRITE)
    elif hi == np.inf:
        ctx.emit("MaximumScalar", [x], out, val=lo)
    elif lo == -np.inf:
        ctx.emit("MinimumScalar", [x], out, val=hi)
    else:
        ctx.emit("MinimumScalar", [ctx.emit("MaximumScalar", [x], None, val=lo)], out, val=hi)


def _clip(ctx: Ctx, node: ONode) -> None:
    if ctx.opset < 11:
        lo, hi = float(node.attr("min", -np.inf)), float(node.attr("max", np.inf))
    else:
        lo = float(ctx.need_const(node.input(1), "min").reshape(())) if node.input(1) else -np.inf
        hi = float(ctx.need_const(node.input(2), "max").reshape(())) if node.input(2) else np.inf
    clip_range(ctx, node.input(0), float(np.float32(lo)), float(np.float32(hi)), node.outputs[0])


def _hard_sigmoid(ctx: Ctx, node: ONode) -> None:
    alpha, beta = float(node.attr("alpha", 0.2)), float(node.attr("beta", 0.5))
    if np.float32(alpha) == np.float32(0.2) and np.float32(beta) == np.float32(0.5):
        ctx.emit("HardSigmoid", [node.input(0)], node.outputs[0])
        return
    y = ctx.emit("AddScalar", [ctx.emit("MulScalar", [node.input(0)], None, val=alpha)], None, val=beta)
    clip_range(ctx, y, 0.0, 1.0, node.outputs[0])


def _prelu(ctx: Ctx, node: ONode) -> None:
    x, w = node.input(0), node.input(1)
    xs, wv = ctx.shape(x), ctx.const(w)
    if wv is not None and wv.size == 1:
        ctx.emit("PReLU", [x, ctx.param(wv.reshape(1), "slope")], node.outputs[0], base_axis=1)
        return
    if wv is not None and len(xs) > 1 and wv.size == xs[1]:
        ws = (1,) * (len(xs) - wv.ndim) + tuple(wv.shape)
        if ws[1] == xs[1]:
            ctx.emit("PReLU", [x, ctx.param(wv.reshape(-1), "slope")], node.outputs[0], base_axis=1)
            return
    # any other broadcast slope: relu(x) + slope * min(x, 0)
    neg = ctx.emit("Mul2", [ctx.emit("MinimumScalar", [x], None, val=0.0), w], None)
    ctx.emit("Add2", [ctx.emit("ReLU", [x], None), neg], node.outputs[0])


_BINARY = {"Add": "Add2", "Sub": "Sub2", "Mul": "Mul2", "Div": "Div2", "Pow": "Pow2", "Max": "Maximum2",
           "Min": "Minimum2", "Sum": "Add2"}
# (op, constant on the right) -> scalar op and how it maps the value; None keeps the two-input op
_SCALAR = {("Add", True): ("AddScalar", lambda v: v), ("Add", False): ("AddScalar", lambda v: v),
           ("Mul", True): ("MulScalar", lambda v: v), ("Mul", False): ("MulScalar", lambda v: v),
           ("Sub", True): ("AddScalar", lambda v: -v), ("Sub", False): ("RSubScalar", lambda v: v),
           ("Div", False): ("RDivScalar", lambda v: v), ("Pow", True): ("PowScalar", lambda v: v),
           ("Pow", False): ("RPowScalar", lambda v: v),
           ("Max", True): ("MaximumScalar", lambda v: v), ("Max", False): ("MaximumScalar", lambda v: v),
           ("Min", True): ("MinimumScalar", lambda v: v), ("Min", False): ("MinimumScalar", lambda v: v),
           ("Sum", True): ("AddScalar", lambda v: v), ("Sum", False): ("AddScalar", lambda v: v)}


def _legacy_broadcast(ctx: Ctx, node: ONode, a: str, b: str) -> str:
    """Opset < 7: B's shape lines up with A's from ``axis`` (default: the trailing axes)."""
    if ctx.opset >= 7 or not node.attr("broadcast", 0):
        return b
    na, sb = len(ctx.shape(a)), ctx.shape(b)
    axis = int(node.attr("axis", na - len(sb))) % max(na, 1)
    return to_shape(ctx, b, (1,) * axis + tuple(sb) + (1,) * (na - axis - len(sb)))


def binary(ctx: Ctx, op: str, a: str, b: str, out: str | None) -> str:
    ca, cb = ctx.const(a), ctx.const(b)
    sa, sb = ctx.shape(a), ctx.shape(b)
    out_shape = tuple(np.broadcast_shapes(sa, sb))
    for c, x, right in ((cb, a, True), (ca, b, False)):
        if c is not None and c.size == 1 and (op, right) in _SCALAR and tuple(ctx.shape(x)) == out_shape \
                and ctx.const(x) is None:
            sop, f = _SCALAR[(op, right)]
            return ctx.emit(sop, [x], out, val=f(float(np.float32(c.reshape(())))))
    return ctx.emit(_BINARY[op], [a, b], out)


def _binary(ctx: Ctx, node: ONode) -> None:
    ins = [i for i in node.inputs if i]
    if node.op in ("Sum", "Max", "Min") and len(ins) == 1:
        ctx.emit("Identity", ins, node.outputs[0])
        return
    b = _legacy_broadcast(ctx, node, ins[0], ins[1]) if len(ins) == 2 else ins[1]
    acc = ins[0]
    rest = [b] + ins[2:]
    for k, x in enumerate(rest):
        acc = binary(ctx, node.op, acc, x, node.outputs[0] if k == len(rest) - 1 else None)


def _neg(ctx: Ctx, node: ONode) -> None:
    ctx.emit("MulScalar", [node.input(0)], node.outputs[0], val=-1.0)


def _sqrt(ctx: Ctx, node: ONode) -> None:
    """PowScalar(0.5): nnabla has no Sqrt function, so NNB files and the C runtime cannot carry one."""
    ctx.emit("PowScalar", [node.input(0)], node.outputs[0], val=0.5)


def _reciprocal(ctx: Ctx, node: ONode) -> None:
    ctx.emit("RDivScalar", [node.input(0)], node.outputs[0], val=1.0)


def _softmax(ctx: Ctx, node: ONode) -> None:
    op = "Softmax" if node.op == "Softmax" else "LogSoftmax"
    x = node.input(0)
    s = ctx.shape(x)
    axis = int(node.attr("axis", -1 if ctx.opset >= 13 else 1)) % len(s)
    if ctx.opset >= 13 or axis == len(s) - 1:
        ctx.emit(op, [x], node.outputs[0], axis=axis)
        return
    # before opset 13: over all axes from ``axis`` on, as a 2-d (outer, inner) matrix
    flat = to_shape(ctx, x, (prod(s[:axis]), prod(s[axis:])))
    to_shape(ctx, ctx.emit(op, [flat], None, axis=1), s, node.outputs[0])


_REDUCE = {"ReduceMean": "Mean", "ReduceSum": "Sum", "ReduceMax": "Max", "ReduceMin": "Min", "ReduceProd": "Prod"}


def _reduce(ctx: Ctx, node: ONode) -> None:
    s = ctx.shape(node.input(0))
    if node.input(1):
        axes = [int(a) for a in ctx.need_const(node.input(1), "axes").reshape(-1)]
    else:
        axes = list(node.attr("axes", []))
    if not axes and node.attr("noop_with_empty_axes", 0):
        ctx.emit("Identity", [node.input(0)], node.outputs[0])
        return
    axes = sorted({int(a) % len(s) for a in axes}) or list(range(len(s)))
    ctx.emit(_REDUCE[node.op], [node.input(0)], node.outputs[0], axes=tuple(axes),
             keep_dims=bool(node.attr("keepdims", 1)))


CONVERTERS = {
    **{k: _unary for k in _UNARY},
    **{k: _binary for k in _BINARY},
    **{k: _reduce for k in _REDUCE},
    "LeakyRelu": _simple("LeakyReLU", alpha=lambda n: float(n.attr("alpha", 0.01))),
    "Elu": _simple("ELU", alpha=lambda n: float(n.attr("alpha", 1.0))),
    "Selu": _simple("SELU", alpha=lambda n: float(n.attr("alpha", _SELU[0])),
                    scale=lambda n: float(n.attr("gamma", _SELU[1]))),
    "Softplus": _simple("SoftPlus", beta=1.0),
    "Clip": _clip, "HardSigmoid": _hard_sigmoid, "PRelu": _prelu, "Neg": _neg, "Reciprocal": _reciprocal, "Sqrt": _sqrt,
    "Softmax": _softmax, "LogSoftmax": _softmax,
}
