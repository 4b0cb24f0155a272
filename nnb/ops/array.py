"""Shape and data-movement ops: Concatenate, Split, Stack, Slice, Pad,
Transpose, Reshape, Flip, Broadcast, Tile."""

from __future__ import annotations

import numpy as np

from nnb.errors import NnbError
from nnb.ops.registry import Attr, Attrs, Shape, norm_axis, prod, register

F32 = np.float32


# ---- Concatenate / Split / Stack ------------------------------------------

def _concat_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    s0 = shapes[0]
    ax = norm_axis(a["axis"], len(s0))
    for s in shapes[1:]:
        if len(s) != len(s0) or any(d != e for i, (d, e) in enumerate(zip(s, s0)) if i != ax):
            raise NnbError(f"Concatenate: shapes {s0} and {s} differ outside axis {ax}")
    return [s0[:ax] + (sum(s[ax] for s in shapes),) + s0[ax + 1:]]


@register("Concatenate", attrs=(Attr("axis", "int", None),), infer=lambda s, a: _concat_infer(s, _dflt_axis(s, a)),
          num_inputs=(1, 1 << 16))
def concatenate(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """Join inputs along ``axis`` (default: the last axis)."""
    a = _dflt_axis([x.shape for x in xs], a)
    return [np.concatenate(xs, axis=norm_axis(a["axis"], xs[0].ndim))]


def _dflt_axis(shapes: list[Shape], a: Attrs) -> Attrs:
    return a if a["axis"] is not None else {**a, "axis": len(shapes[0]) - 1}


def _split_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    s = shapes[0]
    ax = norm_axis(a["axis"], len(s))
    return [s[:ax] + s[ax + 1:]] * s[ax]


@register("Split", attrs=(Attr("axis", "int", 0),), infer=_split_infer)
def split(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """One output per index along ``axis``, that axis removed."""
    x = xs[0]
    ax = norm_axis(a["axis"], x.ndim)
    return [np.ascontiguousarray(np.take(x, i, axis=ax)) for i in range(x.shape[ax])]


def _stack_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    s0 = shapes[0]
    if any(s != s0 for s in shapes):
        raise NnbError(f"Stack: inputs have different shapes {shapes}")
    ax = norm_axis(a["axis"], len(s0) + 1)
    return [s0[:ax] + (len(shapes),) + s0[ax:]]


@register("Stack", attrs=(Attr("axis", "int", 0),), infer=_stack_infer, num_inputs=(1, 1 << 16))
def stack(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """Stack equal-shaped inputs along a new ``axis``."""
    return [np.stack(xs, axis=norm_axis(a["axis"], xs[0].ndim + 1))]


# ---- Slice ------------------------------------------------------------------

def _slices(shape: Shape, a: Attrs) -> tuple[slice, ...]:
    start, stop = a["start"] or (), a["stop"] or ()
    step = a["step"] or (1,) * len(start)
    if not len(start) == len(stop) == len(step):
        raise NnbError("Slice: start, stop and step must have the same length")
    if len(start) > len(shape):
        raise NnbError(f"Slice: {len(start)} axes given for a {len(shape)}-d input")
    if any(s == 0 for s in step):
        raise NnbError("Slice: step must not be 0")
    # nnabla applies the given axes to the trailing dimensions
    lead = len(shape) - len(start)
    return (slice(None),) * lead + tuple(slice(b, e, s) for b, e, s in zip(start, stop, step))


def _slice_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    s = shapes[0]
    return [tuple(len(range(*sl.indices(d))) for sl, d in zip(_slices(s, a), s))]


@register("Slice", attrs=(Attr("start", "ints", None), Attr("stop", "ints", None), Attr("step", "ints", None)),
          infer=_slice_infer)
def slice_(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """x[start:stop:step] per axis."""
    x = xs[0]
    return [np.ascontiguousarray(x[_slices(x.shape, a)])]


# ---- Pad ---------------------------------------------------------------------

def _pad_widths(ndim: int, a: Attrs) -> list[tuple[int, int]]:
    pw = a["pad_width"] or ()
    if len(pw) % 2 or len(pw) // 2 > ndim:
        raise NnbError(f"Pad: pad_width {pw} does not fit a {ndim}-d input")
    pairs = [(pw[2 * i], pw[2 * i + 1]) for i in range(len(pw) // 2)]
    if any(p < 0 for pr in pairs for p in pr):
        raise NnbError("Pad: negative pad widths are not supported")
    return [(0, 0)] * (ndim - len(pairs)) + pairs


def _pad_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    s = shapes[0]
    return [tuple(d + lo + hi for d, (lo, hi) in zip(s, _pad_widths(len(s), a)))]


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "repeat": "edge"}


@register("Pad", attrs=(Attr("pad_width", "ints", None, min=0), Attr("mode", "str", "constant"),
                        Attr("constant_value", "float", 0.0)), infer=_pad_infer)
def pad(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """Pad the trailing len(pad_width)/2 axes (modes constant, reflect, repeat)."""
    x = xs[0]
    mode = a["mode"] or "constant"
    if mode not in _PAD_MODES:
        raise NnbError(f"Pad: mode '{mode}' is not supported (supported: {', '.join(_PAD_MODES)})")
    widths = _pad_widths(x.ndim, a)
    if mode == "constant":
        return [np.pad(x, widths, mode="constant", constant_values=F32(a["constant_value"]))]
    return [np.pad(x, widths, mode=_PAD_MODES[mode])]


# ---- Transpose / Reshape / Flip / Broadcast / Tile -------------------------

def _transpose_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    s, axes = shapes[0], a["axes"] or ()
    if sorted(axes) != list(range(len(s))):
        raise NnbError(f"Transpose: axes {axes} is not a permutation of {len(s)} axes")
    return [tuple(s[i] for i in axes)]


@register("Transpose", attrs=(Attr("axes", "ints", None),), infer=_transpose_infer)
def transpose(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """Permute axes."""
    return [np.ascontiguousarray(np.transpose(xs[0], a["axes"]))]


def reshape_target(in_shape: Shape, shape: Shape) -> Shape:
    """Resolve a Reshape target for ``in_shape``.

    One -1 is inferred.  nnabla stores the target with the batch size the
    model was saved with; when the input carries another batch, the leading
    dimension follows the input (what nnabla does for variable-batch models).
    """
    size = prod(in_shape)
    shape = tuple(shape)
    if shape.count(-1) > 1 or any(d < -1 for d in shape):
        raise NnbError(f"Reshape: bad target shape {shape}")
    if -1 in shape:
        rest = prod([d for d in shape if d != -1])
        if rest == 0 or size % rest:
            raise NnbError(f"Reshape: cannot reshape {in_shape} to {shape}")
        shape = tuple(size // rest if d == -1 else d for d in shape)
    if prod(shape) != size and shape and in_shape:
        tail = prod(shape[1:])
        if tail and size % tail == 0 and (size // tail) % in_shape[0] == 0:
            shape = (size // tail,) + shape[1:]
    if prod(shape) != size:
        raise NnbError(f"Reshape: cannot reshape {in_shape} ({size} values) to {shape}")
    return shape


@register("Reshape", attrs=(Attr("shape", "ints", None, min=-1), Attr("inplace", "bool", True)),
          infer=lambda s, a: [reshape_target(s[0], a["shape"] or ())])
def reshape(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """Same data, new shape."""
    x = xs[0]
    return [x.reshape(reshape_target(x.shape, a["shape"] or ()))]


def _flip_axes(ndim: int, a: Attrs) -> tuple[int, ...]:
    axes = tuple(norm_axis(ax, ndim) for ax in (a["axes"] if a["axes"] else (0,)))
    if len(set(axes)) != len(axes):
        raise NnbError(f"Flip: axes {tuple(a['axes'])} name an axis twice")
    return axes


def _flip_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    _flip_axes(len(shapes[0]), a)
    return [shapes[0]]


@register("Flip", attrs=(Attr("axes", "ints", None),), infer=_flip_infer)
def flip(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """Reverse the order along ``axes`` (default: the first axis)."""
    x = xs[0]
    return [np.ascontiguousarray(np.flip(x, axis=_flip_axes(x.ndim, a)))]


def _broadcast_infer(shapes: list[Shape], a: Attrs) -> list[Shape]:
    return [tuple(np.broadcast_shapes(shapes[0], tuple(a["shape"] or ())))]


@register("Broadcast", attrs=(Attr("shape", "ints", None, min=1),), infer=_broadcast_infer)
def broadcast(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """Broadcast to ``shape`` (numpy rules)."""
    return [np.ascontiguousarray(np.broadcast_to(xs[0], _broadcast_infer([xs[0].shape], a)[0]))]


def _tile_shape(s: Shape, reps: Shape) -> Shape:
    n = max(len(s), len(reps))
    s2 = (1,) * (n - len(s)) + tuple(s)
    r2 = (1,) * (n - len(reps)) + tuple(reps)
    return tuple(d * r for d, r in zip(s2, r2))


@register("Tile", attrs=(Attr("reps", "ints", None, min=1),), infer=lambda s, a: [_tile_shape(s[0], a["reps"] or ())])
def tile(xs: list[np.ndarray], a: Attrs) -> list[np.ndarray]:
    """Repeat the whole array ``reps`` times per axis."""
    return [np.tile(xs[0], a["reps"] or ())]
