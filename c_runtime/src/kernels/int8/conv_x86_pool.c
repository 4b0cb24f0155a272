/* The x86-64 pooled int8 convolution (conv_x86_pool.h): convolution + max pool on AVX-512 VNNI + VBMI with no
 * convolution output in scratch.
 *
 * A pooled row k reads the convolution rows [r0, r1) of its window (clipped to the output). For a block of pooled
 * columns and up to sixteen output channels, the row-quads form (conv_x86.c rq_dot) gives the accumulators of a
 * panel of sixteen convolution positions per channel in a register: sixteen columns of one row (rows == 1; the
 * block's windows span at most sixteen columns), or whole rows narrower than sixteen (rows > 1: every pooled
 * column at once). Each panel's accumulators fold into the pooled lanes' running extreme: for every panel row s
 * and window column t, VPERMD brings the tap of pooled lane i (a column clipped to the output is replaced by a
 * valid one of the same window) and VPMAXSD keeps the larger. A channel with a negative multiplier keeps the
 * least: its accumulators are complemented first (~x reverses the order of int32) and after. Only the extremes
 * are requantized (conv_x86.c out16z), which is exact since the requantization is monotonic (conv_direct.c). A
 * pooled window with no row or no column of the output gives -128, as nnb_i8_max_pool2d does.
 *
 * Scratch: the last channel's weights and four zero bytes (its last quad of taps may reach past the array). */
#include "conv_x86_pool.h"

#if NNB_I8_X86
#include <string.h>

#define T_VNNI __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni")))
#define XP_NB 16 /* positions per panel */

/* pooled columns per block on a rows == 1 layout: as many windows as sixteen columns hold */
static int32_t xp_npx(const nnb_i8_pool_params *pp)
{
    return (XP_NB - pp->kw) / pp->stride_w + 1;
}

static int xp_tables(const nnb_i8_pool_params *pp, int32_t rows, int32_t *npx, int32_t *nblk)
{
    if (pp->kw > XP_NB || pp->kw < 1 || pp->stride_w < 1)
        return 0;
    if (rows > 1) {
        *npx = pp->ow;
        *nblk = 1;
        return pp->ow <= XP_NB && (int64_t)rows * pp->kw <= NNB_I8_XP_IDX;
    }
    *npx = xp_npx(pp);
    *nblk = (pp->ow + *npx - 1) / *npx;
    return (int64_t)*nblk * pp->kw <= NNB_I8_XP_IDX;
}

int nnb_i8_x86_pool_ok(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp)
{
    int32_t rows, slot, npx, nblk;
    return nnb_i8_x86_rq_ok(p, &rows, &slot) && xp_tables(pp, rows, &npx, &nblk);
}

size_t nnb_i8_x86_pool_scratch(const nnb_i8_conv_params *p)
{
    return ((size_t)p->c * (size_t)p->kh * (size_t)p->kw + 4u + 3u) & ~(size_t)3u;
}

/* the first convolution column of pooled column i's window inside the output (*b: one past its last) */
static int32_t xp_cols(const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp, int32_t i, int32_t *b)
{
    const int32_t c0 = i * pp->stride_w - pp->pad_w;
    *b = c0 + pp->kw > p->ow ? p->ow : c0 + pp->kw;
    return c0 < 0 ? 0 : c0;
}

/* block b's first pooled column and the panel's first convolution column */
static int32_t xp_ox0(const nnb_i8_xpool *s, const nnb_i8_pool_params *pp, int32_t b)
{
    const int32_t c0 = b * s->npx * pp->stride_w - pp->pad_w;
    return s->r.rows > 1 || c0 < 0 ? 0 : c0;
}

T_VNNI void nnb_i8_x86_pool_setup(nnb_i8_xpool *s, const nnb_i8_conv_params *p, const nnb_i8_pool_params *pp,
                           const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           void *scratch)
{
    int32_t b, t, r, i;
    nnb_i8_x86_rq_prep(p, w, bias, mult, shift, (int8_t *)scratch, &s->r);
    (void)xp_tables(pp, s->r.rows, &s->npx, &s->nblk);
    for (b = 0; b < s->nblk; ++b) {
        const int32_t px0 = b * s->npx, ox0 = xp_ox0(s, pp, b);
        const int32_t nrow = s->r.rows > 1 ? s->r.rows : 1;
        uint32_t empty = 0;
        for (r = 0; r < nrow; ++r)
            for (t = 0; t < pp->kw; ++t) {
                int32_t lane[XP_NB] = {0};
                for (i = 0; i < s->npx && px0 + i < pp->ow; ++i) {
                    int32_t hi, lo = xp_cols(p, pp, px0 + i, &hi), col = (px0 + i) * pp->stride_w - pp->pad_w + t;
                    if (lo >= hi) {
                        empty |= 1u << i;
                        continue;
                    }
                    if (col < lo || col >= hi)
                        col = lo;
                    lane[i] = r * (s->r.rows > 1 ? p->ow : 0) + col - ox0;
                }
                s->cols[(b + r) * pp->kw + t] = _mm512_loadu_si512((const void *)lane);
            }
        s->empty[b] = empty;
    }
}

/* pooled rows [k0, k1) of channels [c, c + nch): the pooled outputs of a channel are contiguous in y (k pp->ow + px),
   so they are gathered sixteen lanes at a time (whole blocks of pooled columns) and requantized together. For each
   block and panel, nnb_i8_x86_rq_acc gives the accumulators (complemented where the multiplier is negative; on a
   rows == 1 layout already the extreme over the window's rows, their lanes being the same columns), and each panel
   row's and window column's tap goes to its pooled lane by one VPERMD (the block's table composed with the shift to
   its place among the gathered lanes) and a masked VPMAXSD */
static inline __attribute__((always_inline)) T_VNNI void xp_channels(const nnb_i8_xpool *s,
                                                                      const nnb_i8_conv_params *q,
                                                                      const nnb_i8_pool_params *pp,
                                                                      nnb_i8_rq_panel *pn, int8_t *y,
                                                                      size_t ystride, int32_t k0, int32_t k1,
                                                                      int32_t c, const int nch)
{
    const int32_t kw = pp->kw, pw = pp->ow, rows = s->r.rows;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i best[16], acc[16], tab[NNB_I8_XP_IDX];
    int8_t *y0 = y + (size_t)k0 * (size_t)pw + (size_t)c * ystride;
    int32_t k, b, r, t, oy0, start = 0, fill = 0;
    int j;
    for (j = 0; j < nch; ++j)
        best[j] = _mm512_set1_epi32(INT32_MIN);
    for (k = k0; k < k1; ++k) {
        int32_t r0 = k * pp->stride_h - pp->pad_h, r1 = r0 + pp->kh;
        r0 = r0 < 0 ? 0 : r0;
        r1 = r1 > q->oh ? q->oh : r1;
        for (b = 0; b < s->nblk; ++b) {
            const int32_t px0 = b * s->npx, n = pw - px0 < s->npx ? pw - px0 : s->npx;
            const int32_t at = (k - k0) * pw + px0; /* the block's first lane among the rows' outputs */
            const int32_t ntab = (rows > 1 ? rows : 1) * kw;
            __mmask16 lanes;
            __m512i shift;
            if (at + n > start + 16) { /* the gathered lanes are full: requantize them */
                if (fill) {
                    for (j = 0; j < nch; ++j)
                        best[j] = _mm512_xor_si512(best[j], _mm512_set1_epi32(s->r.neg[c + j]));
                    nnb_i8_x86_rq_out(&s->r, c, nch, best, fill, y0 + start, ystride);
                    for (j = 0; j < nch; ++j)
                        best[j] = _mm512_set1_epi32(INT32_MIN);
                }
                start = at;
            }
            fill = at + n - start;
            if (r0 >= r1) /* a window wholly in the pool's padding: -128 written by the caller */
                continue;
            lanes = (__mmask16)(((1u << n) - 1u) << (at - start));
            shift = _mm512_sub_epi32(iota, _mm512_set1_epi32(at - start));
            for (t = 0; t < ntab; ++t)
                tab[t] = _mm512_permutexvar_epi32(shift, s->cols[(size_t)b * (size_t)kw + (size_t)t]);
            if (rows == 1) {
                const int32_t ox0 = xp_ox0(s, pp, b), len = q->ow - ox0 < XP_NB ? q->ow - ox0 : XP_NB;
                pn->ox0 = ox0;
                pn->span = (len - 1) * q->stride_w + (q->kw - 1) * q->dil_w + 1;
                pn->oy0 = r0;
                pn->nrow = 1;
                nnb_i8_x86_rq_acc(q, &s->r, pn, r1, c, nch, acc);
                for (j = 0; j < nch; ++j)
                    for (t = 0; t < kw; ++t)
                        best[j] = _mm512_mask_max_epi32(best[j], lanes, best[j],
                                                        _mm512_permutexvar_epi32(tab[t], acc[j]));
                continue;
            }
            for (oy0 = r0; oy0 < r1; oy0 += rows) {
                pn->oy0 = oy0;
                pn->nrow = r1 - oy0 < rows ? r1 - oy0 : rows;
                nnb_i8_x86_rq_acc(q, &s->r, pn, oy0 + 1, c, nch, acc);
                for (j = 0; j < nch; ++j)
                    for (r = 0; r < pn->nrow; ++r)
                        for (t = 0; t < kw; ++t)
                            best[j] = _mm512_mask_max_epi32(best[j], lanes, best[j],
                                                            _mm512_permutexvar_epi32(tab[r * kw + t], acc[j]));
            }
        }
    }
    if (fill) {
        for (j = 0; j < nch; ++j)
            best[j] = _mm512_xor_si512(best[j], _mm512_set1_epi32(s->r.neg[c + j]));
        nnb_i8_x86_rq_out(&s->r, c, nch, best, fill, y0 + start, ystride);
    }
}

T_VNNI void nnb_i8_x86_pool_rows(const nnb_i8_xpool *s, const nnb_i8_conv_params *q, const nnb_i8_pool_params *pp,
                                 const int8_t *x, int8_t *y, size_t ystride, int32_t k0, int32_t k1)
{
    const int32_t o = q->o, pw = pp->ow;
    nnb_i8_rq_panel pn = s->r.pn;
    int32_t k, b, c, i;
    pn.x = x;
    if (s->r.rows > 1) {
        pn.ox0 = 0;
        pn.span = (q->ow - 1) * q->stride_w + (q->kw - 1) * q->dil_w + 1;
    }
    for (c = 0; c < o;) {
        const int32_t left = o - c;
        const int nch = left >= 16 ? 16 : left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        if (nch == 16)
            xp_channels(s, q, pp, &pn, y, ystride, k0, k1, c, 16);
        else if (nch == 8)
            xp_channels(s, q, pp, &pn, y, ystride, k0, k1, c, 8);
        else
            xp_channels(s, q, pp, &pn, y, ystride, k0, k1, c, nch);
        c += nch;
    }
    /* windows with no convolution output: -128, as the max pool gives */
    for (k = k0; k < k1; ++k) {
        const int32_t r0 = k * pp->stride_h - pp->pad_h, r1 = r0 + pp->kh;
        const int whole = (r0 < 0 ? 0 : r0) >= (r1 > q->oh ? q->oh : r1);
        for (b = 0; b < s->nblk; ++b) {
            const int32_t px0 = b * s->npx, n = pw - px0 < s->npx ? pw - px0 : s->npx;
            if (!whole && !s->empty[b])
                continue;
            for (c = 0; c < o; ++c)
                for (i = 0; i < n; ++i)
                    if (whole || (s->empty[b] >> i & 1u))
                        y[(size_t)c * ystride + (size_t)k * (size_t)pw + (size_t)(px0 + i)] = -128;
        }
    }
}
#else
typedef int nnb_i8_no_x86_pool; /* ISO C wants something in a translation unit */
#endif
