/* The x86-64 pooled int8 convolution (conv_x86_pool.c): a convolution + max pool on AVX-512 VNNI + VBMI whose
 * scratch is one copy of the last output channel's weights. The convolution's accumulators of a window's rows are
 * formed in registers by the row-quads form of conv_x86.c (rq_dot: VPERMB quads read by VPDPBUSD), their extreme
 * taken per channel over the window's rows and columns (VPMAXSD over rows, VPERMD over columns; a channel with a
 * negative multiplier keeps the least, as ~x reverses the order), and only the pooled extremes requantized: the
 * integers of nnb_i8_conv2d + nnb_i8_max_pool2d, as conv_direct.c argues. */
#ifndef NNB_I8_CONV_X86_POOL_H
#define NNB_I8_CONV_X86_POOL_H

#include "i8_host.h"

#if NNB_I8_X86
#include <immintrin.h>

#define NNB_I8_XP_CH 256  /* output channels (conv_x86.c RQ_CH) */
#define NNB_I8_XP_IDX 64  /* lane tables of the column reduction */
#define NNB_I8_XP_RQW 5   /* int32 words of one channel's requantization (conv_x86.c rq_ch) */

/* one panel of the row-quads form: output rows [oy0, oy0 + nrow) x columns from ox0 (conv_x86.c rq_dot) */
typedef struct {
    const int8_t *x;                    /* this sample */
    int32_t oy0, ox0, nrow, span, slot; /* the panel */
    __m512i idx[4];
    __mmask64 km[4];
} nnb_i8_rq_panel;

/* one layer's constants for the row-quads form (conv_x86.c nnb_i8_x86_rq_prep) */
typedef struct {
    nnb_i8_rq_panel pn;
    const int8_t *w, *last;   /* the weights; the last channel's copy in scratch */
    int32_t rows, slot;       /* rq_layout */
    int32_t zout, lo, hi;
    int32_t b2[NNB_I8_XP_CH]; /* folded biases */
    int32_t rq[NNB_I8_XP_CH][NNB_I8_XP_RQW];
    int32_t neg[NNB_I8_XP_CH]; /* -1 where the multiplier is negative (the extreme kept is the least) */
} nnb_i8_rqx;

/* conv_x86.c: 1 when the row-quads form takes p at this CPU's level (VNNI + VBMI), with its panel layout */
int nnb_i8_x86_rq_ok(const nnb_i8_conv_params *p, int32_t *rows, int32_t *slot);
/* conv_x86.c: s's constants; last: klen + 4 bytes of scratch for the last channel's weights */
void nnb_i8_x86_rq_prep(const nnb_i8_conv_params *p, const int8_t *w, const int32_t *bias, const int32_t *mult,
                        const int32_t *shift, int8_t *last, nnb_i8_rqx *s);
/* conv_x86.c: acc[j] (j < nch, nch 16, 8, 4, 2 or 1) = channel c0 + j's accumulators over the panels from pn (a copy
   of s->pn with its geometry set; p: the geometry pn->x is read with) to output row r1, each panel pn->nrow rows,
   complemented where the channel's multiplier is negative, their lane-wise largest over the panels */
void nnb_i8_x86_rq_acc(const nnb_i8_conv_params *p, const nnb_i8_rqx *s, const nnb_i8_rq_panel *pn, int32_t r1,
                       int32_t c0, int nch, __m512i *acc);
/* conv_x86.c: y[j ystride + i] = clamp(zout + requant(a[j][i])) of channel c0 + j for j < nch, i < n */
void nnb_i8_x86_rq_out(const nnb_i8_rqx *s, int32_t c0, int nch, const __m512i *a, int32_t n, int8_t *y,
                       size_t ystride);

/* the pooled form's state: the row-quads constants and the column reduction's lane tables */
typedef struct {
    nnb_i8_rqx r;
    int32_t npx, nblk;        /* pooled columns per block, blocks per pooled row (rows == 1 layout) */
    __m512i cols[NNB_I8_XP_IDX]; /* rows == 1: [block][t]; rows > 1: [s][t] */
    uint32_t empty[NNB_I8_XP_IDX]; /* per block: the pooled lanes whose window has no column (-128) */
} nnb_i8_xpool;

/* 1 when this CPU's level takes p + pp in the pooled form (the geometry already checked) */
int nnb_i8_x86_pool_ok(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp);
/* bytes of scratch the pooled form takes (the last channel's weights) */
size_t nnb_i8_x86_pool_scratch(const nnb_i8_conv_params *p);
/* s's constants for p + pp (nnb_i8_x86_pool_ok); scratch: nnb_i8_x86_pool_scratch bytes, kept while s is used */
void nnb_i8_x86_pool_setup(nnb_i8_xpool *s, const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp,
                           const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           void *scratch);
/* pooled rows [k0, k1) of one sample x of q (p's geometry, or a band of its rows: any h, oh, pad_h, with pp's
   rows over q's output) into y[o * ystride + k * pp->ow + px] */
void nnb_i8_x86_pool_rows(const nnb_i8_xpool *s, const nnb_i8_conv_params *q, const nnb_i8_pool_params *pp,
                          const int8_t *x, int8_t *y, size_t ystride, int32_t k0, int32_t k1);
#endif

#endif
