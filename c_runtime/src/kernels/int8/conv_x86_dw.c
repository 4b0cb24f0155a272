/* Small-plane depthwise convolution, AVX-512 VNNI + VBMI (conv_x86.c takes it before its VPDPWSSD forms).
 *
 * For planes whose output rows are at most 16 wide (dscnn's 25x5, the trained dscnn's 7x7 and 14x14), an output
 * vector is R whole output rows (R = 16 / ow, fewer when the rows it reads pass 64 bytes), sixteen int32 lanes
 * of VPDPBUSD: lane (r, ox) of kernel row ky holds the quad (x[r sh + ky][ox sw - pw + t] + 128, t < 4) against
 * the kernel row's (w[ky][0..kw-1], 0..): up to four taps per instruction, kh instructions per vector. The
 * quads come straight from the int8 input: the (R - 1) sh + kh input rows the vector reads in one masked load
 * (rows above or below the plane load as in_zero), then one VPERMB per kernel row by an index vector that is the
 * same for every vector and channel (kernel row ky adds ky w), the padding columns merged in as in_zero.
 * sum (x + 128) w = sum (x - in_zero) w + (in_zero + 128) sum w, so the bias becomes bias - (in_zero + 128) sum w
 * (int32 wrap-around, exact as in the GEMM). The R ow lanes are consecutive outputs: requantized in registers
 * (out16z) and stored with one masked store. No scratch, no tables beyond one index vector and mask per call. */
#include "i8_x86.h"

#if NNB_I8_X86
#include <stdlib.h>
#include <string.h>

#define DWQ_KH 8 /* kernel rows held in registers */

/* output rows per vector (0: the form does not take the layer) */
static int32_t dwq_rows(const nnb_i8_conv_params *p)
{
    int32_t r;
    if (p->group != p->c || p->o != p->c || p->dil_h != 1 || p->dil_w != 1 || p->kw > 4 || p->kh > DWQ_KH ||
        p->ow > 16 || p->ow < 1 || p->oh < 1 || p->w > 64)
        return 0;
    r = 16 / p->ow;
    if (r > p->oh)
        r = p->oh;
    while (r > 0 && ((int64_t)(r - 1) * p->stride_h + p->kh) * p->w > 64)
        --r;
    return r;
}

static int g_dwq = -1;

/* NNB_I8_NO_SMALL_DW=1 (read once per process) leaves these layers to the VPDPWSSD forms, which the tests check on
 * CPUs with VBMI that way */
int nnb_i8_x86_dwq_ok(const nnb_i8_conv_params *p)
{
    if (g_dwq < 0) {
        const char *off = getenv("NNB_I8_NO_SMALL_DW");
        g_dwq = !(off && off[0] == '1'); /* the same value whichever thread stores it */
    }
    return g_dwq && dwq_rows(p) > 0;
}

/* bits [lo, hi) of a 64-bit mask, 0 <= lo, hi <= 64 */
static inline uint64_t dwq_bits(int64_t lo, int64_t hi)
{
    const uint64_t top = hi >= 64 ? ~(uint64_t)0 : hi <= 0 ? 0 : (((uint64_t)1 << hi) - 1u);
    return lo <= 0 ? top : lo >= 64 ? 0 : top & ~(((uint64_t)1 << lo) - 1u);
}

/* the layer's constants: rows per vector, vectors per plane, the index vectors of each kernel row, the mask of
 * index bytes the window supplies (the others are padding) */
typedef struct {
    int32_t rows, nv, hw, oplane, zp;
    uint64_t take;
    __m512i ix[DWQ_KH], zpv; /* zpv: in_zero + 128 in every byte */
} dwq_layer;

/* one channel of one image: acc = b0 + the kh quads of each vector; kh is a constant where inlined */
static inline __attribute__((always_inline)) T_VBMI void dwq_plane(const nnb_i8_conv_params *p, const dwq_layer *L,
                                                                   int32_t kh, const __m512i *wq, __m512i b0,
                                                                   const int8_t *xc, const rq_ch *qc,
                                                                   const rq_ch *rc, const int8_t *rsc, int8_t *yc)
{
    const __m512i padv = _mm512_set1_epi8((char)(uint8_t)L->zp), zin = _mm512_set1_epi8((char)(int8_t)p->in_zero);
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const int32_t step = L->rows * p->ow, oh = p->oh, rows = L->rows;
    const int64_t rowstep = (int64_t)rows * p->stride_h * p->w;
    int64_t start = -(int64_t)p->pad_h * p->w; /* the window's first byte */
    const int fast = qc->vec && (!rsc || rc->vec);
    const out8 oc = out8_of(p);
    rq16_k k;
    int32_t j, ky;
    if (fast)
        rq16_prep(&k, qc, &oc);
    for (j = 0; j < L->nv; ++j, start += rowstep) {
        const int32_t n = (oh - j * rows < rows ? oh - j * rows : rows) * p->ow;
        const __mmask64 lm = start >= 0 && start + 64 <= L->hw ? ~(__mmask64)0
                                                              : (__mmask64)dwq_bits(-start, (int64_t)L->hw - start);
        const void *src = (const void *)((uintptr_t)xc + (uintptr_t)(intptr_t)start);
        const __m512i win = _mm512_xor_si512(_mm512_mask_loadu_epi8(zin, lm, src), flip);
        __m512i a = b0;
        for (ky = 0; ky < kh; ++ky)
            a = _mm512_dpbusd_epi32(a, _mm512_mask_permutexvar_epi8(padv, (__mmask64)L->take, L->ix[ky], win),
                                    wq[ky]);
        if (fast) {
            const __mmask16 nm = (__mmask16)((1u << n) - 1u);
            if (rsc)
                a = _mm512_add_epi32(
                    a, rq16(_mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(nm, rsc + (size_t)j * step)),
                                             _mm512_set1_epi32(oc.zres)),
                            rc));
            _mm_mask_storeu_epi8(yc + (size_t)j * step, nm, _mm512_cvtepi32_epi8(rq16_out(a, &k)));
        } else {
            out16z(&oc, qc, rc, a, n, rsc ? rsc + (size_t)j * step : NULL, yc + (size_t)j * step);
        }
    }
}

T_VBMI void nnb_i8_x86_dwq(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                           const int32_t *mult, const int32_t *shift, const int8_t *residual,
                           const int32_t *res_mult, const int32_t *res_shift, int8_t *y)
{
    const int32_t wd = p->w, kh = p->kh, kw = p->kw, ow = p->ow;
    const int64_t bound = bound_of(bias, p->o, kh * kw, residual, res_mult, res_shift);
    uint8_t idx[64];
    dwq_layer L;
    int32_t b, c, i, ky;
    L.rows = dwq_rows(p);
    L.nv = (p->oh + L.rows - 1) / L.rows;
    L.hw = p->h * wd;
    L.oplane = p->oh * ow;
    L.zp = p->in_zero + 128; /* the padding's (and every input's) offset as an unsigned byte */
    L.take = 0;
    L.zpv = _mm512_set1_epi8((char)(uint8_t)L.zp);
    for (i = 0; i < 64; ++i) { /* lane i / 4 = (r, ox), tap t = i % 4 */
        const int32_t l = i >> 2, t = i & 3, r = l / ow, ox = l % ow, col = ox * p->stride_w - p->pad_w + t;
        const int in = l < L.rows * ow && col >= 0 && col < wd;
        idx[i] = (uint8_t)(in ? r * p->stride_h * wd + col : 0);
        if (in || t >= kw || l >= L.rows * ow) /* t >= kw meets a zero weight; lanes past the rows: not stored */
            L.take |= (uint64_t)1 << i;
    }
    for (ky = 0; ky < kh; ++ky)
        L.ix[ky] = _mm512_add_epi8(_mm512_loadu_si512((const void *)idx), _mm512_set1_epi8((char)(ky * wd)));
    for (b = 0; b < p->n; ++b)
        for (c = 0; c < p->c; ++c) {
            const size_t bc = (size_t)b * (size_t)p->c + (size_t)c;
            const int8_t *xc = x + bc * (size_t)L.hw, *wc = w + (size_t)c * (size_t)(kh * kw);
            const int8_t *rsc = residual ? residual + bc * (size_t)L.oplane : NULL;
            const int tail = (size_t)(c + 1) * (size_t)(kh * kw) + 4 > (size_t)p->c * (size_t)(kh * kw);
            __m512i wq[DWQ_KH], zs = _mm512_setzero_si512();
            rq_ch qc, rc;
            for (ky = 0; ky < kh; ++ky) { /* the row's kw bytes, then zeros (a 4-byte read inside the array) */
                uint32_t q = 0;
                int32_t t;
                if (!tail) {
                    memcpy(&q, wc + ky * kw, sizeof q);
                    q &= kw == 4 ? ~0u : (1u << (8 * kw)) - 1u;
                } else {
                    for (t = 0; t < kw; ++t)
                        q |= (uint32_t)(uint8_t)wc[ky * kw + t] << (8 * t);
                }
                wq[ky] = _mm512_set1_epi32((int32_t)q);
                zs = _mm512_dpbusd_epi32(zs, L.zpv, wq[ky]); /* (in_zero + 128) sum w, every lane */
            }
            rq_prepare(&qc, mult[c], shift[c], bound);
            rq_prepare(&rc, residual ? res_mult[c] : 0, residual ? res_shift[c] : 0, 255);
            if (kh == 3)
                dwq_plane(p, &L, 3, wq, _mm512_sub_epi32(_mm512_set1_epi32(bias ? bias[c] : 0), zs), xc, &qc, &rc, rsc,
                          y + bc * (size_t)L.oplane);
            else
                dwq_plane(p, &L, kh, wq, _mm512_sub_epi32(_mm512_set1_epi32(bias ? bias[c] : 0), zs), xc, &qc, &rc,
                          rsc, y + bc * (size_t)L.oplane);
        }
}

#else
typedef int nnb_i8_no_x86_dw; /* ISO C wants something in a translation unit */
#endif
