"""A fixed-point NNB file (FIXED8/FIXED16 variables, e.g. written by nnabla's converter or ``nnb quantize --nnb``)
as a FixedModel, so its integer simulation (nnb/quantize/fixed_int.py) can be compared with the C runtime."""

from __future__ import annotations

import struct

from nnb.emit.nnb_read import _Image, read_nnb
from nnb.errors import NnbError
from nnb.quantize.fixed import FixedModel

BITS = {1: 16, 2: 8}  # NNB variable types FIXED16, FIXED8


def fixed_model_from_nnb(data: bytes, name: str = "model.nnb") -> FixedModel:
    """Every variable FIXED16 (or every one FIXED8); parameters read as their stored integers / 2^fp_pos."""
    g = read_nnb(data, name)
    im = _Image(data, name)
    names = list(g.tensors)
    fp: dict[str, int] = {}
    widths = set()
    for k, c in enumerate(im.ints(*im.variables)):
        _, _, _, tbyte, _ = struct.unpack_from("<IIiBxxxi", data, im.chunk(c, 20))
        typ = tbyte & 0xF
        if typ not in BITS:
            raise NnbError(f"{name}: variable {k} is not fixed point (type {typ}): not a FIXED8/FIXED16 file")
        widths.add(BITS[typ])
        fp[names[k]] = tbyte >> 4
    if len(widths) != 1:
        raise NnbError(f"{name}: mixes FIXED8 and FIXED16 variables; the simulation takes one width")
    return FixedModel(g, widths.pop(), fp)
