"""nnbrt_fixed_round_n (c_runtime/src/kernels/fixed_fast.c: the grid rounding of many values, vectorized) gives
the floats of nnbrt_fixed_round (fixed_mac.c, the rule the simulation mirrors) bit for bit: every fp_pos 0..15,
both widths, at each x86 level, on values at and around the rounding ties, the grid's ends, zeros of both signs,
infinities, NaNs of several payloads, subnormals and random bit patterns, in arrays of lengths that leave vector
tails."""

from __future__ import annotations

import os
import subprocess

import pytest

from nnb.backends.c import build_library

LEVELS = ("base", "avx2", "avx512")

PROGRAM = r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>
float nnbrt_fixed_round(float x, int fp, int32_t top);
void nnbrt_fixed_round_n(float *d, size_t n, int fp, int32_t top);

static uint32_t s = 12345u;
static uint32_t rnd(void) { s ^= s << 13; s ^= s >> 17; s ^= s << 5; return s; }

int main(void)
{
    static float v[4099], w[4099];
    const int32_t tops[2] = {127, 32767};
    long bad = 0, n = 0;
    int t, fp, k, i;
    for (t = 0; t < 2; ++t)
        for (fp = 0; fp < 16; ++fp)
            for (k = 0; k < 24; ++k) {
                const size_t len = (size_t)(4099 - k * 131);
                const float g = (float)(1u << fp);
                for (i = 0; i < (int)len; ++i) {
                    const uint32_t r = rnd();
                    const float m = (float)(int32_t)(r % (2u * (uint32_t)tops[t] + 9u)) - (float)tops[t] - 4.0f;
                    uint32_t b = rnd();
                    switch (r >> 28) {
                    case 0: case 1: case 2: v[i] = (m + 0.5f) / g; break;          /* ties */
                    case 3: v[i] = (m + 0.5f) / g + (r & 64u ? 1e-7f : -1e-7f); break; /* beside them */
                    case 4: case 5: v[i] = m / g; break;                           /* on the grid, ends beyond */
                    case 6: memcpy(&v[i], &b, 4); break;                           /* any bits: NaN, inf, tiny */
                    case 7: b = (b & 0x807fffffu) | 0x7f800000u; memcpy(&v[i], &b, 4); break; /* inf / NaNs */
                    case 8: b &= 0x807fffffu; memcpy(&v[i], &b, 4); break;         /* zeros and subnormals */
                    default: v[i] = (float)(int32_t)rnd() / 65536.0f / g; break;   /* wide values */
                    }
                }
                memcpy(w, v, len * sizeof(float));
                nnbrt_fixed_round_n(w, len, fp, tops[t]);
                for (i = 0; i < (int)len; ++i) {
                    const float want = nnbrt_fixed_round(v[i], fp, tops[t]);
                    ++n;
                    if (memcmp(&want, &w[i], 4) != 0 && bad++ < 5)
                        printf("fp %d top %d x %a: %a, want %a\n", fp, (int)tops[t], (double)v[i], (double)w[i],
                               (double)want);
                }
            }
    printf("%ld of %ld differ\n", bad, n);
    return bad != 0;
}
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> str:
    lib = build_library()
    d = tmp_path_factory.mktemp("round")
    src, exe = str(d / "round.c"), str(d / "round")
    with open(src, "w") as f:
        f.write(PROGRAM)
    archive = os.path.join(os.path.dirname(lib), "libnnbrt.a")
    r = subprocess.run(["cc", "-std=c99", "-O1", src, archive, "-lm", "-o", exe], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return exe


@pytest.mark.parametrize("level", LEVELS)
def test_round_n_equals_round(level: str, program: str) -> None:
    r = subprocess.run([program], capture_output=True, text=True, env=dict(os.environ, NNB_FIXED_ISA=level))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert r.stdout.startswith("0 of "), r.stdout
