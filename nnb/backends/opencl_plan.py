"""A planned graph -> the OpenCL launch list: buffer layout, parameters and one launch (or a few) per function.

Pure Python (no pyopencl): the layout puts the arena first, with the offsets of
the one-arena plan (:mod:`nnb.plan.arena`, the C runtime's plan), then the
network inputs, the float parameters and the weights decoded from packed codes,
all in one float buffer addressed by element offsets.  Each launch is a kernel
name, its integer parameters (see ``opencl/common.cl``) and a work-item count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnb.errors import NnbError
from nnb.ir import Graph, Node
from nnb.ops.registry import norm_axis, prod
from nnb.plan.arena import ArenaPlan, plan_arena

ALIGN = 16  # floats (64 bytes) between regions: whole cache lines, float16 vector loads


@dataclass
class Launch:
    kernel: str
    params: list[int]
    n: int  # work items (one per output value unless the kernel says otherwise)
    node: str = ""
    macs: int = 0
    p: int = 0  # where params start in the parameter buffer (set by Layout.finish)
    local: int | None = None  # work-group size (set by the host)
    dims: tuple[int, ...] = ()  # 2-D launches: (items along axis 0, items along axis 1)
    alts: list[tuple[str, int, int]] = field(default_factory=list)  # (kernel, n, local) to time (same params)
    tune_key: str = ""  # the tuning cache's key of the layer shape (alts)


@dataclass
class Layout:
    floats: int = 0
    offsets: dict[str, int] = field(default_factory=dict)  # tensor -> element offset in the float buffer
    uploads: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (offset, float32) written once
    codes: list[np.ndarray] = field(default_factory=list)  # packed uint32 words
    code_words: int = 0
    setup: list[Launch] = field(default_factory=list)  # run once after the upload (decoding packed weights)
    launches: list[Launch] = field(default_factory=list)
    inputs: list[tuple[str, int, tuple[int, ...]]] = field(default_factory=list)
    outputs: list[tuple[str, int, tuple[int, ...]]] = field(default_factory=list)
    arena_floats: int = 0  # where the arena starts (after a guard of zeros)
    params: np.ndarray | None = None  # int32, every launch's parameters
    fits_int32: bool = True  # every offset and size fits the kernels' int indices

    def reserve(self, n: int) -> int:
        off = self.floats
        self.floats += (max(n, 1) + ALIGN - 1) // ALIGN * ALIGN
        return off

    def finish(self) -> None:
        flat: list[int] = []
        for ln in self.setup + self.launches:
            ln.p = len(flat)
            flat += [int(v) for v in ln.params]
        arr = np.asarray(flat or [0], dtype=np.int64)
        self.params = arr.astype(np.int32)
        self.fits_int32 = bool(arr.max() <= 2**31 - 1 and arr.min() >= -2**31 and self.floats < 2**31)


def f2i(v: float) -> int:
    """A float32 as the int with its bits (kernels read it back with as_float)."""
    return int(np.float32(v).view(np.int32))


def cstrides(shape: tuple[int, ...]) -> list[int]:
    s, out = 1, []
    for d in reversed(shape):
        out.append(s)
        s *= d
    return out[::-1]


def bstrides(shape: tuple[int, ...], out: tuple[int, ...]) -> list[int]:
    """Strides that read ``shape`` broadcast to ``out`` (numpy rules, right-aligned)."""
    st = cstrides(shape)
    lead = len(out) - len(shape)
    return [0 if k < lead or shape[k - lead] == 1 else st[k - lead] for k in range(len(out))]


def collapse(shape: list[int], *strides: list[int]) -> tuple[list[int], list[list[int]]]:
    """Merge neighbouring axes that every stride list walks as one; drop size-1 axes."""
    keep = [k for k, d in enumerate(shape) if d != 1]
    shape = [shape[k] for k in keep]
    sts = [[s[k] for k in keep] for s in strides]
    k = len(shape) - 1
    while k > 0:
        if all(s[k - 1] == s[k] * shape[k] for s in sts):
            shape[k - 1] *= shape[k]
            del shape[k]
            for s in sts:
                s[k - 1] = s[k]
                del s[k]
        k -= 1
    if not shape:
        return [1], [[0] for _ in sts]
    return shape, sts


class Planner:
    """Builds the :class:`Layout` of one graph (shapes fixed: one batch size)."""

    def __init__(self, g: Graph, codes: dict[str, int], arena: ArenaPlan | None = None, cpu: bool = True,
                 tiles: Any = None) -> None:  # noqa: ANN401 - an opencl_local.Tiles
        self.g = g
        self.cpu = cpu  # a CPU device: kernel forms with fewer, longer work items
        self.tiles = tiles  # convolution and affine in the local-memory forms (None: not on this device)
        self.k = codes  # op-code names -> values, read from the .cl sources
        # no in-place depthwise (nnb/plan/inplace.py): work items of one launch would read planes others overwrite
        self.arena = arena or plan_arena(g, inplace_dw=False)
        self.lay = Layout()
        self.shapes = {n: tuple(t.shape) for n, t in g.tensors.items()}
        self._scratch = (0, 0)  # (offset, floats)
        self._pool_scratch = (0, 0)

    # ---- layout ------------------------------------------------------------------------
    def build(self) -> Layout:
        g, lay = self.g, self.lay
        # zeros around the arena: shifted vector loads stay in the buffer
        guard = max(self.k.get("DWV_GUARD", 0), self.k.get("CV_GUARD", 0))
        lay.reserve(guard)
        base = lay.reserve(self.arena.arena_bytes // 4 + 1)
        lay.arena_floats = base
        lay.reserve(guard)
        for name, off in self.arena.offsets.items():
            if off % 4:
                raise NnbError(f"arena offset {off} of '{name}' is not float-aligned")
            lay.offsets[name] = base + off // 4
        for name in g.inputs:
            lay.offsets[name] = lay.reserve(prod(self.shapes[name]))
            lay.inputs.append((name, lay.offsets[name], self.shapes[name]))
        for t in g.params():
            data = np.asarray(t.data)
            if data.dtype.kind in "ui" and t.dtype != "float32":
                lay.offsets[t.name] = lay.code_words
                words = np.ascontiguousarray(data, dtype=np.uint32).reshape(-1)
                lay.codes.append(words)
                lay.code_words += (words.size + 3) // 4 * 4
                if words.size % 4:
                    lay.codes.append(np.zeros((-words.size) % 4, np.uint32))
            else:
                lay.offsets[t.name] = lay.reserve(t.size)
                lay.uploads.append((lay.offsets[t.name], np.ascontiguousarray(data, dtype=np.float32).reshape(-1)))
        for n in g.nodes:
            for o in n.outputs:
                if o not in lay.offsets:  # not planned (never read): a slot of its own
                    lay.offsets[o] = lay.reserve(prod(self.shapes[o]))
        for n in g.nodes:
            handler = HANDLERS.get(n.op)
            if handler is None:
                raise NnbError(f"the OpenCL backend has no kernel for function '{n.op}' ({n.name})")
            if self._overlapping(n):
                self._through_scratch(n, handler)
            else:
                handler(self, n)
        for name in g.outputs:
            lay.outputs.append((name, lay.offsets[name], self.shapes[name]))
        lay.reserve(guard)
        lay.finish()
        return lay

    def _span(self, name: str) -> tuple[int, int]:
        return self.lay.offsets[name], self.lay.offsets[name] + prod(self.shapes[name])

    def _overlapping(self, n: Node) -> bool:
        """Does an output share storage with an input the work items read elsewhere than at their own index?

        The plan lets elementwise ops and FusedConv's residual write in place (each work item reads the value
        it replaces); anything else in place (the C runtime's in-place depthwise convolution) runs through
        a scratch region and a copy, because work items do not run in order."""
        if n.op in PER_INDEX or n.op in ("Reshape", "Identity"):
            return False
        ins = [i for i in n.inputs if self.g.tensors[i].kind != "param"]
        if n.op.startswith("FusedConv") and n.attrs.get("residual"):
            ins = ins[:-1]
        for o in n.outputs:
            a0, a1 = self._span(o)
            for i in ins:
                b0, b1 = self._span(i)
                if a0 < b1 and b0 < a1:
                    return True
        return False

    def _through_scratch(self, n: Node, handler: Callable[[Planner, Node], None]) -> None:
        real = {o: self.lay.offsets[o] for o in n.outputs}
        need = sum(prod(self.shapes[o]) + ALIGN for o in n.outputs)
        if need > self._scratch[1]:  # one scratch region, grown when a bigger output needs it
            self._scratch = (self.lay.reserve(need), need)
        at = self._scratch[0]
        for o in n.outputs:
            self.lay.offsets[o] = at
            at += prod(self.shapes[o]) + ALIGN
        handler(self, n)
        for o in n.outputs:
            size = prod(self.shapes[o])
            self.copy(n, self.lay.offsets[o], real[o], [size], [1], [1])
            self.lay.offsets[o] = real[o]

    def pool_scratch(self, n: int) -> int:
        """A region of ``n`` floats for a fused pool's full-size convolution (one, grown as needed)."""
        if n > self._pool_scratch[1]:
            self._pool_scratch = (self.lay.reserve(n), n)
        return self._pool_scratch[0]

    def off(self, name: str) -> int:
        return self.lay.offsets[name]

    def emit(self, kernel: str, params: list[int], n: int, node: Node, macs: int = 0) -> None:
        if n > 0:
            self.lay.launches.append(Launch(kernel, params, n, node.name, macs))

    # ---- shared forms ------------------------------------------------------------------
    def copy(self, node: Node, x: int, y: int, shape: list[int], xs: list[int], ys: list[int]) -> None:
        n = prod(shape)
        shape, (xs, ys) = collapse(list(shape), list(xs), list(ys))
        if shape == [n] and xs == [1] and ys == [1]:
            self.emit("copy16", [n, x, y], (n + 15) // 16, node)
            return
        if self.cpu and shape[-1] >= 8:  # a row per work item
            self.emit("copy_rows", [n, len(shape), x, y] + shape + xs + ys, n // shape[-1], node)
            return
        self.emit("copy_strided", [n, len(shape), x, y] + shape + xs + ys, n, node)

    def binary(self, node: Node, op: str, a: str, b: str, y: str, b_strides: list[int] | None = None) -> None:
        out = self.shapes[y]
        sa = bstrides(self.shapes[a], out)
        sb = b_strides if b_strides is not None else bstrides(self.shapes[b], out)
        self.binary_at(node, op, self.off(a), self.off(b), self.off(y), list(out), sa, sb)

    def binary_at(self, node: Node, op: str, a: int, b: int, y: int, out: list[int], sa: list[int],
                  sb: list[int]) -> None:
        n = prod(out)
        shape, (sa, sb) = collapse(list(out), sa, sb)
        self.emit("binary", [self.k["B_" + op], n, len(shape), a, b, y] + shape + sa + sb, n, node)

    def unpack(self, node: Node) -> int:
        """Decode a packed weight (inputs 1, 2) into a float region; returns its offset."""
        a = node.attrs
        w_shape = tuple(a["w_shape"])
        count = prod(w_shape)
        dst = self.lay.reserve(count)
        kind = self.k["Q_LUT"] if a["q_kind"] == "lut" else self.k["Q_UNIFORM"]
        table = node.inputs[2]
        self.lay.setup.append(Launch("unpack", [count, self.off(node.inputs[1]), int(a["q_bits"]), kind,
                                                self.off(table), prod(self.shapes[table]), dst], count, node.name))
        return dst


# ---- handlers: one per nnabla function (or family) ------------------------------------------

UNARY = {"ReLU": "RELU", "LeakyReLU": "LEAKY_RELU", "ReLU6": "RELU6", "Sigmoid": "SIGMOID", "Swish": "SWISH",
         "Tanh": "TANH", "ELU": "ELU", "SELU": "SELU", "HardSigmoid": "HARD_SIGMOID", "HardTanh": "HARD_TANH",
         "Abs": "ABS", "Exp": "EXP", "Log": "LOG", "Sqrt": "SQRT", "SoftPlus": "SOFT_PLUS", "Sign": "SIGN",
         "AddScalar": "ADD_SCALAR", "MulScalar": "MUL_SCALAR", "PowScalar": "POW_SCALAR",
         "RSubScalar": "RSUB_SCALAR", "RDivScalar": "RDIV_SCALAR", "RPowScalar": "RPOW_SCALAR",
         "MaximumScalar": "MAX_SCALAR", "MinimumScalar": "MIN_SCALAR", "SoftSign": "SOFT_SIGN",
         # the C runtime's further math functions (active once nnb/ops registers them)
         "Sin": "SIN", "Cos": "COS", "Tan": "TAN", "Sinh": "SINH", "Cosh": "COSH", "ASin": "ASIN", "ACos": "ACOS",
         "ATan": "ATAN", "ASinh": "ASINH", "ACosh": "ACOSH", "ATanh": "ATANH", "Ceil": "CEIL", "Floor": "FLOOR",
         "Round": "ROUND", "Erf": "ERF", "GELU": "GELU", "LogSigmoid": "LOG_SIGMOID", "TanhShrink": "TANH_SHRINK",
         "BinarySigmoid": "BINARY_SIGMOID", "BinaryTanh": "BINARY_TANH"}
UNARY_ARGS = {"LeakyReLU": ("alpha",), "ELU": ("alpha",), "SELU": ("scale", "alpha"), "SoftPlus": ("beta",),
              "Sign": ("alpha",)}
BINARY = {"Add2": "ADD", "BcAdd2": "ADD", "Sub2": "SUB", "Mul2": "MUL", "Div2": "DIV", "Pow2": "POW",
          "Maximum2": "MAX", "Minimum2": "MIN", "ATan2": "ATAN2"}
REDUCE = {"Sum": "SUM", "Mean": "MEAN", "Max": "MAX", "Min": "MIN", "Prod": "PROD"}
POOL = {"MaxPooling": "MAX", "AveragePooling": "AVERAGE", "SumPooling": "SUM"}


def _unary(pl: Planner, n: Node) -> None:
    a = n.attrs
    names = UNARY_ARGS.get(n.op, ("val",) if n.op.endswith("Scalar") else ())
    vals = [float(a[k]) for k in names] + [0.0, 0.0]
    size = prod(pl.shapes[n.outputs[0]])
    pl.emit("unary", [pl.k["U_" + UNARY[n.op]], size, pl.off(n.inputs[0]), pl.off(n.outputs[0]),
                      f2i(vals[0]), f2i(vals[1])], size, n)


def _binary(pl: Planner, n: Node) -> None:
    pl.binary(n, BINARY[n.op], n.inputs[0], n.inputs[1], n.outputs[0])


def _prelu(pl: Planner, n: Node) -> None:
    x, w = n.inputs
    out = pl.shapes[x]
    if prod(pl.shapes[w]) == 1:
        sb = [0] * len(out)
    else:
        ba = norm_axis(n.attrs["base_axis"], len(out))
        if out[ba] != prod(pl.shapes[w]):
            raise NnbError(f"PReLU: slope of {prod(pl.shapes[w])} values for {out[ba]} channels")
        sb = [1 if k == ba else 0 for k in range(len(out))]
    pl.binary(n, "PRELU", x, w, n.outputs[0], sb)


def _same_storage(pl: Planner, n: Node) -> None:
    """Reshape / Identity: nothing when the plan shares the storage, else a copy."""
    x, y = pl.off(n.inputs[0]), pl.off(n.outputs[0])
    if x != y:
        size = prod(pl.shapes[n.outputs[0]])
        pl.copy(n, x, y, [size], [1], [1])


def _transpose(pl: Planner, n: Node) -> None:
    s = pl.shapes[n.inputs[0]]
    axes = n.attrs["axes"]
    st = cstrides(s)
    out = [s[k] for k in axes]
    pl.copy(n, pl.off(n.inputs[0]), pl.off(n.outputs[0]), out, [st[k] for k in axes], cstrides(tuple(out)))


def _slice(pl: Planner, n: Node) -> None:
    from nnb.ops.array import _slices

    s = pl.shapes[n.inputs[0]]
    st = cstrides(s)
    base, out, xs = pl.off(n.inputs[0]), [], []
    for k, sl in enumerate(_slices(s, n.attrs)):
        start, stop, step = sl.indices(s[k])
        size = len(range(start, stop, step))
        if size:
            base += start * st[k]
        out.append(size)
        xs.append(st[k] * step)
    pl.copy(n, base, pl.off(n.outputs[0]), out, xs, cstrides(tuple(out)))


def _flip(pl: Planner, n: Node) -> None:
    from nnb.ops.array import _flip_axes

    s = pl.shapes[n.inputs[0]]
    st = cstrides(s)
    base = pl.off(n.inputs[0])
    xs = list(st)
    for k in set(_flip_axes(len(s), n.attrs)):
        base += (s[k] - 1) * st[k]
        xs[k] = -st[k]
    pl.copy(n, base, pl.off(n.outputs[0]), list(s), xs, st)


def _broadcast(pl: Planner, n: Node) -> None:
    out = pl.shapes[n.outputs[0]]
    pl.copy(n, pl.off(n.inputs[0]), pl.off(n.outputs[0]), list(out), bstrides(pl.shapes[n.inputs[0]], out),
            cstrides(out))


def _tile(pl: Planner, n: Node) -> None:
    s, reps = pl.shapes[n.inputs[0]], tuple(n.attrs["reps"] or ())
    nd = max(len(s), len(reps))
    s2 = (1,) * (nd - len(s)) + tuple(s)
    r2 = (1,) * (nd - len(reps)) + reps
    st = cstrides(s2)
    shape, xs = [], []
    for k in range(nd):  # out axis k = (repeat, index): read with strides (0, stride)
        shape += [r2[k], s2[k]]
        xs += [0, st[k]]
    pl.copy(n, pl.off(n.inputs[0]), pl.off(n.outputs[0]), shape, xs, cstrides(tuple(shape)))


def _unpooling(pl: Planner, n: Node) -> None:
    s, k = pl.shapes[n.inputs[0]], tuple(n.attrs["kernel"])
    first = len(s) - len(k) - (1 if n.attrs["channel_last"] else 0)
    st = cstrides(s)
    shape, xs = [], []
    for ax in range(len(s)):
        if first <= ax < first + len(k):  # out axis = (index, repeat): strides (stride, 0)
            shape += [s[ax], k[ax - first]]
            xs += [st[ax], 0]
        else:
            shape.append(s[ax])
            xs.append(st[ax])
    pl.copy(n, pl.off(n.inputs[0]), pl.off(n.outputs[0]), shape, xs, cstrides(tuple(shape)))


def _concatenate(pl: Planner, n: Node) -> None:
    out = pl.shapes[n.outputs[0]]
    ax = norm_axis(n.attrs["axis"] if n.attrs["axis"] is not None else len(out) - 1, len(out))
    ys = cstrides(out)
    at = 0
    for x in n.inputs:
        s = pl.shapes[x]
        pl.copy(n, pl.off(x), pl.off(n.outputs[0]) + at * ys[ax], list(s), cstrides(s), ys)
        at += s[ax]


def _split(pl: Planner, n: Node) -> None:
    s = pl.shapes[n.inputs[0]]
    ax = norm_axis(n.attrs["axis"], len(s))
    st = cstrides(s)
    rest = [d for k, d in enumerate(s) if k != ax]
    xs = [v for k, v in enumerate(st) if k != ax]
    for i, y in enumerate(n.outputs):
        pl.copy(n, pl.off(n.inputs[0]) + i * st[ax], pl.off(y), rest, xs, cstrides(tuple(rest)))


def _stack(pl: Planner, n: Node) -> None:
    out = pl.shapes[n.outputs[0]]
    ax = norm_axis(n.attrs["axis"], len(out))
    ys = cstrides(out)
    yrest = [v for k, v in enumerate(ys) if k != ax]
    for i, x in enumerate(n.inputs):
        s = pl.shapes[x]
        pl.copy(n, pl.off(x), pl.off(n.outputs[0]) + i * ys[ax], list(s), cstrides(s), yrest)


def _pad(pl: Planner, n: Node) -> None:
    from nnb.ops.array import _PAD_MODES, _pad_widths

    mode = n.attrs["mode"] or "constant"
    if mode not in _PAD_MODES:
        raise NnbError(f"Pad: mode '{mode}' is not supported")
    s, out = pl.shapes[n.inputs[0]], pl.shapes[n.outputs[0]]
    lo = [w[0] for w in _pad_widths(len(s), n.attrs)]
    size = prod(out)
    code = pl.k["PAD_" + {"constant": "CONSTANT", "reflect": "REFLECT", "repeat": "REPEAT"}[mode]]
    pl.emit("pad", [size, len(s), pl.off(n.inputs[0]), pl.off(n.outputs[0]), code,
                    f2i(n.attrs["constant_value"] or 0.0)] + list(out) + list(s) + lo, size, n)


def _reduce_at(pl: Planner, n: Node, op: str, axes: tuple[int, ...]) -> None:
    s = pl.shapes[n.inputs[0]]
    st = cstrides(s)
    oshape = [d for k, d in enumerate(s) if k not in axes]
    ostr = [v for k, v in enumerate(st) if k not in axes]
    rshape = [d for k, d in enumerate(s) if k in axes]
    rstr = [v for k, v in enumerate(st) if k in axes]
    size = prod(oshape)
    tail = len(axes) and tuple(sorted(axes)) == tuple(range(len(s) - len(axes), len(s)))
    if pl.cpu and tail and op in ("SUM", "MEAN", "MAX") and prod(rshape) >= 16:  # contiguous rows
        count = prod(rshape)
        pl.emit("rows_reduce", [pl.k["R_MAX" if op == "MAX" else "R_SUM"], size, count, pl.off(n.inputs[0]),
                                pl.off(n.outputs[0]), f2i(1.0 / count if op == "MEAN" else 1.0)], size, n)
        return
    pl.emit("reduce", [pl.k["R_" + op], size, pl.off(n.inputs[0]), pl.off(n.outputs[0]), len(oshape),
                       len(rshape)] + oshape + ostr + rshape + rstr, size, n)


def _reduce(pl: Planner, n: Node) -> None:
    from nnb.ops.reduce import _axes

    if n.attrs.get("with_index") or n.attrs.get("only_index"):
        raise NnbError(f"{n.op}: with_index/only_index are not supported")
    _reduce_at(pl, n, REDUCE[n.op], _axes(len(pl.shapes[n.inputs[0]]), n.attrs))


def _gap(pl: Planner, n: Node) -> None:
    _reduce_at(pl, n, "MEAN", tuple(range(2, len(pl.shapes[n.inputs[0]]))))


def _softmax(pl: Planner, n: Node) -> None:
    s = pl.shapes[n.inputs[0]]
    ax = norm_axis(n.attrs["axis"] if n.attrs["axis"] is not None else len(s) - 1, len(s))
    inner = prod(s[ax + 1:])
    rows = prod(s[:ax]) * inner
    pl.emit("softmax", [1 if n.op == "LogSoftmax" else 0, rows, s[ax], inner, pl.off(n.inputs[0]),
                        pl.off(n.outputs[0])], rows, n)


def _pool(pl: Planner, n: Node) -> None:
    from nnb.ops.pooling import _out_sizes

    s = pl.shapes[n.inputs[0]]
    k, st, pd, first, out = _out_sizes(s, n.attrs)
    if len(k) > 4:
        raise NnbError(f"{n.op}: {len(k)} pooled axes (the OpenCL kernel takes up to 4)")
    outer, inner = prod(s[:first]), prod(s[first + len(k):])
    size = prod(pl.shapes[n.outputs[0]])
    plane = prod(s[first:first + len(k)])
    if pl.cpu and inner == 1 and tuple(k) == tuple(s[first:first + len(k)]) and not any(pd) and set(out) == {1} \
            and plane >= 16 and POOL[n.op] in ("MAX", "AVERAGE", "SUM"):  # one window over the plane: a row reduction
        pl.emit("rows_reduce", [pl.k["R_MAX" if POOL[n.op] == "MAX" else "R_SUM"], size, plane, pl.off(n.inputs[0]),
                                pl.off(n.outputs[0]), f2i(1.0 / plane if POOL[n.op] == "AVERAGE" else 1.0)], size, n)
        return
    if pl.cpu and len(k) == 2 and inner == 1:  # a row per work item
        rows = outer * out[0]
        pl.emit("pool_rows", [pl.k["POOL_" + POOL[n.op]], rows, pl.off(n.inputs[0]), pl.off(n.outputs[0]), -1,
                              pl.k["ACT_NONE"], 1 if n.attrs.get("including_pad", True) else 0]
                + list(s[first:first + 2]) + list(out) + list(k) + list(st) + list(pd), rows, n)
        return
    kernel = "pool2d" if len(k) == 2 and inner == 1 else "pool"
    pl.emit(kernel, [pl.k["POOL_" + POOL[n.op]], size, pl.off(n.inputs[0]), pl.off(n.outputs[0]), outer, inner,
                     len(k), 1 if n.attrs.get("including_pad", True) else 0]
            + list(s[first:first + len(k)]) + list(out) + list(k) + list(st) + list(pd), size, n)


def _pad3(v: list[int], fill: int) -> list[int]:
    return list(v) + [fill] * (3 - len(v))


def _conv(pl: Planner, n: Node) -> None:
    """Convolution, DepthwiseConvolution, FusedConv and their packed forms."""
    from nnb.ops.conv import _geom
    from nnb.ops.pooling import _out_sizes

    op, a = n.op, n.attrs
    packed = op.endswith("Packed")
    base = op[:-len("Packed")] if packed else op
    ins = list(n.inputs)
    if packed:
        w_shape = tuple(a["w_shape"])
        w_off = pl.unpack(n)
        rest = ins[3:]
    else:
        w_shape = pl.shapes[ins[1]]
        w_off = pl.off(ins[1])
        rest = ins[2:]
    x, y = ins[0], n.outputs[0]
    xs_shape = pl.shapes[x]
    ba = norm_axis(a["base_axis"], len(xs_shape))
    dw = base == "DepthwiseConvolution"
    cl_last = bool(a.get("channel_last")) and not dw
    nsp = len(w_shape) - (1 if dw else 2)
    if nsp > 3:
        raise NnbError(f"{op}: {nsp} spatial axes (the OpenCL kernel takes up to 3)")
    has_bias = a["has_bias"] if base == "FusedConv" else bool(rest)
    bias = rest[0] if has_bias else None
    res = rest[-1] if base == "FusedConv" and a["residual"] else None
    pad, stride, dil = _geom(nsp, a)
    xst = cstrides(xs_shape)
    if cl_last:
        c_ax, sp_ax = len(xs_shape) - 1, list(range(ba, len(xs_shape) - 1))
    else:
        c_ax, sp_ax = ba, list(range(ba + 1, len(xs_shape)))
    cin = xs_shape[c_ax]
    in_sp = [xs_shape[k] for k in sp_ax]
    batch = prod(xs_shape[:ba])
    wst = cstrides(w_shape)
    if dw:
        cout, group = w_shape[0], cin
        ws = [wst[0], 0] + wst[1:]
        ksz = list(w_shape[1:])
    elif cl_last:
        cout, group = w_shape[0], a["group"]
        ws = [wst[0], wst[-1]] + wst[1:-1]
        ksz = list(w_shape[1:-1])
    else:
        cout, group = w_shape[0], a["group"]
        ws = wst[:2] + wst[2:]
        ksz = list(w_shape[2:])
    co = [(in_sp[i] + 2 * pad[i] - (dil[i] * (ksz[i] - 1) + 1)) // stride[i] + 1 for i in range(nsp)]
    ys_shape = pl.shapes[y]
    yst = cstrides(ys_shape)
    if cl_last:
        y_c, y_sp = len(ys_shape) - 1, list(range(ba, len(ys_shape) - 1))
    else:
        y_c, y_sp = ba, list(range(ba + 1, len(ys_shape)))
    fo = [ys_shape[k] for k in y_sp]
    pool_code, pk, ps, pp, incl = 0, [1] * nsp, [1] * nsp, [0] * nsp, 1
    if base == "FusedConv" and a["pool"]:
        from nnb.ops.fused import pool_attrs

        conv_shape = list(ys_shape)
        for i, k in enumerate(y_sp):
            conv_shape[k] = co[i]
        kk, ss, ppp, first, out = _out_sizes(tuple(conv_shape), pool_attrs(a))
        lead = first - y_sp[0]
        for i in range(len(kk)):
            pk[lead + i], ps[lead + i], pp[lead + i] = kk[i], ss[i], ppp[i]
        pool_code = pl.k["POOL_MAX"] if a["pool"] == "max" else pl.k["POOL_AVERAGE"]
        incl = 1 if a["pool_including_pad"] else 0
    acts = {"": pl.k["ACT_NONE"], "relu": pl.k["ACT_RELU"], "relu6": pl.k["ACT_RELU6"]}
    act = acts[a["activation"]] if base == "FusedConv" else acts[""]
    size = prod(ys_shape)
    params = [size, pl.off(x), w_off, pl.off(bias) if bias else -1, pl.off(res) if res else -1, pl.off(y),
              batch, cin, cout, group] + _pad3(in_sp, 1) + _pad3(co, 1) + _pad3(ksz, 1) + _pad3(list(pad), 0) \
        + _pad3(list(stride), 1) + _pad3(list(dil), 1) \
        + [prod(xs_shape[ba:]), xst[c_ax]] + _pad3([xst[k] for k in sp_ax], 0) \
        + [ws[0], ws[1]] + _pad3(ws[2:], 0) \
        + [prod(ys_shape[ba:]), yst[y_c]] + _pad3([yst[k] for k in y_sp], 0) \
        + [pool_code] + _pad3(fo, 1) + _pad3(pk, 1) + _pad3(ps, 1) + _pad3(pp, 0) + [incl, act]
    assert len(params) == pl.k["C_NPARAMS"]
    macs = batch * cout * prod(co) * (cin // group) * prod(ksz)
    fast = FAST_CONV.get("conv")
    first = len(pl.lay.launches)
    if fast is not None and fast(pl, n, params, nsp, cl_last, dw, group, cin, cout):
        # the convolution launch (after copies that pad or gather its input; a pool, residual, activation may follow)
        # (a fused launch may have taken the place of the launch before: dw3_pw)
        next(ln for ln in pl.lay.launches[max(first - 1, 0):] if ln.node == n.name and ln.kernel not in PREP).macs \
            += macs
        return
    if pl.cpu and batch * cout >= 256:  # a plane per work item, when there are enough planes for every core
        pl.emit("conv_plane", params, batch * cout, n, macs)
    else:
        pl.emit("conv", params, size, n, macs)


def _deconv(pl: Planner, n: Node) -> None:
    from nnb.ops.conv import _geom

    a = n.attrs
    x, w, y = n.inputs[0], n.inputs[1], n.outputs[0]
    xs_shape, w_shape, ys_shape = pl.shapes[x], pl.shapes[w], pl.shapes[y]
    ba = norm_axis(a["base_axis"], len(xs_shape))
    nsp = len(w_shape) - 2
    if nsp > 3:
        raise NnbError(f"Deconvolution: {nsp} spatial axes (the OpenCL kernel takes up to 3)")
    pad, stride, dil = _geom(nsp, a)
    size = prod(ys_shape)
    b = pl.off(n.inputs[2]) if len(n.inputs) > 2 else -1
    params = [size, pl.off(x), pl.off(w), b, pl.off(y), prod(xs_shape[:ba]), xs_shape[ba], ys_shape[ba],
              a["group"]] + _pad3(list(xs_shape[ba + 1:]), 1) + _pad3(list(ys_shape[ba + 1:]), 1) \
        + _pad3(list(w_shape[2:]), 1) + _pad3(list(pad), 0) + _pad3(list(stride), 1) + _pad3(list(dil), 1)
    macs = prod(xs_shape) * prod(w_shape[1:])
    sp_in, sp_out = list(xs_shape[ba + 1:]), list(ys_shape[ba + 1:])
    if pl.cpu and nsp == 2 and list(w_shape[2:]) == [2, 2] and list(stride) == [2, 2] and not any(pad) \
            and list(dil) == [1, 1] and a["group"] == 1 and sp_out == [2 * d for d in sp_in]:
        nxb = (sp_out[1] + 15) // 16  # one tap per output: 16 outputs of a row per work item
        items = prod(xs_shape[:ba]) * ys_shape[ba] * sp_out[0] * nxb
        pl.emit("deconv_s2", [items, pl.off(x), pl.off(w), b, pl.off(y), xs_shape[ba], ys_shape[ba]] + sp_in
                + [nxb], items, n, macs)
        return
    pl.emit("deconv", params, size, n, macs)


def _affine(pl: Planner, n: Node) -> None:
    a = n.attrs
    x, y = n.inputs[0], n.outputs[0]
    s = pl.shapes[x]
    ba = norm_axis(a["base_axis"], len(s))
    batch, nin = prod(s[:ba]), prod(s[ba:])
    if n.op == "AffinePacked":
        w_shape = tuple(a["w_shape"])
        w_off = pl.unpack(n)
        nout = prod(w_shape[1:])
        w_is, w_os = 1, nin  # decoded output-major: [out, in]
        bias = n.inputs[3] if len(n.inputs) > 3 else None
    else:
        w_off = pl.off(n.inputs[1])
        nout = prod(pl.shapes[n.inputs[1]][1:])
        w_is, w_os = nout, 1
        bias = n.inputs[2] if len(n.inputs) > 2 else None
    params = [batch, nin, nout, pl.off(x), w_off, w_is, w_os, pl.off(bias) if bias else -1, pl.off(y)]
    fast = FAST_CONV.get("affine")
    first = len(pl.lay.launches)
    if fast is not None and fast(pl, n, params):  # (rows_affine takes the place of the launch before)
        next(ln for ln in pl.lay.launches[max(first - 1, 0):] if ln.node == n.name).macs = batch * nin * nout
        return
    pl.emit("affine", params, batch * nout, n, batch * nin * nout)


def _batch_strides(shape: tuple[int, ...], st: list[int], out: list[int]) -> list[int]:
    lead = len(out) - len(shape)
    return [0 if k < lead or shape[k - lead] == 1 else st[k - lead] for k in range(len(out))]


def _batch_matmul(pl: Planner, n: Node) -> None:
    a_name, b_name = n.inputs
    sa, sb, out = pl.shapes[a_name], pl.shapes[b_name], pl.shapes[n.outputs[0]]
    sta, stb = cstrides(sa), cstrides(sb)
    ta, tb = n.attrs["transpose_a"], n.attrs["transpose_b"]
    a_ms, a_ks = (sta[-1], sta[-2]) if ta else (sta[-2], sta[-1])
    b_ks, b_ns = (stb[-1], stb[-2]) if tb else (stb[-2], stb[-1])
    kdim = sa[-2] if ta else sa[-1]
    bshape = list(out[:-2])
    ab = _batch_strides(sa[:-2], sta[:-2], bshape)
    bb = _batch_strides(sb[:-2], stb[:-2], bshape)
    size = prod(out)
    pl.emit("batch_matmul", [size, out[-2], out[-1], kdim, pl.off(a_name), pl.off(b_name), pl.off(n.outputs[0]),
                             a_ms, a_ks, b_ks, b_ns, len(bshape)] + bshape + ab + bb, size, n, size * kdim)


def _batch_norm(pl: Planner, n: Node) -> None:
    from nnb.ops.normalization import bn_inputs

    a = n.attrs
    if a["batch_stat"]:
        raise NnbError(f"BatchNormalization '{n.name}' uses batch statistics; the OpenCL backend runs inference "
                       "with the stored mean and variance only")
    idx = bn_inputs(len(n.inputs), a)
    x, y = n.inputs[0], n.outputs[0]
    s = pl.shapes[x]
    axes = [norm_axis(ax, len(s)) for ax in a["axes"] or (1,)]
    pshape = tuple(s[i] if i in axes else 1 for i in range(len(s)))

    def data(key: str, default: float) -> np.ndarray:
        if key not in idx:
            return np.full(pshape, default, np.float32)
        return np.asarray(pl.g.tensors[n.inputs[idx[key]]].data, np.float32).reshape(pshape)

    scale = data("gamma", 1.0) / np.sqrt(data("variance", 1.0) + np.float32(a["eps"]))
    shift = data("beta", 0.0) - data("mean", 0.0) * scale
    offs = []
    for arr in (scale, shift):
        off = pl.lay.reserve(arr.size)
        pl.lay.uploads.append((off, arr.astype(np.float32).reshape(-1)))
        offs.append(off)
    bs = bstrides(pshape, s)
    xs = cstrides(s)
    pl.binary_at(n, "MUL", pl.off(x), offs[0], pl.off(y), list(s), xs, bs)
    pl.binary_at(n, "ADD", pl.off(y), offs[1], pl.off(y), list(s), xs, bs)


PREP = {"copy16", "copy_rows", "copy_strided", "im2col", "pad_rows"}  # launches that only arrange a convolution's input
# ops whose work item i reads only index i of the inputs it may overwrite (others broadcast, never aliased)
PER_INDEX = set(UNARY) | set(BINARY) | {"PReLU", "BatchNormalization"}
HANDLERS: dict[str, Callable[[Planner, Node], None]] = {}
HANDLERS.update({k: _unary for k in UNARY})
HANDLERS.update({k: _binary for k in BINARY})
HANDLERS.update({k: _reduce for k in REDUCE})
HANDLERS.update({k: _pool for k in POOL})
HANDLERS.update({
    "PReLU": _prelu, "Reshape": _same_storage, "Identity": _same_storage, "Transpose": _transpose,
    "Slice": _slice, "Flip": _flip, "Broadcast": _broadcast, "Tile": _tile, "Unpooling": _unpooling,
    "Concatenate": _concatenate, "Split": _split, "Stack": _stack, "Pad": _pad, "GlobalAveragePooling": _gap,
    "Softmax": _softmax, "LogSoftmax": _softmax, "Convolution": _conv, "DepthwiseConvolution": _conv,
    "FusedConv": _conv, "ConvolutionPacked": _conv, "DepthwiseConvolutionPacked": _conv,
    "FusedConvPacked": _conv, "Deconvolution": _deconv, "Affine": _affine, "AffinePacked": _affine,
    "BatchMatmul": _batch_matmul, "BatchNormalization": _batch_norm,
})
# fast paths (nnb/backends/opencl_fast.py registers them): return True when they emitted the launch
FAST_CONV: dict[str, Callable[..., bool]] = {}


def plan_layout(g: Graph, codes: dict[str, int], cpu: bool = True, tiles: Any = None) -> Layout:  # noqa: ANN401
    return Planner(g, codes, cpu=cpu, tiles=tiles).build()
