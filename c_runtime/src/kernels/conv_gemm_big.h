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
   Stride-2 phase planes and 1x1 stride-2 gathers split rows into even and
   odd columns by vector shuffles (big_deint2).
   Scratch: the tap offsets, a zero-filled copy of the last MR-channel
   strip of weights when MR does not divide the channels, and the phase
   planes (+ read slack) when copied; bounded by NNBRT_GEMM_PLANE_MAX and
   counted by nnbrt_gemm_scratch.
   AVX-512 builds take the output-channel-vector form below instead (ocv_*:
   same sources, but 32 channels x 14 columns per tile with the columns
   broadcast and the weights, packed [k][32], as the vector operand, so no
   load is unaligned; about 1.3x the rate above on ResNet-18's layers),
   wherever it wastes less than 40 % of its tiles. Its weights are packed
   once at load where the runtime keeps a packed region (NNBRT_PREPARE:
   nnbrt_big_pack_*, called by conv_engine.c's nnbrt_pack_*), else per call
   a K block at a time (16 KB, so a block stays in L1 with its source rows;
   the tile's partial sums go to scratch between blocks). The path is taken for large layers only
   (NNBRT_GEMM_BIG_MIN multiply-adds per group and image): small ones keep
   the engine's forms. NNBRT_GEMM_IM2COL_MAX=0 (SMALL=1, microcontrollers)
   turns it off. */
#ifndef NNBRT_CONV_GEMM_BIG_H
#define NNBRT_CONV_GEMM_BIG_H
#if GV == 16 && defined(__AVX512F__)
#include <immintrin.h>
#endif

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
/* the output-channel-vector form's tile (below) */
#define OCV_OB 32 /* output channels per micro tile: 2 vectors */
#define OCV_NP 14 /* columns per micro tile: 14 consecutive, or 7 in each of two output rows */

typedef struct {
    int copy;                 /* source: 0 the input itself, 1 phase planes, 2 a 1x1's gathered pixels */
    size_t cs;                /* floats between source columns: 1, or 16 (phase planes channel-blocked, conv_big_s2.h) */
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
    /* output-channel-vector form (AVX-512, below): 0 none, 1 column strips, 2 row strips */
    int ocv;
    size_t ob, np;            /* channels (16 * vectors) x columns of its micro tile */
    size_t kc, nk;            /* K block (packed weights ob x kc) and block count */
    size_t nstrip, sb;        /* strips of np columns, strips per partial-sum block (nk > 1) */
    size_t cpr;               /* row strips: strips per output row */
    size_t wp_floats, part_floats;
    /* max pooling fused (ocv == 2, AVX-512): conv rows in a ring of pool_rows rows x OW columns x 32
       channels, one pooled row of 32 channels x b16(pooled OW) columns */
    int pool;
    size_t pool_rows, ring_floats, prow_floats;
} bplan;
#if NNBRT_GEMM_IM2COL_MAX != 0 && GV >= 4
static void ocv_plan(const nnbrt_geom *g, bplan *q);
#endif

static inline size_t b16(size_t n) { return (n + 15u) & ~(size_t)15u; }
#include "conv_big_s2.h"

/* A max pooling this GEMM fuses: ungrouped, no residual, a window of at most 4 x 4 with stride <= 4, every
   pooled output's window holding a conv output (windows clipped to the conv output, as nnabla's padding
   never wins a maximum), and the pooled size at most the conv's. ResNet's stem: 3x3, stride 2, pad 1.
   The output-channel-vector form (AVX-512, an even number of conv rows: computed in pairs) pools from a
   ring of conv rows; the other forms write the conv output to scratch and pool it from there. */
#if NNBRT_GEMM_IM2COL_MAX != 0 && GV >= 4
static int big_pool_ok(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    if (f->pool != 1 || f->res || group != 1) return 0;
    if (f->KH < 1 || f->KW < 1 || f->KH > 4 || f->KW > 4 || f->SH < 1 || f->SW < 1 || f->SH > 4 || f->SW > 4)
        return 0;
    if (f->PH < 0 || f->PW < 0 || f->PH >= f->KH || f->PW >= f->KW || f->OH < 1 || f->OW < 1) return 0;
    if (f->OH > g->OH || f->OW > g->OW) return 0;
    /* the last window starts inside the conv output */
    if ((int64_t)(f->OH - 1) * f->SH - f->PH >= g->OH || (int64_t)(f->OW - 1) * f->SW - f->PW >= g->OW) return 0;
    return 1;
}
#endif

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
    if (group < 1 || g->C < 1 || g->OC < 1 || (size_t)g->C % group || (size_t)g->OC % group) return 0;
    q->pool = f && f->pool;
    q->pool_rows = q->ring_floats = q->prow_floats = 0;
    if (q->pool && !big_pool_ok(group, g, f)) return 0;
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
    ocv_plan(g, q);
    big_s2_plan(group, g, q);
    if (q->pool && (q->ocv != 2 || g->OH % 2 || g->OW < OCV_NP / 2)) {
        /* the whole conv output in scratch, then pooled */
        q->ocv = 0;
        if ((uint64_t)g->OH * (uint64_t)g->OW > (UINT64_C(1) << 40) / (uint64_t)g->OC) return 0;
        q->ring_floats = b16((size_t)g->OC * (size_t)g->OH * (size_t)g->OW);
    } else if (q->pool) { /* a ring of conv rows */
        q->pool_rows = (size_t)f->KH + 2u;
        q->ring_floats = q->pool_rows * (size_t)g->OW * OCV_OB;
        q->prow_floats = b16((size_t)f->OW) * OCV_OB;
    }
    if (q->ocv) q->ap_floats = 0;
    t = (uint64_t)q->off_floats + q->ap_floats + q->wp_floats + q->part_floats + b16(q->pl_alloc) + 16 +
        (uint64_t)q->ring_floats + q->prow_floats;
    if (t > (uint64_t)(SIZE_MAX / 8)) return 0;
    q->scratch_bytes = (size_t)t * sizeof(float) + 64; /* + alignment */
    return 1;
#endif
}

/* Output-channel-vector form (AVX-512 builds): the micro tile holds 32
   output channels (2 vectors) x 14 columns of the shifted source view; per
   k it loads 32 packed weights (one aligned, sequential stream, prefetched)
   and broadcasts 14 source floats (scalar loads: no split lines, no
   alignment to lose), as MLAS's NCHWc convolution does. The weights come
   packed at load ([k][32] per 32-channel block, biases first), or are
   packed per call a block of 32 channels x kc taps at a time by 16x16
   register transposes. K is cut into blocks of kc taps (16 KB of packed
   weights: they stay in L1 with the source rows the strips read); between
   blocks each strip's accumulators go to a partial-sum buffer in scratch.
   The tile is transposed back in registers on the way out (bias in the
   accumulators, residual and activation at the masked store). Two strip
   shapes: 14 consecutive columns of the view ("column strips", junk
   columns ow >= OW computed and dropped) or 7 columns in each of two
   output rows ("row strips", no junk; a row's last strip overlaps its
   predecessor, and with odd OH the last row is a strip of its own, computed
   for two 32-channel blocks at once where the weights were packed at load:
   ocv_micro_row2);
   the one wasting fewer columns and channels, if it wastes < 40 %. */
#ifndef NNBRT_OCV_WP_MAX
#define NNBRT_OCV_WP_MAX 4096u /* floats of one packed weight block (16 KB: stays in L1 with its source rows) */
#endif
#ifndef NNBRT_OCV_PART_MAX
#define NNBRT_OCV_PART_MAX 131072u /* floats of partial sums when K is split (512 KB) */
#endif
#ifndef OCV_PFD
#define OCV_PFD 32 /* weight prefetch distance (k steps) */
#endif
#if NNBRT_GEMM_IM2COL_MAX != 0 && GV >= 4
static void ocv_plan(const nnbrt_geom *g, bplan *q)
{
    q->ocv = 0;
    q->wp_floats = q->part_floats = 0;
#if GV == 16 && defined(__AVX512F__) && NNBRT_GEMM_IM2COL_MAX != 0
    {
        const double useful = (double)g->OH * (double)g->OW;
        const size_t n1 = (q->P + OCV_NP - 1) / OCV_NP;
        const size_t cpr = ((size_t)g->OW + OCV_NP / 2 - 1) / (OCV_NP / 2);
        const size_t pairs = ((size_t)g->OH + 1) / 2;
        const double oce = (double)q->ocg / (double)((q->ocg + OCV_OB - 1) / OCV_OB * OCV_OB);
        double s1 = 0.0, s2 = 0.0;
        size_t kmax;
        if (q->P >= OCV_NP) s1 = useful / ((double)n1 * OCV_NP) * oce;
        if ((size_t)g->OW >= OCV_NP / 2 && g->OH >= 2) s2 = useful / ((double)pairs * (double)cpr * OCV_NP) * oce;
        if (s1 < 0.6 && s2 < 0.6) return;
        q->ob = OCV_OB;
        q->np = OCV_NP;
        if (s2 >= s1) {
            q->ocv = 2;
            q->cpr = cpr;
            q->nstrip = pairs * cpr;
        } else {
            q->ocv = 1;
            q->cpr = 0;
            q->nstrip = n1;
        }
        kmax = NNBRT_OCV_WP_MAX / q->ob;
        q->nk = (q->K + kmax - 1) / kmax;
        q->kc = (q->K + q->nk - 1) / q->nk;
        q->sb = q->nstrip;
        q->wp_floats = b16(q->ob * q->kc) + 64 /* bias */;
        if (q->nk > 1) {
            q->sb = NNBRT_OCV_PART_MAX / (q->ob * q->np);
            if (q->sb < 1) q->sb = 1;
            if (q->sb > q->nstrip) q->sb = q->nstrip;
        }
        q->part_floats = q->sb * q->ob * q->np; /* nk == 1: one tile */
        if (q->nk == 1) q->part_floats = q->ob * q->np;
    }
#else
    (void)g;
#endif
}
#endif

#if NNBRT_GEMM_IM2COL_MAX != 0 && GV >= 4
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
                if (act) acc[i][v] = vrelu(acc[i][v], act);                                          \
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
                off[k] = (uint32_t)(q->cs == 16 ? (((c / 16u * SH + dh % SH) * SW + dw % SW) * q->pp + (dh / SH) * q->L + dw / SW) * 16u + c % 16u
                                    : q->copy == 1 ? ((c * SH + dh % SH) * SW + dw % SW) * q->pp + (dh / SH) * q->L + dw / SW
                                                 : c * q->pp);
            }
}

/* ev[j] = src[2j] and (od non-NULL) od[j] = src[2j + 1] for 2j (+ 1) < n, two vectors a step by shuffles
   (AVX-512: vpermt2ps); reads src[0, n) only. */
#if GV == 16
#define BIG_EVEN 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define BIG_ODD 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31
#elif GV == 8
#define BIG_EVEN 0, 2, 4, 6, 8, 10, 12, 14
#define BIG_ODD 1, 3, 5, 7, 9, 11, 13, 15
#else
#define BIG_EVEN 0, 2, 4, 6
#define BIG_ODD 1, 3, 5, 7
#endif
static void big_deint2(const float *src, float *ev, float *od, size_t n)
{
    size_t j = 0;
#if GV == 16 && defined(__AVX512F__)
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    for (; j < n; j += 32) { /* the tail by masked loads and stores */
        const size_t r = n - j < 32 ? n - j : 32;
        const __mmask16 ma = (__mmask16)(r >= 16 ? 0xffffu : (1u << r) - 1u);
        const __mmask16 mb = (__mmask16)(r >= 32 ? 0xffffu : r > 16 ? (1u << (r - 16)) - 1u : 0u);
        const __m512 a = _mm512_maskz_loadu_ps(ma, src + j), b = _mm512_maskz_loadu_ps(mb, src + j + 16);
        const size_t ne = (r + 1) / 2, no = r / 2;
        _mm512_mask_storeu_ps(ev + j / 2, (__mmask16)(ne >= 16 ? 0xffffu : (1u << ne) - 1u),
                              _mm512_permutex2var_ps(a, ie, b));
        if (od)
            _mm512_mask_storeu_ps(od + j / 2, (__mmask16)(no >= 16 ? 0xffffu : (1u << no) - 1u),
                                  _mm512_permutex2var_ps(a, io, b));
    }
#endif
    for (; j + 2 * GV <= n; j += 2 * GV) {
        gvec a, b, e;
        VLD(a, src + j);
        VLD(b, src + j + GV);
        e = NNBRT_VSHUF(gveci, a, b, BIG_EVEN);
        VST(ev + j / 2, e);
        if (od) {
            const gvec o = NNBRT_VSHUF(gveci, a, b, BIG_ODD);
            VST(od + j / 2, o);
        }
    }
    for (; j < n; j += 2) {
        ev[j / 2] = src[j];
        if (od && j + 1 < n) od[j / 2] = src[j + 1];
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
                if (SW == 2) /* every second pixel by vector shuffles */
                    big_deint2(sr + lo * 2 - PW, d + lo, NULL, (size_t)(2 * (hi - lo) - 1));
                else
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
#if GV == 16 && defined(__AVX512F__)
    if (q->cs == 16) {
        big_s2_planes(pl, x, g, q);
        return;
    }
#endif
    if (SH == 1 && SW == 1) { /* one plane per channel: each row written once (its padding zeroed), then the slack */
        const size_t PH = (size_t)g->PH, IH = (size_t)g->IH, IW = (size_t)g->IW, rows = q->pp / q->L;
        for (c = 0; c < (size_t)g->C; ++c)
            for (t = 0; t < rows; ++t) {
                float *row = pl + c * q->pp + t * q->L;
                if (t < PH || t >= PH + IH) {
                    memset(row, 0, q->L * sizeof(float));
                    continue;
                }
                memset(row, 0, PW * sizeof(float));
                memcpy(row + PW, x + (c * IH + t - PH) * IW, IW * sizeof(float));
                memset(row + PW + IW, 0, (q->L - PW - IW) * sizeof(float));
            }
        memset(pl + q->pl_floats, 0, (q->pl_alloc - q->pl_floats) * sizeof(float));
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
            if (SW == 2) { /* even input columns to phase PW % 2 from column PW / 2, odd ones to the other */
                big_deint2(sr, row + (PW % 2u) * q->pp + PW / 2u, row + ((PW + 1u) % 2u) * q->pp + (PW + 1u) / 2u,
                           (size_t)g->IW);
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

/* One image's input as the tiles read it: x itself, or its phase planes / gathered columns written to pl. */
static inline const float *big_image(float *pl, const float *x, const nnbrt_geom *g, const bplan *q)
{
    if (!q->copy) return x;
    big_planes(pl, x, g, q);
    return pl;
}

/* Group grp's first input channel in big_image's result. */
static inline const float *big_group_in(const float *src, size_t grp, const nnbrt_geom *g, const bplan *q)
{
    return src + grp * q->cg * (q->copy == 1 ? (size_t)g->SH * (size_t)g->SW : 1u) * q->pp;
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

#if GV == 16 && defined(__AVX512F__)
/* 16x16 transpose in registers: r[i] lane j -> r[j] lane i. */
static inline void ocv_tr16(__m512 r[16])
{
    __m512 t[16];
    int i, c;
    for (i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (i = 0; i < 4; ++i) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (c = 0; c < 4; ++c) {
        t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
        t[4 + c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
        t[8 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
        t[12 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
    }
    for (c = 0; c < 4; ++c) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xDD);
        r[4 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0xDD);
    }
}

/* wp[k][i] = w[ob0 + i][kb + k] (row stride K) for k < kc, i < nr, zero for nr <= i < ob. */
static void ocv_pack(float *wp, const float *w, size_t K, size_t ob, size_t nr, size_t kb, size_t kc)
{
    size_t i0, k0, i, k;
    for (i0 = 0; i0 < ob; i0 += 16)
        for (k0 = 0; k0 < kc; k0 += 16) {
            if (i0 + 16 <= nr && k0 + 16 <= kc) {
                __m512 r[16];
                for (i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(w + (i0 + i) * K + kb + k0);
                ocv_tr16(r);
                for (k = 0; k < 16; ++k) _mm512_store_ps(wp + (k0 + k) * ob + i0, r[k]);
            } else {
                const size_t ke = k0 + 16 < kc ? k0 + 16 : kc;
                for (k = k0; k < ke; ++k)
                    for (i = i0; i < i0 + 16; ++i) wp[k * ob + i] = i < nr ? w[i * K + kb + k] : 0.0f;
            }
        }
}

/* The tile kernels' accumulators acc[v < NV][j < NJ] (out and acc_in: [v][j < JS][16]) from acc_in, else
   from the bias vector BIAS (an expression of v, 16 floats at BIAS + (v & 1) * 16; NULL: zero), and back. */
#define OCV_ACC_INIT(acc, NV, NJ, JS, BIAS, acc_in)                                                 \
    for (v = 0; v < NV; ++v) {                                                                      \
        const float *bv_src = BIAS;                                                                 \
        gvec bv = {0};                                                                              \
        if (bv_src) VLD(bv, bv_src + (v & 1) * 16);                                                 \
        for (j = 0; j < NJ; ++j) {                                                                  \
            if (acc_in)                                                                             \
                VLD(acc[v][j], acc_in + (size_t)(v * JS + j) * 16);                                 \
            else                                                                                    \
                acc[v][j] = bv;                                                                     \
        }                                                                                           \
    }
#define OCV_ACC_STORE(acc, NV, NJ, JS, out)                                                         \
    for (v = 0; v < NV; ++v)                                                                        \
        for (j = 0; j < NJ; ++j) VST(out + (size_t)(v * JS + j) * 16, acc[v][j])

/* acc[v][j] (v < 2 vectors of 16 channels, j < 14 columns) = init + sum_k wp[k][v*16..] * b[off[k] + c_j]
   with c_j = j for j < 7, b2 + j - 7 after (b2 = 7: 14 consecutive columns; a row width: two rows of 7).
   init: acc_in (partial sums, same layout as out) or bias (32 floats) or zero. out: [v][j][16]. 28
   accumulators, 2 weight vectors and a broadcast: 31 of the 32 registers. */
#define OCV_MICRO(NAME, NJ, PF, CS)                                                                         \
    static BIG_NOINLINE void NAME(size_t K, const float *wp, const float *b, size_t b2, const uint32_t *off,     \
                                  const float *bias, const float *acc_in, float *out)                           \
    {                                                                                                   \
        gvec acc[2][NJ];                                                                                \
        size_t k;                                                                                       \
        int v, j;                                                                                       \
        OCV_ACC_INIT(acc, 2, NJ, OCV_NP, bias, acc_in);                                             \
        for (k = 0; k < K; ++k) {                                                                       \
            const float *bk = b + off[k], *bk2 = bk + b2;                                               \
            gvec w0, w1;                                                                                \
            VLD(w0, wp + k * 32);                                                                       \
            VLD(w1, wp + k * 32 + 16);                                                                  \
            PF(wp + (k + OCV_PFD) * 32);                                                                \
            for (j = 0; j < OCV_NP / 2; ++j) {                                                          \
                const float s = bk[j * CS];                                                             \
                acc[0][j] += s * w0;                                                                    \
                acc[1][j] += s * w1;                                                                    \
            }                                                                                           \
            for (j = OCV_NP / 2; j < NJ; ++j) {                                                         \
                const float s = bk2[(j - OCV_NP / 2) * CS];                                                  \
                acc[0][j] += s * w0;                                                                    \
                acc[1][j] += s * w1;                                                                    \
            }                                                                                           \
        }                                                                                               \
        OCV_ACC_STORE(acc, 2, NJ, OCV_NP, out);                                                     \
    }
/* the weight stream ahead (may pass the block: packed at load, it runs on contiguously) */
#ifdef __GNUC__
#define OCV_PREFETCH(p) (__builtin_prefetch((p), 0, 3), __builtin_prefetch((p) + 16, 0, 3))
#else
#define OCV_PREFETCH(p) ((void)0)
#endif
#define OCV_NOPF(p) ((void)0)
/* ocv_micro_pf: the first strip of a K block (weights packed at load stream in from L2 or memory); the other
   strips find the block in L1 and skip the two prefetch instructions a k step (4 % of the loop's uops) */
OCV_MICRO(ocv_micro_pf, OCV_NP, OCV_PREFETCH, 1)
OCV_MICRO(ocv_micro, OCV_NP, OCV_NOPF, 1)
OCV_MICRO(ocv_micro_row, OCV_NP / 2, OCV_PREFETCH, 1)
/* channel-blocked phase planes (conv_big_s2.h): a column 16 floats on */
OCV_MICRO(ocv_micro_pf16, OCV_NP, OCV_PREFETCH, 16)
OCV_MICRO(ocv_micro16, OCV_NP, OCV_NOPF, 16) /* one row of 7 (the last of an odd OH): columns 7..13 untouched */

/* The last row of an odd OH over two 32-channel blocks at once (weights packed at load: wp, wq; biases
   bias, bias2): 64 channels x 7 columns, 28 accumulators, so that row costs half a tile per block, not a
   whole one (ResNet-18's 7x7 outputs: an eighth of their columns). out: [v < 4][j < 7][16]. */
static BIG_NOINLINE void ocv_micro_row2(size_t K, const float *wp, const float *wq, const float *b,
                                        const uint32_t *off, const float *bias, const float *bias2,
                                        const float *acc_in, float *out)
{
    gvec acc[4][OCV_NP / 2];
    size_t k;
    int v, j;
    OCV_ACC_INIT(acc, 4, OCV_NP / 2, OCV_NP / 2, v < 2 ? bias : bias2, acc_in);
    for (k = 0; k < K; ++k) {
        const float *bk = b + off[k];
        gvec w0, w1, w2, w3;
        VLD(w0, wp + k * 32);
        VLD(w1, wp + k * 32 + 16);
        VLD(w2, wq + k * 32);
        VLD(w3, wq + k * 32 + 16);
        OCV_PREFETCH(wp + (k + OCV_PFD) * 32);
        OCV_PREFETCH(wq + (k + OCV_PFD) * 32);
        for (j = 0; j < OCV_NP / 2; ++j) {
            const float s = bk[j];
            acc[0][j] += s * w0;
            acc[1][j] += s * w1;
            acc[2][j] += s * w2;
            acc[3][j] += s * w3;
        }
    }
    OCV_ACC_STORE(acc, 4, OCV_NP / 2, OCV_NP / 2, out);
}

/* The tile (out of ocv_micro, source columns ps + c_j; js columns a vector of channels: 14, or 7 out of
   ocv_micro_row2) to y: the columns j in keep with ow < OW, channels < nr (rows P apart at yc), + residual
   rc, activation. */
static void ocv_store(const float *acc, size_t js, size_t b2, unsigned keep, size_t nr, size_t ps, const bplan *q,
                      const nnbrt_geom *g, float *yc, const float *rc, int act)
{
    const size_t OW = (size_t)g->OW, P = (size_t)g->OH * OW;
    size_t seg_a[OCV_NP], seg_m[OCV_NP], seg_o[OCV_NP], ns = 0, s, v, i, j;
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
    size_t oh = ps / q->L, ow = ps % q->L; /* of column j, stepped (two divisions a tile, not 14) */
    for (j = 0; j < OCV_NP; ++j, ++ow) { /* runs of stored columns: lanes a.., m of them, at output o */
        if (j == OCV_NP / 2 && b2 != OCV_NP / 2) {
            oh = (ps + b2) / q->L;
            ow = (ps + b2) % q->L;
        }
        if (ow == q->L) {
            ow = 0;
            ++oh;
        }
        if (!(keep >> j & 1u) || ow >= OW) continue;
        if (ns && seg_a[ns - 1] + seg_m[ns - 1] == j && seg_o[ns - 1] + seg_m[ns - 1] == oh * OW + ow) {
            ++seg_m[ns - 1];
        } else {
            seg_a[ns] = j;
            seg_m[ns] = 1;
            seg_o[ns++] = oh * OW + ow;
        }
    }
    for (v = 0; v < 2 && v * 16 < nr; ++v) {
        __m512 r[16];
        for (j = 0; j < 16; ++j) r[j] = j < js ? _mm512_load_ps(acc + (v * js + j) * 16) : zero;
        ocv_tr16(r);
        for (i = 0; i < 16 && v * 16 + i < nr; ++i) {
            float *yr = yc + (v * 16 + i) * P;
            const float *rr = rc ? rc + (v * 16 + i) * P : NULL;
            for (s = 0; s < ns; ++s) {
                const __mmask16 m = (__mmask16)((1u << seg_m[s]) - 1u);
                __m512 t = seg_a[s] ? _mm512_permutexvar_ps(_mm512_add_epi32(iota, _mm512_set1_epi32((int)seg_a[s])), r[i])
                                    : r[i];
                if (rr) t = _mm512_add_ps(t, _mm512_maskz_loadu_ps(m, rr + seg_o[s]));
                if (act) t = _mm512_max_ps(t, zero);
                if (act == 2) t = _mm512_min_ps(t, six);
                _mm512_mask_storeu_ps(yr + seg_o[s], m, t);
            }
        }
    }
}

/* Strip s: first source column ps, offset b2 of its second half, and the tile columns it stores (a
   predecessor overlapped by the last strip of the view, of a row or of the rows already stored the rest). */
static void ocv_strip(const bplan *q, const nnbrt_geom *g, size_t s, size_t *ps, size_t *b2, unsigned *keep)
{
    const unsigned all = (1u << OCV_NP) - 1u;
    if (q->ocv == 1) {
        const size_t p = s * OCV_NP;
        *ps = p + OCV_NP > q->P ? q->P - OCV_NP : p;
        *b2 = OCV_NP / 2;
        *keep = all & ~((1u << (p - *ps)) - 1u);
    } else {
        const size_t h = OCV_NP / 2, c0 = (s % q->cpr) * h;
        const size_t cs = c0 + h > (size_t)g->OW ? (size_t)g->OW - h : c0;
        const unsigned row = ((1u << h) - 1u) & ~((1u << (c0 - cs)) - 1u);
        size_t oh = s / q->cpr * 2;
        *keep = row | row << h;
        if (oh + 2 > (size_t)g->OH) { /* odd OH: the last row alone (ocv_micro_row) */
            oh = (size_t)g->OH - 1;
            *keep = row;
        }
        *ps = oh * q->L + cs;
        *b2 = q->L;
    }
}

/* Fused max pooling: a finished tile (out of ocv_micro: [v][j][16], columns j < 7 of conv row oh, 7.. of
   row oh + 1, from column cs) into the ring of conv rows ([row % pool_rows][column][32 channels]), bias
   included, before the activation (which commutes with the maximum and comes after it). */
static void ocv_pool_tile(const float *acc, size_t ps, const bplan *q, const nnbrt_geom *g, float *ring)
{
    const size_t oh = ps / q->L, cs = ps % q->L, OW = (size_t)g->OW;
    size_t t, j, v;
    for (t = 0; t < 2; ++t) {
        float *row = ring + ((oh + t) % q->pool_rows) * OW * OCV_OB;
        for (j = 0; j < OCV_NP / 2; ++j)
            for (v = 0; v < 2; ++v) {
                __m512 a = _mm512_load_ps(acc + (v * OCV_NP + t * (OCV_NP / 2) + j) * 16);
                _mm512_store_ps(row + (cs + j) * OCV_OB + v * 16, a);
            }
    }
}

/* Every pooled row whose window ends at or before conv row done (the last of a finished pair; the window
   clipped to the conv output) from the ring, from *next on: the maximum of each window (nnabla's rule:
   the first element, then c > m ? c : m), the activation, then 16 x 16 transposes into the nr channels'
   pooled rows (PP apart from yc). */
static void ocv_pool_rows(const bplan *q, const nnbrt_geom *g, const nnbrt_fuse *f, size_t done, size_t *next,
                          const float *ring, float *prow, size_t nr, float *yc)
{
    const size_t OH = (size_t)g->OH, OW = (size_t)g->OW, POW = (size_t)f->OW, PP = (size_t)f->OH * POW;
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
    while (*next < (size_t)f->OH) {
        const long r0 = (long)*next * f->SH - f->PH, r1 = r0 + f->KH; /* window rows [r0, r1) */
        const size_t ra = r0 < 0 ? 0 : (size_t)r0, rb = (size_t)r1 > OH ? OH : (size_t)r1;
        size_t pw, r, c, v, i, pw0;
        if (rb - 1 > done) return; /* its last row is not computed yet */
        for (pw = 0; pw < POW; ++pw) {
            const long c0 = (long)pw * f->SW - f->PW, c1 = c0 + f->KW;
            const size_t ca = c0 < 0 ? 0 : (size_t)c0, cb = (size_t)c1 > OW ? OW : (size_t)c1;
            for (v = 0; v < 2; ++v) {
                __m512 m = _mm512_load_ps(ring + ((ra % q->pool_rows) * OW + ca) * OCV_OB + v * 16);
                for (r = ra; r < rb; ++r)
                    for (c = r == ra ? ca + 1 : ca; c < cb; ++c)
                        m = _mm512_max_ps(_mm512_load_ps(ring + ((r % q->pool_rows) * OW + c) * OCV_OB + v * 16), m);
                if (f->act) m = _mm512_max_ps(m, zero);
                if (f->act == 2) m = _mm512_min_ps(m, six);
                _mm512_store_ps(prow + pw * OCV_OB + v * 16, m);
            }
        }
        for (v = 0; v < 2 && v * 16 < nr; ++v)
            for (pw0 = 0; pw0 < POW; pw0 += 16) {
                const size_t n16 = POW - pw0 < 16 ? POW - pw0 : 16;
                const __mmask16 mk = (__mmask16)((1u << n16) - 1u);
                __m512 t[16];
                for (i = 0; i < 16; ++i) t[i] = i < n16 ? _mm512_load_ps(prow + (pw0 + i) * OCV_OB + v * 16) : zero;
                ocv_tr16(t);
                for (i = 0; i < 16 && v * 16 + i < nr; ++i)
                    _mm512_mask_storeu_ps(yc + (v * 16 + i) * PP + *next * POW + pw0, mk, t[i]);
            }
        ++*next;
    }
}

/* pk: the weights packed at load (nnbrt_big_pack_fill: per group and block of 32 channels, 32 biases then
   [k][32]), or NULL: packed here a K block at a time. */
static void ocv_conv(const bplan *q, float *base, size_t group, const float *x, const float *w, const float *bias,
                     const float *pk, float *y, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    uint32_t *off = (uint32_t *)(void *)base;
    float *wp = base + q->off_floats, *bb = wp + q->wp_floats - 64, *part = wp + q->wp_floats;
    float *pl = part + q->part_floats, *ring = pl + b16(q->pl_alloc), *prow = ring + q->ring_floats;
    const int act = f ? f->act : 0;
    const size_t xin = (size_t)g->C * (size_t)g->IH * (size_t)g->IW, P = (size_t)g->OH * (size_t)g->OW;
    const size_t tile = q->ob * q->np;
    size_t n, grp;
    big_offsets(off, g, q);
    for (n = 0; n < g->outer; ++n) {
        const float *src = big_image(pl, x + n * xin, g, q);
        for (grp = 0; grp < group; ++grp) {
            const float *sg = big_group_in(src, grp, g, q);
            const float *wg = w ? w + grp * q->ocg * q->K : NULL;
            const float *bg = bias ? bias + grp * q->ocg : NULL;
            /* pooled: the outputs are f's (group 1) */
            const size_t yo = (n * (size_t)g->OC + grp * q->ocg) * (q->pool ? (size_t)f->OH * (size_t)f->OW : P);
            const float *rg = f && f->res ? f->res + yo : NULL;
            size_t ob0;
            for (ob0 = 0; ob0 < q->ocg; ob0 += q->ob) {
                const size_t nr = q->ocg - ob0 < q->ob ? q->ocg - ob0 : q->ob;
                const float *pkb = pk ? pk + (grp * ((q->ocg + OCV_OB - 1) / OCV_OB) + ob0 / OCV_OB) * (OCV_OB * (q->K + 1))
                                      : NULL;
                const float *bo0 = pkb ? pkb : bg ? bb : NULL;
                /* packed at load, the last row of an odd OH in pairs of blocks (ocv_micro_row2) */
                const int pair = pkb && q->ocv == 2 && (ob0 / OCV_OB % 2u ? 1 : ob0 + OCV_OB < q->ocg);
                size_t i, s0, next = 0; /* fused pooling: the next pooled row */
                if (!pkb)
                    for (i = 0; i < q->ob; ++i) bb[i] = bg && i < nr ? bg[ob0 + i] : 0.0f;
                for (s0 = 0; s0 < q->nstrip; s0 += q->sb) {
                    const size_t s1 = q->nstrip - s0 < q->sb ? q->nstrip : s0 + q->sb;
                    size_t kb;
                    for (kb = 0; kb < q->K; kb += q->kc) {
                        const size_t kc = q->K - kb < q->kc ? q->K - kb : q->kc;
                        const int last = kb + kc == q->K;
                        const float *wb = pkb ? pkb + OCV_OB * (1 + kb) : wp;
                        size_t s;
                        if (!pkb && (q->nk > 1 || s0 == 0)) ocv_pack(wp, wg + ob0 * q->K, q->K, q->ob, nr, kb, kc);
                        for (s = s0; s < s1; ++s) {
                            size_t ps, b2;
                            unsigned keep;
                            float *acc = q->nk > 1 ? part + (s - s0) * tile : part;
                            const float *in = kb ? acc : NULL, *bo = kb ? NULL : bo0;
                            ocv_strip(q, g, s, &ps, &b2, &keep);
                            if (q->cs == 16) { /* channel-blocked (even OH: every strip two rows) */
                                (pkb && s == s0 ? ocv_micro_pf16 : ocv_micro16)(kc, wb, sg + ps * 16u, b2 * 16u,
                                                                                off + kb, bo, in, acc);
                            } else if (keep >> OCV_NP / 2) { /* columns in the second half: two rows, or 14 in a run */
                                (pkb && s == s0 ? ocv_micro_pf : ocv_micro)(kc, wb, sg + ps, b2, off + kb, bo, in,
                                                                            acc);
                            } else if (pair) { /* a lone last row: both blocks of the pair at the second */
                                const size_t B = OCV_OB * (q->K + 1), P1 = (ob0 - OCV_OB) * P;
                                if (!(ob0 / OCV_OB % 2u)) continue; /* done with its successor */
                                /* the second's weights are in L1 (its strips before), the first's in L2 */
                                ocv_micro_row2(kc, wb - B, wb, sg + ps, off + kb, bo ? bo - B : NULL, bo, in, acc);
                                if (last) {
                                    ocv_store(acc, OCV_NP / 2, b2, keep, OCV_OB, ps, q, g, y + yo + P1,
                                              rg ? rg + P1 : NULL, act);
                                    ocv_store(acc + 2 * (OCV_NP / 2) * 16, OCV_NP / 2, b2, keep, nr, ps, q, g,
                                              y + yo + ob0 * P, rg ? rg + ob0 * P : NULL, act);
                                }
                                continue;
                            } else {
                                ocv_micro_row(kc, wb, sg + ps, b2, off + kb, bo, in, acc);
                            }
                            if (last && q->pool) {
                                ocv_pool_tile(acc, ps, q, g, ring);
                                if ((s + 1) % q->cpr == 0) /* a pair of conv rows done */
                                    ocv_pool_rows(q, g, f, ps / q->L + 1, &next, ring, prow, nr,
                                                  y + yo + ob0 * (size_t)f->OH * (size_t)f->OW);
                            } else if (last) {
                                ocv_store(acc, OCV_NP, b2, keep, nr, ps, q, g, y + yo + ob0 * P,
                                          rg ? rg + ob0 * P : NULL, act);
                            }
                        }
                    }
                }
            }
        }
    }
}
#endif

/* The fused max pooling of the forms without a ring (big_pool_ok): conv output c (activation applied, which
   commutes with the maximum) into y, row by row as the MaxPooling kernel does (conv_util.h's
   nnbrt_pool_fold: nnabla's windows and NaN rule). */
static void big_maxpool(const float *c, float *y, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    const size_t OH = (size_t)g->OH, OW = (size_t)g->OW, POW = (size_t)f->OW;
    const nnbrt_pool_row pr = nnbrt_pool_row_plan(1, f->KW, f->SW, f->PW, (long)POW, (long)OW);
    size_t ch, ph, r;
    for (ch = 0; ch < (size_t)g->OC; ++ch, c += OH * OW)
        for (ph = 0; ph < (size_t)f->OH; ++ph, y += POW) {
            long r0, r1;
            nnbrt_pool_window((long)ph, f->KH, f->SH, f->PH, (long)OH, &r0, &r1);
            for (r = (size_t)r0; r < (size_t)r1; ++r) nnbrt_pool_fold(&pr, y, c + r * OW, r == (size_t)r0);
        }
}

static void big_conv(const bplan *q, float *scratch, size_t group, const float *x, const float *w,
                     const float *bias, float *y, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    float *base = (float *)(void *)((char *)scratch + ((64u - ((uintptr_t)scratch & 63u)) & 63u));
#if GV == 16 && defined(__AVX512F__)
    if (q->ocv) {
        ocv_conv(q, base, group, x, w, bias, NULL, y, g, f);
        return;
    }
#endif
    uint32_t *off = (uint32_t *)(void *)base;
    float *ap = base + q->off_floats, *pl = ap + q->ap_floats, *conv = pl + b16(q->pl_alloc);
    const int act = f ? f->act : 0;
    const size_t xin = (size_t)g->C * (size_t)g->IH * (size_t)g->IW, P = (size_t)g->OH * (size_t)g->OW;
    const size_t mr = q->mr, ofull = q->ocg / mr * mr;
    size_t n, grp;
    float out[BMR][BNR];
    big_offsets(off, g, q);
    for (n = 0; n < g->outer; ++n) {
        const float *src = big_image(pl, x + n * xin, g, q);
        for (grp = 0; grp < group; ++grp) {
            const float *sg = big_group_in(src, grp, g, q);
            const float *wg = w + grp * q->ocg * q->K;
            const float *bg = bias ? bias + grp * q->ocg : NULL;
            const size_t yo = (n * (size_t)g->OC + grp * q->ocg) * P;
            float *yg = q->pool ? conv : y + yo; /* pooled (group 1): the conv output in scratch */
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
        if (q->pool) big_maxpool(conv, y + n * (size_t)g->OC * (size_t)f->OH * (size_t)f->OW, g, f);
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
#ifdef NNBRT_PREPARE
#if defined(NNBRT_ISA_SUFFIX) && !defined(nnbrt_big_pack_bytes) /* one per instruction set (conv_util.h) */
#define nnbrt_big_pack_bytes NNBRT_CAT(nnbrt_big_pack_bytes, NNBRT_ISA_SUFFIX)
#define nnbrt_big_pack_fill NNBRT_CAT(nnbrt_big_pack_fill, NNBRT_ISA_SUFFIX)
#define nnbrt_big_pack_conv NNBRT_CAT(nnbrt_big_pack_conv, NNBRT_ISA_SUFFIX)
#endif
size_t nnbrt_big_pack_bytes(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f);
void nnbrt_big_pack_fill(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, const float *w, const float *bias,
                         void *dst);
int nnbrt_big_pack_conv(size_t group, float *scratch, const void *pk, const float *x, float *y, const nnbrt_geom *g,
                        const nnbrt_fuse *f);
/* Weights packed once at load (internal.h NNBRT_PREPARE; conv_engine.c's nnbrt_pack_* try these first):
   the output-channel-vector form's blocks, per group and 32 channels: 32 biases (zero without bias or
   past the channels), then the weights [k][32] (zero past the channels), 64-byte aligned. 0 bytes (no
   packed form) where the layer takes another form. */
size_t nnbrt_big_pack_bytes(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    bplan q;
    uint64_t t;
    if (!mkbplan(group, g, f, &q) || !q.ocv) return 0;
    t = (uint64_t)group * ((q.ocg + OCV_OB - 1) / OCV_OB) * OCV_OB * ((uint64_t)q.K + 1u) * 4u;
    return t > (uint64_t)(SIZE_MAX / 4) ? 0 : (size_t)t;
}

void nnbrt_big_pack_fill(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, const float *w, const float *bias,
                         void *dst)
{
#if GV == 16 && defined(__AVX512F__) && NNBRT_GEMM_IM2COL_MAX != 0
    bplan q;
    float *d = (float *)dst;
    size_t grp, ob0, i;
    if (!mkbplan(group, g, f, &q) || !q.ocv) return;
    for (grp = 0; grp < group; ++grp)
        for (ob0 = 0; ob0 < q.ocg; ob0 += OCV_OB) {
            const size_t nr = q.ocg - ob0 < OCV_OB ? q.ocg - ob0 : OCV_OB;
            for (i = 0; i < OCV_OB; ++i) d[i] = bias && i < nr ? bias[grp * q.ocg + ob0 + i] : 0.0f;
            ocv_pack(d + OCV_OB, w + (grp * q.ocg + ob0) * q.K, q.K, OCV_OB, nr, 0, q.K);
            d += OCV_OB * (q.K + 1);
        }
#else
    (void)group;
    (void)g;
    (void)f;
    (void)w;
    (void)bias;
    (void)dst;
#endif
}

/* The convolution from weights packed by nnbrt_big_pack_fill (the same arguments; scratch: the engine's,
   nnbrt_gemm_scratch); 0, doing nothing, where there is no packed form. */
int nnbrt_big_pack_conv(size_t group, float *scratch, const void *pk, const float *x, float *y, const nnbrt_geom *g,
                        const nnbrt_fuse *f)
{
#if GV == 16 && defined(__AVX512F__) && NNBRT_GEMM_IM2COL_MAX != 0
    bplan q;
    if (!pk || !scratch || !mkbplan(group, g, f, &q) || !q.ocv) return 0;
    ocv_conv(&q, (float *)(void *)((char *)scratch + ((64u - ((uintptr_t)scratch & 63u)) & 63u)), group, x, NULL,
             NULL, (const float *)pk, y, g, f);
    return 1;
#else
    (void)group;
    (void)scratch;
    (void)pk;
    (void)x;
    (void)y;
    (void)g;
    (void)f;
    return 0;
#endif
}
#endif
#endif
