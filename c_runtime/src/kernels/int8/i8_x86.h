/* The x86-64 int8 forms' shared pieces (conv_x86.c and conv_x86_*.c): the target attributes of each level, the
 * vector requantization (eight lanes on AVX2, sixteen on AVX-512) with its scalar fallback, the output step
 * (zero point, clamp, residual term) and the accumulator bound that decides where the vector form is exact. */
#ifndef NNB_I8_X86_H
#define NNB_I8_X86_H

#include "i8_dot.h"
#include "i8_host.h"

#if NNB_I8_X86
#include <immintrin.h>

#define T_AVX2 __attribute__((target("avx2")))
#define T_VNNI __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni")))
#define T_VBMI __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")))

/* ---------- requantization, eight lanes ---------- */

typedef struct {
    int32_t mult, shift, left, right, vec; /* vec: the vector form is exact for this channel */
} rq_ch;

/* bound: >= |every accumulator| of the layer */
static inline void rq_prepare(rq_ch *q, int32_t mult, int32_t shift, int64_t bound)
{
    q->mult = mult;
    q->shift = shift;
    q->left = shift > 0 ? shift : 0;
    q->right = shift < 0 ? (shift < -31 ? 31 : -shift) : 0;
    q->vec = mult != INT32_MIN && q->left <= 30 && (bound << q->left) < ((int64_t)1 << 31);
}

/* requant(x) for the eight lanes (q->vec) */
static inline T_AVX2 __m256i rq8(__m256i x, const rq_ch *q)
{
    const __m256i m = _mm256_set1_epi32(q->mult), nud = _mm256_set1_epi64x((int64_t)1 << 30);
    const __m128i rs = _mm_cvtsi32_si128(q->right);
    const int32_t mask_s = (int32_t)(((uint32_t)1 << q->right) - 1u);
    __m256i ev, od, h, rem, thr;
    if (q->left)
        x = _mm256_sll_epi32(x, _mm_cvtsi32_si128(q->left));
    ev = _mm256_srli_epi64(_mm256_add_epi64(_mm256_mul_epi32(x, m), nud), 31);
    od = _mm256_slli_epi64(_mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), m), nud), 1);
    h = _mm256_blend_epi32(ev, od, 0xAA);
    rem = _mm256_and_si256(h, _mm256_set1_epi32(mask_s));
    thr = _mm256_sub_epi32(_mm256_set1_epi32(mask_s >> 1), _mm256_srai_epi32(h, 31));
    return _mm256_sub_epi32(_mm256_sra_epi32(h, rs), _mm256_cmpgt_epi32(rem, thr));
}

typedef struct {
    int32_t zout, lo, hi, zres;
} out8;

/* the layer's output step: zero point, clamp, residual zero point */
static inline out8 out8_of(const nnb_i8_conv_params *p)
{
    out8 o;
    o.zout = p->out_zero;
    o.lo = p->act_min;
    o.hi = p->act_max;
    o.zres = p->res_zero;
    return o;
}

/* eight int32 in [-128, 127] to eight bytes */
static inline T_AVX2 void store8(int8_t *y, __m256i a)
{
    const __m256i p16 = _mm256_packs_epi32(a, a), p8 = _mm256_packs_epi16(p16, p16);
    const __m256i two = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4));
    _mm_storel_epi64((__m128i *)(void *)y, _mm256_castsi256_si128(two));
}

/* y[i] = clamp(zout + requant(acc[i] [+ rrq(res[i] - zres)])) for i < n; acc (readable and writable up to the
 * next multiple of 8) is overwritten */
static inline T_AVX2 void out_n(const out8 *o, const rq_ch *q, const rq_ch *rq, int32_t *acc, int32_t n, const int8_t *res,
                         int8_t *y)
{
    int32_t i;
    if (res) {
        if (rq->vec) {
            const __m256i zr = _mm256_set1_epi32(o->zres);
            for (i = 0; i + 8 <= n; i += 8) {
                const __m256i r = _mm256_sub_epi32(
                    _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(res + i))), zr);
                _mm256_storeu_si256((__m256i *)(void *)(acc + i),
                                    _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(acc + i)),
                                                     rq8(r, rq)));
            }
            if (i < n) {
                int32_t r[8] = {0}, j;
                for (j = 0; i + j < n; ++j)
                    r[j] = (int32_t)res[i + j] - o->zres;
                _mm256_storeu_si256((__m256i *)(void *)(acc + i),
                                    _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(acc + i)),
                                                     rq8(_mm256_loadu_si256((const __m256i *)(const void *)r), rq)));
            }
        } else {
            i8_rq s;
            i8_rq_init(&s, rq->mult, rq->shift);
            for (i = 0; i < n; ++i)
                acc[i] += i8_rq_apply(&s, (int32_t)res[i] - o->zres);
        }
    }
    if (q->vec) {
        const __m256i z = _mm256_set1_epi32(o->zout), lo = _mm256_set1_epi32(o->lo), hi = _mm256_set1_epi32(o->hi);
        for (i = 0; i < n; i += 8) {
            __m256i a = rq8(_mm256_loadu_si256((const __m256i *)(const void *)(acc + i)), q);
            a = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(a, z), lo), hi);
            if (i + 8 <= n) {
                store8(y + i, a);
            } else {
                int8_t t[8];
                int32_t j;
                store8(t, a);
                for (j = 0; i + j < n; ++j)
                    y[i + j] = t[j];
            }
        }
    } else {
        i8_rq s;
        i8_rq_init(&s, q->mult, q->shift);
        for (i = 0; i < n; ++i)
            y[i] = (int8_t)i8_clamp_add(o->zout, i8_rq_apply(&s, acc[i]), o->lo, o->hi);
    }
}

/* rq8 on sixteen lanes (AVX-512) */
static inline T_VNNI __m512i rq16(__m512i x, const rq_ch *q)
{
    const __m512i m = _mm512_set1_epi32(q->mult), nud = _mm512_set1_epi64((int64_t)1 << 30);
    const int32_t mask_s = (int32_t)(((uint32_t)1 << q->right) - 1u);
    __m512i ev, od, h, r;
    if (q->left)
        x = _mm512_sll_epi32(x, _mm_cvtsi32_si128(q->left));
    ev = _mm512_srli_epi64(_mm512_add_epi64(_mm512_mul_epi32(x, m), nud), 31);
    od = _mm512_slli_epi64(_mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), m), nud), 1);
    h = _mm512_mask_blend_epi32((__mmask16)0xAAAA, ev, od);
    r = _mm512_sra_epi32(h, _mm_cvtsi32_si128(q->right));
    return _mm512_mask_add_epi32(
        r,
        _mm512_cmpgt_epi32_mask(_mm512_and_si512(h, _mm512_set1_epi32(mask_s)),
                                _mm512_sub_epi32(_mm512_set1_epi32(mask_s >> 1), _mm512_srai_epi32(h, 31))),
        r, _mm512_set1_epi32(1));
}

/* rq16 and the output step (zero point, clamp) with their constants in registers, for loops over one channel's
 * vectors: prepare once (the channel's q->vec must hold), apply per vector */
typedef struct {
    __m512i m, nud, mask, half, zout, lo, hi;
    __m128i left, right;
} rq16_k;

static inline T_VNNI void rq16_prep(rq16_k *k, const rq_ch *q, const out8 *o)
{
    const int32_t mask_s = (int32_t)(((uint32_t)1 << q->right) - 1u);
    k->m = _mm512_set1_epi32(q->mult);
    k->nud = _mm512_set1_epi64((int64_t)1 << 30);
    k->mask = _mm512_set1_epi32(mask_s);
    k->half = _mm512_set1_epi32(mask_s >> 1);
    k->zout = _mm512_set1_epi32(o->zout);
    k->lo = _mm512_set1_epi32(o->lo);
    k->hi = _mm512_set1_epi32(o->hi);
    k->left = _mm_cvtsi32_si128(q->left);
    k->right = _mm_cvtsi32_si128(q->right);
}

/* clamp(zout + requant(x)): the same integers as rq16 then out16z's clamp */
static inline T_VNNI __m512i rq16_out(__m512i x, const rq16_k *k)
{
    __m512i ev, od, hv, r;
    x = _mm512_sll_epi32(x, k->left);
    ev = _mm512_srli_epi64(_mm512_add_epi64(_mm512_mul_epi32(x, k->m), k->nud), 31);
    od = _mm512_slli_epi64(_mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), k->m), k->nud), 1);
    hv = _mm512_mask_blend_epi32((__mmask16)0xAAAA, ev, od);
    r = _mm512_sra_epi32(hv, k->right);
    r = _mm512_mask_add_epi32(r,
                              _mm512_cmpgt_epi32_mask(_mm512_and_si512(hv, k->mask),
                                                      _mm512_sub_epi32(k->half, _mm512_srai_epi32(hv, 31))),
                              r, _mm512_set1_epi32(1));
    return _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(r, k->zout), k->lo), k->hi);
}

/* out_n for sixteen lanes held in a register (n <= 16) */
static inline T_VNNI void out16z(const out8 *o, const rq_ch *q, const rq_ch *rq, __m512i a, int32_t n,
                                 const int8_t *res, int8_t *y)
{
    const __mmask16 nm = (__mmask16)((1u << n) - 1u);
    if (res && rq->vec)
        a = _mm512_add_epi32(a, rq16(_mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(nm, res)),
                                                      _mm512_set1_epi32(o->zres)),
                                     rq));
    if (q->vec && (!res || rq->vec)) {
        a = _mm512_add_epi32(rq16(a, q), _mm512_set1_epi32(o->zout));
        a = _mm512_min_epi32(_mm512_max_epi32(a, _mm512_set1_epi32(o->lo)), _mm512_set1_epi32(o->hi));
        _mm_mask_storeu_epi8(y, nm, _mm512_cvtepi32_epi8(a));
    } else {
        int32_t t[16];
        _mm512_storeu_si512((void *)t, a);
        out_n(o, q, rq, t, n, (res && rq->vec) ? NULL : res, y); /* a residual added above is not added again */
    }
}

static inline int64_t bound_of(const int32_t *bias, int32_t o, int32_t taps, const int8_t *res, const int32_t *rm,
                        const int32_t *rs)
{
    int64_t best = 0;
    int32_t c;
    for (c = 0; c < o; ++c) {
        int64_t b = (bias ? (bias[c] < 0 ? -(int64_t)bias[c] : bias[c]) : 0) + (int64_t)taps * 255 * 127;
        if (res) {
            int64_t r1 = nnb_i8_requantize(255, rm[c], rs[c]), r2 = nnb_i8_requantize(-255, rm[c], rs[c]);
            r1 = r1 < 0 ? -r1 : r1;
            r2 = r2 < 0 ? -r2 : r2;
            b += r1 > r2 ? r1 : r2;
        }
        best = b > best ? b : best;
    }
    return best;
}

/* the small-plane depthwise (conv_x86_dw.c, AVX-512 VNNI + VBMI): whether it takes the layer, and the layer */
int nnb_i8_x86_dwq_ok(const nnb_i8_conv_params *p);
void nnb_i8_x86_dwq(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                    const int32_t *mult, const int32_t *shift, const int8_t *residual, const int32_t *res_mult,
                    const int32_t *res_shift, int8_t *y);
#endif

#endif
