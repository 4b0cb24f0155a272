"""The C runtime's register-blocked GEMM for large convolutions
(c_runtime/src/kernels/conv_gemm_big.h) against nnb's numpy reference
(nnb/ops/fused.py).

Random layers large enough to take that path (at least NNBRT_GEMM_BIG_MIN
multiply-adds per group and image; `_takes_big_path` mirrors the rule) --
odd channel counts and sizes that are no multiple of the micro tile (12, 8
or 6 channels x 32/16/8 columns), 1x1 in place, 1x1 strided or padded
through gathered pixels, 3x3/5x5/7x7/3x1 through padded phase planes,
stride 2 and 3, dilation 2, groups, batch 2, bias or not,
ReLU/ReLU6, a residual (also stored over the output it is added to) -- plus
a few large layers with a fused pooling (which stay on the engine) are
packed into one extended NNB file (one function per layer, each with its
own arena region), so each build runs them all in one process: the default
build with each of its run-time dispatched variants (AVX-512 where the CPU
has it, AVX2, SSE2), the plain-loop build (REF=1) and the ASan/UBSan build
with the same three variants. Then each layer alone under ASan/UBSan: the
kernel scratch is the last region of the arena, which `nnbrt run`
allocates to the byte, so no layer may read or write past the scratch its
scratch function asked for.
"""
import sys
from pathlib import Path

import layer_runs
import numpy as np
import pytest
from layer_runs import build_dir, build_params, conv_layer, layers_image, random_layers, run_build, run_layers

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

BIG_MIN = 4_000_000  # NNBRT_GEMM_BIG_MIN
N_CASES = 22


def _out(h, k, s, p, d):
    return (h + 2 * p - d * (k - 1) - 1) // s + 1


def _takes_big_path(c):
    """conv_gemm_big.h's rule (mkbplan) for the widest micro tile (8 channels): no pool, at least
    NNBRT_GEMM_BIG_MIN multiply-adds per group and image, 8+ output channels per group."""
    oh, ow = (_out(c["h"], c["k"][0], c["s"][0], c["p"][0], c["d"][0]),
              _out(c["w"], c["k"][1], c["s"][1], c["p"][1], c["d"][1]))
    cg, ocg = c["c"] // c["group"], c["oc"] // c["group"]
    macs = ocg * cg * c["k"][0] * c["k"][1] * oh * ow
    return not c["pool"] and macs >= BIG_MIN and ocg >= 8 and cg * c["k"][0] * c["k"][1] >= 8


def _case(rng, i):
    """One random large layer; i picks a few fixed traits so every kind is present."""
    k = [(3, 3), (1, 1), (3, 3), (5, 5), (7, 7), (3, 1), (3, 3), (1, 1)][i % 8]
    s = [(1, 1), (1, 1), (2, 2), (1, 1), (2, 2), (1, 2), (3, 3), (2, 2)][i % 8]
    group = 2 if i % 6 == 4 else 1
    pool = i >= N_CASES - 2
    while True:
        wide = 3 if k == (1, 1) else 1  # 1x1 layers need more channels to be large
        c = group * int(rng.integers(3, 40 * wide))
        oc = group * int(rng.integers(9, 45 * wide))
        h, w = int(rng.integers(9, 64)), int(rng.integers(9, 64))
        p = [0, 0] if i % 8 == 1 else [int(rng.integers(0, 4)), int(rng.integers(0, 4))]
        d = [1 + int(i % 5 == 3), 1 + int(i % 5 == 3)] if k != (1, 1) else [1, 1]
        case = dict(c=c, oc=oc, h=h, w=w, k=k, s=s, p=p, d=d, group=group, pool=pool,
                    act=["", "relu", "relu6"][i % 3], bias=i % 4 != 2, residual=not pool and i % 3 == 1,
                    n=1 + int(i % 7 == 2), alias_res=i % 6 == 1)
        if _out(h, k[0], s[0], p[0], d[0]) >= 1 and _out(w, k[1], s[1], p[1], d[1]) >= 1 and (
                pool or _takes_big_path(case)):
            macs = oc * (c // group) * k[0] * k[1] * h * w // (s[0] * s[1])
            if macs < 40_000_000:  # keep the numpy reference and the sanitizer runs quick
                return case


# Fixed layers for the output-channel-vector form (AVX-512: 32 channels x 14 columns, weights packed at load or
# per call a K block at a time): channels no multiple of 32, K split into blocks (partial sums), more strips than
# one partial-sum block holds, odd output heights (the last row pair overlaps) and widths no multiple of 7 (the
# last row strip overlaps), junk columns, the 7x7 stride-2 stem shape, a stride-2 3x3, a 7x7 output, 1x1 in
# place, groups with batch 2, residuals (also aliased) with each activation.
FIXED = [
    dict(c=20, oc=56, h=33, w=33, k=(3, 3), s=(1, 1), p=[1, 1], act="relu", residual=True, alias_res=True),
    dict(c=24, oc=64, h=40, w=10, k=(3, 3), s=(1, 1), p=[1, 1], act="relu6", bias=False),
    dict(c=3, oc=64, h=64, w=64, k=(7, 7), s=(2, 2), p=[3, 3], act="relu"),
    dict(c=16, oc=32, h=66, w=66, k=(3, 3), s=(1, 1), p=[0, 0], act="", residual=True),
    dict(c=96, oc=48, h=32, w=32, k=(1, 1), s=(1, 1), p=[0, 0], act="relu6", residual=True, alias_res=True),
    dict(c=32, oc=64, h=30, w=30, k=(3, 3), s=(1, 1), p=[1, 1], act="relu", group=2, n=2),
    dict(c=32, oc=64, h=56, w=56, k=(3, 3), s=(2, 2), p=[1, 1], act="relu", residual=True),
    dict(c=64, oc=160, h=7, w=7, k=(3, 3), s=(1, 1), p=[1, 1], act="relu", residual=True, alias_res=True),
    # stride-1 planes written row by row: two padding rows and no padding columns, then none and three
    dict(c=16, oc=64, h=20, w=45, k=(3, 3), s=(1, 1), p=[2, 0], act="relu"),
    dict(c=12, oc=64, h=41, w=17, k=(3, 3), s=(1, 1), p=[0, 3], act="", residual=True),
]
FIXED_DEFAULTS = dict(d=[1, 1], group=1, pool=False, act="", bias=True, residual=False, n=1, alias_res=False)


def _ocv_form(c):
    """conv_gemm_big.h's ocv_plan: 0 (another form), 1 (column strips) or 2 (row strips), the strip count, the
    K blocks and the strips per partial-sum block (mirrors NNBRT_OCV_WP_MAX 4096, NNBRT_OCV_PART_MAX 131072)."""
    oh, ow = (_out(c["h"], c["k"][0], c["s"][0], c["p"][0], c["d"][0]),
              _out(c["w"], c["k"][1], c["s"][1], c["p"][1], c["d"][1]))
    ocg, K = c["oc"] // c["group"], c["c"] // c["group"] * c["k"][0] * c["k"][1]
    one = c["k"] == (1, 1)
    if one and c["s"] == (1, 1) and c["p"] == [0, 0] and c["h"] * c["w"] >= 32:
        L = c["w"]
    elif one:
        L = ow
    else:
        L = -(-(c["w"] + 2 * c["p"][1]) // c["s"][1])
    P, oce = oh * L, ocg / (-(-ocg // 32) * 32)
    n1, cpr, pairs = -(-P // 14), -(-ow // 7), (oh + 1) // 2
    s1 = oh * ow / (n1 * 14) * oce if P >= 14 else 0.0
    s2 = oh * ow / (pairs * cpr * 14) * oce if ow >= 7 and oh >= 2 else 0.0
    if s1 < 0.6 and s2 < 0.6:
        return 0, 0, 0, 0
    nstrip = pairs * cpr if s2 >= s1 else n1
    nk = -(-K // 128)
    return (2 if s2 >= s1 else 1), nstrip, nk, (min(nstrip, 131072 // 448) if nk > 1 else nstrip)


def _layer(case, rng):
    return conv_layer(case, rng, 0.2, case["group"], pool=case["pool"])


def _layers():
    """The random cases with their tensors, in drawing order: (case, x, wt, b, res, y, args)."""
    rng = np.random.default_rng(20261130)
    out = random_layers(rng, N_CASES, _case, _layer)
    for fixed in FIXED:
        case = {**FIXED_DEFAULTS, **fixed}  # channel counts are totals (groups included)
        out.append((case, *_layer(case, rng)))
    return out


@pytest.fixture(scope="module")
def layers():
    return _layers()


def test_cases_take_the_path(layers):
    """The random layers are the ones the rule sends to the GEMM (all but the pooled two)."""
    cases = [ly[0] for ly in layers][:N_CASES]
    assert sum(_takes_big_path(c) for c in cases) == N_CASES - 2
    assert {c["k"] for c in cases} >= {(1, 1), (3, 3), (5, 5), (7, 7), (3, 1)}
    assert any(c["k"] == (1, 1) and c["s"] == (2, 2) for c in cases)
    assert any(c["group"] > 1 for c in cases) and any(c["residual"] and c["alias_res"] for c in cases)
    assert any(c["c"] % 8 and c["oc"] % 8 for c in cases) and any(c["n"] > 1 for c in cases)


def test_fixed_cases_cover_the_ocv_form(layers):
    """The fixed layers take the GEMM and, on AVX-512, the output-channel-vector form in both strip shapes,
    with K split into blocks, a partial-sum block shorter than the strips, odd heights and channel counts."""
    fixed = [ly[0] for ly in layers][N_CASES:]
    forms = [_ocv_form(c) for c in fixed]
    assert all(_takes_big_path(c) for c in fixed) and all(f[0] for f in forms)
    assert {f[0] for f in forms} == {1, 2}
    assert any(f[2] > 1 for f in forms) and any(f[3] < f[1] for f in forms)
    assert any(f[0] == 2 and _out(c["h"], c["k"][0], c["s"][0], c["p"][0], 1) % 2 for c, f in zip(fixed, forms))
    assert any((c["oc"] // c["group"]) % 32 for c in fixed)


@pytest.mark.parametrize("build,isa", build_params()[0], ids=build_params()[1])
def test_gemm_big(layers, build, isa, tmp_path):
    run_build(build, isa, layers_image(layers), tmp_path, tol=3e-5)


def test_gemm_big_unpacked(layers, tmp_path, monkeypatch):
    """The default build with the load-time packing off (NNBRT_PACK=0): the output-channel-vector form then
    packs its weights per call, a K block at a time."""
    monkeypatch.setitem(layer_runs.ENV, "NNBRT_PACK", "0")
    run_layers(build_dir("normal"), "", layers_image(layers), tmp_path, "normal NNBRT_PACK=0", tol=3e-5)


def test_gemm_big_scratch_exact(layers, tmp_path):
    """Each layer alone under ASan/UBSan (the widest ISA here): its scratch is then the last region of an
    arena allocated to the byte, so reading or writing past what the scratch function asked for (beyond
    the alignment tail) is reported."""
    san = build_dir("san")
    for k, ly in enumerate(layers):
        run_layers(san, "", layers_image([ly]), tmp_path, f"san alone, case {k}", tol=3e-5)
