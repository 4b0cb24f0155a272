/* Depthwise convolution on narrow "same" maps (stride 1, output size =
   input size, rows shorter than a few vectors), picked by conv_engine.c.

   Each channel plane is treated as one flat vector: the output pixel i
   reads tap (kh, kw) at flat index i + (kh*DH - PH) * IW + (kw*DW - PW).
   The plane is copied between zero rows once (top and bottom padding);
   a tap whose column leaves the row lands on the neighbouring row, so
   each kernel column's partial sum is masked (bitwise, so a non-finite
   neighbour cannot leak in) by the columns where that tap is inside the
   row. Every tap is then a long unit-stride run over the whole plane
   instead of a handful of per-row pieces. */
#include "conv_util.h"

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
#define DLD(v, p) memcpy(&(v), (p), sizeof(dvec))
#define DST(p, v) memcpy((p), &(v), sizeof(dvec))
#define DAND(v, m) ((dvec)((dveci)(v) & (m)))
#else
#define DV 1
typedef float dvec;
typedef int32_t dveci;
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

size_t nnbrt_dwflat_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    dplan q;
    if (!mkdplan(group, g, f, &q)) return SIZE_MAX;
    /* padded plane (rounded to vectors), masks, column and output rows, alignment */
    return (q.xp_len + DV + ((size_t)g->KW + 2u) * q.Pv) * 4u + 64u;
}

static float act1(float v, int act)
{
    if (!act) return v;
    v = v > 0.0f ? v : 0.0f;
    return act == 2 && v > 6.0f ? 6.0f : v;
}

#if DV > 1
static dvec vact(dvec v, int act)
{
    const dvec zero = {0}, six = zero + 6.0f;
    dveci m = v > zero;
    v = (dvec)((dveci)v & m);
    if (act == 2) {
        m = v > six;
        v = (dvec)(((dveci)v & ~m) | ((dveci)six & m));
    }
    return v;
}
#else
#define vact(v, act) act1((v), (act))
#endif

/* The last, partial output vector: residual and activation per element. */
static void put_tail(float *yc, const float *rc, dvec acc, size_t i, size_t P, int act)
{
    float t[DV];
    size_t e;
    DST(t, acc);
    for (e = 0; i + e < P; ++e) yc[i + e] = act1(t[e] + (rc ? rc[i + e] : 0.0f), act);
}

/* yb (bias and conv) to the output: residual, activation. */
static void put(float *yc, const float *rc, const float *yb, size_t P, int act)
{
    size_t i;
    for (i = 0; i < P; i += DV) {
        dvec v;
        DLD(v, yb + i);
        if (i + DV > P) {
            put_tail(yc, rc, v, i, P, act);
            break;
        }
        if (rc) {
            dvec r;
            DLD(r, rc + i);
            v += r;
        }
        if (act) v = vact(v, act);
        DST(yc + i, v);
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
        memcpy(&l, ml + i, sizeof l);
        memcpy(&r, mr + i, sizeof r);
        acc = bv + DAND(s0, l) + s1 + DAND(s2, r);
        if (i + DV <= P) {
            if (rc) {
                dvec rv;
                DLD(rv, rc + i);
                acc += rv;
            }
            if (act) acc = vact(acc, act);
            DST(yc + i, acc);
        } else {
            put_tail(yc, rc, acc, i, P, act);
            return;
        }
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
        if (i + DV <= q->P) {
            if (rc) {
                dvec rv;
                DLD(rv, rc + i);
                acc += rv;
            }
            if (act) acc = vact(acc, act);
            DST(yc + i, acc);
        } else {
            put_tail(yc, rc, acc, i, q->P, act);
        }
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

int nnbrt_dwflat_conv(float *scratch, size_t group, const float *x, const float *w, const float *bias,
                      float *y, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    dplan q;
    size_t n, c, m, i;
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
        int32_t *mk = (int32_t *)(void *)(mask + (size_t)kw * (q.Pv / DV));
        long col = 0;
        for (i = 0; i < q.Pv; ++i) {
            mk[i] = i < q.P && col + dw >= 0 && col + dw < g->IW ? -1 : 0;
            if (++col == g->IW) col = 0;
        }
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

