"""Fast-path launches for the OpenCL backend (``opencl/conv_fast.cl``, ``affine_fast`` in ``opencl/affine.cl``).

Each function gets the simple path's parameters and either emits its own
launch (plus setup launches that re-lay the weights on the device once) and
returns True, or returns False to leave the simple kernel in place.
"""

from __future__ import annotations

from nnb.backends.opencl_plan import FAST_CONV, Launch, Planner, cstrides
from nnb.ir import Node

BLOCK = 16  # output channels per register tile (float16)


def _relayout(pl: Planner, node: Node, src: int, shape: list[int], strides: list[int], opad: int) -> int:
    """A setup launch copying weights (read with ``strides`` over ``shape`` = [..., O]) to [..., O padded]."""
    rows = 1
    for d in shape[:-1]:
        rows *= d
    dst = pl.lay.reserve(rows * opad)
    padded = list(shape[:-1]) + [opad]
    ys = cstrides(tuple(padded))
    n = rows * shape[-1]
    pl.lay.setup.append(Launch("copy_strided", [n, len(shape), src, dst] + list(shape) + list(strides) + ys, n,
                               node.name))
    return dst


def conv_fast(pl: Planner, n: Node, params: list[int], nsp: int, cl_last: bool, dw: bool, group: int, cin: int,
              cout: int) -> bool:
    k = pl.k
    if nsp != 2 or cl_last:
        return False
    ksz = params[k["C_K"]:k["C_K"] + 2]
    if params[k["C_POOL"]] != 0:
        return group == 1 and cout >= 8 and _conv_then_pool(pl, n, params, cin, cout)
    if (dw or group == cin > 1) and ksz[0] * ksz[1] <= 49:  # one input channel per group; weights (O, [1,] KH, KW)
        w_in, pads = params[k["C_IN"] + 1], params[k["C_PAD"]:k["C_PAD"] + 2]
        unit = params[k["C_STRIDE"]:k["C_STRIDE"] + 2] == [1, 1] and params[k["C_DIL"]:k["C_DIL"] + 2] == [1, 1]
        reach = max(pads[0], ksz[0] - 1 - pads[0]) * w_in + max(pads[1], ksz[1] - 1 - pads[1]) + 16
        contiguous = params[k["C_XS"] + 2:k["C_XS"] + 4] == [w_in, 1] and params[k["C_YS"] + 3] == 1 and \
            params[k["C_YS"] + 2] == params[k["C_PO"] + 1] and params[k["C_PO"]:k["C_PO"] + 2] == \
            params[k["C_IN"]:k["C_IN"] + 2]
        if pl.cpu and unit and contiguous and reach <= pl.k["DWV_GUARD"]:  # same-size output, shifted loads
            pl.emit("dwconv_vec", params, params[k["C_BATCH"]] * cout, n)
        elif pl.cpu:
            pl.emit("dwconv_plane", params, params[k["C_BATCH"]] * cout, n)
        else:
            pl.emit("dwconv_fast", params, params[k["C_BATCH"]] * cout * params[k["C_PO"]], n)
        return True
    if group != 1 or cout < 8:
        return False
    params = list(params)
    if ksz == [1, 1] and params[k["C_STRIDE"]:k["C_STRIDE"] + 2] == [1, 1] and \
            params[k["C_PAD"]:k["C_PAD"] + 2] == [0, 0]:  # pointwise: the whole plane is one row
        hw = params[k["C_IN"]] * params[k["C_IN"] + 1]
        params[k["C_IN"]:k["C_IN"] + 2] = [1, hw]
        params[k["C_CO"]:k["C_CO"] + 2] = [1, hw]
        params[k["C_PO"]:k["C_PO"] + 2] = [1, hw]
    ws = params[k["C_WS"]:k["C_WS"] + 5]
    ow = params[k["C_PO"] + 1]
    px, nb = tile(cout, ow)
    name = f"conv_fast_{px}x{nb}"
    opad = (cout + BLOCK * nb - 1) // (BLOCK * nb) * (BLOCK * nb)
    wt = _relayout(pl, n, params[k["C_W"]], [cin, ksz[0], ksz[1], cout], [ws[1], ws[2], ws[3], ws[0]], opad)
    nob, nxb = opad // (BLOCK * nb), (ow + px - 1) // px
    xt = 1  # tiles per work item: more did not help on PoCL (kept as a parameter for other devices)
    nxg = (nxb + xt - 1) // xt
    oh = params[k["C_PO"]]
    items = params[k["C_BATCH"]] * oh * nxg * nob
    pl.emit(name, params + [wt, opad, nob, nxb, xt], items, n)
    return True


def _conv_then_pool(pl: Planner, n: Node, params: list[int], cin: int, cout: int) -> bool:
    """FusedConv with pooling: the fast convolution into a scratch region, then pool2d, the residual, the activation."""
    k = pl.k
    batch = params[k["C_BATCH"]]
    co = params[k["C_CO"]:k["C_CO"] + 2]
    po = params[k["C_PO"]:k["C_PO"] + 2]
    size_conv, size_out = batch * cout * co[0] * co[1], batch * cout * po[0] * po[1]
    res, act, y = params[k["C_R"]], params[k["C_ACT"]], params[k["C_Y"]]
    scratch = pl.pool_scratch(size_conv + (size_out + 16 if res >= 0 else 0))
    conv = list(params)
    conv[k["C_POOL"]] = 0
    conv[k["C_R"]] = -1
    conv[k["C_ACT"]] = k["ACT_NONE"]
    conv[k["C_Y"]] = scratch
    conv[k["C_N_OUT"]] = size_conv
    conv[k["C_PO"]:k["C_PO"] + 3] = [co[0], co[1], 1]
    conv[k["C_YS"]:k["C_YS"] + 5] = [cout * co[0] * co[1], co[0] * co[1], co[1], 1, 0]
    if not conv_fast(pl, n, conv, 2, False, False, 1, cin, cout):
        return False
    pooled = scratch + size_conv + 16 if res >= 0 else y
    pl.emit("pool2d", [params[k["C_POOL"]], size_out, scratch, pooled, batch * cout, 1, 2, params[k["C_PINCL"]]]
            + co + po + params[k["C_PK"]:k["C_PK"] + 2] + params[k["C_PS"]:k["C_PS"] + 2]
            + params[k["C_PP"]:k["C_PP"] + 2], size_out, n)
    if res >= 0:
        pl.emit("binary", [k["B_ADD"], size_out, 1, pooled, res, y, size_out, 1, 1], size_out, n)
    if act != k["ACT_NONE"]:
        code = k["U_RELU"] if act == k["ACT_RELU"] else k["U_RELU6"]
        pl.emit("unary", [code, size_out, y, y, 0, 0], size_out, n)
    return True


def tile(cout: int, ow: int) -> tuple[int, int]:
    """(pixels, 16-channel blocks) of a register tile: 8 pixels x 32 channels when there are that many."""
    return (8, 2) if cout >= 32 else (8, 1)


def affine_fast(pl: Planner, n: Node, params: list[int]) -> bool:
    """Affine with at least 16 outputs: weights re-laid as [in][out padded] on the device, 4 x 16 register tiles."""
    batch, nin, nout, x, w, w_is, w_os, b, y = params
    if nout < 16:
        return False
    opad = (nout + BLOCK - 1) // BLOCK * BLOCK
    wt = _relayout(pl, n, w, [nin, nout], [w_is, w_os], opad)
    rows = (batch + 3) // 4
    pl.emit("affine_fast", [batch, nin, nout, x, wt, opad, b, y, rows], rows * (opad // BLOCK), n)
    return True


FAST_CONV["conv"] = conv_fast
FAST_CONV["affine"] = affine_fast
