/* Depthwise convolution on narrow "same" maps (stride 1, output size =
   input size, rows shorter than a few vectors), picked by conv_engine.c.

   Each channel plane is treated as one flat vector: the output pixel i
   reads tap (kh, kw) at flat index i + (kh*DH - PH) * IW + (kw*DW - PW).
   The plane is copied between zero rows once (top and bottom padding);
   a tap whose column leaves the row lands on the neighbouring row, so
   each kernel column's partial sum is masked (bitwise, so a non-finite
   neighbour cannot leak in) by the columns where that tap is inside the
   row. Every tap is then a long unit-stride run over the whole plane
   instead of a handful of per-row pieces.

   Strided layers (the stride-2 depthwise of inverted-residual networks)
   take the same flat form on phase planes: the input plane is split once
   into SH x SW planes (input row r, column c goes to phase (r % SH, c % SW)
   at row r / SH, column c / SW; a stride-2 row is deinterleaved into its
   even and odd columns with vector shuffles), so every tap of the strided
   convolution is again one unit-stride run over the output plane, whose
   rows are W = max(ceil(IW / SW), OW) wide: padding rows are zero rows
   around each phase plane, columns that leave the row are masked. */
#include "conv_util.h"
#include "conv_act.h"
#include "conv_phase.h" /* nnbrt_phase_row: input rows into phase planes */

#if defined(__GNUC__) && !defined(NNBRT_NO_VECTOR_EXT)
#if defined(__AVX512F__)
#define DV 16
#elif defined(__AVX__)
#define DV 8
#else
#define DV 4
#endif
typedef float dvec __attribute__((vector_size(DV * 4)));
typedef int32_t dveci __attribute__((vector_size(DV * 4)));
/* one vector move each (a memcpy is split at -mmove-max: see conv_gemm.c's VLD) */
typedef float dvecu __attribute__((vector_size(DV * 4), aligned(4), may_alias));
typedef int32_t dveciu __attribute__((vector_size(DV * 4), aligned(4), may_alias));
#define DLD(v, p) ((v) = *(const dvecu *)(const void *)(p))
#define DST(p, v) (*(dvecu *)(void *)(p) = (v))
#define DAND(v, m) ((dvec)((dveci)(v) & (m)))
#else
#define DV 1
typedef float dvec;
typedef int32_t dveci;
typedef int32_t dveciu;
#define DLD(v, p) ((v) = *(p))
#define DST(p, v) (*(p) = (v))
#define DAND(v, m) ((m) ? (v) : 0.0f)
#endif

/* Largest scratch (floats) of this form; 0 disables it. */
#ifndef NNBRT_DWFLAT_MAX
#define NNBRT_DWFLAT_MAX 16384
#endif
#define DWFLAT_MAX_KW 16 /* at most this many kernel columns (masks in scratch) */

typedef struct {
    size_t P;       /* pixels per plane */
    size_t F;       /* zero floats before the plane (PH*IW + PW) */
    size_t xp_len;  /* padded plane + read slack */
    size_t Pv;      /* P rounded up to whole vectors */
} dplan;

static int mkdplan(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, dplan *q)
{
    uint64_t P, F, len, masks;
    if ((f && f->pool) || group < 1 || (size_t)g->C != group || g->OC % g->C != 0) return 0;
    if (g->SH != 1 || g->SW != 1 || g->OH != g->IH || g->OW != g->IW) return 0;
    if (g->KH * g->KW < 2 || g->KW > DWFLAT_MAX_KW || g->PW >= g->IW || g->IW > 4 * DV) return 0;
    P = (uint64_t)g->IH * (uint64_t)g->IW;
    F = (uint64_t)g->PH * (uint64_t)g->IW + (uint64_t)g->PW;
    if (P > NNBRT_DWFLAT_MAX || F > NNBRT_DWFLAT_MAX) return 0;
    q->P = (size_t)P;
    q->F = (size_t)F;
    q->Pv = (q->P + DV - 1) / DV * DV;
    /* taps reach F before and (KH-1)*DH*IW + (KW-1)*DW - F = F after the
       plane; the last (partial) vector reads up to DV - 1 further */
    len = F + P + F + DV;
    masks = (uint64_t)g->KW * q->Pv;
    if (len + masks + 2 * (uint64_t)q->Pv > NNBRT_DWFLAT_MAX) return 0;
    q->xp_len = (size_t)len;
    return 1;
}

static size_t same_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    dplan q;
    if (!mkdplan(group, g, f, &q)) return SIZE_MAX;
    /* padded plane (rounded to vectors), masks, column and output rows, alignment */
    return (q.xp_len + DV + ((size_t)g->KW + 2u) * q.Pv) * 4u + 64u;
}

#if DV > 1 && defined(__SSE__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
/* max with 0, then min with 6: a NaN becomes 0, as in the bitwise form below */
#if DV == 16
#define VMAX(v, c) ((dvec)_mm512_max_ps((__m512)(v), _mm512_set1_ps(c)))
#define VMIN(v, c) ((dvec)_mm512_min_ps((__m512)(v), _mm512_set1_ps(c)))
#elif DV == 8
#define VMAX(v, c) ((dvec)_mm256_max_ps((__m256)(v), _mm256_set1_ps(c)))
#define VMIN(v, c) ((dvec)_mm256_min_ps((__m256)(v), _mm256_set1_ps(c)))
#else
#define VMAX(v, c) ((dvec)_mm_max_ps((__m128)(v), _mm_set1_ps(c)))
#define VMIN(v, c) ((dvec)_mm_min_ps((__m128)(v), _mm_set1_ps(c)))
#endif
static dvec vact(dvec v, int act)
{
    v = VMAX(v, 0.0f);
    return act == 2 ? VMIN(v, 6.0f) : v;
}
#elif DV > 1
NNBRT_VACT_FN(vact, dvec, dveci)
#else
#define vact(v, act) nnbrt_act1((v), (act))
#endif
NNBRT_VPUT_FN(vput, dvec, vact, DLD, DST)

/* A row-periodic lane mask (rows W wide): lane i < P is all ones where its
   column col = i % W has 0 <= col + d < hi, lanes [P, Pv) are zero. The
   first row is computed, then doubled by copies. Returns 1 when every
   column below OW is inside. */
static int row_mask(int32_t *mk, size_t W, size_t P, size_t Pv, int64_t d, int64_t hi, size_t OW)
{
    const size_t first = W < P ? W : P;
    size_t i;
    int full = 1;
    for (i = 0; i < first; ++i) {
        const int in = (int64_t)i + d >= 0 && (int64_t)i + d < hi;
        mk[i] = in ? -1 : 0;
        if (!in && i < OW) full = 0;
    }
    for (i = first; i < P; i *= 2) memcpy(mk + i, mk, (P - i < i ? P - i : i) * sizeof(int32_t));
    for (i = P; i < Pv; ++i) mk[i] = 0;
    return full;
}

/* The last, partial output vector: residual and activation per element. */
static void put_tail(float *yc, const float *rc, dvec acc, size_t i, size_t P, int act)
{
    float t[DV];
    size_t e;
    DST(t, acc);
    for (e = 0; i + e < P; ++e) yc[i + e] = nnbrt_act1(t[e] + (rc ? rc[i + e] : 0.0f), act);
}

/* Output vector i of P: residual and activation, a full vector or the tail. */
static inline void dput(float *yc, const float *rc, dvec acc, size_t i, size_t P, int act)
{
    if (i + DV > P) {
        put_tail(yc, rc, acc, i, P, act);
        return;
    }
    vput(yc, rc, i, acc, act);
}

/* yb (bias and conv) to the output: residual, activation. */
static void put(float *yc, const float *rc, const float *yb, size_t P, int act)
{
    size_t i;
    for (i = 0; i < P; i += DV) {
        dvec v;
        DLD(v, yb + i);
        dput(yc, rc, v, i, P, act);
    }
}

/* The usual 3x3, pad 1, dilation 1: taps at fixed displacements -1/0/+1
   from one pointer (few registers); only the outer columns are masked.
   Without a residual the last vector overlaps its predecessor (same values
   rewritten) instead of a scalar tail. */
static void k3x3same(const float *xp, const float *wk, float bv, const dplan *q, size_t IW,
                     const dveci *mask, float *yc, const float *rc, int act)
{
    const float *a0 = xp + q->F - IW - 1, *a1 = a0 + IW, *a2 = a1 + IW;
    const int32_t *ml = (const int32_t *)(const void *)mask;
    const int32_t *mr = (const int32_t *)(const void *)(mask + 2 * (q->Pv / DV));
    const float w0 = wk[0], w1 = wk[1], w2 = wk[2], w3 = wk[3], w4 = wk[4], w5 = wk[5], w6 = wk[6],
                w7 = wk[7], w8 = wk[8];
    const size_t P = q->P, last = P >= DV ? P - DV : 0;
    size_t i = 0;
    for (;;) {
        dvec x0, x1, x2, s0, s1, s2, acc;
        dveci l, r;
        DLD(x0, a0 + i); DLD(x1, a1 + i); DLD(x2, a2 + i);
        s0 = w0 * x0 + w3 * x1 + w6 * x2;
        DLD(x0, a0 + i + 1); DLD(x1, a1 + i + 1); DLD(x2, a2 + i + 1);
        s1 = w1 * x0 + w4 * x1 + w7 * x2;
        DLD(x0, a0 + i + 2); DLD(x1, a1 + i + 2); DLD(x2, a2 + i + 2);
        s2 = w2 * x0 + w5 * x1 + w8 * x2;
        l = *(const dveciu *)(const void *)(ml + i);
        r = *(const dveciu *)(const void *)(mr + i);
        acc = bv + DAND(s0, l) + s1 + DAND(s2, r);
        dput(yc, rc, acc, i, P, act);
        if (i + DV >= P) return;
        i += DV;
        if (i > last && !rc && P >= DV) i = last; /* overlap: a full vector, no scalar tail */
    }
}

/* 3x3: nine weights in registers, one pass over the plane. */
static void k3x3(const float *xp, const float *wk, float bv, const dplan *q, const nnbrt_geom *g,
                 const dveci *mask, float *yc, const float *rc, int act)
{
    const long IW = g->IW, rs = (long)g->DH * IW;
    const long c0 = -(long)g->PW, c1 = c0 + g->DW, c2 = c1 + g->DW;
    const float *a0 = xp + (long)q->F - (long)g->PH * IW; /* tap row 0 of output pixel 0 */
    const float w0 = wk[0], w1 = wk[1], w2 = wk[2], w3 = wk[3], w4 = wk[4], w5 = wk[5], w6 = wk[6],
                w7 = wk[7], w8 = wk[8];
    const dveci *m0 = c0 ? mask : NULL, *m1 = c1 ? mask + q->Pv / DV : NULL,
                *m2 = c2 ? mask + 2 * (q->Pv / DV) : NULL;
    const long d1 = c1 - c0, d2 = c2 - c0, e1 = rs, e2 = 2 * rs; /* tap offsets from r */
    size_t i;
    for (i = 0; i < q->P; i += DV) {
        const float *r = a0 + c0 + (long)i;
        dvec x0, x1, x2, s0, s1, s2, acc;
        DLD(x0, r); DLD(x1, r + e1); DLD(x2, r + e2);
        s0 = w0 * x0 + w3 * x1 + w6 * x2;
        DLD(x0, r + d1); DLD(x1, r + e1 + d1); DLD(x2, r + e2 + d1);
        s1 = w1 * x0 + w4 * x1 + w7 * x2;
        DLD(x0, r + d2); DLD(x1, r + e1 + d2); DLD(x2, r + e2 + d2);
        s2 = w2 * x0 + w5 * x1 + w8 * x2;
        if (m0) s0 = DAND(s0, m0[i / DV]);
        if (m1) s1 = DAND(s1, m1[i / DV]);
        if (m2) s2 = DAND(s2, m2[i / DV]);
        acc = bv + s0 + s1 + s2;
        dput(yc, rc, acc, i, q->P, act);
    }
}

/* Any kernel: per kernel column, the column's taps summed over the plane
   into colb, masked, added to yb (both Pv floats). */
static void kgen(const float *xp, const float *wk, float bv, const dplan *q, const nnbrt_geom *g,
                 const dveci *mask, float *colb, float *yb)
{
    const size_t mv = q->Pv / DV;
    size_t i;
    int kh, kw;
    for (i = 0; i < q->Pv; ++i) yb[i] = bv;
    for (kw = 0; kw < g->KW; ++kw) {
        const long dw = (long)kw * g->DW - g->PW;
        for (i = 0; i < q->Pv; ++i) colb[i] = 0.0f;
        for (kh = 0; kh < g->KH; ++kh) {
            const float s = wk[kh * g->KW + kw];
            const float *xr = xp + (long)q->F + ((long)kh * g->DH - g->PH) * g->IW + dw;
            for (i = 0; i < q->Pv; ++i) colb[i] += s * xr[i];
        }
        for (i = 0; i < q->Pv; i += DV) {
            dvec cv, yv;
            DLD(cv, colb + i);
            DLD(yv, yb + i);
            yv += dw == 0 ? cv : DAND(cv, mask[(size_t)kw * mv + i / DV]);
            DST(yb + i, yv);
        }
    }
}

static int same_conv(float *scratch, size_t group, const float *x, const float *w, const float *bias,
                     float *y, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    dplan q;
    size_t n, c, m;
    int kw;
    const int act = f ? f->act : 0;
    float *xp, *colb, *yb;
    dveci *mask; /* KW masks of Pv lanes: all ones where the tap is inside the row */
    const size_t mult = (size_t)(g->OC / g->C), KK = (size_t)g->KH * (size_t)g->KW;
    if (!mkdplan(group, g, f, &q)) return 0;
    xp = (float *)(void *)((char *)scratch + ((64u - ((uintptr_t)scratch & 63u)) & 63u));
    mask = (dveci *)(void *)(xp + (q.xp_len + DV - 1) / DV * DV);
    colb = (float *)(void *)(mask + (size_t)g->KW * (q.Pv / DV));
    yb = colb + q.Pv;
    for (kw = 0; kw < g->KW; ++kw) {
        const long dw = (long)kw * g->DW - g->PW;
        (void)row_mask((int32_t *)(void *)(mask + (size_t)kw * (q.Pv / DV)), (size_t)g->IW, q.P, q.Pv, dw, g->IW,
                       (size_t)g->IW);
    }
    memset(xp, 0, q.xp_len * sizeof(float));
    for (n = 0; n < g->outer; ++n)
        for (c = 0; c < (size_t)g->C; ++c) {
            memcpy(xp + q.F, x + (n * (size_t)g->C + c) * q.P, q.P * sizeof(float));
            for (m = 0; m < mult; ++m) {
                const size_t oc = c * mult + m;
                const float *wk = w + oc * KK;
                const size_t o = (n * (size_t)g->OC + oc) * q.P;
                float *yc = y + o;
                const float *rc = f && f->res ? f->res + o : NULL;
                const float bv = bias ? bias[oc] : 0.0f;
                if (g->KH == 3 && g->KW == 3 && g->PW == 1 && g->DW == 1 && g->DH == 1) {
                    k3x3same(xp, wk, bv, &q, (size_t)g->IW, mask, yc, rc, act);
                    continue;
                }
                if (g->KH == 3 && g->KW == 3) {
                    k3x3(xp, wk, bv, &q, g, mask, yc, rc, act);
                    continue;
                }
                kgen(xp, wk, bv, &q, g, mask, colb, yb);
                put(yc, rc, yb, q.P, act);
            }
        }
    return 1;
}


/* ---- strided layers: phase planes ---- */

typedef struct {
    size_t W;     /* row width of the computed output and of every phase row: max(Lq, OW) */
    size_t Hq;    /* rows of phase row 0: ceil(IH / SH) */
    long rlo;     /* first row kept in a plane (<= 0: zero rows above input row 0) */
    size_t Fs;    /* zero floats before row rlo (taps left of column 0) */
    size_t plane; /* floats per phase plane, whole vectors */
    size_t nph;   /* SH * SW phase planes */
    size_t P, Pv; /* OH * W computed outputs, and rounded up to whole vectors */
    size_t rows;  /* rows of Pv floats after the masks: 0, or 2 (column sums, output) */
} splan;

/* Floor division (b > 0). */
static int64_t fdiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

static int mksplan(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, splan *q)
{
    int64_t dr0, dr1, dc0, dc1;
    uint64_t Lq, W, P, Pv, need, need2, total;
    if ((f && f->pool) || group < 1 || (size_t)g->C != group || g->OC % g->C != 0) return 0;
    if ((g->SH == 1 && g->SW == 1) || g->SH > 64 || g->SW > 64 || g->KW > DWFLAT_MAX_KW) return 0;
    /* phase-row and phase-column displacement of the first and last taps */
    dr0 = fdiv(-(int64_t)g->PH, g->SH);
    dr1 = fdiv((int64_t)(g->KH - 1) * g->DH - g->PH, g->SH);
    dc0 = fdiv(-(int64_t)g->PW, g->SW);
    dc1 = fdiv((int64_t)(g->KW - 1) * g->DW - g->PW, g->SW);
    if (dr1 - dr0 > NNBRT_DWFLAT_MAX || dc1 > NNBRT_DWFLAT_MAX || -dc0 > NNBRT_DWFLAT_MAX) return 0;
    Lq = ((uint64_t)g->IW + (uint64_t)g->SW - 1) / (uint64_t)g->SW;
    W = Lq > (uint64_t)g->OW ? Lq : (uint64_t)g->OW;
    if (W > (DV > 1 ? 64u : 4u)) return 0; /* wide rows (scalar builds: small scratch): the engine's row tiles */
    P = W * (uint64_t)g->OH;
    if (P > NNBRT_DWFLAT_MAX) return 0;
    Pv = (P + DV - 1) / DV * DV;
    q->W = (size_t)W;
    q->Hq = ((size_t)g->IH + (size_t)g->SH - 1) / (size_t)g->SH;
    q->rlo = dr0 < 0 ? (long)dr0 : 0;
    q->Fs = dc0 < 0 ? ((size_t)-dc0 + DV - 1) / DV * DV : 0; /* whole vectors: aligned row stores */
    /* the last tap's reads of a whole vector past the last output, and the rows the input fills */
    need = (uint64_t)q->Fs + (uint64_t)(dr1 - q->rlo) * W + (uint64_t)(dc1 > 0 ? dc1 : 0) + Pv;
    need2 = (uint64_t)q->Fs + ((uint64_t)q->Hq + (uint64_t)-q->rlo) * W;
    if (need2 > need) need = need2;
    need = (need + DV - 1) / DV * DV;
    q->nph = (size_t)g->SH * (size_t)g->SW;
    /* two sets of phase planes, KW masks and, unless a 3x3 stores straight
       into the output, two rows of Pv (column sums, output) */
    q->rows = g->KH == 3 && g->KW == 3 && W == (uint64_t)g->OW ? 0u : 2u;
    total = 2u * need * (uint64_t)q->nph + ((uint64_t)g->KW + q->rows) * Pv;
    if (need > NNBRT_DWFLAT_MAX || total > NNBRT_DWFLAT_MAX) return 0;
    q->plane = (size_t)need;
    q->P = (size_t)P;
    q->Pv = (size_t)Pv;
    return 1;
}

static size_t strided_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    splan q;
    if (!mksplan(group, g, f, &q)) return SIZE_MAX;
    return (2u * q.plane * q.nph + ((size_t)g->KW + q.rows) * q.Pv) * 4u + 64u;
}

/* Offset of tap (kh, kw) of output 0 in the phase planes. */
static size_t tap_off(const nnbrt_geom *g, const splan *q, int kh, int kw)
{
    const int64_t tr = (int64_t)kh * g->DH - g->PH, tc = (int64_t)kw * g->DW - g->PW;
    const int64_t dr = fdiv(tr, g->SH), dc = fdiv(tc, g->SW);
    const int64_t qr = tr - dr * g->SH, qc = tc - dc * g->SW;
    return (size_t)((qr * g->SW + qc) * (int64_t)q->plane + (int64_t)q->Fs + (dr - q->rlo) * (int64_t)q->W + dc);
}

/* One input plane into its phase planes (what the planes hold besides it stays zero). */
static void split(const float *xc, float *ph, const nnbrt_geom *g, const splan *q)
{
    /* the plan in locals: the byte-wise stores below may alias it as far as the compiler knows */
    const size_t IW = (size_t)g->IW, IH = (size_t)g->IH, SH = (size_t)g->SH, SW = (size_t)g->SW;
    const size_t plane = q->plane, W = q->W;
    size_t ih, qr = 0;
    float *row = ph + q->Fs + (size_t)-q->rlo * W; /* row 0 of phase (0, 0) */
    for (ih = 0; ih < IH; ++ih) {
        nnbrt_phase_row(row + qr * SW * plane, plane, xc + ih * IW, IW, 0, SW, NULL);
        if (++qr == SH) {
            qr = 0;
            row += W;
        }
    }
}

/* 3x3: nine weights in registers, the three taps of a kernel column summed, then masked. */
static void k3s(const float *ph, const size_t *to, const float *wk, float bv, size_t P,
                const dveci *const *mk, float *out, const float *rc, int act)
{
    const float *t0 = ph + to[0], *t1 = ph + to[1], *t2 = ph + to[2], *t3 = ph + to[3], *t4 = ph + to[4],
                *t5 = ph + to[5], *t6 = ph + to[6], *t7 = ph + to[7], *t8 = ph + to[8];
    const float w0 = wk[0], w1 = wk[1], w2 = wk[2], w3 = wk[3], w4 = wk[4], w5 = wk[5], w6 = wk[6],
                w7 = wk[7], w8 = wk[8];
    const dveci *m0 = mk[0], *m1 = mk[1], *m2 = mk[2];
    size_t i;
    for (i = 0; i < P; i += DV) {
        dvec x0, x1, x2, s0, s1, s2, acc;
        DLD(x0, t0 + i); DLD(x1, t3 + i); DLD(x2, t6 + i);
        s0 = w0 * x0 + w3 * x1 + w6 * x2;
        DLD(x0, t1 + i); DLD(x1, t4 + i); DLD(x2, t7 + i);
        s1 = w1 * x0 + w4 * x1 + w7 * x2;
        DLD(x0, t2 + i); DLD(x1, t5 + i); DLD(x2, t8 + i);
        s2 = w2 * x0 + w5 * x1 + w8 * x2;
        if (m0) s0 = DAND(s0, m0[i / DV]);
        if (m1) s1 = DAND(s1, m1[i / DV]);
        if (m2) s2 = DAND(s2, m2[i / DV]);
        acc = bv + s0 + s1 + s2;
        dput(out, rc, acc, i, P, act);
    }
}

/* 3x3 whose taps lie in four planes as stride 2, pad 1 puts them: kernel
   columns 0 and 2 one column apart in A (rows 0, 2) and C (row 1), column 1
   in B (rows 0, 2) and D (row 1), rows 0 and 2 one row (W) apart: four
   pointers instead of nine. */
static void k3s4(const float *A, const float *B, const float *C, const float *D, size_t W, const float *wk,
                 float bv, size_t P, const dveci *m0, const dveci *m2, float *out, const float *rc, int act)
{
    const float w0 = wk[0], w1 = wk[1], w2 = wk[2], w3 = wk[3], w4 = wk[4], w5 = wk[5], w6 = wk[6],
                w7 = wk[7], w8 = wk[8];
    size_t i;
    for (i = 0; i < P; i += DV) {
        dvec x0, x1, x2, s0, s1, s2, acc;
        DLD(x0, A + i); DLD(x1, C + i); DLD(x2, A + W + i);
        s0 = w0 * x0 + w3 * x1 + w6 * x2;
        DLD(x0, B + i); DLD(x1, D + i); DLD(x2, B + W + i);
        s1 = w1 * x0 + w4 * x1 + w7 * x2;
        DLD(x0, A + 1 + i); DLD(x1, C + 1 + i); DLD(x2, A + W + 1 + i);
        s2 = w2 * x0 + w5 * x1 + w8 * x2;
        if (m0) s0 = DAND(s0, m0[i / DV]);
        if (m2) s2 = DAND(s2, m2[i / DV]);
        acc = bv + s0 + s1 + s2;
        dput(out, rc, acc, i, P, act);
    }
}

/* Any kernel: per kernel column, its taps summed into colb, masked, added to yb (Pv floats each). */
static void kgs(const float *ph, const float *wk, float bv, const splan *q, const nnbrt_geom *g,
                const dveci *const *mk, float *colb, float *yb)
{
    size_t i;
    int kh, kw;
    for (i = 0; i < q->Pv; ++i) yb[i] = bv;
    for (kw = 0; kw < g->KW; ++kw) {
        for (i = 0; i < q->Pv; ++i) colb[i] = 0.0f;
        for (kh = 0; kh < g->KH; ++kh) {
            const float s = wk[kh * g->KW + kw];
            const float *xr = ph + tap_off(g, q, kh, kw);
            for (i = 0; i < q->Pv; ++i) colb[i] += s * xr[i];
        }
        for (i = 0; i < q->Pv; i += DV) {
            dvec cv, yv;
            DLD(cv, colb + i);
            DLD(yv, yb + i);
            yv += mk[kw] ? DAND(cv, mk[kw][i / DV]) : cv;
            DST(yb + i, yv);
        }
    }
}

/* Rows computed W wide (W > OW) to the output: residual, activation. */
static void compact(float *yc, const float *rc, const float *yb, size_t W, const nnbrt_geom *g, int act)
{
    size_t oh, ow;
    const size_t OW = (size_t)g->OW;
    for (oh = 0; oh < (size_t)g->OH; ++oh)
        for (ow = 0; ow < OW; ++ow)
            yc[oh * OW + ow] = nnbrt_act1(yb[oh * W + ow] + (rc ? rc[oh * OW + ow] : 0.0f), act);
}

static int strided_conv(float *scratch, size_t group, const float *x, const float *w, const float *bias,
                        float *y, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    splan q;
    size_t k, m;
    int kw, t;
    const int act = f ? f->act : 0;
    const size_t mult = (size_t)(g->OC / g->C), KK = (size_t)g->KH * (size_t)g->KW;
    const size_t pin = (size_t)g->IH * (size_t)g->IW, pout = (size_t)g->OH * (size_t)g->OW;
    const int is3 = g->KH == 3 && g->KW == 3;
    int four;
    const size_t nch = g->outer * (size_t)g->C;
    size_t to[9];
    const dveci *mk[DWFLAT_MAX_KW];
    float *ph, *colb, *yb;
    dveci *mask; /* KW masks of Pv lanes: all ones where the tap's column is inside the input row */
    int direct;
    if (!mksplan(group, g, f, &q)) return 0;
    direct = q.W == (size_t)g->OW;
    ph = (float *)(void *)((char *)scratch + ((64u - ((uintptr_t)scratch & 63u)) & 63u));
    mask = (dveci *)(void *)(ph + 2u * q.plane * q.nph);
    colb = q.rows ? (float *)(void *)(mask + (size_t)g->KW * (q.Pv / DV)) : NULL; /* NULL: 3x3 stored directly */
    yb = q.rows ? colb + q.Pv : NULL;
    for (kw = 0; kw < g->KW; ++kw) {
        const int64_t tc = (int64_t)kw * g->DW - g->PW, dc = fdiv(tc, g->SW), qc = tc - dc * g->SW;
        const int64_t lqc = qc < g->IW ? ((int64_t)g->IW - qc + g->SW - 1) / g->SW : 0; /* columns of phase qc */
        int32_t *mw = (int32_t *)(void *)(mask + (size_t)kw * (q.Pv / DV));
        mk[kw] = row_mask(mw, q.W, q.P, q.Pv, dc, lqc, (size_t)g->OW) ? NULL : (const dveci *)(const void *)mw;
    }
    if (is3)
        for (t = 0; t < 9; ++t) to[t] = tap_off(g, &q, t / 3, t % 3);
    four = is3 && !mk[1] && to[2] == to[0] + 1 && to[5] == to[3] + 1 && to[8] == to[6] + 1 &&
           to[6] == to[0] + q.W && to[7] == to[1] + q.W;
    memset(ph, 0, 2u * q.plane * q.nph * sizeof(float));
    /* two sets of phase planes: channel k + 1 is split while channel k is
       computed, so the taps do not load what the split has just stored */
    if (nch) split(x, ph, g, &q);
    for (k = 0; k < nch; ++k) {
        const size_t n = k / (size_t)g->C, c = k % (size_t)g->C;
        const float *cur = ph + (k & 1u) * q.plane * q.nph;
        if (k + 1 < nch) split(x + (k + 1) * pin, ph + ((k + 1) & 1u) * q.plane * q.nph, g, &q);
        for (m = 0; m < mult; ++m) {
            const size_t oc = c * mult + m;
            const float *wk = w + oc * KK;
            const size_t o = (n * (size_t)g->OC + oc) * pout;
            float *yc = y + o;
            const float *rc = f && f->res ? f->res + o : NULL;
            const float bv = bias ? bias[oc] : 0.0f;
            if (four && direct) {
                k3s4(cur + to[0], cur + to[1], cur + to[3], cur + to[4], q.W, wk, bv, q.P, mk[0], mk[2], yc, rc,
                     act);
                continue;
            }
            if (is3 && direct) {
                k3s(cur, to, wk, bv, q.P, mk, yc, rc, act);
                continue;
            }
            if (is3) k3s(cur, to, wk, bv, q.P, mk, yb, NULL, 0);
            else kgs(cur, wk, bv, &q, g, mk, colb, yb);
            if (direct) put(yc, rc, yb, q.P, act);
            else compact(yc, rc, yb, q.W, g, act);
        }
    }
    return 1;
}

size_t nnbrt_dwflat_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    const size_t s = same_scratch(group, g, f);
    return s != SIZE_MAX ? s : strided_scratch(group, g, f);
}

int nnbrt_dwflat_conv(float *scratch, size_t group, const float *x, const float *w, const float *bias,
                      float *y, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    return same_conv(scratch, group, x, w, bias, y, g, f) || strided_conv(scratch, group, x, w, bias, y, g, f);
}
