"""An int8 model's NNB records -> the OpenCL launch list (pure Python, no pyopencl).

The records are exactly those ``nnb convert`` writes (:func:`nnb.emit.nnb_int8.write_int8_nnb`: Q8Quantize,
Q8QConv, Q8Conv, ..., Q8Dequantize and the float islands' usual functions) with the same one-arena plan (int8
tensors at one byte per value), so the device computes the C runtime's steps in the C runtime's memory
layout.  One buffer holds [guard | arena | guard | network inputs | parameters]: int8 tensors and weights
are addressed by byte offsets (``opencl/q8*.cl``), float tensors by element offsets (the float kernels of
the islands, planned by :mod:`nnb.backends.opencl_plan`'s handlers).  The int32 constants (biases,
multipliers, shifts) go at the start of the parameter table, where the launches index them.
"""

from __future__ import annotations

import numpy as np

from nnb.backends.opencl_plan import HANDLERS, Launch, Layout, Planner
from nnb.emit.nnb_int8 import Deployed, Fn, Var
from nnb.errors import NnbError
from nnb.ir import Node
from nnb.ops.registry import prod
from nnb.plan.arena import ArenaPlan

CONV_NPARAMS = 40  # opencl/q8_conv.cl Q8C_NPARAMS


class Int8Layout(Layout):
    """A :class:`Layout` whose parameter table starts with the int32 constants."""

    consts: list[int]
    const_at: dict[str, int]
    boffsets: dict[str, int]  # int8 tensors and weights: byte offsets in the buffer

    def finish(self) -> None:
        flat: list[int] = list(self.consts)
        for ln in self.setup + self.launches:
            ln.p = len(flat)
            flat += [int(v) for v in ln.params]
        arr = np.asarray(flat or [0], dtype=np.int64)
        self.params = arr.astype(np.int32)
        self.fits_int32 = bool(arr.max() <= 2**31 - 1 and arr.min() >= -2**31 and self.floats * 4 < 2**31)


def _conv_geom(a: dict, xs: tuple[int, ...], ws: tuple[int, ...] | list[int], ba: int, nsp: int) -> tuple:
    """A 1-D or 2-D convolution's input, kernel and output planes, 1-D as one row:
    (h, w, kh, kw, pad, stride, dilation, oh, ow)."""
    h, wd = (xs[ba + 1], xs[ba + 2]) if nsp == 2 else (1, xs[ba + 1])
    kh, kw = (ws[2], ws[3]) if nsp == 2 else (1, ws[2])
    pad, stride, dil = list(a["pad"]), list(a["stride"]), list(a["dilation"])
    if nsp == 1:
        pad, stride, dil = [0] + pad, [1] + stride, [1] + dil
    oh = (h + 2 * pad[0] - (dil[0] * (kh - 1) + 1)) // stride[0] + 1
    ow = (wd + 2 * pad[1] - (dil[1] * (kw - 1) + 1)) // stride[1] + 1
    return h, wd, kh, kw, pad, stride, dil, oh, ow


class Int8Planner:
    """Plans one deployed int8 model (fixed shapes: one batch size)."""

    def __init__(self, d: Deployed, ap: ArenaPlan, codes: dict[str, int], cpu: bool = True) -> None:
        if codes.get("Q8C_NPARAMS") != CONV_NPARAMS or codes.get("Q8C_VPARAMS") != CONV_NPARAMS + 4:
            raise NnbError("opencl/q8_conv.cl is missing or its parameter layout changed (Q8C_NPARAMS)")
        self.d, self.ap, self.k = d, ap, codes
        self.lay = Int8Layout()
        self.lay.consts, self.lay.const_at, self.lay.boffsets = [], {}, {}
        self._scratch = (0, 0)  # (byte offset, bytes)
        self._pad = (0, 0)
        # the float islands' handlers work on a float planner sharing this layout
        self.fl = Planner(d.graph(), codes, arena=ap, cpu=cpu)
        self.fl.lay = self.lay
        self.fl.shapes = {n: tuple(v.shape) for n, v in d.vars.items()}

    # ---- layout -------------------------------------------------------------------------------
    def build(self) -> Int8Layout:
        d, lay, ap = self.d, self.lay, self.ap
        guard = self.guard = max(self.k.get("DWV_GUARD", 0), self.k.get("CV_GUARD", 0), 32)
        lay.reserve(guard)
        base = lay.reserve(ap.arena_bytes // 4 + 1)
        lay.arena_floats = base
        lay.reserve(guard)
        for name, off in ap.offsets.items():
            v = d.vars.get(name)
            if v is None or v.data is not None:
                continue
            self._place(v, 4 * base + off)
        for name in d.inputs:
            v = d.vars[name]
            self._place(v, 4 * lay.reserve(prod(v.shape)))
            lay.inputs.append((name, lay.offsets[name], tuple(v.shape)))
        for v in d.vars.values():
            if v.data is None:
                if v.name not in lay.offsets and v.name not in lay.boffsets:  # never read: a slot of its own
                    self._place(v, 4 * lay.reserve(prod(v.shape)))
            elif v.kind == "i32":
                lay.const_at[v.name] = len(lay.consts)
                lay.consts += [int(x) for x in np.asarray(v.data, np.int64).reshape(-1)]
            elif v.kind == "q8":
                raw = self._weight_bytes(v)
                at = lay.reserve((raw.size + 3) // 4)
                lay.boffsets[v.name] = 4 * at
                padded = np.zeros((raw.size + 3) // 4 * 4, np.int8)
                padded[:raw.size] = raw
                lay.uploads.append((at, padded.view(np.float32)))
            else:
                at = lay.reserve(prod(v.shape))
                lay.offsets[v.name] = at
                lay.uploads.append((at, np.ascontiguousarray(v.data, np.float32).reshape(-1)))
        for k, f in enumerate(d.fns):
            handler = getattr(self, f"_{f.op}", None)
            if handler is not None:
                handler(f)
            else:
                self._island(k, f)
        for name in d.outputs:
            if name not in lay.offsets:
                raise NnbError(f"int8 OpenCL: network output '{name}' is not a float tensor")
            lay.outputs.append((name, lay.offsets[name], tuple(d.vars[name].shape)))
        lay.reserve(guard)
        lay.finish()
        return lay

    def _place(self, v: Var, byte_off: int) -> None:
        if v.kind == "q8":
            self.lay.boffsets[v.name] = byte_off
        else:
            if byte_off % 4:
                raise NnbError(f"int8 OpenCL: float tensor '{v.name}' at byte {byte_off} is not float-aligned")
            self.lay.offsets[v.name] = byte_off // 4

    def _weight_bytes(self, v: Var) -> np.ndarray:
        """An int8 weight as the NNB stores it (Affine weights output-major)."""
        a = np.asarray(v.data, np.int8)
        if v.axis == 1:  # Q8Affine's weight (in, out...): output-major
            a = a.reshape(a.shape[0], -1).T
        return np.ascontiguousarray(a).reshape(-1)

    def b(self, name: str) -> int:
        return self.lay.boffsets[name]

    def c(self, name: str) -> int:
        return self.lay.const_at[name]

    def emit(self, kernel: str, params: list[int], n: int, node: str, macs: int = 0) -> None:
        if n > 0:
            self.lay.launches.append(Launch(kernel, params, n, node, macs))

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.d.vars[name].shape)

    def zero(self, name: str) -> int:
        return int(self.d.vars[name].zero)

    # ---- records --------------------------------------------------------------------------------
    def _Q8Quantize(self, f: Fn) -> None:  # noqa: N802 - record names
        x, t = f.inputs
        y = f.outputs[0]
        n = prod(self.shape(y))
        self.emit("q8_quantize", [n, self.lay.offsets[x], self.lay.offsets[t], self.b(y)], n, y)

    def _Q8Dequantize(self, f: Fn) -> None:  # noqa: N802
        x, t = f.inputs
        y = f.outputs[0]
        n = prod(self.shape(y))
        self.emit("q8_dequantize", [n, self.b(x), self.lay.offsets[t], self.lay.offsets[y]], n, y)

    def _Q8Conv(self, f: Fn) -> None:  # noqa: N802
        a, y = f.attrs, f.outputs[0]
        x, w, bias, mult, shift = f.inputs[:5]
        xs, ws, ys = self.shape(x), self.shape(w), self.shape(y)
        ba = int(a["base_axis"])
        nsp = len(ws) - 2
        if nsp not in (1, 2):
            raise NnbError(f"int8 OpenCL: a {nsp}-D convolution has no int8 kernel")
        n = prod(xs[:ba])
        c, o = xs[ba], ws[0]
        h, wd, kh, kw, pad, stride, dil, oh, ow = _conv_geom(a, xs, ws, ba, nsp)
        oh0, ow0 = oh, ow  # the output planes (a fused pool reads them)
        if kh == kw == 1 and pad == [0, 0] and stride == [1, 1]:  # 1x1: each plane one row (long vector rows)
            h, wd, oh, ow = 1, h * wd, 1, oh * ow
        res = bool(a.get("residual"))
        rq = self.c(f.inputs[6]) if res else -1
        p = [0, self.b(x), self.b(w), self.c(bias), self.c(mult), self.c(shift), self.b(y),
             n, c, h, wd, o, kh, kw, oh, ow, pad[0], pad[1], stride[0], stride[1], dil[0], dil[1], int(a["group"]),
             self.zero(x), self.zero(y), int(a["act_min"]), int(a["act_max"]),
             self.b(f.inputs[5]) if res else -1, self.zero(f.inputs[5]) if res else 0, rq, rq + o if res else -1]
        p += [0, oh, ow, 1, 1, 1, 1, 0, 0]
        pool = a.get("pool") == "max"
        if pool:  # the convolution into scratch, then q8_pool
            p[6] = self.scratch(n * o * oh * ow)
        og = o // int(a["group"])
        macs = n * o * oh * ow * ws[1] * kh * kw
        st = stride[1]
        if st in (1, 2) and (stride[0] == st or oh == 1):  # 16 pixels per work item, no bounds checks
            flat = [0, 0, 0]
            reach = 16 * st + dil[1] * (kw - 1) + 16  # bytes a row's last block may load past its first pixel
            if st == 1 and ow < 16:  # narrow rows: the padded plane as one row (opencl/q8_conv.cl, flat form)
                hp, wp = h + 2 * pad[0], wd + 2 * pad[1]
                hp += (reach + wp - 1) // wp + 1  # rows to spare for the last block's loads
                xp = self.pad_scratch(n * c * hp * wp)
                self.emit("q8_pad", [n * c * hp, self.b(x), xp, h, wd, hp, wp, pad[0], pad[1], self.zero(x)],
                          n * c * hp, y)
                flat = [wp, ow, oh]
                p[1], p[9], p[10], p[14], p[15], p[16], p[17] = xp, hp, wp, 1, oh * wp, 0, 0
            elif pad != [0, 0] or reach > 4 * self.guard:  # planes padded with the zero point
                hp, wp = h + 2 * pad[0], (ow + 15) // 16 * 16 * st + dil[1] * (kw - 1) + 16
                xp = self.pad_scratch(n * c * hp * wp)
                self.emit("q8_pad", [n * c * hp, self.b(x), xp, h, wd, hp, wp, pad[0], pad[1], self.zero(x)],
                          n * c * hp, y)
                p[1], p[9], p[10], p[16], p[17] = xp, hp, wp, 0, 0
            ocb = 8 if og % 8 == 0 else 1
            p[0] = n * (o // ocb) * p[14] * ((p[15] + 15) // 16)
            # weights re-laid [o / 8][c / group][kh][kw][8]: one load per tap for the 8 channels
            p += [self.relaid(w, o, ws[1] * kh * kw) if ocb == 8 else 0] + flat
            kernel = "q8_conv_r8" if ocb == 8 else "q8_conv_v1"
            self.emit(kernel + ("s2" if st == 2 else ""), p, p[0], y, macs)
        else:
            ocb = 8 if og % 8 == 0 else 4 if og % 4 == 0 else 1
            p[0] = n * (o // ocb) * oh * ((ow + 3) // 4)
            self.emit(f"q8_conv_t{ocb}", p, p[0], y, macs)
        if pool:
            self._fused_pool(a, nsp, ys, p[6], y, oh0, ow0)

    def _Q8QConv(self, f: Fn) -> None:  # noqa: N802
        """Q8QConv (nnb/emit/nnb_int8_qconv.py): the float input quantized into a region of its own (device
        memory is not the arena's concern: the whole batch at once), then Q8Conv's launches on it."""
        x, thr, grid = f.inputs[:3]
        g = self.d.vars[grid]
        xq = f"{x}@qconv"
        self.d.vars[xq] = Var(xq, tuple(self.shape(x)), "q8", None, g.scales, g.zero)
        n = prod(self.shape(x))
        self.lay.boffsets[xq] = 4 * self.lay.reserve((n + 3) // 4)
        self.emit("q8_quantize", [n, self.lay.offsets[x], self.lay.offsets[thr], self.b(xq)], n, xq)
        self._Q8Conv(Fn("Q8Conv", [xq, *f.inputs[3:]], f.outputs, f.attrs))

    def _fused_pool(self, a: dict, nsp: int, ys: tuple[int, ...], src: int, y: str, oh: int, ow: int) -> None:
        """q8_pool of a convolution's fused max pool: the ``oh`` x ``ow`` planes at ``src`` into ``y``."""
        k, s, pp = list(a["pool_kernel"]), list(a["pool_stride"]), list(a["pool_pad"])
        if nsp == 1 or len(k) == 1:
            k, s, pp = [1] + k[-1:], [1] + s[-1:], [0] + pp[-1:]
        ph, pw = (ys[-2] if nsp == 2 else 1), ys[-1]
        total = prod(ys)
        self.emit("q8_pool", [total, src, self.b(y), oh, ow, ph, pw, k[0], k[1], s[0], s[1], pp[0], pp[1],
                              0, 1, 0], total, y)

    def relaid(self, w: str, o: int, k: int) -> int:
        """Byte offset of conv weight ``w`` (o, k...) uploaded again as [o / 8][k][8]."""
        raw = self._weight_bytes(self.d.vars[w]).reshape(o // 8, 8, k).transpose(0, 2, 1).reshape(-1)
        at = self.lay.reserve((raw.size + 3) // 4)
        padded = np.zeros((raw.size + 3) // 4 * 4, np.int8)
        padded[:raw.size] = raw
        self.lay.uploads.append((at, padded.view(np.float32)))
        return 4 * at

    def pad_scratch(self, nbytes: int) -> int:
        """A byte region for a convolution's input padded with its zero point (one, grown as needed)."""
        if nbytes > self._pad[1]:
            self._pad = (4 * self.lay.reserve((nbytes + 3) // 4), nbytes)
        return self._pad[0]

    def scratch(self, nbytes: int) -> int:
        """A byte region for a pooled convolution's full output (one, grown as needed)."""
        if nbytes > self._scratch[1]:
            self._scratch = (4 * self.lay.reserve((nbytes + 3) // 4), nbytes)
        return self._scratch[0]

    def _Q8Affine(self, f: Fn) -> None:  # noqa: N802
        x, w, bias, mult, shift = f.inputs
        y = f.outputs[0]
        a, xs, ws = f.attrs, self.shape(x), self.shape(w)
        ba = int(a["base_axis"])
        n, k, o = prod(xs[:ba]), prod(xs[ba:]), prod(ws[1:])
        self.emit("q8_affine", [n * o, self.b(x), self.b(w), self.c(bias), self.c(mult), self.c(shift), self.b(y),
                                n, k, o, self.zero(x), self.zero(y), int(a["act_min"]), int(a["act_max"])],
                  n * o, y, n * k * o)

    def _lut(self, f: Fn, geom: list[int], res: bool, y_at: int) -> None:
        """One q8_lut_conv launch (opencl/q8_lut.cl): geometry [n, c, h, w, o, kh, kw, oh, ow, pad_h, pad_w,
        stride_h, stride_w, dil_h, dil_w, group]; the codes, dictionary and rq come from the parameter table."""
        x, codes, dct, rq = f.inputs[:4]
        y = f.outputs[0]
        a = f.attrs
        dv = self.d.vars[dct]
        ent = np.asarray(dv.data, np.int64)
        mag = np.abs(ent[ent != 0])
        pow2 = int(bool(np.all((mag & (mag - 1)) == 0)))
        n, c, h, w, o, kh, kw, oh, ow = geom[:9]
        total = n * o * oh * ow
        p = [total, self.b(x), self.c(codes), self.c(dct), self.c(rq), y_at, *geom, self.zero(x), self.zero(y),
             int(a["act_min"]), int(a["act_max"]),
             self.b(f.inputs[4]) if res else -1, self.zero(f.inputs[4]) if res else 0,
             self.c(f.inputs[5]) if res else -1, int(dv.shape[1]), int(a["lut_bits"]), pow2]
        if len(p) != self.k.get("Q8L_NPARAMS", -1):
            raise NnbError("opencl/q8_lut.cl is missing or its parameter layout changed (Q8L_NPARAMS)")
        kernel = "q8_lut_conv"
        if ow >= 4:  # 4 pixels of a row per work item, each tap's code decoded once for them
            kernel, p[0] = "q8_lut_conv4", n * o * oh * ((ow + 3) // 4)
        self.emit(kernel, p, p[0], y, total * (c // geom[15]) * kh * kw)

    def _Q8LutConv(self, f: Fn) -> None:  # noqa: N802
        a, x, y = f.attrs, f.inputs[0], f.outputs[0]
        xs, ws, ys = self.shape(x), [int(v) for v in a["w_shape"]], self.shape(y)
        ba, nsp = int(a["base_axis"]), len(ws) - 2
        if nsp not in (1, 2):
            raise NnbError(f"int8 OpenCL: a {nsp}-D LUT-Q convolution has no int8 kernel")
        n, c, o = prod(xs[:ba]), xs[ba], ws[0]
        h, wd, kh, kw, pad, stride, dil, oh, ow = _conv_geom(a, xs, ws, ba, nsp)
        pool = a.get("pool") == "max"
        y_at = self.scratch(n * o * oh * ow) if pool else self.b(y)
        self._lut(f, [n, c, h, wd, o, kh, kw, oh, ow, pad[0], pad[1], stride[0], stride[1], dil[0], dil[1],
                      int(a["group"])], bool(a.get("residual")), y_at)
        if pool:
            self._fused_pool(a, nsp, ys, y_at, y, oh, ow)

    def _Q8LutAffine(self, f: Fn) -> None:  # noqa: N802
        a, x = f.attrs, f.inputs[0]
        xs, ws = self.shape(x), [int(v) for v in a["w_shape"]]
        ba = int(a["base_axis"])
        n, k, o = prod(xs[:ba]), prod(xs[ba:]), prod(ws[1:])
        self._lut(f, [n, k, 1, 1, o, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1], False, self.b(f.outputs[0]))

    def _pool(self, f: Fn, average: bool) -> None:
        x, y = f.inputs[0], f.outputs[0]
        a, xs, ys = f.attrs, self.shape(x), self.shape(y)
        k = list(a["kernel"])
        nsp = len(k)
        if nsp not in (1, 2):
            raise NnbError(f"int8 OpenCL: {nsp}-D pooling has no int8 kernel")
        s, pd = list(a["stride"]), list(a["pad"])
        if nsp == 1:
            k, s, pd = [1] + k, [1] + s, [0] + pd
        h, w = (xs[-2], xs[-1]) if nsp == 2 else (1, xs[-1])
        oh, ow = (ys[-2], ys[-1]) if nsp == 2 else (1, ys[-1])
        total = prod(ys)
        self.emit("q8_pool", [total, self.b(x), self.b(y), h, w, oh, ow, k[0], k[1], s[0], s[1], pd[0], pd[1],
                              int(average), int(bool(a.get("including_pad", True))), self.zero(x)], total, y)

    def _Q8MaxPool(self, f: Fn) -> None:  # noqa: N802
        self._pool(f, False)

    def _Q8AvgPool(self, f: Fn) -> None:  # noqa: N802
        self._pool(f, True)

    def _Q8GlobalAvgPool(self, f: Fn) -> None:  # noqa: N802
        x, mult, shift = f.inputs
        y = f.outputs[0]
        xs = self.shape(x)
        planes = xs[0] * xs[1]
        cm, cs = self.lay.consts[self.c(mult)], self.lay.consts[self.c(shift)]
        self.emit("q8_gap", [planes, self.b(x), self.b(y), prod(xs[2:]), self.zero(x), cm, cs, self.zero(y)],
                  planes, y)

    def _Q8Add(self, f: Fn) -> None:  # noqa: N802
        a_, b_, mult, shift = f.inputs
        y = f.outputs[0]
        n = prod(self.shape(y))
        m0, s0 = self.c(mult), self.c(shift)
        ms = [v for k in range(3) for v in (self.lay.consts[m0 + k], self.lay.consts[s0 + k])]
        self.emit("q8_add", [n, self.b(a_), self.b(b_), self.b(y), self.zero(a_), self.zero(b_), *ms, self.zero(y),
                             int(f.attrs["act_min"]), int(f.attrs["act_max"])], n, y)

    def _Q8Mul(self, f: Fn) -> None:  # noqa: N802
        a_, b_, mult, shift = f.inputs
        y = f.outputs[0]
        n = prod(self.shape(y))
        self.emit("q8_mul", [n, self.b(a_), self.b(b_), self.b(y), self.zero(a_), self.zero(b_),
                             self.lay.consts[self.c(mult)], self.lay.consts[self.c(shift)], self.zero(y),
                             int(f.attrs["act_min"]), int(f.attrs["act_max"])], n, y)

    def _Q8Concat(self, f: Fn) -> None:  # noqa: N802
        xs, (mult, shift) = f.inputs[:-2], f.inputs[-2:]
        y = f.outputs[0]
        ys, axis = self.shape(y), int(f.attrs["axis"])
        outer, y_inner = prod(ys[:axis]), prod(ys[axis:])
        at = 0
        for j, x in enumerate(xs):
            inner = prod(self.shape(x)[axis:])
            self.emit("q8_rescale", [outer * inner, self.b(x), self.b(y) + at, inner, y_inner, self.zero(x),
                                     self.lay.consts[self.c(mult) + j], self.lay.consts[self.c(shift) + j],
                                     self.zero(y)], outer * inner, y)
            at += inner

    def _Q8Clamp(self, f: Fn) -> None:  # noqa: N802
        x, y = f.inputs[0], f.outputs[0]
        n = prod(self.shape(y))
        self.emit("q8_clamp8", [n, self.b(x), self.b(y), int(f.attrs["act_min"]), int(f.attrs["act_max"])], n, y)

    # ---- float islands: the float backend's handlers on the island's float tensors ------------
    def _island(self, k: int, f: Fn) -> None:
        handler = HANDLERS.get(f.op)
        if f.op.startswith("Q8"):  # an int8 record without an OpenCL kernel
            raise NnbError(f"the OpenCL backend has no kernel for the int8 record {f.op}; use --backend c or intsim")
        if handler is None or f.node is None:
            raise NnbError(f"the OpenCL backend has no kernel for the float island '{f.op}'")
        for t in f.inputs + f.outputs:
            if t not in self.lay.offsets:
                raise NnbError(f"int8 OpenCL: island {f.op} reads or writes '{t}', which is not a float tensor")
        node = Node(f"{k}_{f.op}", f.op, list(f.inputs), list(f.outputs), dict(f.node.attrs))
        handler(self.fl, node)
