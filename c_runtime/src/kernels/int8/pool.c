/* int8 pooling, NCHW. Windows follow nnabla: start = o*stride - pad, taps outside the input never
 * count for max; the average divides by the window clipped to the padded input (including_pad) or
 * to the input, rounding half away from zero. */
#include "nnb_int8.h"

#include "i8_dot.h"
#include "i8_host.h"

#if NNB_I8_X86
#include <emmintrin.h>
#include <string.h>

/* 2x2 stride-2 max of 8 outputs from 16 bytes of two rows (SSE2, the x86-64 baseline): bytes sign-extended to
 * int16 by shifts, the pairs' max in int16, packed back (the values stay in [-128, 127]: no saturation) */
static __m128i max2x2_8(__m128i a, __m128i b)
{
    const __m128i ea = _mm_srai_epi16(_mm_slli_epi16(a, 8), 8), oa = _mm_srai_epi16(a, 8);
    const __m128i eb = _mm_srai_epi16(_mm_slli_epi16(b, 8), 8), ob = _mm_srai_epi16(b, 8);
    const __m128i m = _mm_max_epi16(_mm_max_epi16(ea, oa), _mm_max_epi16(eb, ob));
    return _mm_packs_epi16(m, m);
}

/* one output row of the 2x2 stride-2 max pool, ow >= 4 (2 * ow <= w): 8 (or 4) outputs at a time, the last group
 * overlapping the one before (the same values written twice) */
static void max2x2_row_x86(const int8_t *r0, const int8_t *r1, int32_t ow, int8_t *yp)
{
    int32_t ox;
    if (ow >= 8) {
        for (ox = 0;; ox += 8) {
            if (ox + 8 > ow)
                ox = ow - 8;
            _mm_storel_epi64((__m128i *)(void *)(yp + ox),
                             max2x2_8(_mm_loadu_si128((const __m128i *)(const void *)(r0 + 2 * ox)),
                                      _mm_loadu_si128((const __m128i *)(const void *)(r1 + 2 * ox))));
            if (ox + 8 == ow)
                break;
        }
        return;
    }
    for (ox = 0;; ox += 4) {
        int32_t v;
        if (ox + 4 > ow)
            ox = ow - 4;
        v = _mm_cvtsi128_si32(max2x2_8(_mm_loadl_epi64((const __m128i *)(const void *)(r0 + 2 * ox)),
                                       _mm_loadl_epi64((const __m128i *)(const void *)(r1 + 2 * ox))));
        memcpy(yp + ox, &v, 4);
        if (ox + 4 == ow)
            break;
    }
}

/* sum of the hw >= 16 int8 values at x (SSE2 PSADBW over x + 128, the tail a last 16-byte load whose bytes
 * already counted are masked to 0 after the bias) */
static int32_t sum_i8_x86(const int8_t *x, int32_t hw)
{
    const __m128i bias = _mm_set1_epi8((char)0x80), zero = _mm_setzero_si128();
    __m128i acc = zero;
    int32_t i = 0, t;
    int64_t s;
    for (; i + 16 <= hw; i += 16)
        acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(x + i)),
                                                               bias), zero));
    t = hw - i; /* 0..15 values left: the top t bytes of the 16 ending at hw */
    if (t > 0) {
        const __m128i iota = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        const __m128i keep = _mm_cmpgt_epi8(iota, _mm_set1_epi8((char)(15 - t)));
        const __m128i v = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(x + hw - 16)), bias);
        acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_and_si128(v, keep), zero));
    }
    s = (int64_t)_mm_cvtsi128_si64(acc) + (int64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc));
    return (int32_t)(s - 128 * (int64_t)hw); /* |sum| <= 128 * 2^23 */
}
#endif

static int pool_ok(const nnb_i8_pool_params *p)
{
    return p && p->n > 0 && p->c > 0 && p->h > 0 && p->w > 0 && p->oh > 0 && p->ow > 0 && p->kh > 0 &&
           p->kw > 0 && p->stride_h > 0 && p->stride_w > 0 && p->pad_h >= 0 && p->pad_w >= 0 &&
           (int64_t)(p->kh + p->pad_h) * (p->kw + p->pad_w) <= (1 << 23) &&
           /* every window starts inside the padded input */
           (int64_t)(p->oh - 1) * p->stride_h < (int64_t)p->h + 2 * p->pad_h &&
           (int64_t)(p->ow - 1) * p->stride_w < (int64_t)p->w + 2 * p->pad_w;
}

/* s / n rounded half away from zero; |s| <= 255 * n and n <= 2^23 (pool_ok), so 32 bits suffice */
static int32_t round_div(int32_t s, int32_t n)
{
    uint32_t a = s < 0 ? (uint32_t)0 - (uint32_t)s : (uint32_t)s;
    int32_t q = (int32_t)((2u * a + (uint32_t)n) / (2u * (uint32_t)n));
    return s < 0 ? -q : q;
}

static int8_t clamp8(int32_t v) { return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v); }

/* max pooling without padding whose every window lies inside the input: no clipping; 2x2 stride 2 unrolled */
static void max_pool_inside(const nnb_i8_pool_params *p, const int8_t *x, int8_t *y)
{
    const int32_t h = p->h, w = p->w, oh = p->oh, ow = p->ow, kh = p->kh, kw = p->kw, sh = p->stride_h, sw = p->stride_w;
    int32_t pl, oy, ox, iy, ix;
#if NNB_I8_X86
    const int vec = kh == 2 && kw == 2 && sw == 2 && ow >= 4 && nnb_i8_x86_level() >= 1;
#endif
    for (pl = 0; pl < p->n * p->c; ++pl) {
        const int8_t *xp = x + (size_t)pl * (size_t)h * (size_t)w;
        int8_t *yp = y + (size_t)pl * (size_t)oh * (size_t)ow;
        for (oy = 0; oy < oh; ++oy, yp += ow) {
            const int8_t *r0 = xp + (size_t)(oy * sh) * (size_t)w;
            if (kh == 2 && kw == 2 && sw == 2) {
                const int8_t *r1 = r0 + w;
#if NNB_I8_X86
                if (vec) {
                    max2x2_row_x86(r0, r1, ow, yp);
                    continue;
                }
#endif
                for (ox = 0; ox < ow; ++ox) {
                    const int8_t a = r0[2 * ox] > r0[2 * ox + 1] ? r0[2 * ox] : r0[2 * ox + 1];
                    const int8_t b = r1[2 * ox] > r1[2 * ox + 1] ? r1[2 * ox] : r1[2 * ox + 1];
                    yp[ox] = a > b ? a : b;
                }
                continue;
            }
            for (ox = 0; ox < ow; ++ox) {
                const int8_t *r = r0 + (size_t)(ox * sw);
                int8_t m = -128;
                for (iy = 0; iy < kh; ++iy, r += w)
                    for (ix = 0; ix < kw; ++ix)
                        m = r[ix] > m ? r[ix] : m;
                yp[ox] = m;
            }
        }
    }
}

/* average pooling without padding whose every window lies inside the input: count = kh * kw, no clipping */
static void avg_pool_inside(const nnb_i8_pool_params *p, const int8_t *x, int32_t zero, int8_t *y)
{
    const int32_t h = p->h, w = p->w, oh = p->oh, ow = p->ow, kh = p->kh, kw = p->kw, sh = p->stride_h, sw = p->stride_w;
    const int32_t count = kh * kw;
    int32_t pl, oy, ox, iy, ix;
    for (pl = 0; pl < p->n * p->c; ++pl) {
        const int8_t *xp = x + (size_t)pl * (size_t)h * (size_t)w;
        int8_t *yp = y + (size_t)pl * (size_t)oh * (size_t)ow;
        if (kh == h && kw == w) { /* the whole plane: one contiguous sum, four partial sums */
            const size_t hw = (size_t)h * (size_t)w;
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            size_t i = 0;
#if NNB_I8_X86
            if (hw >= 16 && nnb_i8_x86_level() >= 1) { /* PSADBW sums, as the global average pool takes them */
                yp[0] = clamp8(zero + round_div(sum_i8_x86(xp, (int32_t)hw) - zero * count, count));
                continue;
            }
#endif
            for (; i + 4 <= hw; i += 4) {
                a0 += xp[i];
                a1 += xp[i + 1];
                a2 += xp[i + 2];
                a3 += xp[i + 3];
            }
            for (; i < hw; ++i)
                a0 += xp[i];
            yp[0] = clamp8(zero + round_div(a0 + a1 + a2 + a3 - zero * count, count));
            continue;
        }
        for (oy = 0; oy < oh; ++oy, yp += ow)
            for (ox = 0; ox < ow; ++ox) {
                const int8_t *r = xp + (size_t)(oy * sh) * (size_t)w + (size_t)(ox * sw);
                int32_t acc = 0;
                for (iy = 0; iy < kh; ++iy, r += w)
                    for (ix = 0; ix < kw; ++ix)
                        acc += r[ix];
                yp[ox] = clamp8(zero + round_div(acc - zero * count, count));
            }
    }
}

static int pool2d(const nnb_i8_pool_params *p, const int8_t *x, int32_t zero, int8_t *y, int average)
{
    int32_t pl, oy, ox;
    if (!pool_ok(p) || !x || !y || zero < -128 || zero > 127)
        return NNB_I8_EINVAL;
    if (p->pad_h == 0 && p->pad_w == 0 && (int64_t)(p->oh - 1) * p->stride_h + p->kh <= p->h &&
        (int64_t)(p->ow - 1) * p->stride_w + p->kw <= p->w) {
        if (average)
            avg_pool_inside(p, x, zero, y);
        else
            max_pool_inside(p, x, y);
        return NNB_I8_OK;
    }
    for (pl = 0; pl < p->n * p->c; ++pl) {
        const int8_t *xp = x + (size_t)pl * (size_t)p->h * (size_t)p->w;
        int8_t *yp = y + (size_t)pl * (size_t)p->oh * (size_t)p->ow;
        for (oy = 0; oy < p->oh; ++oy) {
            int32_t y0 = oy * p->stride_h - p->pad_h;
            int32_t y1 = y0 + p->kh < p->h + p->pad_h ? y0 + p->kh : p->h + p->pad_h;
            int32_t ya = y0 < 0 ? 0 : y0, yb = y1 < p->h ? y1 : p->h;
            for (ox = 0; ox < p->ow; ++ox) {
                int32_t x0 = ox * p->stride_w - p->pad_w;
                int32_t x1 = x0 + p->kw < p->w + p->pad_w ? x0 + p->kw : p->w + p->pad_w;
                int32_t xa = x0 < 0 ? 0 : x0, xb = x1 < p->w ? x1 : p->w;
                int32_t iy, ix, acc = average ? 0 : -128, count;
                for (iy = ya; iy < yb; ++iy)
                    for (ix = xa; ix < xb; ++ix) {
                        int32_t v = xp[(size_t)iy * (size_t)p->w + (size_t)ix];
                        if (average)
                            acc += v - zero;
                        else if (v > acc)
                            acc = v;
                    }
                if (average) {
                    count = p->including_pad ? (y1 - y0) * (x1 - x0) : (yb - ya) * (xb - xa);
                    acc = count > 0 ? zero + round_div(acc, count) : zero;
                }
                yp[(size_t)oy * (size_t)p->ow + (size_t)ox] = clamp8(acc);
            }
        }
    }
    return NNB_I8_OK;
}

int nnb_i8_max_pool2d(const nnb_i8_pool_params *p, const int8_t *x, int8_t *y) { return pool2d(p, x, 0, y, 0); }

int nnb_i8_avg_pool2d(const nnb_i8_pool_params *p, const int8_t *x, int32_t zero, int8_t *y)
{
    return pool2d(p, x, zero, y, 1);
}

int nnb_i8_global_avg_pool(int32_t n, int32_t c, int32_t hw, const int8_t *x, int32_t in_zero, int32_t mult,
                           int32_t shift, int32_t out_zero, int8_t *y)
{
    int32_t pl, i;
#if NNB_I8_X86
    const int vec = hw >= 16 && nnb_i8_x86_level() >= 1;
#endif
    if (n <= 0 || c <= 0 || hw <= 0 || hw > (1 << 23) || !x || !y || in_zero < -128 || in_zero > 127 ||
        out_zero < -128 || out_zero > 127)
        return NNB_I8_EINVAL;
    for (pl = 0; pl < n * c; ++pl) {
        int32_t acc = 0;
#if NNB_I8_X86
        if (vec) {
            y[pl] = clamp8(out_zero + i8_requant(sum_i8_x86(x + (size_t)pl * (size_t)hw, hw) - in_zero * hw, mult, shift));
            continue;
        }
#endif
        for (i = 0; i < hw; ++i)
            acc += x[(size_t)pl * (size_t)hw + (size_t)i] - in_zero;
        y[pl] = clamp8(out_zero + i8_requant(acc, mult, shift));
    }
    return NNB_I8_OK;
}
