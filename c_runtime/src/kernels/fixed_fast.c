/* Fast forms of the fixed-point convolution and Affine (fixed_fast.h): float or double sums
   where the bound proves them exact, so the integers equal fixed_mac.c's int64 loops. */
/* Contracting a * b + c into a fused multiply-add changes no result here (every value is
   exact), and gcc contracts nothing in ISO C mode unless asked. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#endif

#include "fixed_fast.h"
#include <stdlib.h>
#include <string.h>


#if defined(__GNUC__) || defined(__clang__)
#define FX_ALWAYS __attribute__((always_inline))
#else
#define FX_ALWAYS
#endif

/* partial sums per Affine dot product (a vector's worth of lanes) */
#define FIXED_LANES 16

/* x86-64 with run-time dispatch: the loops compiled for AVX2+FMA and AVX-512F as well */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && defined(NNBRT_DISPATCH)
#define FIXED_X86 1
#else
#define FIXED_X86 0
#endif

/* Accumulator buffer on the stack (hosts only; 32-bit Arm accumulates float sums in the
   output plane, with no buffer and no double: its stack budget is 1 KB, tests/c/test_stack.py) */
#if defined(__arm__)
#define FIXED_DOUBLE 0
#define FIXED_BUF_BYTES 0
#else
#define FIXED_DOUBLE 1
#define FIXED_BUF_BYTES 16384
#endif

/* The group's Cg input planes zero-padded and split by stride into SH x SW phase planes of
   qh x qw: phase (a, b) of channel c at q + (c SH SW + a SW + b) qh qw holds padded input row
   i SH + a, column j SW + b at (i, j); a stride-SH/SW convolution reads stride 1 from them. */
static void fx_phases(float *q, const float *x, const nnbrt_geom *g, size_t Cg, size_t qh, size_t qw)
{
    const long SH = g->SH, SW = g->SW;
    size_t c;
    long a, b, i, j;
    for (c = 0; c < Cg; ++c)
        for (a = 0; a < SH; ++a)
            for (b = 0; b < SW; ++b) {
                float *d = q + ((c * (size_t)SH + (size_t)a) * (size_t)SW + (size_t)b) * qh * qw;
                for (i = 0; i < (long)qh; ++i) {
                    const long ih = i * SH + a - g->PH;
                    /* the columns j whose input column j SW + b - PW lies inside the row */
                    const long jlo = g->PW - b <= 0 ? 0 : (g->PW - b + SW - 1) / SW;
                    const long last = g->IW - 1 + g->PW - b; /* j SW <= last */
                    const long jhi0 = last < 0 ? 0 : last / SW + 1, jhi = jhi0 < (long)qw ? jhi0 : (long)qw;
                    const float *xr;
                    float *dr = d + (size_t)i * qw;
                    if (ih < 0 || ih >= g->IH || jlo >= jhi) {
                        memset(dr, 0, qw * sizeof(float));
                        continue;
                    }
                    memset(dr, 0, (size_t)jlo * sizeof(float));
                    xr = x + (c * (size_t)g->IH + (size_t)ih) * (size_t)g->IW + (size_t)(jlo * SW + b - g->PW);
                    if (SW == 1)
                        memcpy(dr + jlo, xr, (size_t)(jhi - jlo) * sizeof(float));
                    else
                        for (j = 0; j < jhi - jlo; ++j) dr[jlo + j] = xr[j * SW];
                    memset(dr + jhi, 0, (qw - (size_t)jhi) * sizeof(float));
                }
            }
}

#define FX_T float
#define FX_N(name) fx_f_##name
#define FX_DIRECT 1
#define FX_INT(v) (int64_t)(int32_t)(v) /* below 2^24 */
#include "fixed_acc.h"
#undef FX_INT
#undef FX_T
#undef FX_N
#undef FX_DIRECT

#if FIXED_DOUBLE
/* an integer-valued double below 2^51 in magnitude to int64, exactly, with no conversion
   instruction (AVX2 has none for double to int64): its bits after adding 2^52 + 2^51 */
static inline int64_t fx_d2i(double v)
{
    const double t = v + 6755399441055744.0;
    int64_t i;
    memcpy(&i, &t, sizeof i);
    return i - INT64_C(0x4338000000000000);
}

#define FX_T double
#define FX_N(name) fx_d_##name
#define FX_DIRECT 0
#define FX_INT(v) fx_d2i(v) /* below 2^51 */
#include "fixed_acc.h"
#undef FX_INT
#undef FX_T
#undef FX_N
#undef FX_DIRECT
#endif

/* ---------- the bound ---------- */

/* max |x * 2^fp| over n values as an integer if it is below 2^24 and every value is on the
   grid (x * 2^fp an integer), else -1. The largest |x| by the bits (non-negative floats
   order as their bits), then the grid, with no conversion out of range. */
static inline FX_ALWAYS int64_t grid_max(const float *x, size_t n, int fp)
{
    const float s = (float)(1u << fp);
    uint32_t mb = 0, u;
    float m;
    size_t i;
    int off = 0;
    for (i = 0; i < n; ++i) {
        memcpy(&u, x + i, sizeof u);
        u &= 0x7fffffffu;
        mb = u > mb ? u : mb;
    }
    memcpy(&m, &mb, sizeof m);
    if (!(m * s < 16777216.0f)) return -1; /* also NaN / infinite */
    for (i = 0; i < n; ++i) {
        const float r = x[i] * s;
        off |= (float)(int32_t)r != r;
    }
    return off ? -1 : (int64_t)(int32_t)(m * s);
}

/* the largest sum of |w * 2^fp| over rows of len values (weights on their grid, else -1) */
static inline FX_ALWAYS int64_t row_sum_max(const float *w, size_t rows, size_t len, int fp)
{
    const float s = (float)(1u << fp);
    int64_t best = 0;
    size_t r, i;
    if (grid_max(w, rows * len, fp) < 0) return -1;
    for (r = 0; r < rows; ++r) {
        int64_t t = 0;
        for (i = 0; i < len; ++i) {
            const int32_t q = (int32_t)(w[r * len + i] * s);
            t += q < 0 ? -q : q;
        }
        best = t > best ? t : best;
    }
    return best;
}

/* 0: float sums exact, 1: double sums exact, -1: neither (or off the grid) */
static inline FX_ALWAYS int sum_kind(const float *x, size_t nx, int fx, const float *w, size_t rows, size_t len,
                                     int fw)
{
    const int64_t xm = grid_max(x, nx, fx), ws = xm < 0 ? -1 : row_sum_max(w, rows, len, fw);
    if (ws < 0) return -1;
    if (xm == 0 || ws == 0) return 0;
    if (ws >= ((int64_t)1 << 51) / xm) return -1; /* xm * ws >= 2^51 (or near): fx_d2i's range */
    if (xm * ws < ((int64_t)1 << 24)) return 0;
    return FIXED_DOUBLE ? 1 : -1;
}

/* ---------- Cortex-M with the DSP extension: SMLALD ---------- */

#if defined(NNB_FIXED_EMULATE_DSP) || (defined(__ARM_FEATURE_DSP) && defined(__arm__))
#define FIXED_DSP 1
#if defined(NNB_FIXED_EMULATE_DSP)
/* the instruction's arithmetic in C, for host tests: acc + a.lo * b.lo + a.hi * b.hi */
static int64_t fx_smlald(int32_t a, int32_t b, int64_t acc)
{
    const int16_t al = (int16_t)(a & 0xffff), ah = (int16_t)((uint32_t)a >> 16);
    const int16_t bl = (int16_t)(b & 0xffff), bh = (int16_t)((uint32_t)b >> 16);
    return acc + (int64_t)((int32_t)al * bl) + (int64_t)((int32_t)ah * bh);
}
#define FX_SMLALD(a, b, acc) fx_smlald((a), (b), (acc))
#else
#include <arm_acle.h>
#define FX_SMLALD(a, b, acc) __smlald((a), (b), (acc))
#endif

/* output columns per block and input values per converted row segment (stack: 8 int64 and
   40 int16 on the 1 KB budget of tests/c/test_stack.py) */
#define FIXED_DSP_COLS 8
#define FIXED_DSP_SEG 40

/* two int16 as one operand, a at the low half */
static int32_t fx_pack(int32_t a, int32_t b) { return (int32_t)(((uint32_t)b << 16) | ((uint32_t)a & 0xffffu)); }

/* The convolution for stride 1 and dilation 1 along the row, int16 operands (every input and
   weight integer within +-32767, on its grid), exact int64 sums as fixed_mac.c's loops: per
   block of output columns and input row, the row segment is converted to int16 once and two
   taps of the kernel row go into one SMLALD (adjacent inputs loaded as one word). 1 when
   computed, 0 when the caller is to run the int64 loops. */
static int dsp_conv(const nnbrt_geom *g, size_t G, int nin, const nnbrt_tensor *in, const int *fin,
                    const nnbrt_tensor *out, int fout, int32_t top)
{
    const size_t Cg = (size_t)g->C / G, OCg = (size_t)g->OC / G, ksz = (size_t)g->KH * (size_t)g->KW;
    const size_t isz = (size_t)g->IH * (size_t)g->IW, osz = (size_t)g->OH * (size_t)g->OW;
    const float sx = (float)(1u << fin[0]), sw = (float)(1u << fin[1]), sb = nin > 2 ? (float)(1u << fin[2]) : 1.0f;
    const int fxw = fin[0] + fin[1], fa = nin > 2 && fin[2] > fxw ? fin[2] : fxw;
    const int64_t xm = grid_max(in[0].data, in[0].size, fin[0]), wm = grid_max(in[1].data, in[1].size, fin[1]);
    int64_t acc[FIXED_DSP_COLS];
    int16_t xs[FIXED_DSP_SEG + 1];
    size_t n, oc, c;
    long oh, ow0, kh, kw, j;
    if (g->SW != 1 || g->DW != 1 || g->KW < 2 || FIXED_DSP_COLS + g->KW - 1 > FIXED_DSP_SEG || xm < 0 || wm < 0 ||
        xm > 32767 || wm > 32767)
        return 0;
    for (n = 0; n < g->outer; ++n)
        for (oc = 0; oc < (size_t)g->OC; ++oc) {
            const size_t c0 = oc / OCg * Cg;
            const float *w0 = in[1].data + oc * Cg * ksz;
            float *y = out->data + (n * (size_t)g->OC + oc) * osz;
            const int64_t b =
                nin > 2 ? (int64_t)(int32_t)(in[2].data[oc] * sb) * ((int64_t)1 << (fa - fin[2])) : 0;
            for (oh = 0; oh < g->OH; ++oh)
                for (ow0 = 0; ow0 < g->OW; ow0 += FIXED_DSP_COLS) {
                    const long nb = g->OW - ow0 < FIXED_DSP_COLS ? g->OW - ow0 : FIXED_DSP_COLS;
                    const long span = nb + g->KW - 1, iw0 = ow0 - g->PW;
                    for (j = 0; j < nb; ++j) acc[j] = 0;
                    for (c = 0; c < Cg; ++c) {
                        const float *x = in[0].data + (n * (size_t)g->C + c0 + c) * isz;
                        const float *w = w0 + c * ksz;
                        for (kh = 0; kh < g->KH; ++kh) {
                            const long ih = oh * g->SH - g->PH + kh * g->DH;
                            const float *xr, *wr = w + kh * g->KW;
                            if (ih < 0 || ih >= g->IH) continue;
                            xr = x + (size_t)ih * (size_t)g->IW;
                            for (j = 0; j < span; ++j) { /* the row segment, zero outside the row */
                                const long iw = iw0 + j;
                                xs[j] = (int16_t)(iw >= 0 && iw < g->IW ? (int32_t)(xr[iw] * sx) : 0);
                            }
                            xs[span] = 0;
                            for (kw = 0; kw + 1 < g->KW; kw += 2) {
                                const int32_t wp = fx_pack((int32_t)(wr[kw] * sw), (int32_t)(wr[kw + 1] * sw));
                                for (j = 0; j < nb; ++j) {
                                    int32_t xp; /* xs[j + kw] low, xs[j + kw + 1] high (little-endian) */
                                    memcpy(&xp, xs + j + kw, sizeof xp);
                                    acc[j] = FX_SMLALD(xp, wp, acc[j]);
                                }
                            }
                            if (kw < g->KW) { /* an odd kernel width: the last tap alone */
                                const int32_t wl = (int32_t)(wr[kw] * sw);
                                for (j = 0; j < nb; ++j) acc[j] += (int64_t)((int32_t)xs[j + kw] * wl);
                            }
                        }
                    }
                    for (j = 0; j < nb; ++j)
                        y[oh * g->OW + ow0 + j] =
                            nnbrt_fixed_finish1(acc[j] * ((int64_t)1 << (fa - fxw)) + b, fa, fout, top);
                }
        }
    return 1;
}
#else
#define FIXED_DSP 0
#endif

/* ---------- the grid rounding of many values ---------- */

/* nnbrt_fixed_round on every value, branch-free so that it vectorizes (the tests on the bits:
   non-negative floats, NaN included, order as their bits): the same results (NaN 0, saturation
   to +-top, half away from zero, no negative zero) */
static inline FX_ALWAYS void round_body(float *restrict d, size_t n, int fp, int32_t top)
{
    const uint32_t pb = (uint32_t)(127 + fp) << 23;
    const float lim = (float)top + 1.0f, inv = nnbrt_fixed_inv(fp);
    uint32_t limb;
    float p;
    size_t i;
    memcpy(&p, &pb, sizeof p);
    memcpy(&limb, &lim, sizeof limb);
    for (i = 0; i < n; ++i) {
        uint32_t bx, ab, vb;
        float ax, v;
        int32_t q, in, sg;
        memcpy(&bx, d + i, sizeof bx);
        ab = bx & 0x7fffffffu;
        memcpy(&ax, &ab, sizeof ax);
        v = ax * p;
        memcpy(&vb, &v, sizeof vb);
        in = -(int32_t)(vb < limb); /* all ones where |x| 2^fp < top + 1 (not for NaN) */
        vb &= (uint32_t)in;
        memcpy(&v, &vb, sizeof v);
        q = (int32_t)v;
        q += v - (float)q >= 0.5f;
        q = q > top ? top : q;
        q = (q & in) | (top & ~in & -(int32_t)(ab <= 0x7f800000u)); /* beyond: top, NaN: 0 */
        sg = -(int32_t)(bx >> 31);
        d[i] = (float)((q ^ sg) - sg) * inv;
    }
}

/* ---------- the entry points, one per instruction set ---------- */

#if FIXED_BUF_BYTES
#if defined(__GNUC__) || defined(__clang__)
#define FX_BUF float buf[FIXED_BUF_BYTES / sizeof(float)] __attribute__((aligned(64)))
#else
#define FX_BUF double buf[FIXED_BUF_BYTES / sizeof(double)]
#endif
#define FX_FBUF buf, sizeof buf
#else
#define FX_BUF int buf
#define FX_FBUF NULL, 0
#endif

#if FIXED_DOUBLE
#define FX_CONV_D(g, G, nin, in, fin, out, fout, top) fx_d_conv(g, G, nin, in, fin, out, fout, top, buf, sizeof buf)
#define FX_AFF_D(o, i, M, nin, in, fin, out, fout, top) fx_d_affine(o, i, M, nin, in, fin, out, fout, top)
#else
#define FX_CONV_D(g, G, nin, in, fin, out, fout, top) (void)0
#define FX_AFF_D(o, i, M, nin, in, fin, out, fout, top) (void)0
#endif

#define FX_ENTRIES(SUF, ATTR)                                                                                      \
    static ATTR int conv_##SUF(const nnbrt_geom *g, size_t G, int nin, const nnbrt_tensor *in, const int *fin,   \
                               const nnbrt_tensor *out, int fout, int32_t top)                                    \
    {                                                                                                              \
        const size_t Cg = (size_t)g->C / G, ksz = (size_t)g->KH * (size_t)g->KW;                                  \
        const size_t pitch = (size_t)(g->IW > g->OW ? g->IW : g->OW);                                             \
        const int dbl = sum_kind(in[0].data, in[0].size, fin[0], in[1].data, (size_t)g->OC, Cg * ksz, fin[1]);   \
        FX_BUF;                                                                                                    \
        (void)buf;                                                                                                 \
        if (dbl < 0 || g->OH <= 0 || g->OW <= 0) return 0;                                                        \
        if (FIXED_BUF_BYTES && pitch > FIXED_BUF_BYTES / (dbl ? sizeof(double) : sizeof(float)))                  \
            return 0; /* not one row in the buffer */                                                              \
        if (dbl)                                                                                                   \
            FX_CONV_D(g, G, nin, in, fin, out, fout, top);                                                        \
        else                                                                                                       \
            fx_f_conv(g, G, nin, in, fin, out, fout, top, FX_FBUF);                                               \
        return 1;                                                                                                  \
    }                                                                                                              \
    static ATTR int affine_##SUF(size_t outer, size_t inner, size_t M, int nin, const nnbrt_tensor *in,           \
                                 const int *fin, const nnbrt_tensor *out, int fout, int32_t top)                  \
    {                                                                                                              \
        const int dbl = sum_kind(in[0].data, outer * inner, fin[0], in[1].data, M, inner, fin[1]);               \
        if (dbl < 0) return 0;                                                                                     \
        if (dbl)                                                                                                   \
            FX_AFF_D(outer, inner, M, nin, in, fin, out, fout, top);                                              \
        else                                                                                                       \
            fx_f_affine(outer, inner, M, nin, in, fin, out, fout, top);                                           \
        return 1;                                                                                                  \
    }

FX_ENTRIES(base, )
static void round_base(float *d, size_t n, int fp, int32_t top) { round_body(d, n, fp, top); }

#if FIXED_X86
#if defined(__clang__)
#define FX_T_AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma")))
#else
#define FX_T_AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma,prefer-vector-width=512")))
#endif
FX_ENTRIES(avx2, __attribute__((target("avx2,fma"))))
FX_ENTRIES(avx512, FX_T_AVX512)
static __attribute__((target("avx2,fma"))) void round_avx2(float *d, size_t n, int fp, int32_t top)
{
    round_body(d, n, fp, top);
}
static FX_T_AVX512 void round_avx512(float *d, size_t n, int fp, int32_t top) { round_body(d, n, fp, top); }

static int g_level = -2;

int nnbrt_fixed_isa_level(void)
{
    if (g_level < -1) {
        const char *want = getenv("NNB_FIXED_ISA");
        int best = 0;
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = 1;
        if (best == 1 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) best = 2;
        if (want && !strcmp(want, "loops")) /* no fast form: fixed_mac.c's int64 loops (benchmarks) */
            best = -1;
        else if (want && !strcmp(want, "base"))
            best = 0;
        else if (want && !strcmp(want, "avx2") && best > 1)
            best = 1;
        g_level = best; /* the same value whichever thread stores it */
    }
    return g_level;
}
#else
int nnbrt_fixed_isa_level(void) { return 0; }
#endif

int nnbrt_fixed_conv_fast(const nnbrt_geom *g, size_t G, int nin, const nnbrt_tensor *in, const int *fin,
                          const nnbrt_tensor *out, int fout, int32_t top)
{
#if FIXED_X86
    switch (nnbrt_fixed_isa_level()) {
    case -1: return 0;
    case 2: return conv_avx512(g, G, nin, in, fin, out, fout, top);
    case 1: return conv_avx2(g, G, nin, in, fin, out, fout, top);
    default: break;
    }
#endif
    if (conv_base(g, G, nin, in, fin, out, fout, top)) return 1;
#if FIXED_DSP
    return dsp_conv(g, G, nin, in, fin, out, fout, top);
#else
    return 0;
#endif
}

int nnbrt_fixed_affine_fast(size_t outer, size_t inner, size_t M, int nin, const nnbrt_tensor *in,
                            const int *fin, const nnbrt_tensor *out, int fout, int32_t top)
{
#if FIXED_X86
    switch (nnbrt_fixed_isa_level()) {
    case -1: return 0;
    case 2: return affine_avx512(outer, inner, M, nin, in, fin, out, fout, top);
    case 1: return affine_avx2(outer, inner, M, nin, in, fin, out, fout, top);
    default: break;
    }
#endif
    return affine_base(outer, inner, M, nin, in, fin, out, fout, top);
}

void nnbrt_fixed_round_n(float *d, size_t n, int fp, int32_t top)
{
#if FIXED_X86
    switch (nnbrt_fixed_isa_level()) {
    case 2: round_avx512(d, n, fp, top); return;
    case 1: round_avx2(d, n, fp, top); return;
    default: break;
    }
#endif
    round_base(d, n, fp, top);
}
