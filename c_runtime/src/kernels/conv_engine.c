/* Fast convolution engine shared by Convolution, DepthwiseConvolution
   (group = C) and FusedConv (conv -> [pool] -> [+ residual] -> [act]).

   Register-blocked direct convolution: for one output row the input rows
   of every (input channel, kh) are made available -- in place when no
   padding is needed, else as zero-padded copies in scratch; for strided
   or narrow outputs as a per-kw gathered copy of exactly the columns the
   row reads -- so every tile reads unit-stride. A tile of OB output
   channels x WB output columns is accumulated in registers over all taps;
   the fixed-size inner loops vectorise. The last tile of a row overlaps
   its predecessor instead of running short (only new columns are stored,
   so an output aliasing the residual is read before it is written).

   With pooling the convolution output is never stored whole: each pooled
   output row consumes the conv rows of its window (one row of OB channels
   in scratch at a time) into a per-group row of pool accumulators. */
#include "conv_util.h"
#include "conv_act.h"
#include "conv_r8.h" /* the Winograd form's pack entry points (conv_r8wino.h) */
#include "conv_phase.h"
#include <math.h>

#if defined(__AVX512F__) && !defined(NNBRT_NO_VECTOR_EXT)
#define NNBRT_OB 8 /* output channels per tile (named accumulators below) */
#else
#define NNBRT_OB 4
#endif
/* Vector length in floats: 8 with AVX (NATIVE=1 builds), else 4 (SSE, NEON,
   or scalar code the compiler lowers it to). A tile row is 2 vectors. */
#ifndef NNBRT_VL
#if defined(__AVX__)
#define NNBRT_VL 8
#else
#define NNBRT_VL 4
#endif
#endif
#define VL NNBRT_VL
#define NNBRT_WB (2 * NNBRT_VL)
/* AVX-512: 1x1 convolutions over long rows use 32-column tiles of 16-float vectors. */
#if defined(__AVX512F__) && defined(__GNUC__) && !defined(NNBRT_NO_VECTOR_EXT)
#define WIDE 32
#define WBX 32
#else
#define WIDE 0
#define WBX NNBRT_WB
#endif
#define OB NNBRT_OB
#if defined(__GNUC__) && !defined(NNBRT_NO_VECTOR_EXT)
#define TWO_ROWS 1 /* two-row tiles (second vector = next output row) */
#else
#define TWO_ROWS 0
#endif
#define WB NNBRT_WB

#ifndef NNBRT_MCU_KERNELS /* Cortex-M: conv_mcu.c instead of the engine */
enum { M_DIRECT = 0, M_PADROW = 1, M_GATHER = 2, M_PLANE = 3 };

/* Largest zero-padded copy (floats) of one group's input planes that the
   M_PLANE mode keeps in scratch (rows then need no per-row copies). Set
   -DNNBRT_PLANE_MAX=0 for the smallest scratch (microcontrollers). */
#ifndef NNBRT_PLANE_MAX
#define NNBRT_PLANE_MAX 65536
#endif

typedef struct {
    nnbrt_geom g;               /* conv geometry (1x1 stride-1 convs flattened to one row) */
    size_t cg, ocg, nrows, wsoc;
    size_t rowlen;              /* floats per scratch row copy */
    size_t cols;                /* gathered columns per kw (M_GATHER) */
    int mode;
    long tw;                    /* tile width: WB, or VL for narrow outputs */
    int planar;                 /* one input channel per group, stride 1, no pool: padded-plane AXPYs */
    size_t IWp, IHp;            /* padded plane (planar, M_PLANE) */
    size_t Lq, rowlen_p;        /* M_PLANE: floats per column phase, per padded row (SW * Lq) */
    size_t koff_bytes;          /* scratch for the KW tap offsets */
    size_t ptr_bytes, pad_floats, rowbuf_floats, acc_floats;
} eplan;

#endif

static size_t up64(size_t n) { return (n + 63u) & ~(size_t)63u; }

#ifndef NNBRT_MCU_KERNELS /* Cortex-M: conv_mcu.c instead of the engine */
/* Rows a fixed offset apart (padded plane, or unpadded rows in place): tap
   tiles and two-row tiles apply. */
static int fixed_rows(const eplan *p)
{
    return p->mode == M_PLANE || (p->mode == M_DIRECT && p->g.PH == 0);
}

/* Returns 0 on size overflow. */
static int mkplan(size_t group, const nnbrt_geom *g0, const nnbrt_fuse *f, eplan *p)
{
    nnbrt_geom *g = &p->g;
    uint64_t wp, rows, pad;
    *g = *g0;
    if (!(f && f->pool) && g->KH == 1 && g->KW == 1 && g->SH == 1 && g->SW == 1 && g->PH == 0 &&
        g->PW == 0) {
        g->IW = g->OW = g->IH * g->IW; /* same size: OH == IH, OW == IW */
        g->IH = g->OH = 1;
    }
    p->cg = (size_t)g->C / group;
    p->ocg = (size_t)g->OC / group;
    p->nrows = p->cg * (size_t)g->KH; /* <= weight elements, which live in the image */
    p->wsoc = p->nrows * (size_t)g->KW;
    wp = (uint64_t)(g->OW - 1) * (uint64_t)g->SW + (uint64_t)(g->KW - 1) * (uint64_t)g->DW + 1;
    p->cols = 0;
    p->tw = g->OW >= WB ? WB : VL;
#if WIDE && OB == 8
    if (!(f && f->pool) && g->KH == 1 && g->KW == 1 && g->SW == 1 && g->PW == 0 && g->PH == 0 && g->OW >= WIDE)
        p->tw = WIDE; /* 1x1 over long rows (M_DIRECT with tap tiles) */
#endif
    p->IWp = p->IHp = p->Lq = p->rowlen_p = 0;
    if ((uint64_t)g->KW > (uint64_t)(SIZE_MAX / 16) / sizeof(long)) return 0;
    /* KW + KH*KW tap offsets; KH*KW <= weight elements (image) */
    if ((uint64_t)g->KH * (uint64_t)g->KW + (uint64_t)g->KW > (uint64_t)(SIZE_MAX / 16) / sizeof(long)) return 0;
    p->koff_bytes = up64(((size_t)g->KW + (size_t)g->KH * (size_t)g->KW) * sizeof(long));
    if ((g->PW > 0 || g->OW < p->tw || g->SW > 1) && (g->KH > 1 || g->KW > 1 || g->OW < p->tw) &&
        (uint64_t)g->IW + 2u * (uint64_t)g->PW + (uint64_t)g->SW <= NNBRT_PLANE_MAX &&
        (uint64_t)g->IH + 2u * (uint64_t)g->PH <= NNBRT_PLANE_MAX &&
        ((uint64_t)g->IW + 2u * (uint64_t)g->PW + (uint64_t)g->SW) *
                ((uint64_t)g->IH + 2u * (uint64_t)g->PH) * (uint64_t)p->cg + 2 * WB <= NNBRT_PLANE_MAX) {
        /* zero-padded copy of the group's input planes, each row stored as
           SW column phases (column c at (c % SW) * Lq + c / SW): every tap
           of a strided convolution reads unit-stride */
        p->mode = M_PLANE;
        p->IWp = (size_t)g->IW + 2u * (size_t)g->PW;
        p->IHp = (size_t)g->IH + 2u * (size_t)g->PH;
        p->Lq = (p->IWp + (size_t)g->SW - 1) / (size_t)g->SW;
        p->rowlen_p = p->Lq * (size_t)g->SW;
        p->rowlen = 0;
    } else if (g->OW >= p->tw && g->SW == 1) {
        p->mode = (g->PW == 0 && wp <= (uint64_t)g->IW) ? M_DIRECT : M_PADROW;
        p->rowlen = p->mode == M_DIRECT ? 0 : (size_t)wp;
        if (wp > (uint64_t)(SIZE_MAX / 16)) return 0;
    } else {
        p->mode = M_GATHER;
        p->cols = g->OW >= p->tw ? (size_t)g->OW : (size_t)p->tw;
        if ((uint64_t)g->KW > (uint64_t)(SIZE_MAX / 16) / p->cols) return 0;
        p->rowlen = (size_t)g->KW * p->cols;
    }
    rows = p->nrows;
    if (rows > (uint64_t)(SIZE_MAX / 16) / sizeof(float *)) return 0;
    p->ptr_bytes = up64((size_t)rows * sizeof(float *));
    pad = 0;
    if (p->rowlen) {
        if ((uint64_t)p->rowlen > (uint64_t)(SIZE_MAX / 16) / rows) return 0;
        pad = rows * p->rowlen;
    }
    if (p->mode == M_PLANE) pad = (uint64_t)p->rowlen_p * p->IHp * p->cg + 2 * WB; /* + read slack */
#if TWO_ROWS
    /* rows that are not a multiple of WB wide: two-row tiles of one vector
       waste fewer columns (24 wide: 3 tiles per row pair instead of 4) */
    if (p->tw == WB && g->OH >= 2 && fixed_rows(p) &&
        (g->OW + VL - 1) / VL < 2 * ((g->OW + WB - 1) / WB))
        p->tw = VL;
#endif
#if WIDE && OB == 8
    /* unit-stride rows at least WIDE long read through tap offsets (padded plane, or unpadded
       rows in place): 32-column tiles of 16-float vectors, as for 1x1 */
    if (!(f && f->pool) && g->SW == 1 && g->OW >= WIDE && fixed_rows(p))
        p->tw = WIDE;
#endif
    p->pad_floats = (size_t)pad;
    p->rowbuf_floats = p->acc_floats = 0;
    p->planar = p->cg == 1 && g->SH == 1 && g->SW == 1 && !(f && f->pool) && g->KH * g->KW > 1;
    if (p->planar) {
        /* padded input plane + one output plane at the padded width (within NNBRT_PLANE_MAX) */
        uint64_t iwp = (uint64_t)g->IW + 2u * (uint64_t)g->PW, ihp = (uint64_t)g->IH + 2u * (uint64_t)g->PH;
        if (iwp > NNBRT_PLANE_MAX || ihp > NNBRT_PLANE_MAX || (ihp + (uint64_t)g->OH) * iwp > NNBRT_PLANE_MAX)
            p->planar = 0;
    }
    if (p->planar) {
        uint64_t iwp = (uint64_t)g->IW + 2u * (uint64_t)g->PW, ihp = (uint64_t)g->IH + 2u * (uint64_t)g->PH;
        if (iwp > (uint64_t)(SIZE_MAX / 16) / (ihp + (uint64_t)g->OH)) return 0;
        p->IWp = (size_t)iwp;
        p->IHp = (size_t)ihp;
        p->ptr_bytes = 0;
        p->koff_bytes = 0;
        p->pad_floats = (size_t)((ihp + (uint64_t)g->OH) * iwp);
        return 1;
    }
    if (f && f->pool) {
        if ((uint64_t)f->OW > (uint64_t)(SIZE_MAX / 16) / (p->ocg + 1)) return 0;
        p->rowbuf_floats = 2u * (size_t)OB * (size_t)g->OW; /* two conv rows (two-row tiles) */
        p->acc_floats = p->ocg * (size_t)f->OW;
    }
    return 1;
}
#endif

size_t nnbrt_conv_engine_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
#ifdef NNBRT_MCU_KERNELS
    return nnbrt_mcu_scratch(group, g, f);
#else
    eplan p;
    uint64_t t;
    size_t gs = nnbrt_gemm_scratch(group, g, f);
    if (gs != SIZE_MAX) return gs; /* conv_gemm.c takes it */
    gs = nnbrt_dwflat_scratch(group, g, f);
    if (gs != SIZE_MAX) return gs; /* conv_dwflat.c takes it */
    if (!mkplan(group, g, f, &p)) return SIZE_MAX;
    t = (uint64_t)p.koff_bytes + p.ptr_bytes + 4u * ((uint64_t)up64(p.pad_floats) + up64(p.rowbuf_floats) +
                                      (uint64_t)p.acc_floats);
    return t > (uint64_t)(SIZE_MAX / 4) ? SIZE_MAX : (size_t)t;
#endif
}

size_t nnbrt_conv_scratch(size_t group, const nnbrt_geom *g)
{
    return nnbrt_conv_engine_scratch(group, g, NULL);
}

#ifndef NNBRT_MCU_KERNELS /* Cortex-M: conv_mcu.c instead of the engine */
#if defined(__GNUC__) && !defined(NNBRT_NO_VECTOR_EXT)
/* GNU vector extension, one hardware register per vector (VL floats);
   a tile row is two vectors, WB = 2 * VL columns. */
typedef float vf __attribute__((vector_size(VL * 4)));
#define VLOAD(v, p) memcpy(&(v), (p), sizeof(vf))
#define VSTORE(p, v) memcpy((p), &(v), sizeof(vf))

/* Register tiles: R output channels x NV vectors of VL columns, the second
   vector x1off floats after the first (the next VL columns, or the same
   columns of the next output row). acc[R][NV] has constant bounds, so the
   loops unroll and the accumulators stay in registers (R = OB: 8 with
   AVX-512's 32 vector registers, else 4; R = 1 for leftover channels;
   NV = 1, "_h", for narrow outputs). TILE_TAPS adds NT taps of one source:
   input at XB + OFF[t], weight of channel i at WT[i * wsoc + t]. */
#define TILE_INIT(R, NV)                                                                          \
    vf acc[R][NV];                                                                                \
    int i, v;                                                                                     \
    for (i = 0; i < R; ++i)                                                                       \
        for (v = 0; v < NV; ++v) acc[i][v] = (vf){0}
#define TILE_TAPS(R, NV, XB, WT, OFF, NT)                                                         \
    do {                                                                                          \
        const float *xb_ = (XB), *wt_ = (WT);                                                     \
        long t_;                                                                                  \
        for (t_ = 0; t_ < (NT); ++t_) {                                                           \
            vf xv[NV];                                                                            \
            for (v = 0; v < NV; ++v) VLOAD(xv[v], xb_ + (OFF)[t_] + v * x1off);                   \
            for (i = 0; i < R; ++i) {                                                             \
                const float s = wt_[(size_t)i * wsoc + (size_t)t_];                               \
                for (v = 0; v < NV; ++v) acc[i][v] += s * xv[v];                                  \
            }                                                                                     \
        }                                                                                         \
    } while (0)
#define TILE_STORE(R, NV)                                                                         \
    for (i = 0; i < R; ++i)                                                                       \
        for (v = 0; v < NV; ++v) VSTORE(out[i] + v * VL, acc[i][v])

/* Row tiles: input row r through rows[r] (NULL: a zero padding row, skipped). */
#define ROW_TILE(NAME, R, NV)                                                                     \
    static void NAME(const float *const *rows, size_t nrows, long KW, const long *koff, long ow0, \
                     long x1off, const float *w, size_t wsoc, float out[OB][WBX])                 \
    {                                                                                             \
        size_t r;                                                                                 \
        TILE_INIT(R, NV);                                                                         \
        for (r = 0; r < nrows; ++r)                                                               \
            if (rows[r]) TILE_TAPS(R, NV, rows[r] + ow0, w + r * (size_t)KW, koff, KW);           \
        TILE_STORE(R, NV);                                                                        \
    }
ROW_TILE(tile_ob, OB, 2)
ROW_TILE(tile_ob_h, OB, 1)
ROW_TILE(tile_1, 1, 2)
ROW_TILE(tile_1_h, 1, 1)
#if WIDE
typedef float vw __attribute__((vector_size(64)));
static void ttile_ob_w(const float *x, size_t icstride, size_t cg, const long *toff, long KK,
                       const float *w, size_t wsoc, float out[OB][WBX])
{
    vw a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0}, b4 = {0}, b5 = {0}, b6 = {0}, b7 = {0};
    const float *w0 = w;
    const float *w1 = w0 + wsoc;
    const float *w2 = w1 + wsoc;
    const float *w3 = w2 + wsoc;
    const float *w4 = w3 + wsoc;
    const float *w5 = w4 + wsoc;
    const float *w6 = w5 + wsoc;
    const float *w7 = w6 + wsoc;
    size_t ic;
    long t;
    if (KK == 1) {
        /* 1x1: one tap per input channel, weights contiguous along ic */
        x += toff[0];
        for (ic = 0; ic < cg; ++ic) {
            const float *xi = x + ic * icstride;
            vw x0, x1;
            memcpy(&x0, xi, sizeof x0);
            memcpy(&x1, xi + 16, sizeof x1);
            { const float s = w0[ic]; a0 += s * x0; b0 += s * x1; }
            { const float s = w1[ic]; a1 += s * x0; b1 += s * x1; }
            { const float s = w2[ic]; a2 += s * x0; b2 += s * x1; }
            { const float s = w3[ic]; a3 += s * x0; b3 += s * x1; }
            { const float s = w4[ic]; a4 += s * x0; b4 += s * x1; }
            { const float s = w5[ic]; a5 += s * x0; b5 += s * x1; }
            { const float s = w6[ic]; a6 += s * x0; b6 += s * x1; }
            { const float s = w7[ic]; a7 += s * x0; b7 += s * x1; }
        }
        cg = 0;
    }
    for (ic = 0; ic < cg; ++ic) {
        const float *xi = x + ic * icstride;
        const size_t o = ic * (size_t)KK;
        for (t = 0; t < KK; ++t) {
            vw x0, x1;
            memcpy(&x0, xi + toff[t], sizeof x0);
            memcpy(&x1, xi + toff[t] + 16, sizeof x1);
            { const float s = w0[o + (size_t)t]; a0 += s * x0; b0 += s * x1; }
            { const float s = w1[o + (size_t)t]; a1 += s * x0; b1 += s * x1; }
            { const float s = w2[o + (size_t)t]; a2 += s * x0; b2 += s * x1; }
            { const float s = w3[o + (size_t)t]; a3 += s * x0; b3 += s * x1; }
            { const float s = w4[o + (size_t)t]; a4 += s * x0; b4 += s * x1; }
            { const float s = w5[o + (size_t)t]; a5 += s * x0; b5 += s * x1; }
            { const float s = w6[o + (size_t)t]; a6 += s * x0; b6 += s * x1; }
            { const float s = w7[o + (size_t)t]; a7 += s * x0; b7 += s * x1; }
        }
    }
    memcpy(out[0], &a0, sizeof a0); memcpy(out[0] + 16, &b0, sizeof b0);
    memcpy(out[1], &a1, sizeof a1); memcpy(out[1] + 16, &b1, sizeof b1);
    memcpy(out[2], &a2, sizeof a2); memcpy(out[2] + 16, &b2, sizeof b2);
    memcpy(out[3], &a3, sizeof a3); memcpy(out[3] + 16, &b3, sizeof b3);
    memcpy(out[4], &a4, sizeof a4); memcpy(out[4] + 16, &b4, sizeof b4);
    memcpy(out[5], &a5, sizeof a5); memcpy(out[5] + 16, &b5, sizeof b5);
    memcpy(out[6], &a6, sizeof a6); memcpy(out[6] + 16, &b6, sizeof b6);
    memcpy(out[7], &a7, sizeof a7); memcpy(out[7] + 16, &b7, sizeof b7);
}
#endif

typedef int32_t vi __attribute__((vector_size(VL * 4)));

/* ReLU (act 1) / ReLU6 (act 2) of a vector with bit masks (no branches; conv_act.h). */
NNBRT_VACT_FN(vact, vf, vi)

/* Tap tiles: every input channel's taps at fixed offsets (toff) from one
   base pointer (M_PLANE, or unpadded rows in place), no per-row pointers. */
#define TAP_TILE(NAME, R, NV)                                                                     \
    static void NAME(const float *x, size_t icstride, size_t cg, const long *toff, long KK,       \
                     long x1off, const float *w, size_t wsoc, float out[OB][WBX])                 \
    {                                                                                             \
        size_t ic;                                                                                \
        TILE_INIT(R, NV);                                                                         \
        for (ic = 0; ic < cg; ++ic) TILE_TAPS(R, NV, x + ic * icstride, w + ic * (size_t)KK, toff, KK); \
        TILE_STORE(R, NV);                                                                        \
    }
TAP_TILE(ttile_ob, OB, 2)
TAP_TILE(ttile_ob_h, OB, 1)
TAP_TILE(ttile_1, 1, 2)
TAP_TILE(ttile_1_h, 1, 1)

#else
#define DEFINE_TILE(NAME, NB)                                                                   \
    static void NAME(const float *const *rows, size_t nrows, long KW, const long *koff, long ow0,        \
                     long x1off, const float *w, size_t wsoc, float out[OB][WBX])                \
    {                                                                                           \
        float acc[NB][WB];                                                                      \
        (void)x1off;                                                                      \
        size_t r;                                                                               \
        long kw;                                                                                \
        int b, j;                                                                               \
        for (b = 0; b < NB; ++b)                                                                \
            for (j = 0; j < WB; ++j) acc[b][j] = 0.0f;                                          \
        for (r = 0; r < nrows; ++r) {                                                           \
            const float *xr = rows[r], *wk = w + r * (size_t)KW;                                \
            if (!xr) continue;                                                                  \
            xr += ow0;                                                                          \
            for (kw = 0; kw < KW; ++kw) {                                                       \
                const float *xs = xr + koff[kw];                                                 \
                for (b = 0; b < NB; ++b) {                                                      \
                    const float wv = wk[(size_t)b * wsoc + (size_t)kw];                         \
                    for (j = 0; j < WB; ++j) acc[b][j] += wv * xs[j];                           \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
        for (b = 0; b < NB; ++b)                                                                \
            for (j = 0; j < WB; ++j) out[b][j] = acc[b][j];                                     \
    }
DEFINE_TILE(tile_ob, OB)
DEFINE_TILE(tile_1, 1)
#define tile_ob_h tile_ob
#define tile_1_h tile_1
#endif

/* Make the input rows of conv output row oh available in p->rows. */
static void setup_rows(const eplan *p, const float *xg, long oh, const float **rows, float *pad)
{
    const nnbrt_geom *g = &p->g;
    const size_t plane_in = (size_t)g->IH * (size_t)g->IW;
    size_t r;
    for (r = 0; r < p->nrows; ++r) {
        const size_t ic = r / (size_t)g->KH;
        const long kh = (long)(r % (size_t)g->KH);
        const long ih = oh * g->SH - g->PH + kh * g->DH;
        const float *src;
        if (p->mode == M_PLANE) {
            rows[r] = pad + (ic * p->IHp + (size_t)(ih + g->PH)) * p->rowlen_p;
            continue;
        }
        if (ih < 0 || ih >= g->IH) {
            rows[r] = NULL;
            continue;
        }
        src = xg + ic * plane_in + (size_t)ih * (size_t)g->IW;
        if (p->mode == M_DIRECT) {
            rows[r] = src;
        } else if (p->mode == M_PADROW) {
            float *d = pad + r * p->rowlen;
            const long wp = (long)p->rowlen, lo = g->PW < wp ? g->PW : wp;
            long q, hi = g->PW + g->IW < wp ? g->PW + g->IW : wp;
            for (q = 0; q < lo; ++q) d[q] = 0.0f;
            for (q = lo; q < hi; ++q) d[q] = src[q - g->PW];
            for (q = hi > lo ? hi : lo; q < wp; ++q) d[q] = 0.0f;
            rows[r] = d;
        } else {
            float *d = pad + r * p->rowlen;
            const long cols = (long)p->cols;
            long kw, j;
            for (kw = 0; kw < g->KW; ++kw) {
                float *dk = d + kw * cols;
                const long t = kw * (long)g->DW - g->PW, sw = g->SW;
                /* valid j: 0 <= j*sw + t < IW and j < OW */
                long lo = t >= 0 ? 0 : (-t + sw - 1) / sw;
                long hi = (long)g->IW - 1 - t < 0 ? 0 : ((long)g->IW - 1 - t) / sw + 1;
                if (hi > g->OW) hi = g->OW;
                if (lo > hi) lo = hi;
                for (j = 0; j < lo; ++j) dk[j] = 0.0f;
                for (j = lo; j < hi; ++j) dk[j] = src[j * sw + t];
                for (j = hi; j < cols; ++j) dk[j] = 0.0f;
            }
            rows[r] = d;
        }
    }
}

/* Conv row for output channels [oc, oc+nb) (nb == OB or 1) of one row. Calls
   emit(ctx, b, ow, value) for each new column (value includes bias). */
typedef struct {
    float *dst;     /* row base of channel oc */
    size_t dstride; /* floats between channels */
    const float *res; /* residual at the same offsets as dst, or NULL */
    int act;
} sink;

static void store_seg(float *y, const float *a, const float *rr, float bv, int j0, int jn, int act)
{
    int j;
    if (rr)
        for (j = j0; j < jn; ++j) y[j] = a[j] + bv + rr[j];
    else
        for (j = j0; j < jn; ++j) y[j] = a[j] + bv;
    if (act == 1)
        for (j = j0; j < jn; ++j) y[j] = y[j] > 0.0f ? y[j] : 0.0f;
    else if (act == 2)
        for (j = j0; j < jn; ++j) y[j] = y[j] < 0.0f ? 0.0f : (y[j] > 6.0f ? 6.0f : y[j]);
}

/* Conv output row(s) for channels [oc, oc+nb) (nb == OB or 1): nr == 2
   computes rows oh and oh+1 at once (narrow outputs in M_PLANE mode: the
   tile's second vector reads the next output row, x1off floats further). */
typedef struct {
    const float *x;   /* input of channel 0 at this output row, column 0; NULL: row pointers */
    size_t icstride;  /* floats between input channels */
    const long *toff; /* KH*KW tap offsets */
    long KK;
} tapsrc;

static void conv_row(const eplan *p, const float *const *rows, const long *koff, const tapsrc *ts,
                     const float *w, const float *bias, int nb, int nr, const sink *s)
{
    (void)ts;
    const nnbrt_geom *g = &p->g;
    const long OW = g->OW;
    const long tw = nr == 2 ? VL : p->tw;
    const long x1off = nr == 2 ? (long)g->SH * (p->mode == M_PLANE ? (long)p->rowlen_p : (long)g->IW) : VL;
    long ow = 0, done = 0;
    int b, jn;
    while (done < OW) {
        float acc[OB][WBX];
        long j0;
        if (ow + tw > OW && OW >= tw) ow = OW - tw;
#if TWO_ROWS
        if (ts->x) {
            const float *xb = ts->x + ow;
#if WIDE && OB == 8
            if (tw == WIDE) {
                if (nb == OB) {
                    ttile_ob_w(xb, ts->icstride, p->cg, ts->toff, ts->KK, w, p->wsoc, acc);
                } else {
                    ttile_1(xb, ts->icstride, p->cg, ts->toff, ts->KK, VL, w, p->wsoc, acc);
                    float hi[OB][WBX];
                    int q;
                    ttile_1(xb + WB, ts->icstride, p->cg, ts->toff, ts->KK, VL, w, p->wsoc, hi);
                    for (q = 0; q < WB; ++q) acc[0][WB + q] = hi[0][q];
                }
            } else
#endif
            if (tw == WB || nr == 2) {
                if (nb == OB) ttile_ob(xb, ts->icstride, p->cg, ts->toff, ts->KK, x1off, w, p->wsoc, acc);
                else ttile_1(xb, ts->icstride, p->cg, ts->toff, ts->KK, x1off, w, p->wsoc, acc);
            } else {
                if (nb == OB) ttile_ob_h(xb, ts->icstride, p->cg, ts->toff, ts->KK, x1off, w, p->wsoc, acc);
                else ttile_1_h(xb, ts->icstride, p->cg, ts->toff, ts->KK, x1off, w, p->wsoc, acc);
            }
        } else
#endif
        if (tw == WB || nr == 2) {
            if (nb == OB) tile_ob(rows, p->nrows, g->KW, koff, ow, x1off, w, p->wsoc, acc);
            else tile_1(rows, p->nrows, g->KW, koff, ow, x1off, w, p->wsoc, acc);
        } else {
            if (nb == OB) tile_ob_h(rows, p->nrows, g->KW, koff, ow, x1off, w, p->wsoc, acc);
            else tile_1_h(rows, p->nrows, g->KW, koff, ow, x1off, w, p->wsoc, acc);
        }
        j0 = done - ow;
        jn = OW - ow < tw ? (int)(OW - ow) : (int)tw;
#if TWO_ROWS
        if (j0 == 0 && jn == tw && tw >= WB && nr == 1) {
            /* full-width tile: bias, residual (read before the store, so an
               aliased residual is fine) and activation in vector registers;
               the sink's fields in locals (vector stores may alias them) */
            float *const dst = s->dst;
            const float *const res = s->res;
            const size_t dstride = s->dstride;
            const int act = s->act;
            for (b = 0; b < nb; ++b) {
                const float bv = bias ? bias[b] : 0.0f;
                const size_t o = (size_t)b * dstride + (size_t)ow;
                long k;
                for (k = 0; k < tw; k += VL) {
                    vf v0;
                    VLOAD(v0, acc[b] + k);
                    v0 += bv;
                    if (res) {
                        vf r0;
                        VLOAD(r0, res + o + (size_t)k);
                        v0 += r0;
                    }
                    if (act) v0 = vact(v0, act);
                    VSTORE(dst + o + (size_t)k, v0);
                }
            }
            ow += tw;
            done = ow < OW ? ow : OW;
            continue;
        }
#endif
        for (b = 0; b < nb; ++b) {
            const float bv = bias ? bias[b] : 0.0f;
            const size_t o = (size_t)b * s->dstride + (size_t)ow;
            if (!s->res) {
                /* bias and activation on the local tile (fixed-size loops), then copy out */
                float *a = acc[b];
                int j;
                for (j = 0; j < WBX; ++j) a[j] += bv;
                if (s->act == 1)
                    for (j = 0; j < WBX; ++j) a[j] = a[j] > 0.0f ? a[j] : 0.0f;
                else if (s->act == 2)
                    for (j = 0; j < WBX; ++j) a[j] = a[j] < 0.0f ? 0.0f : (a[j] > 6.0f ? 6.0f : a[j]);
                if (j0 == 0 && jn == tw && tw == WB) {
                    memcpy(s->dst + o, a, WB * sizeof(float));
                } else {
                    for (j = (int)j0; j < jn; ++j) s->dst[o + (size_t)j] = a[j];
                    if (nr == 2)
                        for (j = (int)j0; j < jn; ++j) s->dst[o + (size_t)OW + (size_t)j] = a[VL + j];
                }
                continue;
            }
            store_seg(s->dst + o, acc[b], s->res + o, bv, (int)j0, jn, s->act);
            if (nr == 2)
                store_seg(s->dst + o + (size_t)OW, acc[b] + VL, s->res + o + (size_t)OW, bv, (int)j0, jn,
                          s->act);
        }
        ow += tw;
        done = ow < OW ? ow : OW;
    }
}

/* One input channel per group, stride 1: zero-padded plane, then every tap
   is one long unit-stride AXPY over the output rows at the padded width
   (the columns between rows are computed and dropped). */
static void run_planar(const eplan *p, float *scratch, const float *x, const float *w,
                       const float *bias, float *y, const nnbrt_fuse *f, size_t group)
{
    const nnbrt_geom *g = &p->g;
    const size_t IWp = p->IWp, IHp = p->IHp, OH = (size_t)g->OH, OW = (size_t)g->OW;
    const size_t plane_in = (size_t)g->IH * (size_t)g->IW, plane_out = OH * OW;
    const size_t len = (OH - 1) * IWp + OW;
    float *xp = scratch, *yb = scratch + IHp * IWp;
    const int act = f ? f->act : 0;
    size_t n, grp, i, oh, ow, m;
    for (i = 0; i < IHp * IWp; ++i) xp[i] = 0.0f;
    for (n = 0; n < g->outer; ++n) {
        for (grp = 0; grp < group; ++grp) {
            const float *xc = x + (n * (size_t)g->C + grp) * plane_in;
#if TWO_ROWS
            if ((size_t)g->IW <= VL && g->IH > 1) {
                /* narrow rows: one vector per row (the store spills into the next
                   row, which is written after it); last row by elements; then the
                   side padding the spills touched is zeroed again */
                float *d = xp + (size_t)g->PH * IWp + (size_t)g->PW;
                const size_t IW = (size_t)g->IW, PW = (size_t)g->PW;
                size_t r;
                /* vector rows must not read past this channel's plane */
                for (r = 0; r + 1 < (size_t)g->IH && r * IW + VL <= plane_in; ++r) {
                    vf v;
                    VLOAD(v, xc + r * IW);
                    VSTORE(d + r * IWp, v);
                }
                for (; r < (size_t)g->IH; ++r)
                    for (ow = 0; ow < IW; ++ow) d[r * IWp + ow] = xc[r * IW + ow];
                if (PW == 1) { /* the usual 3x3 case: two stores per row, no memset calls */
                    for (r = 0; r < (size_t)g->IH; ++r) {
                        float *row = xp + (r + (size_t)g->PH) * IWp;
                        row[0] = 0.0f;
                        row[1 + IW] = 0.0f;
                    }
                } else {
                    for (r = 0; r < (size_t)g->IH; ++r) {
                        float *row = xp + (r + (size_t)g->PH) * IWp;
                        for (ow = 0; ow < PW; ++ow) row[ow] = 0.0f;
                        for (ow = PW + IW; ow < IWp; ++ow) row[ow] = 0.0f;
                    }
                }
                /* the row after the last data row (bottom padding) was not spilled into */
            } else
#endif
            if (g->IW < 16) {
                /* narrow rows: one flat loop (short per-row loops cost more than they move) */
                float *d = xp + (size_t)g->PH * IWp + (size_t)g->PW;
                size_t c = 0;
                for (i = 0; i < plane_in; ++i) {
                    d[c] = xc[i];
                    if (++c == (size_t)g->IW) {
                        c = 0;
                        d += IWp;
                    }
                }
            } else {
                for (oh = 0; oh < (size_t)g->IH; ++oh) {
                    float *d = xp + (oh + (size_t)g->PH) * IWp + (size_t)g->PW;
                    const float *sr = xc + oh * (size_t)g->IW;
                    for (ow = 0; ow < (size_t)g->IW; ++ow) d[ow] = sr[ow];
                }
            }
            for (m = 0; m < p->ocg; ++m) {
                const size_t oc = grp * p->ocg + m;
                const float *wk = w + oc * p->wsoc;
                const float bv = bias ? bias[oc] : 0.0f;
                const size_t o = (n * (size_t)g->OC + oc) * plane_out;
                float *yc = y + o;
                const float *rc = f && f->res ? f->res + o : NULL;
                long kh, kw;
                if (g->KH == 3 && g->KW == 3) {
                    /* 3x3: all nine taps in one pass */
                    const size_t r1 = (size_t)g->DH * IWp, dw = (size_t)g->DW;
                    const float *x0 = xp, *x1 = xp + r1, *x2 = xp + 2 * r1;
                    const float w0 = wk[0], w1 = wk[1], w2 = wk[2], w3 = wk[3], w4 = wk[4], w5 = wk[5],
                                w6 = wk[6], w7 = wk[7], w8 = wk[8];
                    for (i = 0; i < len; ++i)
                        yb[i] = bv + w0 * x0[i] + w1 * x0[i + dw] + w2 * x0[i + 2 * dw] + w3 * x1[i] +
                                w4 * x1[i + dw] + w5 * x1[i + 2 * dw] + w6 * x2[i] + w7 * x2[i + dw] +
                                w8 * x2[i + 2 * dw];
                    goto epilogue;
                }
                for (i = 0; i < len; ++i) yb[i] = bv;
                for (kh = 0; kh < g->KH; ++kh) {
                    const float *xr = xp + (size_t)kh * (size_t)g->DH * IWp;
                    kw = 0;
                    for (; kw + 2 < g->KW; kw += 3) {
                        const float w0 = wk[kh * g->KW + kw], w1 = wk[kh * g->KW + kw + 1],
                                    w2 = wk[kh * g->KW + kw + 2];
                        const float *x0 = xr + kw * g->DW, *x1 = x0 + g->DW, *x2 = x1 + g->DW;
                        for (i = 0; i < len; ++i) yb[i] += w0 * x0[i] + w1 * x1[i] + w2 * x2[i];
                    }
                    for (; kw < g->KW; ++kw) {
                        const float w0 = wk[kh * g->KW + kw];
                        const float *x0 = xr + kw * g->DW;
                        for (i = 0; i < len; ++i) yb[i] += w0 * x0[i];
                    }
                }
            epilogue:
#if TWO_ROWS
                if (OW <= VL && !rc && OH > 1 && IWp + OW >= VL) {
                    /* one vector per output row, spilling into the next row (written after) */
                    /* vector rows stay inside this channel's output plane */
                    for (oh = 0; oh + 1 < OH && oh * OW + VL <= plane_out; ++oh) {
                        vf v;
                        VLOAD(v, yb + oh * IWp);
                        if (act) v = vact(v, act);
                        VSTORE(yc + oh * OW, v);
                    }
                    for (; oh < OH; ++oh)
                        for (ow = 0; ow < OW; ++ow) {
                            const float v = yb[oh * IWp + ow];
                            yc[oh * OW + ow] = act == 1 ? (v > 0.0f ? v : 0.0f)
                                               : act == 2 ? (v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v)) : v;
                        }
                    continue;
                }
#endif
                if (OW < 16 && !rc) {
                    const float *br = yb;
                    size_t c = 0;
                    for (i = 0; i < plane_out; ++i) {
                        const float v = br[c];
                        yc[i] = act == 1 ? (v > 0.0f ? v : 0.0f)
                                : act == 2 ? (v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v)) : v;
                        if (++c == OW) {
                            c = 0;
                            br += IWp;
                        }
                    }
                    continue;
                }
                for (oh = 0; oh < OH; ++oh) {
                    const float *br = yb + oh * IWp;
                    float *yr = yc + oh * OW;
                    const float *rr = rc ? rc + oh * OW : NULL;
                    for (ow = 0; ow < OW; ++ow) {
                        float v = br[ow];
                        if (rr) v += rr[ow];
                        yr[ow] = act == 1 ? (v > 0.0f ? v : 0.0f)
                                 : act == 2 ? (v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v)) : v;
                    }
                }
            }
        }
    }
}

static void set_taps(const eplan *p, tapsrc *ts, const float *xg, const float *pad, const long *toff,
                     long oh)
{
    const nnbrt_geom *g = &p->g;
    const size_t row = (size_t)oh * (size_t)g->SH;
    ts->toff = toff;
    ts->KK = (long)g->KH * (long)g->KW;
    if (p->mode == M_PLANE) {
        ts->x = pad + row * p->rowlen_p;
        ts->icstride = p->IHp * p->rowlen_p;
    } else {
        ts->x = xg + row * (size_t)g->IW;
        ts->icstride = (size_t)g->IH * (size_t)g->IW;
    }
}
#endif /* !NNBRT_MCU_KERNELS */

void nnbrt_conv_engine(size_t group, float *scratch, const float *x, const float *w,
                       const float *bias, float *y, const nnbrt_geom *g0, const nnbrt_fuse *f)
{
#ifdef NNBRT_MCU_KERNELS
    nnbrt_mcu_conv(group, scratch, x, w, bias, y, g0, f);
#else
    eplan p;
    const nnbrt_geom *g;
    const float **rows;
    long *koff, *toff, k;
    int taps, two;
    tapsrc ts;
    float *pad, *rowbuf, *pacc;
    size_t n, grp, plane_in, plane_out, ppl;
    const int act = f ? f->act : 0;
    if (nnbrt_gemm_conv(scratch, group, x, w, bias, y, g0, f)) return;
    if (nnbrt_dwflat_conv(scratch, group, x, w, bias, y, g0, f)) return;
    if (!mkplan(group, g0, f, &p)) return; /* rejected at check time */
    if (p.mode == M_PLANE && !p.planar) {
        /* zero what the per-group copies never write: the padding (and phase
           gaps), or with neither only the read slack at the end */
        float *pl = scratch + (p.koff_bytes + p.ptr_bytes) / sizeof(float);
        if (p.g.PH || p.g.PW || p.rowlen_p != (size_t)p.g.IW)
            memset(pl, 0, p.pad_floats * sizeof(float));
        else
            memset(pl + p.pad_floats - 2 * WB, 0, 2 * WB * sizeof(float));
    }
    if (p.planar) {
        run_planar(&p, scratch, x, w, bias, y, f, group);
        return;
    }
    g = &p.g;
    koff = (long *)(void *)scratch;
    scratch += p.koff_bytes / sizeof(float);
    for (k = 0; k < g->KW; ++k) {
        const long c = k * (long)g->DW;
        koff[k] = p.mode == M_PLANE ? (c % g->SW) * (long)p.Lq + c / g->SW
                  : p.mode == M_GATHER ? k * (long)p.cols : c;
    }
    toff = koff + g->KW;
    ts.x = NULL;
    ts.icstride = 0;
    ts.toff = toff;
    ts.KK = 0;
    taps = TWO_ROWS && fixed_rows(&p);
    if (taps) {
        const long rl = p.mode == M_PLANE ? (long)p.rowlen_p : g->IW;
        long kh;
        for (kh = 0; kh < g->KH; ++kh)
            for (k = 0; k < g->KW; ++k) toff[kh * g->KW + k] = kh * (long)g->DH * rl + koff[k];
    }
    rows = (const float **)(void *)scratch;
    pad = scratch + p.ptr_bytes / sizeof(float);
    rowbuf = pad + up64(p.pad_floats);
    pacc = rowbuf + up64(p.rowbuf_floats);
    plane_in = (size_t)g->IH * (size_t)g->IW;
    plane_out = (size_t)g->OH * (size_t)g->OW;
    /* narrow rows (one vector per tile) run two output rows per tile */
    two = taps && p.tw == VL;
    ppl = f && f->pool ? (size_t)f->OH * (size_t)f->OW : plane_out;
    for (n = 0; n < g->outer; ++n) {
        for (grp = 0; grp < group; ++grp) {
            const float *xg = x + (n * (size_t)g->C + grp * p.cg) * plane_in;
            const size_t oc0 = grp * p.ocg, oc1 = oc0 + p.ocg;
            const size_t ybase = (n * (size_t)g->OC) * ppl;
            if (p.mode == M_PLANE) {
                size_t ic, ih;
                const long SW = g->SW;
                for (ic = 0; ic < p.cg; ++ic)
                    for (ih = 0; ih < (size_t)g->IH; ++ih) {
                        float *d = pad + (ic * p.IHp + ih + (size_t)g->PH) * p.rowlen_p;
                        const float *sr = xg + ic * plane_in + ih * (size_t)g->IW;
                        long q, j;
                        if (SW == 1) {
                            for (j = 0; j < g->IW; ++j) d[j + g->PW] = sr[j];
                            continue;
                        }
                        for (q = 0; q < SW; ++q) {
                            /* padded column c = j*SW + q holds input column c - PW */
                            float *dq = d + q * (long)p.Lq;
                            long lo = g->PW - q <= 0 ? 0 : (g->PW - q + SW - 1) / SW;
                            long hi = (long)g->IW + g->PW - q <= 0 ? 0 : ((long)g->IW + g->PW - q - 1) / SW + 1;
                            for (j = lo; j < hi; ++j) dq[j] = sr[j * SW + q - g->PW];
                        }
                    }
            }
            if (!(f && f->pool)) {
                long oh, nr;
                for (oh = 0; oh < g->OH; oh += nr) {
                    size_t oc = oc0;
                    nr = two && oh + 1 < g->OH ? 2 : 1;
                    if (taps) set_taps(&p, &ts, xg, pad, toff, oh);
                    else setup_rows(&p, xg, oh, rows, pad);
                    while (oc < oc1) {
                        const int nb = oc + OB <= oc1 ? OB : 1;
                        sink s;
                        const size_t o = ybase + oc * plane_out + (size_t)oh * (size_t)g->OW;
                        s.dst = y + o;
                        s.dstride = plane_out;
                        s.res = f && f->res ? f->res + o : NULL;
                        s.act = act;
                        conv_row(&p, rows, koff, &ts, w + oc * p.wsoc, bias ? bias + oc : NULL, nb, (int)nr, &s);
                        oc += (size_t)nb;
                    }
                }
            } else {
                long ph;
                const float init = f->pool == 1 ? -INFINITY : 0.0f;
                const nnbrt_pool_row pr = nnbrt_pool_row_plan(f->pool, f->KW, f->SW, f->PW, f->OW, g->OW);
                for (ph = 0; ph < f->OH; ++ph) {
                    long hs, he, r, pw, step;
                    const long hp = nnbrt_pool_window(ph, f->KH, f->SH, f->PH, g->OH, &hs, &he);
                    size_t k, oc;
                    for (k = 0; k < p.acc_floats; ++k) pacc[k] = init;
                    for (r = hs; r < he; r += step) {
                        const int nr = two && r + 1 < he ? 2 : 1;
                        step = nr;
                        if (taps) set_taps(&p, &ts, xg, pad, toff, r);
                        else setup_rows(&p, xg, r, rows, pad);
                        oc = oc0;
                        while (oc < oc1) {
                            const int nb = oc + OB <= oc1 ? OB : 1;
                            sink s;
                            int b, q;
                            s.dst = rowbuf;
                            s.dstride = (size_t)nr * (size_t)g->OW; /* channel b's rows at b * nr * OW */
                            s.res = NULL;
                            s.act = 0;
                            conv_row(&p, rows, koff, &ts, w + oc * p.wsoc, bias ? bias + oc : NULL, nb, nr, &s);
                            for (b = 0; b < nb; ++b)
                                for (q = 0; q < nr; ++q)
                                    nnbrt_pool_fold(&pr, pacc + (oc - oc0 + (size_t)b) * (size_t)f->OW,
                                                    rowbuf + ((size_t)b * (size_t)nr + (size_t)q) * (size_t)g->OW,
                                                    r == hs && q == 0); /* max from each window's first cell */
                            oc += (size_t)nb;
                        }
                    }
                    for (oc = oc0; oc < oc1; ++oc) {
                        float *ar = pacc + (oc - oc0) * (size_t)f->OW;
                        const size_t o = ybase + oc * ppl + (size_t)ph * (size_t)f->OW;
                        float *yr = y + o;
                        const float *rr = f->res ? f->res + o : NULL;
                        if (f->pool == 2) {
                            for (pw = 0; pw < f->OW; ++pw) {
                                long ws, we, cnt;
                                const long wpd = nnbrt_pool_window(pw, f->KW, f->SW, f->PW, g->OW, &ws, &we);
                                cnt = f->including_pad ? hp * wpd
                                                       : (he > hs ? he - hs : 0) * (we > ws ? we - ws : 0);
                                ar[pw] = cnt > 0 ? ar[pw] / (float)cnt : 0.0f; /* in the scratch: rr may alias yr */
                            }
                        }
                        store_seg(yr, ar, rr, 0.0f, 0, f->OW, act); /* bias is in ar already */
                    }
                }
            }
        }
    }
#endif
}

void nnbrt_conv_forward(size_t group, float *scratch, int nin, const nnbrt_tensor *in,
                        const nnbrt_tensor *out, const nnbrt_geom *g)
{
    nnbrt_conv_engine(group, scratch, in[0].data, in[1].data, nin == 3 ? in[2].data : NULL,
                      out[0].data, g, NULL);
}

/* ---- packed weights: block by block ----
   A block is either nb output channels of one group (sub-convolution with
   group 1 over that group's input channels) or G whole groups (group G).
   The engine runs on each block with outer = 1 per batch element; its
   outputs (and residual, bias) are the block's channels, contiguous. */
typedef struct {
    size_t cg, ocg, per;  /* input / output channels per group, weights per output channel */
    size_t gb;            /* groups per block (whole-group blocks), or 0 */
    size_t nb;            /* output channels per block */
} qplan;

static void mkqplan(size_t group, const nnbrt_geom *g, qplan *q)
{
    const size_t budget = NNBRT_QBLOCK_WEIGHTS;
    q->cg = (size_t)g->C / group;
    q->ocg = (size_t)g->OC / group;
    q->per = q->cg * (size_t)g->KH * (size_t)g->KW;
    if (q->ocg * q->per <= budget) {
        q->gb = budget / (q->ocg * q->per);
        if (q->gb > group) q->gb = group;
        q->nb = q->gb * q->ocg;
    } else {
        q->gb = 0;
        q->nb = budget / q->per;
        if (q->nb >= OB) q->nb -= q->nb % OB; /* whole register tiles */
        if (q->nb < 1) q->nb = 1;
        if (q->nb > q->ocg) q->nb = q->ocg;
    }
}

/* Geometry of a block of `nb` output channels (gb groups, or 1). */
static void qgeom(const nnbrt_geom *g, const qplan *q, size_t nb, size_t gb, nnbrt_geom *s)
{
    *s = *g;
    s->outer = 1;
    s->C = (int)(q->cg * (gb ? gb : 1));
    s->OC = (int)nb;
}

size_t nnbrt_qconv_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    qplan q;
    nnbrt_geom s;
    size_t e;
    if (group < 1 || (size_t)g->KH * (size_t)g->KW > SIZE_MAX / 64u / ((size_t)g->C / group + 1)) return SIZE_MAX;
    mkqplan(group, g, &q);
    if (q.nb > SIZE_MAX / 64u / (q.per + 1)) return SIZE_MAX;
    qgeom(g, &q, q.nb, q.gb, &s);
    e = nnbrt_conv_engine_scratch(q.gb ? q.gb : 1, &s, f);
    if (e == SIZE_MAX || e > SIZE_MAX / 2 - up64(q.nb * q.per) * sizeof(float)) return SIZE_MAX;
    return e + up64(q.nb * q.per) * sizeof(float);
}

void nnbrt_qconv(size_t group, float *scratch, const float *x, const nnbrt_qw *w,
                 const float *bias, float *y, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    qplan q;
    float *wb = scratch, *es;
    const size_t plane_in = (size_t)g->IH * (size_t)g->IW;
    const size_t ppl = f && f->pool ? (size_t)f->OH * (size_t)f->OW : (size_t)g->OH * (size_t)g->OW;
    size_t o0, n;
    mkqplan(group, g, &q);
    es = scratch + up64(q.nb * q.per);
    for (o0 = 0; o0 < (size_t)g->OC;) {
        /* whole-group blocks: gb groups; else channels o0 .. o1 of one group */
        const size_t grp = o0 / q.ocg;
        size_t o1, gb;
#ifndef NNBRT_MCU_KERNELS
        nnbrt_geom s;
#endif
        if (q.gb) {
            gb = group - grp < q.gb ? group - grp : q.gb;
            o1 = o0 + gb * q.ocg;
        } else {
            gb = 0;
            o1 = o0 + q.nb;
            if (o1 > (grp + 1) * q.ocg) o1 = (grp + 1) * q.ocg;
        }
        nnbrt_qw_decode(w, o0 * q.per, (o1 - o0) * q.per, wb);
#ifdef NNBRT_MCU_KERNELS
        /* the block's geometry and residual as a small overlay (Cortex-M stack) */
        {
            nnbrt_mcu_blk b;
            b.outer = 1;
            b.C = (int)(q.cg * (gb ? gb : 1));
            b.OC = (int)(o1 - o0);
            for (n = 0; n < g->outer; ++n) {
                const float *xb = x + (n * (size_t)g->C + grp * q.cg) * plane_in;
                const size_t yo = (n * (size_t)g->OC + o0) * ppl;
                b.res = f && f->res ? f->res + yo : NULL;
                nnbrt_mcu_conv_blk(gb ? gb : 1, es, xb, wb, bias ? bias + o0 : NULL, y + yo, g, f, &b);
            }
        }
#else
        qgeom(g, &q, o1 - o0, gb, &s);
        for (n = 0; n < g->outer; ++n) {
            const float *xb = x + (n * (size_t)g->C + grp * q.cg) * plane_in;
            const size_t yo = (n * (size_t)g->OC + o0) * ppl;
            nnbrt_fuse fb, *fp = NULL;
            if (f) {
                fb = *f;
                if (f->res) fb.res = f->res + yo;
                fp = &fb;
            }
            nnbrt_conv_engine(gb ? gb : 1, es, xb, wb, bias ? bias + o0 : NULL, y + yo, &s, fp);
        }
#endif
        o0 = o1;
    }
}

#ifdef NNBRT_PREPARE
/* ---- weights packed once at load (NNBRT_PREPARE builds, see internal.h) ----
   Ungrouped unpooled convolutions below the large GEMM's size
   (conv_gemm_big.h takes those), as y[oc][p] = b[oc] + sum_k W[oc][k]
   B[k][p] (+ residual, activation) with k = (ic, kh, kw) in nnabla's order:
   - 1x1 stride 1 unpadded: B is the input, row k at k * P (pixels
     flattened over the rows);
   - strided (stride >= 2, output rows at least a vector wide): the input
     is copied zero-padded into SH x SW phase planes per call (scratch), so
     row k of B for output row oh is the OW floats of one phase plane at
     a fixed offset: a tile covers PV columns of two output rows.
   nnbrt_init re-lays W out in blocks of PMR output channels: the block's
   PMR biases, then for every k the PMR weights of that k (zero rows pad
   the last block), followed by the K tap offsets (int32). A register tile
   of PMR channels x 2 vectors reads its weights from one pointer moving by
   PMR floats (broadcasts at fixed offsets, no per-channel row pointers),
   starts from the bias and applies the residual and activation on the way
   out. The layout depends on the instruction set, chosen once per process
   (conv_dispatch.c), so nnbrt_init and nnbrt_run agree. */
#if defined(__AVX512F__)
#define PV 16 /* floats per vector */
#define PMR 8 /* output channels per block: 8 x 2 accumulators of the 32 registers */
#elif defined(__AVX__)
#define PV 8
#define PMR 6 /* 12 accumulators of 16 registers */
#else
#define PV 4
#define PMR 6
#endif
typedef float pvf __attribute__((vector_size(PV * 4)));
typedef int32_t pvi __attribute__((vector_size(PV * 4)));

#ifndef NNBRT_GEMM_BIG_MIN
#define NNBRT_GEMM_BIG_MIN 4000000 /* conv_gemm_big.h's threshold (multiply-adds per group and image) */
#endif
/* Largest weight matrix (K x OC floats) of a packed 1x1 layer. */
#ifndef NNBRT_PACK_1X1_MAX
#define NNBRT_PACK_1X1_MAX 3072
#endif
/* Largest phase-plane copy (floats) of the strided form's scratch. */
#ifndef NNBRT_PACK_PLANES_MAX
#define NNBRT_PACK_PLANES_MAX 32768
#endif

typedef struct {
    int kind;          /* 1: 1x1 flattened, 2: strided through phase planes */
    size_t K, P, nblk; /* reduction length, output pixels per image, channel blocks */
    size_t Hq, Lq;     /* kind 2: phase-plane rows, columns */
    size_t pl;         /* kind 2: phase-plane floats */
} pkplan;

/* Does a packed form apply (the same rule at check, load and run)? */
static int pk_plan(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, pkplan *q)
{
    uint64_t macs, pl, IHp, IWp;
    if (group != 1 || (f && f->pool) || g->C < 1 || g->OC < 1) return 0;
    q->K = (size_t)g->C * (size_t)g->KH * (size_t)g->KW; /* <= weight elements (image) */
    q->P = (size_t)g->OH * (size_t)g->OW;                 /* <= output elements (arena) */
    q->nblk = ((size_t)g->OC + PMR - 1) / PMR;
    q->Hq = q->Lq = q->pl = 0;
    macs = (uint64_t)q->P * q->K * (uint64_t)g->OC;
    if (macs >= NNBRT_GEMM_BIG_MIN || q->K > 0x100000) return 0;
    /* at most a third more channels computed than there are (blocks of PMR): few-channel layers keep
       the forms with single-channel tiles */
    if ((uint64_t)q->nblk * PMR * 3u > (uint64_t)g->OC * 4u) return 0;
    if (g->KH == 1 && g->KW == 1 && g->SH == 1 && g->SW == 1 && g->PH == 0 && g->PW == 0) {
        /* measured: pays where per-channel weight rows were the cost (mbv2's 16..64 x 16..64 layers,
           K x OC <= 1536), not on dscnn's 64 x 64 (4096) ones: small weight matrices only */
        q->kind = 1;
        return q->P >= PV && q->K * (size_t)g->OC <= NNBRT_PACK_1X1_MAX;
    }
    /* strided: not 1x1 (it reads one phase of four; the gathering forms copy only that) */
    if (g->SH < 2 || g->SW < 2 || g->SH > 8 || g->SW > 8 || g->OW < PV || g->KH * g->KW < 2) return 0;
    IHp = (uint64_t)g->IH + 2u * (uint64_t)g->PH;
    IWp = (uint64_t)g->IW + 2u * (uint64_t)g->PW;
    q->Hq = (size_t)((IHp + (uint64_t)g->SH - 1) / (uint64_t)g->SH);
    q->Lq = (size_t)((IWp + (uint64_t)g->SW - 1) / (uint64_t)g->SW);
    pl = (uint64_t)g->C * (uint64_t)g->SH * (uint64_t)g->SW * q->Hq * q->Lq;
    if (IHp > NNBRT_PACK_PLANES_MAX || IWp > NNBRT_PACK_PLANES_MAX || pl > NNBRT_PACK_PLANES_MAX) return 0;
    q->pl = (size_t)pl;
    q->kind = 2;
    return 1;
}

size_t nnbrt_pack_bytes(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    pkplan q;
    uint64_t t;
    size_t big;
    if (nnbrt_pack_enabled() && nnbrt_wino_pack_first(group, g, f)) return nnbrt_wino_pack_bytes(group, g, f);
    big = nnbrt_pack_enabled() ? nnbrt_big_pack_bytes(group, g, f) : 0; /* conv_gemm_big.h's form */
    if (big) return big;
    if (nnbrt_pack_enabled() && nnbrt_wino_pack_bytes(group, g, f)) return nnbrt_wino_pack_bytes(group, g, f);
    if (!nnbrt_pack_enabled() || !pk_plan(group, g, f, &q)) return 0;
    t = ((uint64_t)q.nblk * PMR * ((uint64_t)q.K + 1u) + q.K) * 4u;
    return t > (uint64_t)(SIZE_MAX / 4) ? 0 : (size_t)t;
}

size_t nnbrt_pack_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    pkplan q;
    if (nnbrt_pack_enabled() && nnbrt_wino_pack_bytes(group, g, f)) return nnbrt_wino_pack_scratch(group, g, f);
    if (!nnbrt_pack_enabled() || !pk_plan(group, g, f, &q)) return 0;
    return q.pl * sizeof(float);
}

void nnbrt_pack_fill(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, const float *w, const float *bias,
                     void *dst)
{
    pkplan q;
    const size_t OC = (size_t)g->OC;
    float *d = (float *)dst;
    int32_t *off;
    size_t oc0, i, k;
    if (nnbrt_wino_pack_first(group, g, f)) { /* conv_r8wino.h's form where it beats conv_gemm_big.h's */
        nnbrt_wino_pack_fill(group, g, f, w, bias, dst);
        return;
    }
    if (nnbrt_big_pack_bytes(group, g, f)) { /* conv_gemm_big.h's form */
        nnbrt_big_pack_fill(group, g, f, w, bias, dst);
        return;
    }
    if (nnbrt_wino_pack_bytes(group, g, f)) { /* conv_r8wino.h's form */
        nnbrt_wino_pack_fill(group, g, f, w, bias, dst);
        return;
    }
    if (!pk_plan(group, g, f, &q)) return;
    for (oc0 = 0; oc0 < OC; oc0 += PMR) {
        for (i = 0; i < PMR; ++i) d[i] = oc0 + i < OC && bias ? bias[oc0 + i] : 0.0f;
        d += PMR;
        for (k = 0; k < q.K; ++k) {
            for (i = 0; i < PMR; ++i) d[i] = oc0 + i < OC ? w[(oc0 + i) * q.K + k] : 0.0f;
            d += PMR;
        }
    }
    off = (int32_t *)(void *)d;
    for (k = 0; k < q.K; ++k) {
        if (q.kind == 1) {
            off[k] = (int32_t)(k * q.P); /* < input elements of one image (arena), within 2^31 */
        } else {
            /* tap (c, kh, kw) of output row 0, column 0: plane (c, kh*DH % SH, kw*DW % SW), row kh*DH / SH,
               column kw*DW / SW (< NNBRT_PACK_PLANES_MAX floats in all) */
            const size_t KK = (size_t)g->KH * (size_t)g->KW, c = k / KK, kh = k % KK / (size_t)g->KW,
                         kw = k % (size_t)g->KW, h = kh * (size_t)g->DH, ww = kw * (size_t)g->DW;
            const size_t SH = (size_t)g->SH, SW = (size_t)g->SW;
            off[k] = (int32_t)(((c * SH + h % SH) * SW + ww % SW) * q.Hq * q.Lq + (h / SH) * q.Lq + ww / SW);
        }
    }
}

/* Zero-padded phase planes of one image: padded pixel (h, w) of channel c
   goes to plane (c, h % SH, w % SW), row h / SH, column w / SW. */
static void pk_phases(float *pl, const float *x, const nnbrt_geom *g, const pkplan *q)
{
    const size_t SH = (size_t)g->SH, SW = (size_t)g->SW, pp = q->Hq * q->Lq, PW = (size_t)g->PW;
    const size_t IW = (size_t)g->IW;
    size_t c, ih;
    memset(pl, 0, q->pl * sizeof(float));
    for (c = 0; c < (size_t)g->C; ++c)
        for (ih = 0; ih < (size_t)g->IH; ++ih) {
            const size_t h = ih + (size_t)g->PH;
            const float *src = x + (c * (size_t)g->IH + ih) * IW;
            nnbrt_phase_row(pl + (c * SH + h % SH) * SW * pp + (h / SH) * q->Lq, pp, src, IW, PW, SW, NULL);
        }
}

NNBRT_VACT_FN(pk_act, pvf, pvi)

/* Where a tile goes: y (and res at the same offsets), channel i at i * P,
   vector v at v * ystep; only elements (v, c) with v * PV + c >= j0 and
   c >= c0 are new (the others were stored by an overlapping tile). */
typedef struct {
    float *y;
    const float *res;
    size_t P, ystep;
    int act, j0, c0;
} pksink;

/* The new elements of nr rows of t to the sink: per row and vector one
   run of columns, plain loops (vectorised; y may alias res exactly). */
static void pk_partial(float t[PMR][2 * PV], size_t nr, int nv, const pksink *s)
{
    size_t r;
    int v, c;
    for (r = 0; r < nr; ++r)
        for (v = 0; v < nv; ++v) {
            const int cs = s->j0 - v * PV > s->c0 ? s->j0 - v * PV : s->c0;
            const size_t o = r * s->P + (size_t)v * s->ystep;
            const float *tr = t[r] + v * PV;
            float *yr = s->y + o;
            if (cs >= PV) continue;
            if (s->res) {
                const float *rr = s->res + o;
                for (c = cs; c < PV; ++c) yr[c] = tr[c] + rr[c];
            } else {
                for (c = cs; c < PV; ++c) yr[c] = tr[c];
            }
            if (s->act == 1)
                for (c = cs; c < PV; ++c) yr[c] = yr[c] > 0.0f ? yr[c] : 0.0f;
            else if (s->act == 2)
                for (c = cs; c < PV; ++c) yr[c] = yr[c] < 0.0f ? 0.0f : (yr[c] > 6.0f ? 6.0f : yr[c]);
        }
}

/* One tile: the block's nr (<= PMR) channels x NV (2 or 1) vectors, the
   vector v of tap k at x + off[k] + v * x1off. Named accumulators (an
   array indexed in loops the compiler does not unroll whole would live in
   memory); a partial tile (last block, or an overlapping tile) goes
   through memory. */
#if PMR == 8
#define PK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#else
#define PK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#endif
#define PK_INIT2(i) pvf a##i = (pvf){0} + wb[i], b##i = a##i;
#define PK_INIT1(i) pvf a##i = (pvf){0} + wb[i];
#define PK_FMA2(i) { const float s_ = wb[i]; a##i += s_ * x0; b##i += s_ * x1; }
#define PK_FMA1(i) { a##i += wb[i] * x0; }
#define PK_RES2(i) { pvf r_; memcpy(&r_, res + i * P, sizeof r_); a##i += r_; \
                     memcpy(&r_, res + i * P + ys, sizeof r_); b##i += r_; }
#define PK_RES1(i) { pvf r_; memcpy(&r_, res + i * P, sizeof r_); a##i += r_; }
#define PK_ACT2(i) a##i = pk_act(a##i, act); b##i = pk_act(b##i, act);
#define PK_ACT1(i) a##i = pk_act(a##i, act);
#define PK_ST2(i) memcpy(y + i * P, &a##i, sizeof(pvf)); memcpy(y + i * P + ys, &b##i, sizeof(pvf));
#define PK_ST1(i) memcpy(y + i * P, &a##i, sizeof(pvf));
#define PK_TMP2(i) memcpy(t[i], &a##i, sizeof(pvf)); memcpy(t[i] + PV, &b##i, sizeof(pvf));
#define PK_TMP1(i) memcpy(t[i], &a##i, sizeof(pvf));

#define PK_TILE(NAME, NV)                                                                              \
    static void NAME(const float *x, long x1off, const int32_t *off, size_t K, const float *wb,      \
                     size_t nr, const pksink *s)                                                     \
    {                                                                                                \
        size_t k;                                                                                    \
        PK_ROWS(PK_INIT##NV)                                                                         \
        wb += PMR;                                                                                   \
        for (k = 0; k < K; ++k, wb += PMR) {                                                         \
            const float *xk = x + off[k];                                                            \
            pvf x0, x1;                                                                              \
            memcpy(&x0, xk, sizeof x0);                                                              \
            memcpy(&x1, xk + (NV - 1) * x1off, sizeof x1); /* NV 1: unused */                        \
            (void)x1;                                                                                \
            PK_ROWS(PK_FMA##NV)                                                                      \
        }                                                                                            \
        if (nr == PMR && s->j0 == 0 && s->c0 == 0) {                                                 \
            float *const y = s->y;                                                                   \
            const float *const res = s->res;                                                         \
            const size_t P = s->P, ys = s->ystep;                                                    \
            const int act = s->act;                                                                  \
            (void)ys;                                                                                \
            if (res) { PK_ROWS(PK_RES##NV) }                                                         \
            if (act) { PK_ROWS(PK_ACT##NV) }                                                         \
            PK_ROWS(PK_ST##NV)                                                                       \
        } else {                                                                                     \
            float t[PMR][2 * PV];                                                                    \
            PK_ROWS(PK_TMP##NV)                                                                      \
            pk_partial(t, nr, NV, s);                                                                \
        }                                                                                            \
    }
PK_TILE(pk_tile_2, 2)
PK_TILE(pk_tile_1, 1)

/* Every channel block of one tile position: x (tile base), y/res offset o. */
static void pk_blocks(const pkplan *q, const float *pk, const float *x, long x1off, int nv, float *yn,
                      const float *rn, size_t o, size_t OC, pksink *s)
{
    const int32_t *off = (const int32_t *)(const void *)(pk + q->nblk * PMR * (q->K + 1));
    size_t oc0;
    for (oc0 = 0; oc0 < OC; oc0 += PMR) {
        const float *wb = pk + (oc0 / PMR) * PMR * (q->K + 1);
        const size_t nr = OC - oc0 < PMR ? OC - oc0 : PMR, oo = oc0 * q->P + o;
        s->y = yn + oo;
        s->res = rn ? rn + oo : NULL;
        if (nv == 2) pk_tile_2(x, x1off, off, q->K, wb, nr, s);
        else pk_tile_1(x, x1off, off, q->K, wb, nr, s);
    }
}

int nnbrt_pack_conv(size_t group, float *scratch, const void *pk, const float *x, float *y, const nnbrt_geom *g,
                    const nnbrt_fuse *f)
{
    pkplan q;
    const size_t C = (size_t)g->C, OC = (size_t)g->OC, plane_in = (size_t)g->IH * (size_t)g->IW;
    size_t n;
    pksink s;
    if (nnbrt_wino_pack_first(group, g, f)) return nnbrt_wino_pack_conv(group, scratch, pk, x, y, g, f);
    if (nnbrt_big_pack_conv(group, scratch, pk, x, y, g, f)) return 1; /* conv_gemm_big.h's form */
    if (nnbrt_wino_pack_bytes(group, g, f)) return nnbrt_wino_pack_conv(group, scratch, pk, x, y, g, f);
    if (!pk || !pk_plan(group, g, f, &q) || (q.kind == 2 && !scratch)) return 0;
    s.P = q.P;
    s.act = f ? f->act : 0;
    for (n = 0; n < g->outer; ++n) {
        const float *xn = x + n * C * plane_in;
        float *yn = y + n * OC * q.P;
        const float *rn = f && f->res ? f->res + n * OC * q.P : NULL;
        if (q.kind == 1) {
            /* pixels flattened: tiles of 2 (or 1) vectors along them, the last overlapping */
            const int nv = q.P >= 2 * PV ? 2 : 1;
            const size_t tw = (size_t)nv * PV;
            size_t p = 0, done = 0;
            s.ystep = PV;
            s.c0 = 0;
            while (done < q.P) {
                if (p + tw > q.P) p = q.P - tw;
                s.j0 = (int)(done - p);
                pk_blocks(&q, (const float *)pk, xn + p, PV, nv, yn, rn, p, OC, &s);
                p += tw;
                done = p;
            }
        } else {
            /* PV columns of two output rows a tile (one row when OH is 1), the last column tile and the
               last row pair overlapping their predecessors */
            const size_t OH = (size_t)g->OH, OW = (size_t)g->OW;
            const int nv = OH >= 2 ? 2 : 1;
            size_t oh = 0, rdone = 0;
            pk_phases(scratch, xn, g, &q);
            s.ystep = OW;
            while (rdone < OH) {
                size_t ow = 0, cdone = 0;
                if (oh + (size_t)nv > OH) oh = OH - (size_t)nv;
                while (cdone < OW) {
                    if (ow + PV > OW) ow = OW - PV;
                    s.j0 = (int)(rdone - oh) * PV; /* a row already stored: its vector is not new */
                    s.c0 = (int)(cdone - ow);
                    pk_blocks(&q, (const float *)pk, scratch + oh * q.Lq + ow, (long)q.Lq, nv, yn, rn,
                              oh * OW + ow, OC, &s);
                    ow += PV;
                    cdone = ow;
                }
                oh += (size_t)nv;
                rdone = oh;
            }
        }
    }
    return 1;
}
#endif /* NNBRT_PREPARE */
