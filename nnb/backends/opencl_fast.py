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
    if nsp != 2 or cl_last or params[k["C_POOL"]] != 0:
        return False
    ksz = params[k["C_K"]:k["C_K"] + 2]
    if (dw or group == cin > 1) and ksz[0] * ksz[1] <= 49:  # one input channel per group; weights (O, [1,] KH, KW)
        if pl.cpu:
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
    oh = params[k["C_PO"]]
    items = params[k["C_BATCH"]] * oh * nxb * nob
    pl.emit(name, params + [wt, opad, nob, nxb], items, n)
    return True


def tile(cout: int, ow: int) -> tuple[int, int]:
    """(pixels, 16-channel blocks) of a register tile: 8 pixels x 32 channels when there are that many."""
    return (8, 2) if cout >= 32 else (8, 1)


FAST_CONV["conv"] = conv_fast
