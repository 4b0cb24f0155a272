"""Fast-path launches for the OpenCL backend (``opencl/conv_fast.cl``, ``affine_fast`` in ``opencl/affine.cl``).

Each function gets the simple path's parameters and either emits its own
launch (plus setup launches that re-lay the weights on the device once) and
returns True, or returns False to leave the simple kernel in place.
"""

from __future__ import annotations

from nnb.backends.opencl_local import affine_local, conv_local
from nnb.backends.opencl_plan import FAST_CONV, Launch, Planner, cstrides
from nnb.ir import Node
from nnb.ops.registry import prod

BLOCK = 16  # output channels per register tile (float16)
IM2COL_MAX = 1 << 22  # floats of an im2col region (narrow convolutions)


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
    if pl.tiles is not None and conv_local(pl, n, params, nsp, dw, group, cin, cout):  # GPU form (opencl_local)
        return True
    if nsp != 2 or cl_last:
        return False
    ksz = params[k["C_K"]:k["C_K"] + 2]
    if params[k["C_POOL"]] != 0:
        return group == 1 and (cout >= 8 or pl.cpu) and _conv_then_pool(pl, n, params, cin, cout)
    if (dw or group == cin > 1) and ksz[0] * ksz[1] <= 49:  # one input channel per group; weights (O, [1,] KH, KW)
        w_in, pads = params[k["C_IN"] + 1], params[k["C_PAD"]:k["C_PAD"] + 2]
        unit = params[k["C_STRIDE"]:k["C_STRIDE"] + 2] == [1, 1] and params[k["C_DIL"]:k["C_DIL"] + 2] == [1, 1]
        reach = max(pads[0], ksz[0] - 1 - pads[0]) * w_in + max(pads[1], ksz[1] - 1 - pads[1]) + 16
        contiguous = params[k["C_XS"] + 2:k["C_XS"] + 4] == [w_in, 1] and params[k["C_YS"] + 3] == 1 and \
            params[k["C_YS"] + 2] == params[k["C_PO"] + 1] and params[k["C_PO"]:k["C_PO"] + 2] == \
            params[k["C_IN"]:k["C_IN"] + 2]
        if pl.cpu and unit and contiguous and reach <= pl.k["DWV_GUARD"]:  # same-size output, shifted loads
            if ksz == [3, 3]:  # DW3_PL planes per work item
                pl.emit("dwconv3_vec", params, params[k["C_BATCH"]] * -(-cout // k["DW3_PL"]), n)
            else:
                pl.emit("dwconv_vec", params, params[k["C_BATCH"]] * cout, n)
        elif pl.cpu:
            pl.emit("dwconv_plane", params, params[k["C_BATCH"]] * cout, n)
        else:
            pl.emit("dwconv_fast", params, params[k["C_BATCH"]] * cout * params[k["C_PO"]], n)
        return True
    if group != 1:
        return False
    if pl.cpu and dw3_pointwise(pl, n, params, cin, cout):  # the depthwise launch before it and this one as one
        return True
    if pl.cpu and conv_col(pl, n, params, cin, cout):  # narrow rows: patches gathered per image, one launch
        return True
    if pl.cpu and conv_vec(pl, n, params, cin, cout):  # any number of output channels (blocks of 8, zero-padded)
        return True
    if cout < 8:
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


def conv_vec(pl: Planner, n: Node, params: list[int], cin: int, cout: int) -> bool:
    """``opencl/conv_vec.cl`` (CPU devices): vectors along the output row, the input zero-padded once per run.

    Takes stride 1 or 2, dilation 1, rows of unit stride; returns False for anything else."""
    k = pl.k
    g2 = lambda key: params[k[key]:k[key] + 2]  # noqa: E731
    stride, dil, pad, ksz = g2("C_STRIDE"), g2("C_DIL"), g2("C_PAD"), g2("C_K")
    if dil != [1, 1] or stride not in ([1, 1], [2, 2]) or params[k["C_POOL"]] != 0:
        return False
    xs, ys = params[k["C_XS"]:k["C_XS"] + 4], params[k["C_YS"]:k["C_YS"] + 4]
    if xs[3] != 1 or ys[3] != 1:
        return False
    s = stride[0]
    batch = params[k["C_BATCH"]]
    h, w = g2("C_IN")
    oh, ow = g2("C_PO")
    x_off, xn, xc, xh = params[k["C_X"]], xs[0], xs[1], xs[2]
    params = list(params)
    if ksz == [1, 1] and s == 1 and pad == [0, 0] and xh == w and ys[2] == ow:  # pointwise: one row per plane
        w, h, ow, oh = h * w, 1, oh * ow, 1
        params[k["C_PO"]:k["C_PO"] + 2] = [1, ow]
        xh = w
    if pad != [0, 0]:  # a zero-padded copy of the input, borders zero from the upload on
        hp, wp = h + 2 * pad[0], w + 2 * pad[1]
        xp = pl.lay.reserve(batch * cin * hp * wp + k["CV_GUARD"])
        if xn == cin * xc:  # planes at one stride: a row per work item, vector copies
            rows = batch * cin * h
            pl.emit("pad_rows", [rows, h, w, x_off, xp + pad[0] * wp + pad[1], xc, xh, hp * wp, wp], rows, n)
        else:
            pl.copy(n, x_off, xp + pad[0] * wp + pad[1], [batch, cin, h, w], [xn, xc, xh, 1],
                    [cin * hp * wp, hp * wp, wp, 1])
        x_off, xn, xc, xh, w = xp, cin * hp * wp, hp * wp, wp, wp
    vw = 8 if ow <= 8 else 16
    nseg = (ow + vw - 1) // vw
    ws = params[k["C_WS"]:k["C_WS"] + 4]
    taps = cin * ksz[0] * ksz[1]
    narrow = ow < 0.75 * nseg * vw and batch * taps * oh * ow <= IM2COL_MAX
    if narrow and ws[1:3] == [ksz[0] * ws[2], ksz[1] * ws[3]]:
        # narrow rows (most lanes idle): the patches as rows of the whole plane (im2col), then a pointwise GEMM
        col = pl.lay.reserve(batch * taps * oh * ow + k["CV_GUARD"])
        rows = batch * taps
        pl.emit("im2col", [rows, x_off, col, cin, ksz[0], ksz[1], oh, ow, xn, xc, xh, s], rows, n)
        x_off, xn, xc, xh, w, s = col, taps * oh * ow, oh * ow, oh * ow, oh * ow, 1
        ow, oh, cin, ksz = oh * ow, 1, taps, [1, 1]
        ws = [ws[0], ws[3], 0, 0]
        params[k["C_PO"]:k["C_PO"] + 2] = [1, ow]
        params[k["C_CIN"]], params[k["C_K"]:k["C_K"] + 2] = taps, [1, 1]
        vw = 16
        nseg = (ow + vw - 1) // vw
    reach = (nseg - 1) * vw * s + ksz[1] - 1 + (vw - 1 if s == 1 else 2 * vw - 1)
    if reach - (w - 1) > k["CV_GUARD"]:
        return False
    ot, ns = k["CV_OT"], k["CV_NS"]
    nob = (cout + ot - 1) // ot
    wt = _relayout_blocks(pl, n, params[k["C_W"]], cin, cout, ksz, ws, ot)
    ng = (oh * nseg + ns - 1) // ns
    form = "s"  # any kernel size; pointwise and 3 x 3 forms with the tap loops resolved at compile time
    if ksz == [1, 1] and (vw == 16 or s == 2):
        form = "p"
    elif ksz == [3, 3]:
        form = "t"
    pl.emit(f"conv_v{vw}_{form}{s}", params + [x_off, xn, xc, xh, wt, nob, nseg, ng], batch * ng * nob, n)
    return True


def dw3_pointwise(pl: Planner, n: Node, params: list[int], cin: int, cout: int) -> bool:
    """``dw3_pw`` (``opencl/conv_fused.cl``): a pointwise convolution reading the output of the ``dwconv3_vec``
    launched just before it takes that launch's place, both in one launch of one work item per image.

    Only when nothing else reads the depthwise output, each image's tile fits the kernel's private array, and the
    output either misses the depthwise input or lies exactly over it image by image (a work item reads its whole
    image before it writes)."""
    k = pl.k
    launches = pl.lay.launches
    if not launches or launches[-1].kernel != "dwconv3_vec":
        return False
    dwp = launches[-1].params
    g2 = lambda ps, key: ps[k[key]:k[key] + 2]  # noqa: E731
    batch, (h, w) = params[k["C_BATCH"]], g2(params, "C_IN")
    hw, nv = h * w, -(-h * w // 16)
    xs, ys = params[k["C_XS"]:k["C_XS"] + 4], params[k["C_YS"]:k["C_YS"] + 4]
    if g2(params, "C_K") != [1, 1] or g2(params, "C_STRIDE") != [1, 1] or g2(params, "C_PAD") != [0, 0] \
            or g2(params, "C_DIL") != [1, 1] or params[k["C_POOL"]] != 0 or params[k["C_R"]] != -1 \
            or g2(params, "C_PO") != [h, w] or xs[1:] != [hw, w, 1] or ys[1:] != [hw, w, 1]:
        return False
    if dwp[k["C_Y"]] != params[k["C_X"]] or dwp[k["C_R"]] != -1 or dwp[k["C_BATCH"]] != batch \
            or dwp[k["C_CIN"]] != cin or dwp[k["C_COUT"]] != cin or dwp[k["C_YS"]:k["C_YS"] + 4] != xs \
            or dwp[k["C_XS"] + 1:k["C_XS"] + 4] != [hw, w, 1] or g2(dwp, "C_IN") != [h, w] \
            or cin * nv > k["FP_TILE"]:
        return False
    dw_node = next(d for d in pl.g.nodes if d.name == launches[-1].node)
    mid = dw_node.outputs[0]
    if mid in pl.g.outputs or any(mid in d.inputs for d in pl.g.nodes if d is not n and d is not dw_node):
        return False
    x0, xn, y0, yn = dwp[k["C_X"]], dwp[k["C_XS"]], params[k["C_Y"]], ys[0]
    apart = x0 + batch * xn <= y0 or y0 + batch * yn <= x0
    if not (apart or (x0 == y0 and xn == yn and cin * hw <= xn and cout * hw <= yn)):
        return False
    dw = launches.pop()
    wt = _relayout_blocks(pl, n, params[k["C_W"]], cin, cout, [1, 1], params[k["C_WS"]:k["C_WS"] + 4], k["FP_OT"])
    pl.emit("dw3_pw", [batch, x0, xn, xs[1], cin, h, w] + g2(dwp, "C_PAD") + [dwp[k["C_W"]], dwp[k["C_WS"]],
            dwp[k["C_B"]], dwp[k["C_ACT"]], cout, wt, params[k["C_B"]], params[k["C_ACT"]], y0, yn, ys[1]],
            batch, n, dw.macs)
    launches[-1].local = 1  # one image per work item: the images spread over every core
    return True


def conv_col(pl: Planner, n: Node, params: list[int], cin: int, cout: int) -> bool:
    """``conv_col`` (``opencl/conv_fused.cl``): a convolution with rows so narrow that conv_vec would go through
    padding + im2col + a pointwise launch, as one launch of one work item per image (patches gathered into a
    private tile, then the tile GEMM).  Output planes contiguous, conv_vec's strides (1 or 2), dilation 1, no pooling
    or residual."""
    k = pl.k
    g2 = lambda key: params[k[key]:k[key] + 2]  # noqa: E731
    (h, w), (oh, ow), ksz = g2("C_IN"), g2("C_PO"), g2("C_K")
    xs, ys = params[k["C_XS"]:k["C_XS"] + 4], params[k["C_YS"]:k["C_YS"] + 4]
    if g2("C_DIL") != [1, 1] or g2("C_STRIDE") not in ([1, 1], [2, 2]) or params[k["C_POOL"]] != 0 \
            or params[k["C_R"]] != -1 or xs[3] != 1 \
            or ys[1:] != [oh * ow, ow, 1]:
        return False
    if ksz == [1, 1] and g2("C_STRIDE") == [1, 1] and g2("C_PAD") == [0, 0] and xs[2] == w:
        return False  # conv_vec takes a pointwise convolution's plane as one row: not narrow
    vw = 8 if ow <= 8 else 16
    nseg = -(-ow // vw)
    taps, nv = cin * ksz[0] * ksz[1], -(-oh * ow // 16)
    if not ow < 0.75 * nseg * vw or taps * nv > k["FP_TILE"]:  # conv_vec's rule for narrow rows
        return False
    batch, x0, y0 = params[k["C_BATCH"]], params[k["C_X"]], params[k["C_Y"]]
    apart = x0 + batch * xs[0] <= y0 or y0 + batch * ys[0] <= x0
    if not (apart or (x0 == y0 and xs[0] == ys[0] and cin * xs[1] <= xs[0] and cout * ys[1] <= ys[0])):
        return False
    wt = _relayout_blocks(pl, n, params[k["C_W"]], cin, cout, ksz, params[k["C_WS"]:k["C_WS"] + 4], k["FP_OT"])
    pl.emit("conv_col", [batch, x0] + xs[:3] + [cin, h, w] + ksz + g2("C_STRIDE") + g2("C_PAD") + [oh, ow, cout, wt,
            params[k["C_B"]], params[k["C_ACT"]], y0, ys[0], ys[1]], batch, n)
    pl.lay.launches[-1].local = 1  # one image per work item: the images spread over every core
    return True


def _relayout_blocks(pl: Planner, node: Node, src: int, cin: int, cout: int, ksz: list[int], ws: list[int],
                     ot: int) -> int:
    """Setup launches copying weights (strides ``ws`` = o, c, ky, kx) to [O / ot][C][KH][KW][ot], zero-padded."""
    nob, full = (cout + ot - 1) // ot, cout // ot
    block = cin * ksz[0] * ksz[1] * ot
    dst = pl.lay.reserve(nob * block)
    if full:
        shape = [full, cin, ksz[0], ksz[1], ot]
        xs = [ot * ws[0], ws[1], ws[2], ws[3], ws[0]]
        cnt = prod(shape)
        pl.lay.setup.append(Launch("copy_strided", [cnt, 5, src, dst] + shape + xs + cstrides(tuple(shape)), cnt,
                                   node.name))
    rem = cout - full * ot
    if rem:
        shape = [cin, ksz[0], ksz[1], rem]
        cnt = prod(shape)
        pl.lay.setup.append(Launch("copy_strided", [cnt, 4, src + full * ot * ws[0], dst + full * block] + shape
                                   + [ws[1], ws[2], ws[3], ws[0]] + [ksz[0] * ksz[1] * ot, ksz[1] * ot, ot, 1],
                                   cnt, node.name))
    return dst


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
    pk, ps, pp = (params[k[key]:k[key] + 2] for key in ("C_PK", "C_PS", "C_PP"))
    if pl.cpu and pk == ps == [2, 2] and pp == [0, 0] and po == [co[0] // 2, co[1] // 2]:
        # 2 x 2 windows, all whole: a plane per work item, vector loads of the even and odd lanes
        planes = batch * cout
        pl.emit("pool2_plane", [params[k["C_POOL"]], planes, scratch, y, res, act] + co + po, planes, n)
        return True
    if pl.cpu:  # pooling, residual and activation in one pass, a row per work item
        rows = batch * cout * po[0]
        pl.emit("pool_rows", [params[k["C_POOL"]], rows, scratch, y, res, act, params[k["C_PINCL"]]] + co + po
                + params[k["C_PK"]:k["C_PK"] + 2] + params[k["C_PS"]:k["C_PS"] + 2] + params[k["C_PP"]:k["C_PP"] + 2],
                rows, n)
        return True
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
    if pl.tiles is not None and affine_local(pl, n, params):  # GPU form for batches > 1 (opencl_local)
        return True
    batch, nin, nout, x, w, w_is, w_os, b, y = params
    if pl.cpu and rows_affine(pl, n, params):
        return True
    if nout < 16:
        return False
    opad = (nout + BLOCK - 1) // BLOCK * BLOCK
    wt = _relayout(pl, n, w, [nin, nout], [w_is, w_os], opad)
    rows = (batch + 3) // 4
    pl.emit("affine_fast", [batch, nin, nout, x, wt, opad, b, y, rows], rows * (opad // BLOCK), n)
    return True


def rows_affine(pl: Planner, n: Node, params: list[int]) -> bool:
    """``rows_affine`` (``opencl/head_fused.cl``): an Affine reading the output of the ``rows_reduce`` launched just
    before it (GlobalAveragePooling -> Affine) takes that launch's place, one work item per image.  Only for small
    heads (at most RA_MAX features, 64 K weights: the dot products are scalar) whose pooled features nothing else
    reads."""
    k = pl.k
    batch, nin, nout, x, w, w_is, w_os, b, y = params
    launches = pl.lay.launches
    if not launches or launches[-1].kernel != "rows_reduce" or nin > k["RA_MAX"] or nin * nout > 1 << 16:
        return False
    op, rows, length, rx, ry, scale = launches[-1].params
    if ry != x or rows != batch * nin:
        return False
    pool = next(d for d in pl.g.nodes if d.name == launches[-1].node)
    mid = pool.outputs[0]
    if mid in pl.g.outputs or any(mid in d.inputs for d in pl.g.nodes if d is not n and d is not pool):
        return False
    launches.pop()
    pl.emit("rows_affine", [batch, nin, length, rx, scale, op, w, w_is, w_os, b, y, nout], batch, n)
    launches[-1].local = 1  # one image per work item: the images spread over every core
    return True


FAST_CONV["conv"] = conv_fast
FAST_CONV["affine"] = affine_fast
