/* Fixed-point functions in integers (fixed_mac.h; the arithmetic: docs/int8.md "Fixed point").
   Mirrored in numpy by nnb/quantize/fixed_int.py: both give the same integers. */
#include "fixed_fast.h"
#include "conv_util.h"
#include <math.h>

#if defined(__GNUC__)
#define FIXED_NOINLINE __attribute__((noinline))
#else
#define FIXED_NOINLINE
#endif

float nnbrt_fixed_round(float x, int fp, int32_t top)
{
    /* in float, exactly: v = |x| * 2^fp (a power-of-two scaling), t its integer part and
       v - t its fraction (both exact below 2^24); floor(v + 1/2) = t + (fraction >= 1/2);
       the result q * 2^-fp (a product by a power of two, exact: no division; branch-free
       but for saturation and NaN, which ReLU's half-zero outputs would mispredict) */
    const uint32_t pb = (uint32_t)(127 + fp) << 23; /* 2^fp's bits */
    float p, v;
    int32_t q;
    memcpy(&p, &pb, sizeof p);
    v = fabsf(x) * p;
    if (!(v < (float)top + 1.0f)) {
        if (x != x) return 0.0f; /* NaN: fixed point has none */
        q = top;
    } else {
        q = (int32_t)v;
        q += v - (float)q >= 0.5f;
        if (q > top) q = top;
    }
    return (float)(x < 0.0f ? -q : q) * nnbrt_fixed_inv(fp); /* q = 0: +0, no branch */
}

/* The integer of a grid value (exact: |x| * 2^fp is an integer below 2^16). */
static int64_t ival(float x, float s) { return (int64_t)(int32_t)(x * s); }

/* acc / (den * 2^fa) rounded to 2^-fo, half away from zero, saturated to +-top; as a float. */
static float finish(int64_t acc, int fa, int fo, uint64_t den, int32_t top)
{
    uint64_t m = acc < 0 ? 0u - (uint64_t)acc : (uint64_t)acc, q;
    if (fo >= fa) {
        const uint64_t cap = ((uint64_t)top + 1u) * den; /* beyond it the result saturates anyway */
        if (m > cap) m = cap;
        m <<= (unsigned)(fo - fa);
        q = (2u * m + den) / (2u * den);
    } else {
        const uint64_t d = den << (unsigned)(fa - fo);
        q = (2u * m + d) / (2u * d);
    }
    if (q > (uint64_t)top) q = (uint64_t)top;
    if (q == 0u) return 0.0f;
    return (acc < 0 ? -(float)q : (float)q) / (float)(1u << fo);
}

static float scale(int fp) { return (float)(1u << fp); }

/* Output columns accumulated at a time (int64 each, on the stack: fewer on 32-bit Arm, whose
   stack budget is 1 KB, tests/c/test_stack.py). */
#ifndef FIXED_COLS
#if defined(__arm__)
#define FIXED_COLS 4
#else
#define FIXED_COLS 16
#endif
#endif

/* Convolution in G groups (depthwise: G = C, C/G = 1, OC/G = multiplier); weights
   OC x C/G x KH x KW; optional bias per output channel. Products of two values below 2^15
   fit int32; each weight is converted once per block of FIXED_COLS output columns. */
static FIXED_NOINLINE void conv(const nnbrt_geom *g, size_t G, int nin, const nnbrt_tensor *in, const int *fin,
                                 const nnbrt_tensor *out, int fout, int32_t top)
{
    const size_t Cg = (size_t)g->C / G, OCg = (size_t)g->OC / G;
    const size_t isz = (size_t)g->IH * (size_t)g->IW, osz = (size_t)g->OH * (size_t)g->OW;
    const float sx = scale(fin[0]), sw = scale(fin[1]), sb = nin > 2 ? scale(fin[2]) : 1.0f;
    const int fxw = fin[0] + fin[1], fa = nin > 2 && fin[2] > fxw ? fin[2] : fxw;
    int64_t acc[FIXED_COLS];
    size_t n, oc, c;
    long oh, ow0, kh, kw, j;
    if (nnbrt_fixed_conv_fast(g, G, nin, in, fin, out, fout, top)) return; /* the same integers, faster */
    for (n = 0; n < g->outer; ++n)
        for (oc = 0; oc < (size_t)g->OC; ++oc) {
            const size_t c0 = oc / OCg * Cg;
            const float *w0 = in[1].data + oc * Cg * (size_t)g->KH * (size_t)g->KW;
            float *y = out->data + (n * (size_t)g->OC + oc) * osz;
            const int64_t b = nin > 2 ? ival(in[2].data[oc], sb) * ((int64_t)1 << (fa - fin[2])) : 0;
            for (oh = 0; oh < g->OH; ++oh)
                for (ow0 = 0; ow0 < g->OW; ow0 += FIXED_COLS) {
                    const long nb = g->OW - ow0 < FIXED_COLS ? g->OW - ow0 : FIXED_COLS;
                    for (j = 0; j < nb; ++j) acc[j] = 0;
                    for (c = 0; c < Cg; ++c) {
                        const float *x = in[0].data + (n * (size_t)g->C + c0 + c) * isz;
                        const float *w = w0 + c * (size_t)g->KH * (size_t)g->KW;
                        for (kh = 0; kh < g->KH; ++kh) {
                            const long ih = oh * g->SH - g->PH + kh * g->DH;
                            const float *xr;
                            if (ih < 0 || ih >= g->IH) continue;
                            xr = x + ih * g->IW;
                            for (kw = 0; kw < g->KW; ++kw) {
                                const int32_t wi = (int32_t)(w[kh * g->KW + kw] * sw);
                                const long base = kw * g->DW - g->PW;
                                long lo = 0, hi = nb; /* the columns whose tap lies inside the row */
                                if (!wi) continue;
                                while (lo < nb && (ow0 + lo) * g->SW + base < 0) ++lo;
                                while (hi > lo && (ow0 + hi - 1) * g->SW + base >= g->IW) --hi;
                                for (j = lo; j < hi; ++j)
                                    acc[j] += (int64_t)((int32_t)(xr[(ow0 + j) * g->SW + base] * sx) * wi);
                            }
                        }
                    }
                    for (j = 0; j < nb; ++j)
                        y[oh * g->OW + ow0 + j] = finish(acc[j] * ((int64_t)1 << (fa - fxw)) + b, fa, fout, 1u, top);
                }
        }
}

/* Affine: x (outer x inner), weights stored output-major W^T[o][k], optional bias[o]. */
static FIXED_NOINLINE int affine(const nnbrt_args *a, int nin, const nnbrt_tensor *in, const int *fin,
                  const nnbrt_tensor *out, int fout, int32_t top)
{
    const size_t inner = nnbrt_prod(&in[0], a->a[0].i, in[0].ndim), outer = nnbrt_prod(&in[0], 0, a->a[0].i);
    const size_t M = inner ? in[1].size / inner : 0;
    const float sx = scale(fin[0]), sw = scale(fin[1]), sb = nin > 2 ? scale(fin[2]) : 1.0f;
    const int fxw = fin[0] + fin[1], fa = nin > 2 && fin[2] > fxw ? fin[2] : fxw;
    size_t r, o, k;
    if (in[1].q || !inner) return 0;
    if (nnbrt_fixed_affine_fast(outer, inner, M, nin, in, fin, out, fout, top)) return 1;
    for (r = 0; r < outer; ++r)
        for (o = 0; o < M; ++o) {
            const float *x = in[0].data + r * inner, *w = in[1].data + o * inner;
            int64_t acc = 0;
            for (k = 0; k < inner; ++k) acc += ival(x[k], sx) * ival(w[k], sw);
            acc *= (int64_t)1 << (fa - fxw);
            if (nin > 2) acc += ival(in[2].data[o], sb) * ((int64_t)1 << (fa - fin[2]));
            out->data[r * M + o] = finish(acc, fa, fout, 1u, top);
        }
    return 1;
}

/* AveragePooling: the window's integer sum divided by nnabla's count (including_pad: the
   window cut at the padded extent; else the input cells it covers), one rounding. */
static FIXED_NOINLINE void avg_pool(const nnbrt_args *a, const nnbrt_tensor *in, int fx, const nnbrt_tensor *out, int fout,
                     int32_t top)
{
    nnbrt_geom g;
    const float sx = scale(fx);
    size_t n;
    long oh, ow, ih, iw;
    nnbrt_pool_geom(a, &in[0], out, &g);
    for (n = 0; n < g.outer; ++n) {
        const float *x = in[0].data + n * (size_t)g.IH * (size_t)g.IW;
        float *y = out->data + n * (size_t)g.OH * (size_t)g.OW;
        for (oh = 0; oh < g.OH; ++oh) {
            long hs, he, ws, we, cnt;
            const long ph = nnbrt_pool_window(oh, g.KH, g.SH, g.PH, g.IH, &hs, &he);
            for (ow = 0; ow < g.OW; ++ow) {
                const long pw = nnbrt_pool_window(ow, g.KW, g.SW, g.PW, g.IW, &ws, &we);
                int64_t s = 0;
                for (ih = hs; ih < he; ++ih)
                    for (iw = ws; iw < we; ++iw) s += ival(x[ih * g.IW + iw], sx);
                cnt = a->a[5].i ? ph * pw : (he - hs) * (we - ws);
                y[oh * g.OW + ow] = cnt > 0 ? finish(s, fx, fout, (uint64_t)cnt, top) : 0.0f;
            }
        }
    }
}

/* Double precision is used only off 32-bit Arm (microcontroller builds link no double
   routine, tests/c/test_stack.py): there Softmax stays the float kernel, rounded. */
#ifndef NNBRT_FIXED_SOFTMAX_DOUBLE
#if defined(__arm__)
#define NNBRT_FIXED_SOFTMAX_DOUBLE 0
#else
#define NNBRT_FIXED_SOFTMAX_DOUBLE 1
#endif
#endif

#if NNBRT_FIXED_SOFTMAX_DOUBLE
/* Softmax of grid values in double (max, exp(x - max), summed in axis order, divided), each
   result rounded once to the output grid: the float island with its last-bit differences
   (libm's exp against numpy's) moved from float's 2^-24 to double's 2^-53. */
static void softmax(const nnbrt_args *a, const nnbrt_tensor *in, const nnbrt_tensor *out, int fout, int32_t top)
{
    const int ax = nnbrt_axis(a->a[0].i, in[0].ndim);
    const size_t outer = nnbrt_prod(&in[0], 0, ax), n = (size_t)in[0].dims[ax];
    const size_t inner = nnbrt_prod(&in[0], ax + 1, in[0].ndim);
    const double sc = (double)(1u << fout);
    size_t o, i, k;
    for (o = 0; o < outer; ++o)
        for (i = 0; i < inner; ++i) {
            const float *x = in[0].data + o * n * inner + i;
            float *y = out->data + o * n * inner + i;
            double m = (double)x[0], s = 0.0;
            for (k = 1; k < n; ++k)
                if ((double)x[k * inner] > m) m = (double)x[k * inner];
            for (k = 0; k < n; ++k) s += exp((double)x[k * inner] - m);
            for (k = 0; k < n; ++k) {
                const double v = exp((double)x[k * inner] - m) / s * sc + 0.5; /* in [0.5, 2^15 + 0.5] */
                const int32_t q = v >= (double)top + 1.0 ? top : (int32_t)v;
                y[k * inner] = q ? (float)q / (float)(1u << fout) : 0.0f;
            }
        }
}

#endif

static int is(const nnbrt_kernel *k, const char *name) { return strcmp(k->name, name) == 0; }

int nnbrt_fixed_run(const nnbrt_kernel *k, const nnbrt_args *a, int nin, const nnbrt_tensor *in,
                    const int *fin, const nnbrt_tensor *out, int fout, int32_t top)
{
    nnbrt_geom g;
    if (is(k, "Convolution") || is(k, "DepthwiseConvolution")) {
        const int dw = is(k, "DepthwiseConvolution");
        if (in[1].q || nin < 2) return 0;
        nnbrt_conv_geom(a, in, out, dw ? NNBRT_DEPTHWISE : NNBRT_CONV, &g);
        conv(&g, dw ? (size_t)g.C : (size_t)a->a[4].i, nin, in, fin, out, fout, top);
        return 1;
    }
    if (is(k, "Affine")) return nin >= 2 && affine(a, nin, in, fin, out, fout, top);
    if (is(k, "AveragePooling")) {
        avg_pool(a, in, fin[0], out, fout, top);
        return 1;
    }
#if NNBRT_FIXED_SOFTMAX_DOUBLE
    if (is(k, "Softmax") && nin == 1) {
        softmax(a, in, out, fout, top);
        return 1;
    }
#endif
    if (is(k, "Add2") && nin == 2 && in[0].size == out->size && in[1].size == out->size) {
        const int fa = fin[0] > fin[1] ? fin[0] : fin[1];
        const float s0 = scale(fin[0]), s1 = scale(fin[1]);
        size_t i;
        for (i = 0; i < out->size; ++i) {
            const int64_t acc = ival(in[0].data[i], s0) * ((int64_t)1 << (fa - fin[0])) +
                                ival(in[1].data[i], s1) * ((int64_t)1 << (fa - fin[1]));
            out->data[i] = finish(acc, fa, fout, 1u, top);
        }
        return 1;
    }
    return 0;
}
