"""Which forms of the Cortex-M convolution kernels (c_runtime/src/kernels/conv_mcu.c) an emitted model reaches.

emit-c knows every convolution's geometry when it writes the code, so it
compiles only the kernel forms those layers use: each form no layer reaches is
left out with its ``NNBRT_MCU_NO_*`` define (conv_mcu.c).  Leaving a form out
never changes a result -- its work would go to a general form -- so an
overestimate here costs only code and an underestimate only speed.  The rules
below follow conv_group/conv_plain in conv_mcu.c (every row taken as computed,
also those a pooling window skips).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# form -> the define that leaves it out (conv_mcu.c)
FORM_KNOBS = {
    "dw": "NNBRT_MCU_NO_DW",
    "dw3": "NNBRT_MCU_NO_DW3",
    "s1": "NNBRT_MCU_NO_S1",
    "s2": "NNBRT_MCU_NO_S2",
    "1x1": "NNBRT_MCU_NO_1X1",
    "t45": "NNBRT_MCU_NO_T45",
    "t44": "NNBRT_MCU_NO_T44",
    "t43": "NNBRT_MCU_NO_T43",
    "t42": "NNBRT_MCU_NO_T42",
    "t14": "NNBRT_MCU_NO_T14",
    "pool": "NNBRT_MCU_NO_POOL",  # not a fallback: left out only when no layer pools (exact)
}


def conv_forms(group: int, geom: Sequence[int], pool: int, residual: bool) -> set[str]:
    """The forms conv_mcu.c runs for one convolution (``geom``: nnbrt_geom outer, C, OC, IH, IW, OH, OW, KH,
    KW, PH, PW, SH, SW, DH, DW; ``pool``: the fused pooling, 0 none)."""
    _outer, c, oc, ih, iw, _oh, ow_n, kh, kw, ph, pw, sh, sw, dh, dw = (int(v) for v in geom)
    cg, ocg = c // group, oc // group
    forms: set[str] = {"pool"} if pool else set()
    if cg == 1 and ocg < 4 and (kh > 1 or kw > 1):
        k3 = (kh == 3 and kw == 3 and sh == 1 and sw == 1 and dh == 1 and dw == 1 and iw >= 2 and pw in (0, 1)
              and not pool and not residual)
        return forms | ({"dw3"} if k3 else {"dw"})
    nb4, nb1 = ocg >= 4, ocg % 4 != 0
    if kh == 1 and kw == 1 and sh == 1 and sw == 1 and ph == 0 and pw == 0 and (ih == 1 or not pool):
        forms.add("1x1")
        n = ih * iw
        if nb4:
            rest = n
            if n >= 5:
                forms.add("t45")
                rest = n % 5
            if rest == 4:
                forms |= {"s1", "t44"}
            elif rest in (3, 2):
                forms |= {"s1", "t43" if rest == 3 else "t42"}
        if nb1 and n >= 4:
            forms |= {"s1", "t14"}
        return forms
    lo = 0 if pw <= 0 else (pw + sw - 1) // sw
    t = iw - 1 + pw - (kw - 1) * dw
    hi = min(0 if t < 0 else t // sw + 1, ow_n)
    lo = min(lo, hi)
    if sw > 2:
        hi = lo
    span, stride = hi - lo, "s1" if sw == 1 else "s2"
    if nb4:
        if span >= 4:
            forms |= {stride, "t44"}
        if span % 4 in (3, 2):
            forms |= {stride, "t43" if span % 4 == 3 else "t42"}
    if nb1 and span >= 4:
        forms |= {stride, "t14"}
    return forms


def form_knobs(used: Iterable[set[str]]) -> list[str]:
    """The ``NNBRT_MCU_NO_*`` defines of the forms no layer uses (sorted)."""
    all_used: set[str] = set().union(*used)
    return sorted(k for f, k in FORM_KNOBS.items() if f not in all_used)
