/* Scalar convolution kernels for small in-order cores (Cortex-M4F: 32
   single-precision registers, no SIMD float). On M-profile Arm (conv_util.h:
   NNBRT_MCU_KERNELS, unless NNBRT_NO_MCU_KERNELS) nnbrt_conv_engine is
   nnbrt_mcu_conv and the vector engine, conv_gemm.c and conv_dwflat.c are
   not linked; -DNNBRT_MCU_KERNELS builds these kernels on a host (the tests
   do, under ASan/UBSan). Scratch only for pooling (one pooled row when a
   residual is added); padding is handled by clipping taps, never by copies.

   - Convolutions with several input channels per group (any kernel, stride,
     dilation, padding, groups): tiles of 4 output channels x 4 (or 3, 2)
     columns of a row, 16 accumulators in registers, over (input channel,
     kernel row, kernel column); each weight row is read through its own
     post-incremented pointer, the inputs at constant offsets (stride 1 and 2
     specialised; 3-tap rows unrolled so neighbouring columns share loads),
     one fused multiply-add per MAC (__builtin_fmaf where the FPU has it).
     Border columns (taps in the padding) and strides > 2 run 4 channels x 1
     column with clipped kernel columns; channels left over 1 x 4 columns.
     1x1 stride-1 layers run as one long row in 4 x 5 tiles.
   - Depthwise (fewer than 4 output channels per group): 3x3 stride-1 planes
     with the nine weights in registers and three row pointers, edge columns
     and edge rows unrolled; other kernels output by output, without per-tap
     tests inside the row.
   - Pooling (FusedConv): every convolution output is folded into each pooled
     output whose window holds it (accumulators initialised first; a pooled
     row at a time in scratch when a residual, which may share y, is added),
     then averaged, residual and activation applied.
   Bias, residual and ReLU/ReLU6 are applied as a tile is stored.
   -DNNBRT_MCU_SMALL keeps only the 4x4 tiles and clipped columns (less code,
   slower on rows that are not a multiple of 4 wide).
   Forms left out (nnb emit-c defines these for the forms its model's layers
   never reach; each form's work then goes to a general one, so any setting
   computes the same values, only slower): NNBRT_MCU_NO_DW (depthwise planes
   other than 3x3 stride 1: conv_plain), NNBRT_MCU_NO_DW3 (3x3 stride-1
   depthwise planes: dw_plane, or conv_plain without it), NNBRT_MCU_NO_S1 /
   NNBRT_MCU_NO_S2 (row tiles of stride 1 / 2: clipped columns),
   NNBRT_MCU_NO_1X1 (1x1 layers as one row: row tiles), NNBRT_MCU_NO_T45
   (4x5 1x1 tiles), NNBRT_MCU_NO_T44 (4x4 row tiles), NNBRT_MCU_NO_T43,
   NNBRT_MCU_NO_T42 (row ends of 3 and 2 columns), NNBRT_MCU_NO_T14
   (channels left over: clipped columns). One define is not a fallback:
   NNBRT_MCU_NO_POOL leaves out fused pooling, for code whose layers have
   none (a pooled layer would be computed unpooled). */
#include "conv_util.h"
#include <math.h>

#ifdef NNBRT_MCU_KERNELS

#if defined(__ARM_FEATURE_FMA)
#define MAC(a, w, x) ((a) = __builtin_fmaf((w), (x), (a)))
#else
#define MAC(a, w, x) ((a) += (w) * (x))
#endif
/* -DNNBRT_MCU_SMALL: only the 4x4 tiles and the clipped columns (about half
   the code, slower on rows that are not a multiple of 4 wide) */
#ifdef NNBRT_MCU_SMALL
#define MCU_FULL 0
#else
#define MCU_FULL 1
#endif
/* which forms are compiled (1) or left to a general form (0) */
#if defined(NNBRT_MCU_NO_DW)
#define MCU_DW 0
#else
#define MCU_DW 1
#endif
#if defined(NNBRT_MCU_NO_DW3)
#define MCU_DW3 0
#else
#define MCU_DW3 1
#endif
#ifdef NNBRT_MCU_NO_S1
#define MCU_S1 0
#else
#define MCU_S1 1
#endif
#ifdef NNBRT_MCU_NO_S2
#define MCU_S2 0
#else
#define MCU_S2 1
#endif
#if defined(NNBRT_MCU_NO_1X1)
#define MCU_1X1 0
#else
#define MCU_1X1 1
#endif
#if defined(NNBRT_MCU_NO_T45) || !MCU_FULL
#define MCU_T45 0
#else
#define MCU_T45 1
#endif
#ifdef NNBRT_MCU_NO_T44
#define MCU_T44 0
#else
#define MCU_T44 1
#endif
#ifdef NNBRT_MCU_NO_POOL
#define MCU_POOL 0
#else
#define MCU_POOL 1
#endif
#if defined(NNBRT_MCU_NO_T43) || !MCU_FULL
#define MCU_T43 0
#else
#define MCU_T43 1
#endif
#if defined(NNBRT_MCU_NO_T42) || !MCU_FULL
#define MCU_T42 0
#else
#define MCU_T42 1
#endif
#if defined(NNBRT_MCU_NO_T14) || !MCU_FULL
#define MCU_T14 0
#else
#define MCU_T14 1
#endif
#if defined(__GNUC__)
#define AINLINE static inline __attribute__((always_inline))
#define NOINL __attribute__((noinline)) /* tiles keep their float registers out of the callers' frames */
#else
#define AINLINE static inline
#define NOINL
#endif

typedef struct {
    const nnbrt_geom *g;
    const float *bias; /* all output channels, or NULL */
    float *y;          /* output of this batch element; with pooling the pool accumulators */
    const float *res;  /* residual of this batch element, or NULL (unpooled) */
    int act, pool;     /* pool: 0 none, 1 max, 2 average */
    int direct;        /* no pool: tiles store y = act(v + bias [+ res]) */
    const nnbrt_fuse *f;
    size_t plane;      /* floats per channel of y (or of the pool accumulators) */
    size_t ocb;        /* pool accumulators: first channel held */
    long phlo, phhi;   /* pool accumulators: the pooled rows held */
} mctx;

static float act1(float v, int act)
{
    if (act == 1) return v > 0.0f ? v : 0.0f;
    if (act == 2) return v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
    return v;
}

/* Pooled outputs [*lo, *hi) whose window (size k, stride s, pad p; n
   outputs) holds conv index c (0 <= c < conv size). */
static void pool_range(long c, long k, long s, long p, long n, long *lo, long *hi)
{
    const long t = c + p - k + 1;
    *lo = t <= 0 ? 0 : (t + s - 1) / s;
    *hi = (c + p) / s + 1;
    if (*hi > n) *hi = n;
}

/* Whether conv row oh feeds a pooled row held by the accumulators. */
static int row_pooled(const mctx *c, long oh)
{
    long lo, hi;
    pool_range(oh, c->f->KH, c->f->SH, c->f->PH, c->f->OH, &lo, &hi);
    return (lo > c->phlo ? lo : c->phlo) < (hi < c->phhi ? hi : c->phhi);
}

/* Pooling: n (<= 4) conv outputs v0.. of channel oc at row oh, columns
   ow.. (bias not added) folded into the pooled outputs held by c. */
static void emit(const mctx *c, size_t oc, long oh, long ow, int n, float v0, float v1, float v2, float v3)
{
    const float b = c->bias ? c->bias[oc] : 0.0f;
    int j;
    v0 += b, v1 += b, v2 += b, v3 += b;
    {
        const nnbrt_fuse *f = c->f;
        float *base = c->y + (oc - c->ocb) * c->plane;
        long h0, h1, ph, pw, w0, w1;
        pool_range(oh, f->KH, f->SH, f->PH, f->OH, &h0, &h1);
        if (h0 < c->phlo) h0 = c->phlo;
        if (h1 > c->phhi) h1 = c->phhi;
        if (h0 >= h1) return;
        base += (size_t)(h0 - c->phlo) * (size_t)f->OW;
        if (f->KW <= f->SW && h1 - h0 == 1) {
            /* windows apart along the row: each column folds into one pooled column at most */
            const long cc = ow + f->PW, sw = f->SW, kw = f->KW, ow_n = f->OW;
            long q = cc / sw, rr = cc - q * sw;
            if (c->pool == 1) {
                /* nnabla's max: a window starts from its first cell (its first row, and offset 0 or
                   column 0), then takes a later cell only if greater (a NaN first cell stays) */
                const long r0 = h0 * f->SH - f->PH;
                const int frow = oh == (r0 > 0 ? r0 : 0);
                for (j = 0; j < n; ++j) {
                    const float vj = j == 0 ? v0 : j == 1 ? v1 : j == 2 ? v2 : v3;
                    if (rr < kw && q < ow_n && ((frow && (rr == 0 || ow + j == 0)) || vj > base[q])) base[q] = vj;
                    if (++rr == sw) rr = 0, ++q;
                }
            } else {
                for (j = 0; j < n; ++j) {
                    if (rr < kw && q < ow_n) base[q] += j == 0 ? v0 : j == 1 ? v1 : j == 2 ? v2 : v3;
                    if (++rr == sw) rr = 0, ++q;
                }
            }
            return;
        }
        for (j = 0; j < n; ++j) {
            const float vj = j == 0 ? v0 : j == 1 ? v1 : j == 2 ? v2 : v3;
            float *yr = base;
            pool_range(ow + j, f->KW, f->SW, f->PW, f->OW, &w0, &w1);
            for (ph = h0; ph < h1; ++ph, yr += f->OW)
                for (pw = w0; pw < w1; ++pw)
                    if (c->pool == 1) {
                        const long r0 = ph * f->SH - f->PH, c0 = pw * f->SW - f->PW;
                        const int first = oh == (r0 > 0 ? r0 : 0) && ow + j == (c0 > 0 ? c0 : 0);
                        yr[pw] = first || vj > yr[pw] ? vj : yr[pw]; /* as above */
                    } else {
                        yr[pw] += vj;
                    }
        }
    }
}

/* Row facts shared by every tile of conv output row oh. */
typedef struct {
    const float *x;  /* input (all channels of the group) */
    const float *w;  /* weights of output channel 0 */
    size_t icst;     /* floats between input channels */
    size_t wsoc;     /* weights per output channel */
    long cg, KW, DW, SW, rowstep; /* rowstep = DH * IW */
    long nkh;        /* kernel rows inside the input */
    long ih;         /* input row of the first such kernel row */
    long wofs;       /* weight offset of that kernel row (kh0 * KW) */
    long wskip;      /* weights of the clipped kernel rows, per input channel */
} rowi;

/* n (1..5) conv outputs v0.. of channel oc at row oh, columns ow..:
   stored with bias and activation when there is no pooling or residual,
   else through emit. */
static void put(const mctx *c, size_t oc, long oh, long ow, int n, float v0, float v1, float v2, float v3, float v4)
{
    if (!MCU_POOL || c->direct) {
        const size_t o = oc * c->plane + (size_t)oh * (size_t)c->g->OW + (size_t)ow;
        float *yp = c->y + o;
        const float b = c->bias ? c->bias[oc] : 0.0f;
        const int act = c->act;
        v0 += b, v1 += b, v2 += b, v3 += b, v4 += b;
        if (c->res) { /* read before the stores (the residual may be y itself) */
            const float *rp = c->res + o;
            v0 += rp[0];
            if (n > 1) v1 += rp[1];
            if (n > 2) v2 += rp[2];
            if (n > 3) v3 += rp[3];
            if (n > 4) v4 += rp[4];
        }
        yp[0] = act1(v0, act);
        if (n < 2) return;
        yp[1] = act1(v1, act);
        if (n < 3) return;
        yp[2] = act1(v2, act);
        if (n < 4) return;
        yp[3] = act1(v3, act);
        if (n < 5) return;
        yp[4] = act1(v4, act);
    } else {
        emit(c, oc, oh, ow, n > 4 ? 4 : n, v0, v1, v2, v3);
        if (n > 4) emit(c, oc, oh, ow + 4, 1, v4, 0.0f, 0.0f, 0.0f);
    }
}

/* One column (row oh, column ow) of nb (1..4) channels from oc. */
static void put_col(const mctx *c, size_t oc, long oh, long ow, int nb, float v0, float v1, float v2, float v3)
{
    if (!MCU_POOL || c->direct) {
        const size_t pl = c->plane, o = oc * pl + (size_t)oh * (size_t)c->g->OW + (size_t)ow;
        float *yp = c->y + o;
        const float *b = c->bias ? c->bias + oc : NULL;
        const int act = c->act;
        if (b) {
            v0 += b[0];
            if (nb > 1) v1 += b[1];
            if (nb > 2) v2 += b[2];
            if (nb > 3) v3 += b[3];
        }
        if (c->res) {
            const float *rp = c->res + o;
            v0 += rp[0];
            if (nb > 1) v1 += rp[pl];
            if (nb > 2) v2 += rp[2 * pl];
            if (nb > 3) v3 += rp[3 * pl];
        }
        yp[0] = act1(v0, act);
        if (nb < 2) return;
        yp[pl] = act1(v1, act);
        if (nb < 3) return;
        yp[2 * pl] = act1(v2, act);
        if (nb < 4) return;
        yp[3 * pl] = act1(v3, act);
    } else {
        emit(c, oc, oh, ow, 1, v0, 0.0f, 0.0f, 0.0f);
        if (nb > 1) emit(c, oc + 1, oh, ow, 1, v1, 0.0f, 0.0f, 0.0f);
        if (nb > 2) emit(c, oc + 2, oh, ow, 1, v2, 0.0f, 0.0f, 0.0f);
        if (nb > 3) emit(c, oc + 3, oh, ow, 1, v3, 0.0f, 0.0f, 0.0f);
    }
}

/* 4 channels x N columns (ow .. ow+N-1, all taps inside the row; SW and N
   constants where inlined). */
AINLINE void tile4n(const mctx *c, const rowi *r, size_t oc, long oh, long ow, long SW, int N)
{
    float a00 = 0.0f, a01 = 0.0f, a02 = 0.0f, a03 = 0.0f, a10 = 0.0f, a11 = 0.0f, a12 = 0.0f, a13 = 0.0f;
    float a20 = 0.0f, a21 = 0.0f, a22 = 0.0f, a23 = 0.0f, a30 = 0.0f, a31 = 0.0f, a32 = 0.0f, a33 = 0.0f;
    const float *w0 = r->w + oc * r->wsoc + r->wofs, *w1 = w0 + r->wsoc, *w2 = w1 + r->wsoc, *w3 = w2 + r->wsoc;
    const float *xb = r->x + (size_t)r->ih * (size_t)c->g->IW + (size_t)(ow * SW - c->g->PW);
    const long KW = r->KW, DW = r->DW, nkh = r->nkh, rowstep = r->rowstep, wskip = r->wskip;
    long ic, kh, kw;
    for (ic = 0; ic < r->cg; ++ic, xb += r->icst) {
        const float *xr = xb;
        for (kh = 0; kh < nkh; ++kh, xr += rowstep) {
            const float *xp = xr;
            if (MCU_FULL && N == 4 && KW == 3 && DW == 1) { /* 3 taps unrolled: neighbouring columns share loads */
                const float *q0 = w0, *q1 = w1, *q2 = w2, *q3 = w3;
                for (kw = 0; kw < 3; ++kw) {
                    const float x0 = xp[kw], x1 = xp[kw + SW], x2 = xp[kw + 2 * SW], x3 = xp[kw + 3 * SW];
                    float s;
                    s = q0[kw]; MAC(a00, s, x0); MAC(a01, s, x1); MAC(a02, s, x2); MAC(a03, s, x3);
                    s = q1[kw]; MAC(a10, s, x0); MAC(a11, s, x1); MAC(a12, s, x2); MAC(a13, s, x3);
                    s = q2[kw]; MAC(a20, s, x0); MAC(a21, s, x1); MAC(a22, s, x2); MAC(a23, s, x3);
                    s = q3[kw]; MAC(a30, s, x0); MAC(a31, s, x1); MAC(a32, s, x2); MAC(a33, s, x3);
                }
                w0 += 3;
                w1 += 3;
                w2 += 3;
                w3 += 3;
                continue;
            }
            for (kw = 0; kw < KW; ++kw, xp += DW) {
                const float x0 = xp[0], x1 = N > 1 ? xp[SW] : 0.0f, x2 = N > 2 ? xp[2 * SW] : 0.0f,
                            x3 = N > 3 ? xp[3 * SW] : 0.0f;
                float s;
                s = *w0++; MAC(a00, s, x0); if (N > 1) MAC(a01, s, x1); if (N > 2) MAC(a02, s, x2); if (N > 3) MAC(a03, s, x3);
                s = *w1++; MAC(a10, s, x0); if (N > 1) MAC(a11, s, x1); if (N > 2) MAC(a12, s, x2); if (N > 3) MAC(a13, s, x3);
                s = *w2++; MAC(a20, s, x0); if (N > 1) MAC(a21, s, x1); if (N > 2) MAC(a22, s, x2); if (N > 3) MAC(a23, s, x3);
                s = *w3++; MAC(a30, s, x0); if (N > 1) MAC(a31, s, x1); if (N > 2) MAC(a32, s, x2); if (N > 3) MAC(a33, s, x3);
            }
        }
        w0 += wskip;
        w1 += wskip;
        w2 += wskip;
        w3 += wskip;
    }
    put(c, oc, oh, ow, N, a00, a01, a02, a03, 0.0f);
    put(c, oc + 1, oh, ow, N, a10, a11, a12, a13, 0.0f);
    put(c, oc + 2, oh, ow, N, a20, a21, a22, a23, 0.0f);
    put(c, oc + 3, oh, ow, N, a30, a31, a32, a33, 0.0f);
}

/* 1 channel x 4 columns (channels left over from the 4-channel tiles). */
AINLINE void tile14(const mctx *c, const rowi *r, size_t oc, long oh, long ow, long SW)
{
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    const float *w0 = r->w + oc * r->wsoc + r->wofs;
    const float *xb = r->x + (size_t)r->ih * (size_t)c->g->IW + (size_t)(ow * SW - c->g->PW);
    long ic, kh, kw;
    for (ic = 0; ic < r->cg; ++ic, xb += r->icst, w0 += r->wskip) {
        const float *xr = xb;
        for (kh = 0; kh < r->nkh; ++kh, xr += r->rowstep) {
            const float *xp = xr;
            for (kw = 0; kw < r->KW; ++kw, xp += r->DW) {
                const float s = *w0++;
                MAC(a0, s, xp[0]);
                MAC(a1, s, xp[SW]);
                MAC(a2, s, xp[2 * SW]);
                MAC(a3, s, xp[3 * SW]);
            }
        }
    }
    put(c, oc, oh, ow, 4, a0, a1, a2, a3, 0.0f);
}

NOINL static void tile14_s1(const mctx *c, const rowi *r, size_t oc, long oh, long ow) { tile14(c, r, oc, oh, ow, 1); }
NOINL static void tile14_s2(const mctx *c, const rowi *r, size_t oc, long oh, long ow) { tile14(c, r, oc, oh, ow, 2); }

NOINL static void tile44_s1(const mctx *c, const rowi *r, size_t oc, long oh, long ow) { tile4n(c, r, oc, oh, ow, 1, 4); }
NOINL static void tile44_s2(const mctx *c, const rowi *r, size_t oc, long oh, long ow) { tile4n(c, r, oc, oh, ow, 2, 4); }
NOINL static void tile43_s1(const mctx *c, const rowi *r, size_t oc, long oh, long ow) { tile4n(c, r, oc, oh, ow, 1, 3); }
NOINL static void tile43_s2(const mctx *c, const rowi *r, size_t oc, long oh, long ow) { tile4n(c, r, oc, oh, ow, 2, 3); }
NOINL static void tile42_s1(const mctx *c, const rowi *r, size_t oc, long oh, long ow) { tile4n(c, r, oc, oh, ow, 1, 2); }
NOINL static void tile42_s2(const mctx *c, const rowi *r, size_t oc, long oh, long ow) { tile4n(c, r, oc, oh, ow, 2, 2); }

/* 1x1 stride-1 (one long row): 4 channels x N (a constant where inlined)
   columns over the input channels. */
AINLINE void tile4n_1x1(const mctx *c, const rowi *r, size_t oc, long ow, int N)
{
    float a00 = 0.0f, a01 = 0.0f, a02 = 0.0f, a03 = 0.0f, a04 = 0.0f, a10 = 0.0f, a11 = 0.0f, a12 = 0.0f, a13 = 0.0f,
          a14 = 0.0f;
    float a20 = 0.0f, a21 = 0.0f, a22 = 0.0f, a23 = 0.0f, a24 = 0.0f, a30 = 0.0f, a31 = 0.0f, a32 = 0.0f, a33 = 0.0f,
          a34 = 0.0f;
    const float *w0 = r->w + oc * r->wsoc, *w1 = w0 + r->wsoc, *w2 = w1 + r->wsoc, *w3 = w2 + r->wsoc;
    const float *xp = r->x + ow;
    const size_t icst = r->icst;
    long ic;
    for (ic = 0; ic < r->cg; ++ic, xp += icst) {
        const float x0 = xp[0], x1 = N > 1 ? xp[1] : 0.0f, x2 = N > 2 ? xp[2] : 0.0f, x3 = N > 3 ? xp[3] : 0.0f,
                    x4 = N > 4 ? xp[4] : 0.0f;
        float s;
        s = *w0++; MAC(a00, s, x0); if (N > 1) MAC(a01, s, x1); if (N > 2) MAC(a02, s, x2); if (N > 3) MAC(a03, s, x3); if (N > 4) MAC(a04, s, x4);
        s = *w1++; MAC(a10, s, x0); if (N > 1) MAC(a11, s, x1); if (N > 2) MAC(a12, s, x2); if (N > 3) MAC(a13, s, x3); if (N > 4) MAC(a14, s, x4);
        s = *w2++; MAC(a20, s, x0); if (N > 1) MAC(a21, s, x1); if (N > 2) MAC(a22, s, x2); if (N > 3) MAC(a23, s, x3); if (N > 4) MAC(a24, s, x4);
        s = *w3++; MAC(a30, s, x0); if (N > 1) MAC(a31, s, x1); if (N > 2) MAC(a32, s, x2); if (N > 3) MAC(a33, s, x3); if (N > 4) MAC(a34, s, x4);
    }
    put(c, oc, 0, ow, N, a00, a01, a02, a03, a04);
    put(c, oc + 1, 0, ow, N, a10, a11, a12, a13, a14);
    put(c, oc + 2, 0, ow, N, a20, a21, a22, a23, a24);
    put(c, oc + 3, 0, ow, N, a30, a31, a32, a33, a34);
}

NOINL static void tile45_1x1(const mctx *c, const rowi *r, size_t oc, long ow) { tile4n_1x1(c, r, oc, ow, 5); }

/* nb (4 or 1) channels x 1 column with the kernel columns clipped to the input. */
NOINL static void tile_col(const mctx *c, const rowi *r, size_t oc, int nb, long oh, long ow)
{
    const nnbrt_geom *g = c->g;
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    const long iw0 = ow * r->SW - g->PW;
    long kw0 = 0, kw1 = r->KW, nkw, ic, kh, kw, wtail;
    const float *w0, *w1, *w2, *w3, *xb;
    if (iw0 < 0) kw0 = (-iw0 + r->DW - 1) / r->DW;
    if (iw0 + (kw1 - 1) * r->DW >= g->IW) kw1 = g->IW - 1 - iw0 < 0 ? 0 : (g->IW - 1 - iw0) / r->DW + 1;
    nkw = kw1 > kw0 ? kw1 - kw0 : 0;
    wtail = r->KW - nkw;
    w0 = r->w + oc * r->wsoc + r->wofs + kw0;
    w1 = nb == 4 ? w0 + r->wsoc : w0;
    w2 = nb == 4 ? w1 + r->wsoc : w0;
    w3 = nb == 4 ? w2 + r->wsoc : w0;
    xb = nkw ? r->x + (size_t)r->ih * (size_t)g->IW + (size_t)(iw0 + kw0 * r->DW) : r->x;
    for (ic = 0; ic < r->cg && nkw; ++ic, xb += r->icst) {
        const float *xr = xb;
        for (kh = 0; kh < r->nkh; ++kh, xr += r->rowstep) {
            const float *xp = xr;
            if (nb == 4) {
                for (kw = 0; kw < nkw; ++kw, xp += r->DW) {
                    const float x0 = *xp;
                    MAC(a0, *w0++, x0);
                    MAC(a1, *w1++, x0);
                    MAC(a2, *w2++, x0);
                    MAC(a3, *w3++, x0);
                }
                w1 += wtail;
                w2 += wtail;
                w3 += wtail;
            } else {
                for (kw = 0; kw < nkw; ++kw, xp += r->DW) MAC(a0, *w0++, *xp);
            }
            w0 += wtail;
        }
        w0 += r->wskip;
        w1 += r->wskip;
        w2 += r->wskip;
        w3 += r->wskip;
    }
    put_col(c, oc, oh, ow, nb, a0, a1, a2, a3);
}

/* 1x1 stride 1 run as one row: nb (4 or 1) channels x 1 column (no clipping). */
NOINL static void col_1x1(const mctx *c, const rowi *r, size_t oc, int nb, long ow)
{
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    const float *w0 = r->w + oc * r->wsoc, *xp = r->x + ow;
    const size_t ws = r->wsoc;
    long ic;
    for (ic = 0; ic < r->cg; ++ic, xp += r->icst) {
        const float x0 = *xp;
        MAC(a0, w0[ic], x0);
        if (nb == 4) {
            MAC(a1, w0[ws + (size_t)ic], x0);
            MAC(a2, w0[2 * ws + (size_t)ic], x0);
            MAC(a3, w0[3 * ws + (size_t)ic], x0);
        }
    }
    put_col(c, oc, 0, ow, nb, a0, a1, a2, a3);
}

/* Kernel rows of output row oh that fall inside the input. */
static void row_taps(const nnbrt_geom *g, long oh, rowi *r)
{
    const long ih0 = oh * g->SH - g->PH;
    long kh0 = 0, kh1 = g->KH;
    if (ih0 < 0) kh0 = (-ih0 + g->DH - 1) / g->DH;
    if (ih0 + (kh1 - 1) * g->DH >= g->IH) kh1 = g->IH - 1 - ih0 < 0 ? 0 : (g->IH - 1 - ih0) / g->DH + 1;
    r->nkh = kh1 > kh0 ? kh1 - kh0 : 0;
    r->ih = r->nkh ? ih0 + kh0 * g->DH : 0;
    r->wofs = r->nkh ? kh0 * g->KW : 0;
    r->wskip = (g->KH - r->nkh) * g->KW;
}

/* Output channels [oc0, OC) (their group's input channels at x, cg of
   them; weights of all channels at w), conv rows [oh0, oh1). */
static void conv_plain(const mctx *c, const float *x, const float *w, long cg, size_t oc0, size_t OC, long oh0,
                       long oh1)
{
    const nnbrt_geom *g = c->g;
    /* 1x1 stride 1 without pooling (or on rows of one): the planes as one long
       row (tiles of 5 columns; oh0 = 0, one pass) */
    const int flat = MCU_1X1 && g->KH == 1 && g->KW == 1 && g->SH == 1 && g->SW == 1 && g->PH == 0 && g->PW == 0 &&
                     (g->IH == 1 || !c->pool);
    rowi r;
    long oh, owL, owR, t;
    r.x = x;
    r.w = w;
    r.icst = (size_t)g->IH * (size_t)g->IW;
    r.wsoc = (size_t)cg * (size_t)g->KH * (size_t)g->KW;
    r.cg = cg;
    r.KW = g->KW;
    r.DW = g->DW;
    r.SW = g->SW;
    r.rowstep = (long)g->DH * g->IW;
    if (flat) { /* n = IH * IW columns (OW = IW), conv row oh0 = 0 */
        const long n = (long)g->IH * g->IW;
        size_t oc;
        if (oh0 >= oh1 || (c->pool && !row_pooled(c, oh0))) return;
        row_taps(g, oh0, &r);
        for (oc = oc0; oc < OC; oc += OC - oc >= 4 ? 4 : 1) {
            const int nb = OC - oc >= 4 ? 4 : 1;
            long ow = 0;
            if (nb == 4) {
                if (MCU_T45)
                    for (; ow + 5 <= n; ow += 5) tile45_1x1(c, &r, oc, ow);
                if (MCU_S1) {
                    if (MCU_T44)
                        for (; ow + 4 <= n; ow += 4) tile44_s1(c, &r, oc, oh0, ow); /* the rest: row tiles */
                    if (MCU_T43 && n - ow == 3) tile43_s1(c, &r, oc, oh0, ow), ow += 3;
                    if (MCU_T42 && n - ow == 2) tile42_s1(c, &r, oc, oh0, ow), ow += 2;
                }
            } else {
                if (MCU_T14 && MCU_S1)
                    for (; ow + 4 <= n; ow += 4) tile14_s1(c, &r, oc, oh0, ow);
            }
            for (; ow < n; ++ow) col_1x1(c, &r, oc, nb, ow);
        }
        return;
    }
    /* columns whose taps all lie inside the row */
    owL = g->PW <= 0 ? 0 : (g->PW + g->SW - 1) / g->SW;
    t = g->IW - 1 + g->PW - (g->KW - 1) * g->DW;
    owR = t < 0 ? 0 : t / g->SW + 1;
    if (owR > g->OW) owR = g->OW;
    if (owL > owR) owL = owR;
    if (g->SW > 2 || (g->SW == 1 && !MCU_S1) || (g->SW == 2 && !MCU_S2))
        owR = owL; /* no 4-column tiles: every column clipped */
    for (oh = oh0; oh < oh1; ++oh) {
        size_t oc;
        if (MCU_POOL && c->pool && !row_pooled(c, oh)) continue;
        row_taps(g, oh, &r);
        for (oc = oc0; oc < OC; oc += OC - oc >= 4 ? 4 : 1) {
            const int nb = OC - oc >= 4 ? 4 : 1;
            long ow = 0;
            for (; ow < owL; ++ow) tile_col(c, &r, oc, nb, oh, ow);
            if (nb == 4) {
                /* owR > ow only for a stride whose tiles are compiled */
                if (MCU_T44)
                    for (; ow + 4 <= owR; ow += 4) {
                        if (MCU_S1 && g->SW == 1) tile44_s1(c, &r, oc, oh, ow);
                        else if (MCU_S2) tile44_s2(c, &r, oc, oh, ow);
                    }
                if (MCU_T43 && owR - ow == 3) {
                    if (MCU_S1 && g->SW == 1) tile43_s1(c, &r, oc, oh, ow);
                    else if (MCU_S2) tile43_s2(c, &r, oc, oh, ow);
                    ow += 3;
                } else if (MCU_T42 && owR - ow == 2) {
                    if (MCU_S1 && g->SW == 1) tile42_s1(c, &r, oc, oh, ow);
                    else if (MCU_S2) tile42_s2(c, &r, oc, oh, ow);
                    ow += 2;
                }
            } else if (MCU_T14) {
                for (; ow + 4 <= owR; ow += 4) {
                    if (MCU_S1 && g->SW == 1) tile14_s1(c, &r, oc, oh, ow);
                    else if (MCU_S2) tile14_s2(c, &r, oc, oh, ow);
                }
            }
            for (; ow < g->OW; ++ow) tile_col(c, &r, oc, nb, oh, ow);
        }
    }
}

/* One depthwise output with clipped taps (plane x, kernel wk). */
static float dw_px(const nnbrt_geom *g, const float *x, const float *wk, long oh, long ow)
{
    const long ih0 = oh * g->SH - g->PH, iw0 = ow * g->SW - g->PW;
    float v = 0.0f;
    long kh, kw;
    for (kh = 0; kh < g->KH; ++kh) {
        const long ih = ih0 + kh * g->DH;
        const float *xr, *wr;
        if (ih < 0 || ih >= g->IH) continue;
        xr = x + (size_t)ih * (size_t)g->IW;
        wr = wk + kh * g->KW;
        for (kw = 0; kw < g->KW; ++kw) {
            const long iw = iw0 + kw * g->DW;
            if (iw >= 0 && iw < g->IW) MAC(v, wr[kw], xr[iw]);
        }
    }
    return v;
}

/* Taps of one kernel row: 3 columns from p[0], or the 2 columns of an edge. */
#define ROW3(v, p, a, b, c) (MAC(v, a, (p)[0]), MAC(v, b, (p)[1]), MAC(v, c, (p)[2]))
#define ROW2(v, p, a, b) (MAC(v, a, (p)[0]), MAC(v, b, (p)[1]))

/* Depthwise 3x3, stride 1, dilation 1, pad 0 or 1 in width, no pooling or
   residual: plane of channel oc (input plane x, kernel wk) written straight
   to y, row by row over the nr (1..3) kernel rows inside the input. */
NOINL static void dw3_plane(const mctx *c, size_t oc, const float *x, const float *wk)
{
    const nnbrt_geom *g = c->g;
    const long IW = g->IW, n = IW - 2, OW = g->OW; /* n interior columns */
    const float b = c->bias ? c->bias[oc] : 0.0f;
    const int act = c->act, edges = g->PW == 1;
    float *yp = c->y + oc * c->plane;
    long oh, j;
    for (oh = 0; oh < g->OH; ++oh, yp += OW) {
        const long ih0 = oh - g->PH, k0 = ih0 < 0 ? -ih0 : 0, k1 = g->IH - ih0 < 3 ? g->IH - ih0 : 3;
        if (k0 == 0 && k1 == 3) {
            /* the rows whose three kernel rows are all inside: weights in registers for all of them */
            const float w0 = wk[0], w1 = wk[1], w2 = wk[2], w3 = wk[3], w4 = wk[4], w5 = wk[5], w6 = wk[6],
                        w7 = wk[7], w8 = wk[8];
            long oe = g->IH - 2 + g->PH; /* first row past them */
            const float *q0 = x + (size_t)ih0 * (size_t)IW;
            if (oe > g->OH) oe = g->OH;
            for (; oh < oe; ++oh, yp += OW, q0 += IW) {
                const float *q1 = q0 + IW, *q2 = q1 + IW;
                float *yo = yp, v;
                if (edges) {
                    v = b;
                    ROW2(v, q0, w1, w2);
                    ROW2(v, q1, w4, w5);
                    ROW2(v, q2, w7, w8);
                    *yo++ = act1(v, act);
                }
                for (j = 0; j < n; ++j) {
                    v = b;
                    ROW3(v, q0 + j, w0, w1, w2);
                    ROW3(v, q1 + j, w3, w4, w5);
                    ROW3(v, q2 + j, w6, w7, w8);
                    yo[j] = act1(v, act);
                }
                if (edges) {
                    v = b;
                    ROW2(v, q0 + n, w0, w1);
                    ROW2(v, q1 + n, w3, w4);
                    ROW2(v, q2 + n, w6, w7);
                    yo[n] = act1(v, act);
                }
            }
            if (oh >= g->OH) break;
        }
    }
    /* the border rows: one or two kernel rows inside the input (three is the
       case above: nr = 3 means k0 = 0 and k1 = 3) */
    yp = c->y + oc * c->plane;
    for (oh = 0; oh < g->OH; ++oh, yp += OW) {
        const long ih0 = oh - g->PH, k0 = ih0 < 0 ? -ih0 : 0, k1 = g->IH - ih0 < 3 ? g->IH - ih0 : 3;
        if (k0 == 0 && k1 == 3) continue; /* done above */
        const long nr = k1 - k0;
        const float *p0, *p1, *w;
        float a0, a1, a2, b0, b1, b2, v;
        float *yo = yp;
        if (nr <= 0) {
            for (j = 0; j < OW; ++j) yp[j] = act1(b, act);
            continue;
        }
        p0 = x + (size_t)(ih0 + k0) * (size_t)IW;
        p1 = nr > 1 ? p0 + IW : p0;
        w = wk + 3 * k0;
        a0 = w[0], a1 = w[1], a2 = w[2];
        w += nr > 1 ? 3 : 0;
        b0 = w[0], b1 = w[1], b2 = w[2];
        if (edges) { /* left edge: kernel columns 1, 2 */
            v = b;
            ROW2(v, p0, a1, a2);
            if (nr > 1) ROW2(v, p1, b1, b2);
            *yo++ = act1(v, act);
        }
        if (nr == 2)
            for (j = 0; j < n; ++j) {
                v = b;
                ROW3(v, p0 + j, a0, a1, a2);
                ROW3(v, p1 + j, b0, b1, b2);
                yo[j] = act1(v, act);
            }
        else
            for (j = 0; j < n; ++j) {
                v = b;
                ROW3(v, p0 + j, a0, a1, a2);
                yo[j] = act1(v, act);
            }
        if (edges) { /* right edge: kernel columns 0, 1 */
            v = b;
            ROW2(v, p0 + n, a0, a1);
            if (nr > 1) ROW2(v, p1 + n, b0, b1);
            yo[n] = act1(v, act);
        }
    }
}

/* Depthwise plane of channel oc (input plane x, kernel wk), conv rows [oh0, oh1). */
NOINL static void dw_plane(const mctx *c, const float *x, const float *wk, size_t oc, long oh0, long oh1)
{
    const nnbrt_geom *g = c->g;
    long oh, ow, owL, owR, t;
    /* any kernel, stride, dilation: columns whose taps all lie inside the row
       run without per-tap tests */
    t = g->IW - 1 + g->PW - (g->KW - 1) * g->DW;
    owL = g->PW <= 0 ? 0 : (g->PW + g->SW - 1) / g->SW;
    owR = t < 0 ? 0 : t / g->SW + 1;
    if (owR > g->OW) owR = g->OW;
    if (owL > owR) owL = owR;
    for (oh = oh0; oh < oh1; ++oh) {
        const long ih0 = oh * g->SH - g->PH;
        long kh0 = 0, kh1 = g->KH;
        if (MCU_POOL && c->pool && !row_pooled(c, oh)) continue;
        if (ih0 < 0) kh0 = (-ih0 + g->DH - 1) / g->DH;
        if (ih0 + (kh1 - 1) * g->DH >= g->IH) kh1 = g->IH - 1 - ih0 < 0 ? 0 : (g->IH - 1 - ih0) / g->DH + 1;
        for (ow = 0; ow < g->OW; ++ow) {
            float a = 0.0f;
            if (ow >= owL && ow < owR && kh1 > kh0) {
                const float *xr = x + (size_t)(ih0 + kh0 * g->DH) * (size_t)g->IW + (size_t)(ow * g->SW - g->PW);
                const float *wr = wk + kh0 * g->KW;
                long kh, kw;
                for (kh = kh0; kh < kh1; ++kh, xr += (size_t)g->DH * (size_t)g->IW, wr += g->KW)
                    for (kw = 0; kw < g->KW; ++kw) MAC(a, wr[kw], xr[kw * g->DW]);
            } else if (kh1 > kh0) {
                a = dw_px(g, x, wk, oh, ow);
            }
            put(c, oc, oh, ow, 1, a, 0.0f, 0.0f, 0.0f, 0.0f);
        }
    }
}

size_t nnbrt_mcu_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    /* pooling with a residual: one pooled row of a group's channels (FusedConv's
       check does not pass the residual, so every pooling layer reserves it) */
    const size_t ocg = (size_t)g->OC / (group ? group : 1);
    if (!(f && f->pool)) return 0;
    if ((size_t)f->OW > SIZE_MAX / 8u / (ocg + 1)) return SIZE_MAX;
    return ocg * (size_t)f->OW * sizeof(float);
}

/* Convolution rows [oh0, oh1) of one group's channels [oc0, oc1) into the context. */
static void conv_group(const mctx *c, const float *xg, const float *w, size_t cg, size_t oc0, size_t oc1, long oh0,
                       long oh1)
{
    const nnbrt_geom *g = c->g;
    if ((MCU_DW || MCU_DW3) && cg == 1 && oc1 - oc0 < 4 && (g->KH > 1 || g->KW > 1)) { /* depthwise (fewer channels per group than a 4-channel tile): every channel of the group reads plane xg */
        size_t oc;
        const int k3 = MCU_DW3 && g->KH == 3 && g->KW == 3 && g->SH == 1 && g->SW == 1 && g->DH == 1 && g->DW == 1 &&
                       g->IW >= 2 && (g->PW == 0 || g->PW == 1) && c->direct && !c->res;
        for (oc = oc0; oc < oc1; ++oc) {
            const float *wk = w + oc * (size_t)g->KH * (size_t)g->KW;
            if (k3) dw3_plane(c, oc, xg, wk); /* whole planes (no pooling, so oh0 = 0, oh1 = OH) */
            else if (MCU_DW) dw_plane(c, xg, wk, oc, oh0, oh1);
            else conv_plain(c, xg, w, 1, oc, oc + 1, oh0, oh1);
        }
    } else {
        conv_plain(c, xg, w, (long)cg, oc0, oc1, oh0, oh1);
    }
}

/* Pooled rows [ph0, ph1) of channels [oc0, oc1): accumulators (c->y) -> average,
   residual, activation -> y. */
static void pool_out(const mctx *c, float *y, const float *res, size_t oc0, size_t oc1, long ph0, long ph1)
{
    const nnbrt_geom *g = c->g;
    const nnbrt_fuse *f = c->f;
    const size_t ppl = (size_t)f->OH * (size_t)f->OW;
    size_t oc;
    long ph, pw;
    for (oc = oc0; oc < oc1; ++oc)
        for (ph = ph0; ph < ph1; ++ph) {
            long hs, he, ws, we;
            const long hp = nnbrt_pool_window(ph, f->KH, f->SH, f->PH, g->OH, &hs, &he);
            const float *ar = c->y + (oc - c->ocb) * c->plane + (size_t)(ph - c->phlo) * (size_t)f->OW;
            const size_t o = oc * ppl + (size_t)ph * (size_t)f->OW;
            for (pw = 0; pw < f->OW; ++pw) {
                float v = ar[pw];
                if (c->pool == 2) {
                    const long wpd = nnbrt_pool_window(pw, f->KW, f->SW, f->PW, g->OW, &ws, &we);
                    const long cnt = f->including_pad ? hp * wpd : (he > hs ? he - hs : 0) * (we > ws ? we - ws : 0);
                    v = cnt > 0 ? v / (float)cnt : 0.0f;
                }
                if (res) v += res[o + (size_t)pw]; /* read before y[o + pw] is written (may alias) */
                y[o + (size_t)pw] = act1(v, c->act);
            }
        }
}

static void pool_init(float *a, size_t n, int pool)
{
    const float init = pool == 1 ? -INFINITY : 0.0f;
    size_t k;
    for (k = 0; k < n; ++k) a[k] = init;
}

void nnbrt_mcu_conv(size_t group, float *scratch, const float *x, const float *w, const float *bias, float *y,
                    const nnbrt_geom *g, const nnbrt_fuse *f)
{
    nnbrt_mcu_conv_blk(group, scratch, x, w, bias, y, g, f, NULL);
}

void nnbrt_mcu_conv_blk(size_t group, float *scratch, const float *x, const float *w, const float *bias, float *y,
                        const nnbrt_geom *g, const nnbrt_fuse *f, const nnbrt_mcu_blk *b)
{
    /* below this function only g's kernel and spatial sizes are read (outer,
       C and OC are these locals): no geometry copy on the stack */
    mctx c;
    const int pool = MCU_POOL && f ? f->pool : 0;
    const float *res = b ? b->res : f ? f->res : NULL;
    const size_t outer = b ? b->outer : g->outer, C = (size_t)(b ? b->C : g->C), OC = (size_t)(b ? b->OC : g->OC);
    const size_t cg = C / group, ocg = OC / group;
    size_t n, plane_in, grp, plane_y;
    c.g = g;
    c.bias = bias;
    c.act = f ? f->act : 0;
    c.pool = pool;
    c.f = f;
    c.ocb = 0;
    c.phlo = 0;
    c.phhi = pool ? f->OH : 0;
    plane_y = pool ? (size_t)f->OH * (size_t)f->OW : (size_t)g->OH * (size_t)g->OW;
    plane_in = (size_t)g->IH * (size_t)g->IW;
    for (n = 0; n < outer; ++n) {
        float *yn = y + n * OC * plane_y;
        const float *rn = res ? res + n * OC * plane_y : NULL;
        c.res = pool ? NULL : rn;
        c.direct = !pool;
        for (grp = 0; grp < group; ++grp) {
            const float *xg = x + (n * C + grp * cg) * plane_in;
            const size_t oc0 = grp * ocg, oc1 = oc0 + ocg;
            if (!pool) {
                c.y = yn;
                c.plane = plane_y;
                conv_group(&c, xg, w, cg, oc0, oc1, 0, g->OH);
            } else if (!rn) { /* accumulate in y, then finish in place */
                c.y = yn;
                c.plane = plane_y;
                pool_init(yn + oc0 * plane_y, ocg * plane_y, pool);
                conv_group(&c, xg, w, cg, oc0, oc1, 0, g->OH);
                pool_out(&c, yn, NULL, oc0, oc1, 0, f->OH);
            } else { /* residual (may alias y): one pooled row at a time in scratch */
                long ph;
                c.y = scratch;
                c.plane = (size_t)f->OW;
                c.ocb = oc0;
                for (ph = 0; ph < f->OH; ++ph) {
                    long hs, he;
                    nnbrt_pool_window(ph, f->KH, f->SH, f->PH, g->OH, &hs, &he);
                    c.phlo = ph;
                    c.phhi = ph + 1;
                    pool_init(scratch, ocg * (size_t)f->OW, pool);
                    if (he > hs) conv_group(&c, xg, w, cg, oc0, oc1, hs, he);
                    pool_out(&c, yn, rn, oc0, oc1, ph, ph + 1);
                }
                c.ocb = 0;
                c.phlo = 0;
                c.phhi = f->OH;
            }
        }
    }
}

#else
typedef int nnbrt_conv_mcu_unused; /* ISO C: no empty translation unit */
#endif
