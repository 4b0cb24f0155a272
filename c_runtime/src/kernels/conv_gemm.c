/* GEMM forms of unpooled convolutions (conv_engine.c tries them first).
   Large layers (conv_gemm_big.h, included below): a register-blocked GEMM
   over shifted views of the (padded, phase-split) input, any group count.
   Small ungrouped layers, as follows. GEMM form of an ungrouped, unpooled convolution:

       y[oc][p] = act(b[oc] + sum_k W[oc][k] * B[k][p] (+ residual[oc][p]))

   with k = (ic, kh, kw) in nnabla's weight order and p = (oh, ow).
   - direct: a 1x1 stride-1 unpadded convolution is already in this form;
     B is the input itself, read in place.
   - im2col: a small strided or narrow convolution (where the row-tiled
     engine wastes most of its vector lanes) gets B built in scratch. A
     padded image is first copied zero-padded and split into SH x SW phase
     planes (space-to-depth), so every tap of every output row is one
     contiguous run: B is filled by short block copies, no bounds checks.
     An unpadded one is gathered straight from the input.
   The micro-kernel keeps MR output channels x NC columns in vector
   registers over all K; bias and activation are applied to the registers
   and the residual on the way out. A row's last block overlaps its
   predecessor instead of running short and stores only its new columns,
   so a residual aliasing y is read before it is written. */
#include "conv_util.h"
#include "conv_act.h"

#if defined(__GNUC__) && !defined(NNBRT_NO_VECTOR_EXT)
#if defined(__AVX512F__)
#define GV 16 /* floats per vector register */
#define MR 8  /* output channels per tile: 16 of the 32 registers accumulate */
#elif defined(__AVX__)
#define GV 8
#define MR 4
#else
#define GV 4 /* SSE, NEON, or scalar code the compiler lowers it to */
#define MR 4
#endif
typedef float gvec __attribute__((vector_size(GV * 4)));
typedef int32_t gveci __attribute__((vector_size(GV * 4)));
/* unaligned loads and stores through a type of float alignment that may
   alias floats: one vector move. (A memcpy of a vector was split into
   moves of the tuning's -mmove-max: -march=native on an AVX-512 Xeon moves
   256 bits, so every zmm load was two ymm stores and a stalled reload.) */
typedef float gvecu __attribute__((vector_size(GV * 4), aligned(4), may_alias));
#define VLD(v, p) ((v) = *(const gvecu *)(const void *)(p))
#define VST(p, v) (*(gvecu *)(void *)(p) = (v))
#else
#define GV 1
#define MR 4
typedef float gvec;
#define VLD(v, p) ((v) = *(p))
#define VST(p, v) (*(p) = (v))
#endif
/* activation (act != 0) of a vector (conv_act.h) */
#if GV > 1
NNBRT_VACT_FN(vrelu, gvec, gveci)
#else
#define vrelu(v, act) nnbrt_relu((v), (act))
#endif
#define NC (2 * GV) /* columns per tile: two vectors */
#define RUN8 8      /* short output rows are copied 8 floats at a time */

/* Largest im2col scratch (floats: phase planes + B); 0 keeps only the
   in-place 1x1 form (smallest scratch, e.g. for microcontrollers). */
#ifndef NNBRT_GEMM_IM2COL_MAX
#define NNBRT_GEMM_IM2COL_MAX 8192 /* 32 KB: stays in L1 next to the weights */
#endif

typedef struct {
    int direct;       /* 1x1 stride 1 unpadded: B is the input */
    size_t K;         /* reduction length C*KH*KW */
    size_t P;         /* output pixels per image */
    size_t Pc;        /* row stride of B: P, or at least NC for im2col */
    size_t Hq, Lq;    /* im2col of a padded input: phase-plane rows and columns */
    size_t pl_floats; /* im2col of a padded input: phase planes + read slack (else 0) */
    size_t b_floats;  /* im2col: B + write slack */
} gplan;

static int mkgplan(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, gplan *q)
{
    uint64_t IHp, IWp, pl, b;
    if (group != 1 || (f && f->pool) || g->C < 1 || g->OC < 1) return 0;
    q->K = (size_t)g->C * (size_t)g->KH * (size_t)g->KW; /* <= weight elements (image) */
    q->P = (size_t)g->OH * (size_t)g->OW;                 /* <= output elements (arena) */
    q->direct = g->KH == 1 && g->KW == 1 && g->SH == 1 && g->SW == 1 && g->PH == 0 && g->PW == 0 &&
                q->P >= NC;
    q->Pc = q->P;
    q->Hq = q->Lq = q->pl_floats = q->b_floats = 0;
    if (q->direct) return 1;
    if (!(g->SW > 1 || g->OW < NC)) return 0; /* wide unit-stride rows: the engine's tiles fit */
    IHp = (uint64_t)g->IH + 2u * (uint64_t)g->PH;
    IWp = (uint64_t)g->IW + 2u * (uint64_t)g->PW;
    if (IHp > NNBRT_GEMM_IM2COL_MAX || IWp > NNBRT_GEMM_IM2COL_MAX || g->SH > 64 || g->SW > 64) return 0;
    q->Pc = q->P < NC ? NC : q->P;
    pl = 0; /* unpadded: B is gathered from the input itself */
    if (g->PH || g->PW) {
        q->Hq = (size_t)((IHp + (uint64_t)g->SH - 1) / (uint64_t)g->SH);
        q->Lq = (size_t)((IWp + (uint64_t)g->SW - 1) / (uint64_t)g->SW);
        /* the 8-float row copies read up to RUN8 past a phase plane's end */
        pl = (uint64_t)g->C * (uint64_t)g->SH * (uint64_t)g->SW * q->Hq * q->Lq + RUN8;
    }
    b = (uint64_t)q->K * q->Pc + RUN8;
    if (pl + b > NNBRT_GEMM_IM2COL_MAX) return 0;
    q->pl_floats = (size_t)pl;
    q->b_floats = (size_t)b;
    return 1;
}

#include "conv_gemm_big.h"

/* the strided direct form (below, after its helpers) */
typedef struct {
    size_t K, Hq, Lq, P;
    size_t off_floats, pl_floats;
} dplan;
static int mkdplan(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, dplan *q);

/* R output channels x NC columns over K: B row k at b + k * bs, weights
   of channel i at w + i * K; bias added and, when act, the activation
   applied in registers. R is a constant in each expansion, so the loops
   over it unroll and acc stays in registers. */
#define MICRO(R)                                                                                   \
    static void micro_##R(const float *b, size_t bs, size_t K, const float *w, const float *bias,  \
                          int act, float out[MR][NC])                                              \
    {                                                                                              \
        gvec acc[R][2];                                                                            \
        size_t k;                                                                                  \
        int i;                                                                                     \
        for (i = 0; i < R; ++i) acc[i][0] = acc[i][1] = (gvec){0};                                 \
        for (k = 0; k < K; ++k) {                                                                  \
            gvec b0, b1;                                                                           \
            VLD(b0, b + k * bs);                                                                   \
            VLD(b1, b + k * bs + GV);                                                              \
            for (i = 0; i < R; ++i) {                                                              \
                const float s = w[(size_t)i * K + k];                                              \
                acc[i][0] += s * b0;                                                               \
                acc[i][1] += s * b1;                                                               \
            }                                                                                      \
        }                                                                                          \
        for (i = 0; i < R; ++i) {                                                                  \
            const float bv = bias ? bias[i] : 0.0f;                                                \
            acc[i][0] += bv;                                                                       \
            acc[i][1] += bv;                                                                       \
            if (act) {                                                                             \
                acc[i][0] = vrelu(acc[i][0], act);                                                 \
                acc[i][1] = vrelu(acc[i][1], act);                                                 \
            }                                                                                      \
            VST(out[i], acc[i][0]);                                                                \
            VST(out[i] + GV, acc[i][1]);                                                           \
        }                                                                                          \
    }
MICRO(MR) /* micro_MR (## keeps the name unexpanded; the body uses MR's value) */
#if MR > 4
MICRO(4)
#endif
MICRO(1)

/* Columns [j0, jn) of one tile row to dst (dst/res at column 0): a copy,
   or with a residual act(acc + res), each res element read before its store. */
static void put_row(float *dst, const float *res, const float *acc, int act, int j0, int jn)
{
    int j;
    if (j0 == 0 && jn == NC) {
        for (j = 0; j < NC; j += GV) {
            gvec v;
            VLD(v, acc + j);
            if (res) {
                gvec r;
                VLD(r, res + j);
                v += r;
                if (act) v = vrelu(v, act);
            }
            VST(dst + j, v);
        }
        return;
    }
    if (res)
        for (j = j0; j < jn; ++j) dst[j] = act ? nnbrt_relu(acc[j] + res[j], act) : acc[j] + res[j];
    else
        for (j = j0; j < jn; ++j) dst[j] = acc[j];
}

/* Every output channel for the NC columns of B at b (row stride bs),
   storing columns [j0, jn) at y + p0. */
static void block(const float *b, size_t bs, size_t K, const float *w, const float *bias, float *y,
                  const float *res, size_t OC, size_t P, int act, size_t p0, int j0, int jn)
{
    float out[MR][NC];
    size_t oc = 0, i;
    while (oc < OC) {
        size_t r = OC - oc;
        const float *bo = bias ? bias + oc : NULL;
        const int ract = res ? 0 : act; /* with a residual the activation comes after it */
        if (r >= MR) {
            r = MR;
            micro_MR(b, bs, K, w + oc * K, bo, ract, out);
        }
#if MR > 4
        else if (r >= 4) {
            r = 4;
            micro_4(b, bs, K, w + oc * K, bo, ract, out);
        }
#endif
        else {
            r = 1;
            micro_1(b, bs, K, w + oc * K, bo, ract, out);
        }
        for (i = 0; i < r; ++i) {
            const size_t o = (oc + i) * P + p0;
            put_row(y + o, res ? res + o : NULL, out[i], act, j0, jn);
        }
        oc += r;
    }
}

#include "conv_phase.h" /* nnbrt_deint2, nnbrt_phase_row: rows into phase planes */

/* A form's planner and kernel in builds that do not compile the form (the
   direct strided form here, conv_s1.h's): the planner takes no layer. */
#define NO_FORM(plan_t, mkplan, conv)                                                                       \
    static int mkplan(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, plan_t *q)                   \
    {                                                                                                       \
        (void)group, (void)g, (void)f, (void)q;                                                             \
        return 0;                                                                                           \
    }                                                                                                       \
    static void conv(const plan_t *q, float *scratch, const float *x, const float *w, const float *bias,    \
                     float *y, const nnbrt_geom *g, const nnbrt_fuse *f)                                    \
    {                                                                                                       \
        (void)q, (void)scratch, (void)x, (void)w, (void)bias, (void)y, (void)g, (void)f;                    \
    }
#include "conv_s1.h" /* the shifted-plane direct form (mksplan, s1_conv) */
#include "conv_r8wino.h" /* the Winograd form of 3x3 stride-1 layers (weights packed at load) */

/* Zero-padded phase planes of one image: padded pixel (h, w) of channel c
   goes to plane (c, h % SH, w % SW), row h / SH, column w / SW. Only the
   phases some tap reads are filled (a 1x1 stride-2 convolution reads one
   of four). The zeros (padding, gaps, slack) are written once per call. */
static void fill_phases(float *pl, const float *x, const nnbrt_geom *g, const gplan *q)
{
    const size_t SH = (size_t)g->SH, SW = (size_t)g->SW, pp = q->Hq * q->Lq;
    size_t c, ih, k;
    unsigned char hneed[64], wneed[64];
    memset(hneed, 0, sizeof hneed);
    memset(wneed, 0, sizeof wneed);
    for (k = 0; k < (size_t)g->KH; ++k) hneed[(k * (size_t)g->DH) % SH] = 1;
    for (k = 0; k < (size_t)g->KW; ++k) wneed[(k * (size_t)g->DW) % SW] = 1;
    for (c = 0; c < (size_t)g->C; ++c)
        for (ih = 0; ih < (size_t)g->IH; ++ih) {
            const size_t h = ih + (size_t)g->PH;
            if (hneed[h % SH])
                nnbrt_phase_row(pl + (c * SH * SW + (h % SH) * SW) * pp + (h / SH) * q->Lq, pp,
                                x + (c * (size_t)g->IH + ih) * (size_t)g->IW, (size_t)g->IW, (size_t)g->PW, SW,
                                wneed);
        }
}

/* B[k][p] from the phase planes: tap (c, kh, kw) of output row oh is the
   OW floats at its plane + (oh + kh*DH/SH) rows + kw*DW/SW columns. Short
   rows are moved 8 floats at a time in increasing order (what a copy
   writes past its row is rewritten by the next one; slack after B). */
static void fill_b(float *bm, const float *pl, const nnbrt_geom *g, const gplan *q)
{
    const size_t pp = q->Hq * q->Lq, OW = (size_t)g->OW, OH = (size_t)g->OH;
    size_t c, kh, kw, oh, j;
    float *d = bm;
    for (c = 0; c < (size_t)g->C; ++c)
        for (kh = 0; kh < (size_t)g->KH; ++kh)
            for (kw = 0; kw < (size_t)g->KW; ++kw, d += q->Pc) {
                const size_t dh = kh * (size_t)g->DH, dw = kw * (size_t)g->DW;
                const float *src = pl + ((c * (size_t)g->SH + dh % (size_t)g->SH) * (size_t)g->SW +
                                         dw % (size_t)g->SW) * pp +
                                   (dh / (size_t)g->SH) * q->Lq + dw / (size_t)g->SW;
                if (OW <= RUN8) {
                    for (oh = 0; oh < OH; ++oh) {
                        float t[RUN8];
                        memcpy(t, src + oh * q->Lq, sizeof t);
                        memcpy(d + oh * OW, t, sizeof t);
                    }
                } else {
                    for (oh = 0; oh < OH; ++oh)
                        for (j = 0; j < OW; ++j) d[oh * OW + j] = src[oh * q->Lq + j];
                }
            }
}

/* B[k][p] straight from an unpadded input: tap (c, kh, kw) of output row
   oh is OW floats from row oh*SH + kh*DH, column kw*DW, every SW-th. */
static void fill_b_x(float *bm, const float *x, const nnbrt_geom *g, const gplan *q)
{
    const size_t OW = (size_t)g->OW, OH = (size_t)g->OH, IW = (size_t)g->IW, SW = (size_t)g->SW;
    size_t c, kh, kw, oh, j;
    float *d = bm;
    for (c = 0; c < (size_t)g->C; ++c)
        for (kh = 0; kh < (size_t)g->KH; ++kh)
            for (kw = 0; kw < (size_t)g->KW; ++kw, d += q->Pc) {
                const float *src = x + (c * (size_t)g->IH + kh * (size_t)g->DH) * IW + kw * (size_t)g->DW;
                for (oh = 0; oh < OH; ++oh) {
                    const float *s = src + oh * (size_t)g->SH * IW;
                    float *o = d + oh * OW;
                    if (SW == 1)
                        for (j = 0; j < OW; ++j) o[j] = s[j];
                    else if (SW == 2)
                        for (j = 0; j < OW; ++j) o[j] = s[2 * j];
                    else
                        for (j = 0; j < OW; ++j) o[j] = s[j * SW];
                }
            }
}

/* Strided direct form: an ungrouped, unpooled layer with a column stride
   > 1 and output rows at least one vector wide (mbv2's and resnet8's
   stride-2 layers). The image is copied once into zero-padded phase
   planes (fill_phases), so tap k of output row oh is the unit-stride run
   at off[k] + oh * Lq. DR output channels x one vector of a row's columns
   stay in registers over all K: per k one load and DR multiply-adds with
   broadcast weights (no im2col, no junk columns, no tile copy). A row's
   last vector overlaps its predecessor; bias and activation are applied
   in registers, a residual on the store (overlapped lanes are stored one
   by one, each residual element read before its output is written).
   Scratch: the tap offsets and the planes, at most NNBRT_GEMM_DIRECT_MAX
   floats of planes (else the engine's row tiles). */
#ifndef NNBRT_GEMM_DIRECT_MAX
#define NNBRT_GEMM_DIRECT_MAX 18944 /* 74 KB of phase planes */
#endif
#if GV >= 4 && NNBRT_GEMM_IM2COL_MAX != 0
#if GV >= 16
#define DR 12 /* channels per tile: two rows x 12 = 24 of the 32 zmm registers accumulate */
#define DR2 8
#else
#define DR 6 /* 12 of 16 */
#define DR2 4
#endif
#define DKMAX 192 /* longest reduction C*KH*KW: one block's weights (DR x K) are packed on the stack */
static int mkdplan(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f, dplan *q)
{
    uint64_t IHp, IWp, Hq, Lq, pl;
    if (group != 1 || (f && f->pool) || g->C < 1 || g->OC < 1) return 0;
    if (g->SW < 2 || g->SH < 1 || g->SH > 64 || g->SW > 64 || g->OW < GV) return 0;
    if (g->KH == 1 && g->KW == 1) return 0; /* strided 1x1: one phase of four read (the engine's form is faster) */
    /* at most a quarter of the lanes wasted by the overlapped last vector of a row (else the engine's forms) */
    if (((size_t)g->OW + GV - 1) / GV * GV * 4u > (size_t)g->OW * 5u) return 0;
    IHp = (uint64_t)g->IH + 2u * (uint64_t)g->PH;
    IWp = (uint64_t)g->IW + 2u * (uint64_t)g->PW;
    Hq = (IHp + (uint64_t)g->SH - 1) / (uint64_t)g->SH;
    Lq = (IWp + (uint64_t)g->SW - 1) / (uint64_t)g->SW;
    pl = (uint64_t)g->C * (uint64_t)g->SH * (uint64_t)g->SW * Hq * Lq;
    if (pl > NNBRT_GEMM_DIRECT_MAX) return 0;
    q->K = (size_t)g->C * (size_t)g->KH * (size_t)g->KW; /* <= weight elements (image) */
    q->Hq = (size_t)Hq;
    q->Lq = (size_t)Lq;
    q->P = (size_t)g->OH * (size_t)g->OW;
    if (q->K > DKMAX) return 0;
    q->off_floats = (q->K + 15u) & ~(size_t)15u;
    q->pl_floats = (size_t)pl;
    return 1;
}

/* R channels (weights w packed k-major: R per k; bias or NULL) x the GV
   columns of NR output rows (source rows Lq apart, output rows OW apart)
   at b + off[k] (k < K), stored at y (channel rows P apart), lanes
   [j0, GV) only when j0 > 0; residual rs (same layout) or NULL. Two rows
   share each weight broadcast (loads per multiply-add about halved). */
#define DMICRO(R, NR)                                                                               \
    static void dmicro_##R##_##NR(const float *b, size_t Lq, const uint32_t *off, size_t K,        \
                                  const float *w, const float *bias, float *y, size_t OW,          \
                                  const float *rs, size_t P, int act, int j0)                      \
    {                                                                                               \
        gvec acc[R][NR];                                                                            \
        size_t k;                                                                                   \
        int i, t, j;                                                                                \
        for (i = 0; i < R; ++i)                                                                     \
            for (t = 0; t < NR; ++t) acc[i][t] = (gvec){0} + (bias ? bias[i] : 0.0f);               \
        for (k = 0; k < K; ++k) {                                                                   \
            gvec bv[NR];                                                                            \
            for (t = 0; t < NR; ++t) VLD(bv[t], b + off[k] + (size_t)t * Lq);                       \
            for (i = 0; i < R; ++i) {                                                               \
                const float s = w[k * R + (size_t)i];                                               \
                for (t = 0; t < NR; ++t) acc[i][t] += s * bv[t];                                    \
            }                                                                                       \
        }                                                                                           \
        for (i = 0; i < R; ++i)                                                                     \
            for (t = 0; t < NR; ++t) {                                                              \
                const size_t o = (size_t)i * P + (size_t)t * OW;                                    \
                gvec v = acc[i][t];                                                                 \
                if (!rs) {                                                                          \
                    if (act) v = vrelu(v, act);                                                     \
                    VST(y + o, v); /* overlapped lanes rewrite the same values */                   \
                } else if (j0 == 0) {                                                               \
                    gvec r;                                                                         \
                    VLD(r, rs + o);                                                                 \
                    v += r;                                                                         \
                    if (act) v = vrelu(v, act);                                                     \
                    VST(y + o, v);                                                                  \
                } else {                                                                            \
                    float tv[GV];                                                                   \
                    VST(tv, v);                                                                     \
                    for (j = j0; j < GV; ++j)                                                       \
                        y[o + j] = act ? nnbrt_relu(tv[j] + rs[o + j], act) : tv[j] + rs[o + j];    \
                }                                                                                   \
            }                                                                                       \
    }
DMICRO(DR, 2)
DMICRO(DR, 1)
DMICRO(DR2, 2)
DMICRO(DR2, 1)
#if DR2 > 4
DMICRO(4, 2)
DMICRO(4, 1)
#endif
DMICRO(1, 2)
DMICRO(1, 1)

/* the block sizes of output channels, largest first */
static size_t dblock(size_t left)
{
    return left >= DR ? DR : left >= DR2 ? DR2 : left >= 4 ? 4 : 1;
}

static void direct_conv(const dplan *q, float *scratch, const float *x, const float *w, const float *bias,
                        float *y, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    float *base = (float *)(void *)((char *)scratch + ((64u - ((uintptr_t)scratch & 63u)) & 63u));
    uint32_t *off = (uint32_t *)(void *)base;
    float *pl = base + q->off_floats, wp[DR * DKMAX]; /* one block's weights, k-major */
    const size_t SH = (size_t)g->SH, SW = (size_t)g->SW, pp = q->Hq * q->Lq, OW = (size_t)g->OW;
    const int act = f ? f->act : 0;
    size_t c, kh, kw, k = 0, n;
    gplan gq;
    gq.Hq = q->Hq;
    gq.Lq = q->Lq;
    for (c = 0; c < (size_t)g->C; ++c)
        for (kh = 0; kh < (size_t)g->KH; ++kh)
            for (kw = 0; kw < (size_t)g->KW; ++kw, ++k) {
                const size_t dh = kh * (size_t)g->DH, dw = kw * (size_t)g->DW;
                off[k] = (uint32_t)(((c * SH + dh % SH) * SW + dw % SW) * pp + (dh / SH) * q->Lq + dw / SW);
            }
    memset(pl, 0, q->pl_floats * sizeof(float)); /* padding and unread phases; the data is rewritten per image */
    for (n = 0; n < g->outer; ++n) {
        const size_t yo = n * (size_t)g->OC * q->P;
        const float *res = f && f->res ? f->res + yo : NULL;
        size_t oc = 0;
        fill_phases(pl, x + n * (size_t)g->C * (size_t)g->IH * (size_t)g->IW, g, &gq);
        while (oc < (size_t)g->OC) {
            const size_t r = dblock((size_t)g->OC - oc);
            const float *wo = wp, *bo = bias ? bias + oc : NULL;
            size_t oh, j, i;
            for (i = 0; i < r; ++i)
                for (k = 0; k < q->K; ++k) wp[k * r + i] = w[(oc + i) * q->K + k];
            for (oh = 0; oh < (size_t)g->OH; oh += 2)
                for (j = 0; j < OW; j += GV) {
                    const size_t js = j + GV > OW ? OW - GV : j; /* the last vector overlaps */
                    const int j0 = (int)(j - js), two = oh + 1 < (size_t)g->OH;
                    const size_t o = oc * q->P + oh * OW + js;
                    const float *b = pl + oh * q->Lq + js;
                    float *yd = y + yo + o;
                    const float *ro = res ? res + o : NULL;
#define DCALL(R, NR) dmicro_##R##_##NR(b, q->Lq, off, q->K, wo, bo, yd, OW, ro, q->P, act, j0)
                    if (r == DR) {
                        if (two) DCALL(DR, 2); else DCALL(DR, 1);
                    } else if (r == DR2) {
                        if (two) DCALL(DR2, 2); else DCALL(DR2, 1);
                    }
#if DR2 > 4
                    else if (r == 4) {
                        if (two) DCALL(4, 2); else DCALL(4, 1);
                    }
#endif
                    else {
                        if (two) DCALL(1, 2); else DCALL(1, 1);
                    }
#undef DCALL
                }
            oc += r;
        }
    }
}
#else
NO_FORM(dplan, mkdplan, direct_conv)
#endif

size_t nnbrt_gemm_scratch(size_t group, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    gplan q;
    bplan bq;
    dplan dq;
    splan sq;
    if (mkbplan(group, g, f, &bq)) return bq.scratch_bytes;
    if (mkdplan(group, g, f, &dq)) return (dq.off_floats + dq.pl_floats) * sizeof(float) + 64; /* + alignment */
    if (mksplan(group, g, f, &sq)) return (sq.off_floats + sq.pl_floats) * sizeof(float) + 64; /* + alignment */
    if (!mkgplan(group, g, f, &q)) return SIZE_MAX;
    return (q.pl_floats + q.b_floats) * sizeof(float) + 64; /* + alignment */
}

int nnbrt_gemm_conv(float *scratch, size_t group, const float *x, const float *w, const float *bias,
                    float *y, const nnbrt_geom *g, const nnbrt_fuse *f)
{
    gplan q;
    size_t n;
    const int act = f ? f->act : 0;
    const float *res0 = f ? f->res : NULL;
    float *pl, *bm;
    bplan bq;
    dplan dq;
    splan sq;
    if (mkbplan(group, g, f, &bq)) {
        big_conv(&bq, scratch, group, x, w, bias, y, g, f);
        return 1;
    }
    if (mkdplan(group, g, f, &dq)) {
        direct_conv(&dq, scratch, x, w, bias, y, g, f);
        return 1;
    }
    if (mksplan(group, g, f, &sq)) {
        s1_conv(&sq, scratch, x, w, bias, y, g, f);
        return 1;
    }
    if (!mkgplan(group, g, f, &q)) return 0;
    pl = (float *)(void *)((char *)scratch + ((64u - ((uintptr_t)scratch & 63u)) & 63u));
    bm = pl + q.pl_floats;
    if (!q.direct) /* padding and slack of the planes; B's columns past P when it is padded to NC */
        memset(pl, 0, (q.pl_floats + (q.Pc > q.P ? q.b_floats : 0)) * sizeof(float));
    for (n = 0; n < g->outer; ++n) {
        const float *xn = x + n * (size_t)g->C * (size_t)g->IH * (size_t)g->IW;
        const size_t yo = n * (size_t)g->OC * q.P;
        const float *b = xn;
        size_t p0 = 0, done = 0;
        if (!q.direct) {
            if (q.pl_floats) {
                fill_phases(pl, xn, g, &q);
                fill_b(bm, pl, g, &q);
            } else {
                fill_b_x(bm, xn, g, &q);
            }
            b = bm;
        }
        while (done < q.P) {
            int jn = NC;
            if (p0 + NC > q.Pc) p0 = q.Pc - NC; /* overlap the previous block */
            if (p0 + NC > q.P) jn = (int)(q.P - p0); /* B narrower than a tile (padded to NC) */
            block(b + p0, q.Pc, q.K, w, bias, y + yo, res0 ? res0 + yo : NULL, (size_t)g->OC, q.P, act, p0,
                  (int)(done - p0), jn);
            p0 += NC;
            done = p0 < q.P ? p0 : q.P;
        }
    }
    return 1;
}

void nnbrt_sgemm(size_t M, size_t N, size_t K, const float *A, const float *B, size_t ldb, float *C, size_t ldc)
{
    size_t p0 = 0, done = 0;
    if (N < NC) { /* narrower than one tile: plain loops */
        size_t i, j, k;
        for (i = 0; i < M; ++i)
            for (j = 0; j < N; ++j) {
                float acc = 0.0f;
                for (k = 0; k < K; ++k) acc += A[i * K + k] * B[k * ldb + j];
                C[i * ldc + j] = acc;
            }
        return;
    }
    while (done < N) {
        if (p0 + NC > N) p0 = N - NC; /* overlap the previous block */
        block(B + p0, ldb, K, A, NULL, C, NULL, M, ldc, 0, p0, (int)(done - p0), NC);
        p0 += NC;
        done = p0 < N ? p0 : N;
    }
}
