"""ONNX data-movement operators -> IR: Reshape, Flatten, Transpose, Squeeze/Unsqueeze,
Concat, Split, Slice, Gather, Pad, Expand, Resize/Upsample (nearest), DepthToSpace,
Identity/Dropout."""

from __future__ import annotations

import numpy as np

from nnb.errors import NnbError
from nnb.onnx.context import Ctx, ONode
from nnb.ops.registry import prod

_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "repeat"}


def reshape_target(in_shape: tuple[int, ...], shape: list[int], allowzero: bool = False) -> tuple[int, ...]:
    """ONNX Reshape's target: 0 copies the input's dimension (unless allowzero), one -1 is inferred."""
    out = [in_shape[i] if d == 0 and not allowzero and i < len(in_shape) else int(d) for i, d in enumerate(shape)]
    if out.count(-1) > 1:
        raise NnbError(f"Reshape: more than one -1 in {tuple(shape)}")
    if -1 in out:
        rest = prod([d for d in out if d != -1])
        if rest == 0 or prod(in_shape) % rest:
            raise NnbError(f"Reshape: cannot reshape {in_shape} to {tuple(shape)}")
        out[out.index(-1)] = prod(in_shape) // rest
    if prod(out) != prod(in_shape):
        raise NnbError(f"Reshape: cannot reshape {in_shape} to {tuple(shape)}")
    return tuple(out)


def to_shape(ctx: Ctx, x: str, shape: tuple[int, ...], out: str | None = None) -> str:
    return ctx.emit("Reshape", [x], out, shape=tuple(shape), inplace=False)


def _alias(ctx: Ctx, node: ONode) -> None:
    src = ctx.resolve(node.input(0))
    if node.outputs[0] in ctx.graph_outputs and src not in ctx.consts:
        ctx.emit("Identity", [src], node.outputs[0])
    else:
        ctx.alias[node.outputs[0]] = src
    if len(node.outputs) > 1 and node.outputs[1] in ctx.used:
        raise ctx.error("the dropout mask output is not supported")


def _cast(ctx: Ctx, node: ONode) -> None:
    """A cast of a run-time tensor to a floating type changes nothing in float32 inference."""
    from onnx import TensorProto

    if int(node.attr("to")) not in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16):
        raise ctx.error("casting a run-time tensor to a non-floating type is not supported")
    _alias(ctx, node)


def _reshape(ctx: Ctx, node: ONode) -> None:
    shape = node.attr("shape") if ctx.opset < 5 else ctx.need_const(node.input(1), "the target shape").tolist()
    try:
        target = reshape_target(ctx.shape(node.input(0)), shape, bool(node.attr("allowzero", 0)))
    except NnbError as e:
        raise ctx.error(str(e)) from None
    to_shape(ctx, node.input(0), target, node.outputs[0])


def _flatten(ctx: Ctx, node: ONode) -> None:
    s = ctx.shape(node.input(0))
    ax = int(node.attr("axis", 1)) % (len(s) + 1)
    to_shape(ctx, node.input(0), (prod(s[:ax]), prod(s[ax:])), node.outputs[0])


def _axes(ctx: Ctx, node: ONode) -> list[int] | None:
    if ctx.opset >= 13 and node.input(1):
        return [int(a) for a in ctx.need_const(node.input(1), "axes").reshape(-1)]
    a = node.attr("axes")
    return None if a is None else [int(v) for v in a]


def _squeeze(ctx: Ctx, node: ONode) -> None:
    s = ctx.shape(node.input(0))
    axes = {a % len(s) for a in (_axes(ctx, node) or [i for i, d in enumerate(s) if d == 1])}
    to_shape(ctx, node.input(0), tuple(d for i, d in enumerate(s) if i not in axes), node.outputs[0])


def _unsqueeze(ctx: Ctx, node: ONode) -> None:
    s = list(ctx.shape(node.input(0)))
    axes = _axes(ctx, node) or []
    nd = len(s) + len(axes)
    for a in sorted(v % nd for v in axes):
        s.insert(a, 1)
    to_shape(ctx, node.input(0), tuple(s), node.outputs[0])


def _transpose(ctx: Ctx, node: ONode) -> None:
    nd = len(ctx.shape(node.input(0)))
    perm = node.attr("perm") or list(range(nd))[::-1]
    ctx.emit("Transpose", [node.input(0)], node.outputs[0], axes=tuple(int(p) for p in perm))


def _concat(ctx: Ctx, node: ONode) -> None:
    ins = [i for i in node.inputs if i and prod(ctx.shape(i)) > 0]
    nd = len(ctx.shape(ins[0]))
    ctx.emit("Concatenate", ins, node.outputs[0], axis=int(node.attr("axis")) % nd)


def slice_axis(ctx: Ctx, x: str, axis: int, start: int, stop: int, step: int = 1, out: str | None = None) -> str:
    """x[..., start:stop:step, ...] on one axis (Python slice rules; a negative step is a Slice and a Flip)."""
    s = ctx.shape(x)
    idx = range(*slice(start, stop, step).indices(s[axis]))
    if len(idx) == 0:
        raise ctx.error(f"slicing axis {axis} of {s} leaves nothing")
    lo, hi = min(idx), max(idx) + 1
    begin = [0] * len(s)
    end = list(s)
    steps = [1] * len(s)
    begin[axis], end[axis], steps[axis] = lo, hi, abs(step)
    if step > 0:
        return ctx.emit("Slice", [x], out, start=tuple(begin), stop=tuple(end), step=tuple(steps))
    y = ctx.emit("Slice", [x], None, start=tuple(begin), stop=tuple(end), step=tuple(steps))
    return ctx.emit("Flip", [y], out, axes=(axis,))


def _slice(ctx: Ctx, node: ONode) -> None:
    x = node.input(0)
    nd = len(ctx.shape(x))
    if ctx.opset < 10:
        starts, ends, axes, steps = node.attr("starts"), node.attr("ends"), node.attr("axes"), None
    else:
        starts = ctx.need_const(node.input(1), "starts").tolist()
        ends = ctx.need_const(node.input(2), "ends").tolist()
        axes = ctx.need_const(node.input(3), "axes").tolist() if node.input(3) else None
        steps = ctx.need_const(node.input(4), "steps").tolist() if node.input(4) else None
    axes = [int(a) % nd for a in (axes if axes is not None else range(len(starts)))]
    steps = steps or [1] * len(starts)
    cur = x
    for k, (a, b, e, st) in enumerate(zip(axes, starts, ends, steps)):
        last = k == len(axes) - 1
        b, e = max(min(int(b), 2**62), -2**62), max(min(int(e), 2**62), -2**62)
        cur = slice_axis(ctx, cur, a, b, e, int(st), node.outputs[0] if last else None)
    if not axes:
        _alias(ctx, node)


def _split(ctx: Ctx, node: ONode) -> None:
    x = node.input(0)
    s = ctx.shape(x)
    ax = int(node.attr("axis", 0)) % len(s)
    if ctx.opset >= 13 and node.input(1):
        sizes = [int(v) for v in ctx.need_const(node.input(1), "split")]
    elif node.attr("split"):
        sizes = [int(v) for v in node.attr("split")]
    else:
        n = len(node.outputs)
        sizes = [-(-s[ax] // n)] * (n - 1)
        sizes.append(s[ax] - sum(sizes))
    pos = 0
    for out, size in zip(node.outputs, sizes):
        slice_axis(ctx, x, ax, pos, pos + size, 1, out)
        pos += size


def _gather(ctx: Ctx, node: ONode) -> None:
    x = node.input(0)
    s = ctx.shape(x)
    ax = int(node.attr("axis", 0)) % len(s)
    idx = ctx.need_const(node.input(1), "the indices of a Gather on run-time data").astype(np.int64)
    if idx.ndim > 1:
        raise ctx.error("indices of more than one dimension are not supported")
    flat = [int(i) % s[ax] for i in idx.reshape(-1)]
    if idx.ndim == 0:
        y = slice_axis(ctx, x, ax, flat[0], flat[0] + 1)
        to_shape(ctx, y, s[:ax] + s[ax + 1:], node.outputs[0])
        return
    step = flat[1] - flat[0] if len(flat) > 1 else 1
    if step > 0 and all(b - a == step for a, b in zip(flat, flat[1:])):
        slice_axis(ctx, x, ax, flat[0], flat[-1] + 1, step, node.outputs[0])
        return
    parts = [slice_axis(ctx, x, ax, i, i + 1) for i in flat]
    ctx.emit("Concatenate", parts, node.outputs[0], axis=ax)


def _pad(ctx: Ctx, node: ONode) -> None:
    x = node.input(0)
    nd = len(ctx.shape(x))
    if ctx.opset < 11:
        pads = list(node.attr("pads", node.attr("paddings", [])))
        value = float(node.attr("value", 0.0))
    else:
        pads = [int(v) for v in ctx.need_const(node.input(1), "pads")]
        cv = ctx.const(node.input(2)) if node.input(2) else None
        if node.input(2) and cv is None:
            raise ctx.error("the constant value must be a constant")
        value = float(cv.reshape(-1)[0]) if cv is not None and cv.size else 0.0
        if node.input(3):
            axes = [int(a) % nd for a in ctx.need_const(node.input(3), "axes")]
            full = [0] * (2 * nd)
            for k, a in enumerate(axes):
                full[a], full[a + nd] = pads[k], pads[k + len(axes)]
            pads = full
    mode = node.attr("mode", "constant")
    if mode not in _PAD_MODES:
        raise ctx.error(f"pad mode '{mode}' is not supported (constant, reflect, edge)")
    pairs = [(int(pads[i]), int(pads[i + nd])) for i in range(nd)]
    for a, (lo, hi) in enumerate(pairs):  # negative pads crop
        if lo < 0 or hi < 0:
            x = slice_axis(ctx, x, a, max(-lo, 0), ctx.shape(x)[a] - max(-hi, 0))
    pw = tuple(v for lo, hi in pairs for v in (max(lo, 0), max(hi, 0)))
    if not any(pw):
        ctx.emit("Identity", [x], node.outputs[0])
        return
    ctx.emit("Pad", [x], node.outputs[0], pad_width=pw, mode=_PAD_MODES[mode], constant_value=value)


def _expand(ctx: Ctx, node: ONode) -> None:
    s = ctx.shape(node.input(0))
    target = tuple(int(d) for d in ctx.need_const(node.input(1), "the shape"))
    out = tuple(int(d) for d in np.broadcast_shapes(s, target))
    x = node.input(0)
    if len(s) < len(out):
        x = to_shape(ctx, x, (1,) * (len(out) - len(s)) + tuple(s))
    ctx.emit("Broadcast", [x], node.outputs[0], shape=out)


def _depth_to_space(ctx: Ctx, node: ONode) -> None:
    n, c, h, w = ctx.shape(node.input(0))
    b = int(node.attr("blocksize"))
    if node.attr("mode", "DCR") == "CRD":
        y = to_shape(ctx, node.input(0), (n, c // (b * b), b, b, h, w))
        y = ctx.emit("Transpose", [y], None, axes=(0, 1, 4, 2, 5, 3))
    else:
        y = to_shape(ctx, node.input(0), (n, b, b, c // (b * b), h, w))
        y = ctx.emit("Transpose", [y], None, axes=(0, 3, 4, 1, 5, 2))
    to_shape(ctx, y, (n, c // (b * b), h * b, w * b), node.outputs[0])


CONVERTERS = {
    "Identity": _alias, "Dropout": _alias, "Cast": _cast, "Reshape": _reshape, "Flatten": _flatten, "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze, "Transpose": _transpose, "Concat": _concat, "Slice": _slice, "Split": _split,
    "Gather": _gather, "Pad": _pad, "Expand": _expand, "DepthToSpace": _depth_to_space,
}
