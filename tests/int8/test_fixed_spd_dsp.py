"""The Cortex-M DSP form of the fixed-point convolution (c_runtime/src/kernels/fixed_fast.c dsp_conv: int16
operands, two taps per SMLALD into int64 sums), with the instruction's arithmetic emulated in C
(NNB_FIXED_EMULATE_DSP), gives the floats of the host's fast forms (float / double sums, which
test_fixed_spd_forms checks against the simulation) bit for bit: random geometries (kernel widths 2..7 odd and
even, padding, row stride and dilation, groups, depthwise), full-range FIXED16 and FIXED8 integers, fp_pos that
round down and up; and it declines what it cannot take (column stride or dilation, kernel width 1, values
beyond int16). NNB_FIXED_DSP_ASAN=1 reruns the cases built with ASan/UBSan."""

from __future__ import annotations

import os
import subprocess

import pytest

from nnb.backends.c import C_RUNTIME

PROGRAM = r"""
#include "fixed_fast.c"
#include <stdio.h>
#include <stdlib.h>

static uint32_t s = 2024u;
static uint32_t rnd(void) { s ^= s << 13; s ^= s >> 17; s ^= s << 5; return s; }
static int pick(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

static float xv[40000], wv[20000], bv[64], ya[40000], yb[40000];

int main(void)
{
    int t, bad = 0, ran = 0, declined = 0;
    for (t = 0; t < 400; ++t) {
        nnbrt_geom g;
        nnbrt_tensor in[3], out;
        const int bits = t % 3 ? 16 : 8, top = bits == 16 ? 32767 : 127, want = t % 10 != 9;
        int fin[3], fout, G, i;
        size_t nx, nw;
        memset(&g, 0, sizeof g);
        memset(in, 0, sizeof in);
        memset(&out, 0, sizeof out);
        g.outer = (size_t)pick(1, 2);
        G = t % 4 == 0 ? pick(1, 3) : 1;
        g.C = G * pick(1, 4);
        g.OC = t % 5 == 0 ? g.C : G * pick(1, 4);
        if (t % 5 == 0) G = g.C; /* depthwise */
        g.KH = pick(1, 5); g.KW = want ? pick(2, 7) : t % 3 == 0 ? 1 : 3;
        g.SH = pick(1, 2); g.SW = want || t % 3 != 1 ? 1 : 2;
        g.DH = pick(1, 2); g.DW = want || t % 3 != 2 ? 1 : 2;
        g.PH = pick(0, 2); g.PW = pick(0, 3);
        g.IH = pick(g.DH * (g.KH - 1) + 1, 12); g.IW = pick(g.DW * (g.KW - 1) + 1, 30);
        g.OH = (g.IH + 2 * g.PH - g.DH * (g.KH - 1) - 1) / g.SH + 1;
        g.OW = (g.IW + 2 * g.PW - g.DW * (g.KW - 1) - 1) / g.SW + 1;
        fin[0] = pick(0, 15); fin[1] = pick(0, 15); fin[2] = pick(0, 15); fout = pick(0, 15);
        nx = g.outer * (size_t)g.C * (size_t)(g.IH * g.IW);
        nw = (size_t)g.OC * (size_t)(g.C / G) * (size_t)(g.KH * g.KW);
        for (i = 0; i < (int)nx; ++i) xv[i] = (float)(pick(0, 2 * top) - top) / (float)(1u << fin[0]);
        for (i = 0; i < (int)nw; ++i) wv[i] = (float)(pick(0, 2 * top) - top) / (float)(1u << fin[1]);
        for (i = 0; i < g.OC; ++i) bv[i] = (float)(pick(0, 2 * top) - top) / (float)(1u << fin[2]);
        if (t % 10 == 8) xv[0] = 40000.0f / (float)(1u << fin[0]); /* beyond int16 */
        in[0].data = xv; in[0].size = nx; in[1].data = wv; in[1].size = nw; in[2].data = bv; in[2].size = (size_t)g.OC;
        out.data = ya; out.size = g.outer * (size_t)g.OC * (size_t)(g.OH * g.OW);
        if (!dsp_conv(&g, (size_t)G, 3, in, fin, &out, fout, top)) {
            if (want && t % 10 != 8) { printf("case %d: declined\n", t); ++bad; }
            ++declined;
            continue;
        }
        if (!want || t % 10 == 8) { printf("case %d: taken, should decline\n", t); ++bad; continue; }
        out.data = yb;
        if (!conv_base(&g, (size_t)G, 3, in, fin, &out, fout, top)) { printf("case %d: no reference\n", t); ++bad; }
        else if (memcmp(ya, yb, out.size * sizeof(float)) != 0) { printf("case %d: differs\n", t); ++bad; }
        ++ran;
    }
    printf("%d compared, %d declined, %d bad\n", ran, declined, bad);
    return bad != 0 || ran < 200;
}
"""


def test_dsp_form_equals_fast_forms(tmp_path: os.PathLike) -> None:
    if subprocess.run(["sh", "-c", "command -v cc"], capture_output=True).returncode:
        pytest.skip("no C compiler (apt-get install gcc)")
    src, exe = os.path.join(tmp_path, "dsp.c"), os.path.join(tmp_path, "dsp")
    with open(src, "w") as f:
        f.write(PROGRAM)
    kern = os.path.join(C_RUNTIME, "src", "kernels")
    builds = [[]]
    if os.environ.get("NNB_FIXED_DSP_ASAN"):  # opt-in (about 5 s more): the same cases under ASan/UBSan
        builds.append(["-fsanitize=address,undefined", "-fno-sanitize-recover=all"])
    for san in builds:
        r = subprocess.run(["cc", "-std=c99", "-O1", "-g", "-DNNB_FIXED_EMULATE_DSP", "-DNNBRT_INT8", *san,
                            "-I", os.path.join(C_RUNTIME, "include"), "-I", kern, src, "-lm", "-o", exe],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]
        r = subprocess.run([exe], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
