/* Register-blocked GEMM for large convolutions (included once by
   conv_gemm.c, so it is compiled per instruction set with it; needs GV,
   gvec, VLD and VST from there).

       y[oc][p] = act(b[oc] + sum_k W[oc][k] * B[k][p] (+ residual[oc][p]))

   B (the im2col matrix) is never built. Its rows are shifted views of one
   source: the input itself (1x1 stride-1 unpadded), the pixels a strided
   or padded 1x1 reads gathered into OH x OW planes, or else the input
   copied once per image into zero-padded SH x SW phase planes
   (space-to-depth: padded pixel (h, w) of channel c in plane
   (c, h % SH, w % SW) at row h / SH, column w / SW). Tap k = (c, kh, kw)
   then reads the source at off[k] + p', where p' = oh * L + ow runs over
   output rows L wide (L the source's row width >= OW; columns ow >= OW are
   junk, computed and dropped), so a strip of NR columns of B row k is NR
   contiguous floats and nothing is packed. As in BLIS/MLAS:
   - the micro-kernel keeps MR output channels x NR columns in vector
     registers (AVX-512: 12 or 8 x 32 in 24 or 16 zmm; AVX2 and SSE: 6 x 2
     vectors in 12 registers) over all of K: per k, two vector loads of B
     and MR broadcasts of the weights, read in place (each weight row is
     contiguous in k). The B loads are unaligned (taps shift by a float),
     which costs ~25 % of the micro-kernel's in-L1 rate (81 -> ~60 GMAC/s
     with AVX-512 here); packing B into aligned strips cost as much;
   - columns are cut into blocks whose source rows stay in L2 while every
     MR-channel strip of weights sweeps them (the weight strip, MR x K,
     stays in L1/L2 across the block's column strips);
   - the epilogue adds the bias, the residual and the activation while
     storing the valid columns of a tile to y (each residual element read
     just before its output is written, so it may alias y). A 1x1 layer's
     last strip overlaps its predecessor instead of reading past the input,
     and stores only its new columns.
   Scratch: the tap offsets, a zero-filled copy of the last MR-channel
   strip of weights when MR does not divide the channels, and the phase
   planes (+ read slack) when copied; bounded by NNBRT_GEMM_PLANE_MAX and
   counted by nnbrt_gemm_scratch. The path is taken for large layers only
   (NNBRT_GEMM_BIG_MIN multiply-adds per group and image): small ones keep
   the engine's forms. NNBRT_GEMM_IM2COL_MAX=0 (SMALL=1, microcontrollers)
   turns it off. */
#ifndef NNBRT_CONV_GEMM_BIG_H
#define NNBRT_CONV_GEMM_BIG_H

#ifndef NNBRT_GEMM_BIG_MIN
#define NNBRT_GEMM_BIG_MIN 4000000 /* multiply-adds per group and image */
#endif
#ifndef NNBRT_GEMM_PLANE_MAX
#define NNBRT_GEMM_PLANE_MAX (1u << 20) /* floats of phase planes (4 MB) */
#endif
#ifndef NNBRT_BIG_NB_BYTES
#define NNBRT_BIG_NB_BYTES 524288u /* source bytes one column block reads (kept in L2) */
#endif
/* Output channels per micro tile: two sizes (AVX-512: 12 x 32 columns in 24 zmm
   accumulators, and 8 x 32 when 8 divides the channels and 12 wastes more;
   AVX2 and SSE: 6 x 2 vectors in 12 registers). */
#if GV >= 16
#define BMR 12
#define BMR2 8
#else
#define BMR 6
#define BMR2 6
#endif
#define BNV 2            /* vectors per micro tile row */
#define BNR (BNV * GV)   /* columns per micro tile */

typedef struct {
    int copy;                 /* source: 0 the input itself, 1 phase planes, 2 a 1x1's gathered pixels */
    size_t mr;                /* output channels per micro tile: BMR or BMR2 */
    size_t cg, ocg;           /* input / output channels per group */
    size_t K;                 /* reduction length cg * KH * KW */
    size_t L;                 /* source row width (floats) */
    size_t pp;                /* floats per source plane */
    size_t P;                 /* computed columns per image: OH * L */
    size_t NB;                /* columns per block (multiple of BNR) */
    size_t pl_floats;         /* phase planes (copy) */
    size_t pl_alloc;          /* + read slack */
    size_t off_floats, ap_floats;
    size_t scratch_bytes;
} bplan;

static inline size_t b16(size_t n) { return (n + 15u) & ~(size_t)15u; }

static int mkbplan(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, bplan *q)
{
#if NNBRT_GEMM_IM2COL_MAX == 0 || GV < 4
    (void)group;
    (void)g;
    (void)f;
    (void)q;
    return 0;
#else
    uint64_t macs, IHp, IWp, pl, nb, t, rows;
    if ((f && f->pool) || group < 1 || g->C < 1 || g->OC < 1 || (size_t)g->C % group || (size_t)g->OC % group)
        return 0;
    if (g->SH > 64 || g->SW > 64) return 0;
    q->cg = (size_t)g->C / group;
    q->ocg = (size_t)g->OC / group;
    q->K = q->cg * (size_t)g->KH * (size_t)g->KW; /* <= weight elements (image) */
    macs = (uint64_t)q->ocg * q->K * (uint64_t)g->OH * (uint64_t)g->OW;
    if (macs < NNBRT_GEMM_BIG_MIN || q->ocg < BMR2 || q->K < 8) return 0;
    IHp = (uint64_t)g->IH + 2u * (uint64_t)g->PH;
    IWp = (uint64_t)g->IW + 2u * (uint64_t)g->PW;
    q->copy = !(g->KH == 1 && g->KW == 1 && g->SH == 1 && g->SW == 1 && g->PH == 0 && g->PW == 0 &&
                (uint64_t)g->IH * (uint64_t)g->IW >= BNR);
    if (q->copy && g->KH == 1 && g->KW == 1) {
        /* 1x1 strided or padded: the pixels it reads gathered into OH x OW planes (the rest is never read) */
        q->copy = 2;
        q->L = (size_t)g->OW;
        pl = (uint64_t)g->C * (uint64_t)g->OH * (uint64_t)g->OW;
        if (pl > NNBRT_GEMM_PLANE_MAX) return 0;
        q->pp = (size_t)g->OH * (size_t)g->OW;
        q->pl_alloc = (size_t)pl + BNR; /* the last strip reads up to BNR past the last plane */
    } else if (q->copy) {
        const uint64_t Hq = (IHp + (uint64_t)g->SH - 1) / (uint64_t)g->SH;
        const uint64_t Lq = (IWp + (uint64_t)g->SW - 1) / (uint64_t)g->SW;
        pl = (uint64_t)g->C * (uint64_t)g->SH * (uint64_t)g->SW * Hq * Lq;
        if (Hq > NNBRT_GEMM_PLANE_MAX || Lq > NNBRT_GEMM_PLANE_MAX || pl > NNBRT_GEMM_PLANE_MAX) return 0;
        q->pp = (size_t)(Hq * Lq);
        q->L = (size_t)Lq;
        /* junk columns of the last rows read up to L + BNR past a plane's end */
        q->pl_alloc = (size_t)pl + q->L + BNR;
    } else {
        pl = 0;
        q->pp = (size_t)g->IH * (size_t)g->IW; /* <= input elements (arena) */
        q->L = (size_t)g->IW;
        q->pl_alloc = 0;
    }
    /* tap offsets are 32-bit: the source (planes, or one image's input) must index in 32 bits */
    if ((uint64_t)g->C * q->pp + q->L + BNR > 0xffffffffu) return 0;
    q->pl_floats = (size_t)pl;
    q->P = (size_t)g->OH * q->L; /* <= plane floats: OH <= source rows */
    /* columns per block: about NNBRT_BIG_NB_BYTES of source rows (each B row is a shifted view) */
    rows = (uint64_t)q->cg * (q->copy == 1 ? (uint64_t)g->SH * (uint64_t)g->SW : 1u);
    nb = NNBRT_BIG_NB_BYTES / 4u / rows;
    t = (uint64_t)g->KH * q->L;
    nb = nb > t ? nb - t : 0;
    nb = nb / BNR * BNR;
    if (nb < 4 * BNR) nb = 4 * BNR;
    t = ((uint64_t)q->P + BNR - 1) / BNR * BNR;
    if (nb > t) nb = t;
    q->NB = (size_t)nb;
    q->off_floats = b16(q->K); /* uint32 offsets, one float each */
    /* the wide tile (about 1.2x the rate of the narrow one: fewer B loads per multiply-add) unless its
       last strip of channels wastes more than that (e.g. 12 for 64 (72 rows) or 512 (516); 8 for 40) */
    q->mr = ((q->ocg + BMR - 1) / BMR * BMR) * 5 <= ((q->ocg + BMR2 - 1) / BMR2 * BMR2) * 6 ? BMR : BMR2;
    q->ap_floats = q->ocg % q->mr ? b16(q->mr * q->K) : 0;
    t = (uint64_t)q->off_floats + q->ap_floats + b16(q->pl_alloc) + 16;
    if (t > (uint64_t)(SIZE_MAX / 8)) return 0;
    q->scratch_bytes = (size_t)t * sizeof(float) + 64; /* + alignment */
    return 1;
#endif
}

#if NNBRT_GEMM_IM2COL_MAX != 0 && GV >= 4
/* ReLU (act 1) / ReLU6 (act 2) with bit masks (GNU C has no vector ?:). */
static gvec big_vact(gvec v, int act)
{
    const gvec zero = {0}, six = zero + 6.0f;
    gveci m = v > zero;
    v = (gvec)((gveci)v & m);
    if (act == 2) {
        m = v > six;
        v = (gvec)(((gveci)v & ~m) | ((gveci)six & m));
    }
    return v;
}

/* out = act(bias + a (R weight rows, row stride lda) x B[k][b + j] over
   k < K), B row k at b + off[k] (bias NULL: none; act 0: none): R x BNR
   accumulators in registers (R constant in each expansion, so the loops
   unroll and acc stays in registers). */
#ifdef __GNUC__
#define BIG_NOINLINE __attribute__((noinline))
#else
#define BIG_NOINLINE
#endif
#define BIG_MICRO(R)                                                                                    \
    static BIG_NOINLINE void big_micro_##R(size_t K, const float *a, size_t lda, const float *b,       \
                                           const uint32_t *off, const float *bias, int act,             \
                                           float out[BMR][BNR])                                         \
    {                                                                                                   \
        gvec acc[R][BNV];                                                                               \
        size_t k;                                                                                       \
        int i, v;                                                                                       \
        for (i = 0; i < R; ++i)                                                                         \
            for (v = 0; v < BNV; ++v) acc[i][v] = (gvec){0} + (bias ? bias[i] : 0.0f);                  \
        for (k = 0; k < K; ++k) {                                                                       \
            const float *bk = b + off[k];                                                               \
            gvec bv[BNV];                                                                               \
            for (v = 0; v < BNV; ++v) VLD(bv[v], bk + (size_t)v * GV);                                  \
            for (i = 0; i < R; ++i) {                                                                   \
                const float s = a[(size_t)i * lda + k];                                                 \
                for (v = 0; v < BNV; ++v) acc[i][v] += s * bv[v];                                       \
            }                                                                                           \
        }                                                                                               \
        for (i = 0; i < R; ++i)                                                                         \
            for (v = 0; v < BNV; ++v) {                                                                 \
                if (act) acc[i][v] = big_vact(acc[i][v], act);                                          \
                VST(out[i] + v * GV, acc[i][v]);                                                        \
            }                                                                                           \
    }
#if GV >= 16
BIG_MICRO(12)
BIG_MICRO(8)
#define big_micro_BMR big_micro_12
#define big_micro_BMR2 big_micro_8
#else
BIG_MICRO(6)
#define big_micro_BMR big_micro_6
#define big_micro_BMR2 big_micro_6
#endif

/* Tap offsets of one group's source: tap (c, kh, kw) of output (oh, ow) is
   at off + oh * L + ow. */
static void big_offsets(uint32_t *off, const nnbrt_geom *g, const bplan *q)
{
    const size_t SH = (size_t)g->SH, SW = (size_t)g->SW;
    size_t c, kh, kw, k = 0;
    for (c = 0; c < q->cg; ++c)
        for (kh = 0; kh < (size_t)g->KH; ++kh)
            for (kw = 0; kw < (size_t)g->KW; ++kw, ++k) {
                const size_t dh = kh * (size_t)g->DH, dw = kw * (size_t)g->DW;
                off[k] = (uint32_t)(q->copy == 1 ? ((c * SH + dh % SH) * SW + dw % SW) * q->pp + (dh / SH) * q->L + dw / SW
                                                 : c * q->pp);
            }
}

/* 1x1: the input pixels (oh * SH - PH, ow * SW - PW) of every channel
   (zero in the padding), and zero read slack. */
static void big_gather(float *pl, const float *x, const nnbrt_geom *g, const bplan *q)
{
    const long SH = g->SH, SW = g->SW, PH = g->PH, PW = g->PW, IW = g->IW;
    long c, oh, ow;
    /* output columns [lo, hi) read inside the row */
    const long lo = (PW + SW - 1) / SW, hi0 = (IW - 1 + PW) / SW + 1;
    const long hi = hi0 < g->OW ? hi0 : g->OW;
    memset(pl + q->pl_floats, 0, (q->pl_alloc - q->pl_floats) * sizeof(float));
    for (c = 0; c < g->C; ++c)
        for (oh = 0; oh < g->OH; ++oh) {
            const long ih = oh * SH - PH;
            float *d = pl + ((size_t)c * (size_t)g->OH + (size_t)oh) * (size_t)g->OW;
            if (ih < 0 || ih >= g->IH || lo >= hi) {
                memset(d, 0, (size_t)g->OW * sizeof(float));
                continue;
            }
            {
                const float *sr = x + ((size_t)c * (size_t)g->IH + (size_t)ih) * (size_t)IW;
                for (ow = 0; ow < lo; ++ow) d[ow] = 0.0f;
                for (ow = lo; ow < hi; ++ow) d[ow] = sr[ow * SW - PW];
                for (ow = hi; ow < g->OW; ++ow) d[ow] = 0.0f;
            }
        }
}

/* Zero-padded phase planes of one image (all channels) and the read slack. */
static void big_planes(float *pl, const float *x, const nnbrt_geom *g, const bplan *q)
{
    const size_t SH = (size_t)g->SH, SW = (size_t)g->SW, PW = (size_t)g->PW;
    size_t c, ih, t, ph;
    if (q->copy == 2) {
        big_gather(pl, x, g, q);
        return;
    }
    memset(pl, 0, q->pl_alloc * sizeof(float));
    for (c = 0; c < (size_t)g->C; ++c)
        for (ih = 0; ih < (size_t)g->IH; ++ih) {
            const size_t h = ih + (size_t)g->PH;
            const float *sr = x + (c * (size_t)g->IH + ih) * (size_t)g->IW;
            float *row = pl + (c * SH * SW + (h % SH) * SW) * q->pp + (h / SH) * q->L;
            if (SW == 1) {
                memcpy(row + PW, sr, (size_t)g->IW * sizeof(float));
                continue;
            }
            for (ph = 0; ph < SW; ++ph) {
                /* input columns t = t0 + SW * j (padded t + PW in phase ph) to column (t0 + PW) / SW + j */
                const size_t t0 = (ph + SW - PW % SW) % SW;
                float *d = row + ph * q->pp + (t0 + PW) / SW;
                const float *sp = sr + t0;
                for (t = 0; t0 + t * SW < (size_t)g->IW; ++t) d[t] = sp[t * SW];
            }
        }
}

static float big_act(float v, int act)
{
    v = act && v < 0.0f ? 0.0f : v;
    return act == 2 && v > 6.0f ? 6.0f : v;
}

/* Tile rows [0, nr) x columns [p + j0, p + BNR) (those below P and with
   ow < OW) to y (channel rows at yc, P apart); with a residual rc (else
   NULL) act(tile + residual), the tile holding conv + bias. */
static void big_store(float out[BMR][BNR], size_t nr, size_t p, size_t j0, const bplan *q, const nnbrt_geom *g,
                      float *yc, const float *rc, int act)
{
    const size_t OW = (size_t)g->OW, P = (size_t)g->OH * OW;
    const size_t end = p + BNR < q->P ? p + BNR : q->P;
    size_t i, pq, j;
    for (pq = p + j0; pq < end;) {
        const size_t oh = pq / q->L, ow = pq % q->L;
        size_t n = q->L - ow;
        if (n > end - pq) n = end - pq;
        if (ow < OW) {
            const size_t m = n < OW - ow ? n : OW - ow, o = oh * OW + ow;
            for (i = 0; i < nr; ++i) {
                const float *cs = out[i] + (pq - p);
                float *yd = yc + i * P + o;
                if (rc) {
                    const float *rs = rc + i * P + o;
                    for (j = 0; j < m; ++j) yd[j] = big_act(cs[j] + rs[j], act);
                } else if (m == BNR) { /* a whole tile row: vector moves, no library call */
                    gvec v[BNV];
                    int u;
                    for (u = 0; u < BNV; ++u) VLD(v[u], cs + u * GV);
                    for (u = 0; u < BNV; ++u) VST(yd + u * GV, v[u]);
                } else {
                    for (j = 0; j < m; ++j) yd[j] = cs[j];
                }
            }
        }
        pq += n;
    }
}

static void big_conv(const bplan *q, float *scratch, size_t group, const float *x, const float *w,
                     const float *bias, float *y, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    float *base = (float *)(void *)((char *)scratch + ((64u - ((uintptr_t)scratch & 63u)) & 63u));
    uint32_t *off = (uint32_t *)(void *)base;
    float *ap = base + q->off_floats, *pl = ap + q->ap_floats;
    const int act = f ? f->act : 0;
    const size_t xin = (size_t)g->C * (size_t)g->IH * (size_t)g->IW, P = (size_t)g->OH * (size_t)g->OW;
    const size_t mr = q->mr, ofull = q->ocg / mr * mr;
    size_t n, grp;
    float out[BMR][BNR];
    big_offsets(off, g, q);
    for (n = 0; n < g->outer; ++n) {
        const float *src = x + n * xin;
        if (q->copy) {
            big_planes(pl, src, g, q);
            src = pl;
        }
        for (grp = 0; grp < group; ++grp) {
            const float *sg = src + grp * q->cg * (q->copy == 1 ? (size_t)g->SH * (size_t)g->SW : 1u) * q->pp;
            const float *wg = w + grp * q->ocg * q->K;
            const float *bg = bias ? bias + grp * q->ocg : NULL;
            const size_t yo = (n * (size_t)g->OC + grp * q->ocg) * P;
            float *yg = y + yo;
            const float *rg = f && f->res ? f->res + yo : NULL;
            size_t p0, i, kk;
            float bt[BMR];
            if (ofull < q->ocg) /* the last channels: a zero-filled strip of mr rows (and their biases) */
                for (i = 0; i < mr; ++i) {
                    for (kk = 0; kk < q->K; ++kk)
                        ap[i * q->K + kk] = ofull + i < q->ocg ? wg[(ofull + i) * q->K + kk] : 0.0f;
                    bt[i] = bg && ofull + i < q->ocg ? bg[ofull + i] : 0.0f;
                }
            for (p0 = 0; p0 < q->P; p0 += q->NB) {
                const size_t pend = q->P - p0 < q->NB ? q->P : p0 + q->NB;
                size_t oc0;
                for (oc0 = 0; oc0 < q->ocg; oc0 += mr) {
                    const int tail = oc0 + mr > q->ocg;
                    const float *a = tail ? ap : wg + oc0 * q->K;
                    const size_t nr = tail ? q->ocg - oc0 : mr;
                    size_t p;
                    for (p = p0; p < pend; p += BNR) {
                        size_t ps = p, j0 = 0;
                        if (!q->copy && p + BNR > q->P) { /* in place: overlap instead of reading past x */
                            ps = q->P - BNR;
                            j0 = p - ps;
                        }
                        const float *bo = bg ? (tail ? bt : bg + oc0) : NULL;
                        const int mact = rg ? 0 : act; /* with a residual the activation comes after it */
                        if (mr == BMR)
                            big_micro_BMR(q->K, a, q->K, sg + ps, off, bo, mact, out);
                        else
                            big_micro_BMR2(q->K, a, q->K, sg + ps, off, bo, mact, out);
                        big_store(out, nr, ps, j0, q, g, yg + oc0 * P, rg ? rg + oc0 * P : NULL, act);
                    }
                }
            }
        }
    }
}
#else
static void big_conv(const bplan *q, float *scratch, size_t group, const float *x, const float *w,
                     const float *bias, float *y, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    (void)q;
    (void)scratch;
    (void)group;
    (void)x;
    (void)w;
    (void)bias;
    (void)y;
    (void)g;
    (void)f;
}
#endif
#endif
