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

import numpy as np
import pytest
from layer_runs import build_dir, build_params, fused_layer, layers_image, run_layers

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


def _layer(case, rng):
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"])).astype(np.float32)
    wt = (rng.standard_normal((case["oc"], case["c"] // case["group"]) + case["k"]) * 0.2).astype(np.float32)
    return (x, wt, *fused_layer(case, x, wt, case["group"], rng, pool=case["pool"]))


def _layers():
    """The random cases with their tensors, in drawing order: (case, x, wt, b, res, y, args)."""
    rng = np.random.default_rng(20261130)
    out = []
    for i in range(N_CASES):
        case = _case(rng, i)
        out.append((case, *_layer(case, rng)))
    return out


@pytest.fixture(scope="module")
def layers():
    return _layers()


def test_cases_take_the_path(layers):
    """The random layers are the ones the rule sends to the GEMM (all but the pooled two)."""
    cases = [ly[0] for ly in layers]
    assert sum(_takes_big_path(c) for c in cases) == N_CASES - 2
    assert {c["k"] for c in cases} >= {(1, 1), (3, 3), (5, 5), (7, 7), (3, 1)}
    assert any(c["k"] == (1, 1) and c["s"] == (2, 2) for c in cases)
    assert any(c["group"] > 1 for c in cases) and any(c["residual"] and c["alias_res"] for c in cases)
    assert any(c["c"] % 8 and c["oc"] % 8 for c in cases) and any(c["n"] > 1 for c in cases)


@pytest.mark.parametrize("build,isa", build_params()[0], ids=build_params()[1])
def test_gemm_big(layers, build, isa, tmp_path):
    run_layers(build_dir(build), isa, layers_image(layers), tmp_path, f"{build} {isa}", tol=3e-5)


def test_gemm_big_scratch_exact(layers, tmp_path):
    """Each layer alone under ASan/UBSan (the widest ISA here): its scratch is then the last region of an
    arena allocated to the byte, so reading or writing past what the scratch function asked for (beyond
    the alignment tail) is reported."""
    san = build_dir("san")
    for k, ly in enumerate(layers):
        run_layers(san, "", layers_image([ly]), tmp_path, f"san alone, case {k}", tol=3e-5)
