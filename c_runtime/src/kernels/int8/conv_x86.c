/* x86-64 host paths of the int8 convolution, chosen at run time (i8_host.h); the same integers as conv.c.
 *
 *  - GEMM (every layer but depthwise), AVX-512 VNNI: sixteen output positions of one output row (or of the
 *    flat plane for a 1x1 stride-1 layer) as a panel of x + 128 in unsigned bytes, four k per 32-bit lane
 *    (masked 16-byte loads, a 4x16 byte transpose; the padding holds in_zero + 128), eight output channels
 *    at a time with VPDPBUSD (64 MACs per instruction). sum (x + 128) w = sum (x - in_zero) w
 *    + (in_zero + 128) sum w, so the bias becomes bias - (in_zero + 128) sum w (int32 wrap-around: the final
 *    sum is the exact accumulator whenever that fits in 32 bits, as it does for the simulation).
 *    Output rows narrower than a panel (ow < 16) are filled as sixteen flat positions across rows, one
 *    merging masked load per row segment and tap (a 5-wide row would otherwise use 5 of 16 lanes).
 *  - row quads, AVX-512 VNNI on CPUs with VBMI (taken before the GEMM for one input channel and for kernels of
 *    >= 5 columns, group 1): per input channel and kernel row, the input bytes a panel reads in one register
 *    (merging masked loads; up to four narrow output rows in 16/32/64-byte slots) and one VPERMB per four kernel
 *    columns forms the positions' quads in registers, read with VPDPBUSD: no im2col transpose. One input channel
 *    (c1_conv): the kh ceil(kw / 4) quad vectors in scratch, read by every channel block (lenet's first layer per
 *    eight-channel call, as the pooled glue makes it, 16.7 -> 9.1 us; dscnn's 19 -> 6 us). Several channels
 *    (rq_conv): sixteen channels in registers, no panel: lenet's second layer's x86 scratch 13.6 KB -> 0.4 KB at
 *    the same speed. Both read the weights in place (bytes past kw meet zeroed panel bytes; the last channels'
 *    copy in scratch covers a quad reaching past the array) and keep the per-call work short (rq_setup), since
 *    the banded glue calls a layer once per band of rows (lenet's first layer in bands of 2 rows 16.4 -> 10.7 us,
 *    dscnn's in bands of 4 27.6 -> 11.3 us).
 *  - convolution, AVX2 (no VNNI), direct (gemm_direct): the image's input as a padded plane of int32 lanes, each
 *    an int16 pair of (x - in_zero): two input channels at one place, or for a one-channel group two kernel
 *    columns of one row; a plane row is stride_w phases, so a tap's eight output positions are eight consecutive
 *    lanes and one VPMADDWD against a broadcast weight pair gives sixteen exact MACs (|x - z| <= 255,
 *    |w| <= 128). Six channels x sixteen positions per register block (eight x eight on rows of <= 8), weights
 *    widened per channel block, the outputs requantized in registers. A 1x1 stride-1 layer is one row of h w.
 *    Planes above DX_PLANE keep the panel form below.
 *  - GEMM, AVX2, panels (gemm_avx2; layers the direct form does not take): (x - in_zero) and w as int16 pairs,
 *    one VPMADDWD per pair of k for eight positions and one output channel; eight channels x eight positions
 *    per register block. The group's weight pairs are widened and its requantizations prepared once per call;
 *    a panel is built once per eight positions and read by every channel block, one vector per k (eight bytes,
 *    or the even bytes of sixteen at stride 2) where the positions lie on one output row and the tap's columns
 *    inside the input row, lane by lane at the borders, a scalar gather otherwise (rows narrower than 8).
 *  - Affine (AVX2): sixteen MACs per VPMADDWD, four outputs sharing each widened input vector.
 *  - depthwise, stride 1 (AVX2): the padded channel plane as int16, then its horizontal pairs (P[i], P[i+1])
 *    as int32; one VPMADDWD per two taps and eight positions of the padded-width grid.
 *  - depthwise, stride_w 2 (AVX2, taken at the VNNI level too; dw2_avx2): the padded rows as int16 in stride_h
 *    phase planes of even width, read as int32 lanes, are already the pairs (P[2j], P[2j + 1]) a stride-2 row
 *    needs: the stride-1 sweep over half-width rows, no pairs pass (the trained dscnn's 64-channel 14x14 -> 7x7
 *    layer 0.095 -> 0.008 ms on VNNI, 0.105 -> 0.014 ms on AVX2; it was the portable loop).
 *  - Q8Quantize (AVX2): the count of thresholds <= x estimated from a uniform table and checked against the two
 *    thresholds around it (gathered); lanes off by more are redone by the scalar walk (i8_host.h).
 *  - scratch: sized for the form the selected level takes (nnb_i8_x86_conv_scratch_now, the runtime's arena) or
 *    for any x86 CPU (nnb_i8_x86_conv_scratch, emitted code).
 *  - depthwise, stride 1 (AVX-512 VNNI): int32 pairs of the padded plane, one VPDPWSSD per two taps and
 *    sixteen positions of the padded-width grid; planes under 16 columns get their pairs straight from the
 *    int8 input by one VPERMW each and their valid columns by VPERMT2D (dw_vnni), wider ones row by row.
 *  - requantization of eight outputs at a time (AVX2): VPMULDQ for the 64-bit products,
 *    (x * mult + 2^30) >> 31 (SaturatingRoundingDoublingHighMul without its one saturating case, which a
 *    channel with mult == INT32_MIN avoids by taking the scalar form), then RoundingDivideByPOT as gemmlowp
 *    writes it; a left shift only where the layer's accumulator bound shows it cannot saturate. */
#include "i8_host.h"

#include "i8_dot.h"

#include "conv_x86_pool.h"

#if NNB_I8_X86
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "i8_x86.h"

static int g_level = -1;
static int g_cap = 2;

int nnb_i8_x86_level(void)
{
    if (g_level < 0) {
        const char *want = getenv("NNB_I8_ISA");
        int best = 0;
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2"))
            best = 1;
        if (best == 1 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
            best = 2;
        if (want && !strcmp(want, "base"))
            best = 0;
        else if (want && !strcmp(want, "avx2") && best > 1)
            best = 1;
        g_level = best; /* the same value whichever thread stores it */
    }
    return g_level < g_cap ? g_level : g_cap;
}

int nnb_i8_isa_level(int cap)
{
    if (cap >= 0)
        g_cap = cap;
    return nnb_i8_x86_level();
}

/* ---------- depthwise, stride 1 (AVX2) ---------- */

/* (w[i0], w[i1]) as the int16 pair of every 32-bit lane; i1 < 0: (w[i0], 0) */
static inline T_VNNI __m512i wpair16(const int8_t *w, int32_t i0, int32_t i1)
{
    const uint32_t lo = (uint16_t)(int16_t)w[i0], hi = i1 >= 0 ? (uint16_t)(int16_t)w[i1] : 0u;
    return _mm512_set1_epi32((int32_t)(lo | hi << 16));
}

static int dw_ok(const nnb_i8_conv_params *p)
{
    return p->group == p->c && p->o == p->c && p->stride_h == 1 && p->stride_w == 1 && p->dil_h == 1 &&
           p->dil_w == 1 && p->kw <= 48; /* the plane's 64 values of slack cover the last vector's over-read */
}

static size_t dw_scratch(const nnb_i8_conv_params *p)
{
    const size_t pwid = (size_t)(p->w + 2 * p->pad_w), ph = (size_t)(p->h + 2 * p->pad_h);
    const size_t npv = (ph * pwid + 48 + 15) / 16, nov = ((size_t)p->oh * (size_t)p->ow + 15) / 16;
    /* alignment, the plane and its slack, rounding, the int32 accumulators (two elements each), rounding, the
     * int32 pairs of the VNNI form, rounding, the VNNI form's tables (pair vectors: 32 int16 indices, a base
     * and a mask each; output vectors: 16 int32 indices and a base each) */
    return 16 + ph * pwid + 64 + 16 + 2 * ((size_t)p->oh * pwid + 32) + 32 + 2 * (ph * pwid + 64) + 32 +
           2 * (npv * 18 + nov * 17);
}

/* (w[i0], w[i1]) as the int16 pair of every 32-bit lane (eight lanes); i1 < 0: (w[i0], 0) */
static inline T_AVX2 __m256i wpair8(const int8_t *w, int32_t i0, int32_t i1)
{
    const uint32_t lo = (uint16_t)(int16_t)w[i0], hi = i1 >= 0 ? (uint16_t)(int16_t)w[i1] : 0u;
    return _mm256_set1_epi32((int32_t)(lo | hi << 16));
}

static inline T_AVX2 __m256i ld8(const int32_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }

/* a 3x3 depthwise channel over nq positions of int16-pair rows: kernel row ky reads r<ky> (taps 0, 1 at the
   lane, tap 2 at the lane + off); acc = bias + the nine products */
static inline T_AVX2 void dw3_sweep(int32_t *acc, int32_t nq, __m256i b0, const int8_t *wc, const int32_t *r0,
                                    const int32_t *r1, const int32_t *r2, int32_t off)
{
    const __m256i w00 = wpair8(wc, 0, 1), w02 = wpair8(wc, 2, -1), w10 = wpair8(wc, 3, 4);
    const __m256i w12 = wpair8(wc, 5, -1), w20 = wpair8(wc, 6, 7), w22 = wpair8(wc, 8, -1);
    int32_t q;
    for (q = 0; q < nq; q += 8) {
        __m256i a = _mm256_add_epi32(b0, _mm256_madd_epi16(ld8(r0 + q), w00));
        __m256i a2 = _mm256_madd_epi16(ld8(r0 + q + off), w02);
        a = _mm256_add_epi32(a, _mm256_madd_epi16(ld8(r1 + q), w10));
        a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(ld8(r1 + q + off), w12));
        a = _mm256_add_epi32(a, _mm256_madd_epi16(ld8(r2 + q), w20));
        a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(ld8(r2 + q + off), w22));
        _mm256_storeu_si256((__m256i *)(void *)(acc + q), _mm256_add_epi32(a, a2));
    }
}

/* the channel's input rows into the zeroed int16 padded plane as x - in_zero (the borders stay 0) */
static inline T_AVX2 void dw_fill(const nnb_i8_conv_params *p, const int8_t *xc, int16_t *plane, int32_t pwid)
{
    const int32_t h = p->h, wd = p->w, zin = p->in_zero;
    const __m128i keep = _mm_cmpgt_epi16(_mm_set1_epi16((int16_t)wd), _mm_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7));
    int32_t r, i;
    for (r = 0; r < h; ++r) {
        int16_t *dst = plane + (size_t)(r + p->pad_h) * (size_t)pwid + p->pad_w;
        const int8_t *src = xc + (size_t)r * (size_t)wd;
        i = 0;
        if (wd <= 8 && (size_t)r * (size_t)wd + 8 <= (size_t)h * (size_t)wd) {
            /* a short row: eight lanes, those past the row zero (they land on this row's right border
             * and the next row's left border and first values, which the next row rewrites) */
            const __m128i v = _mm_sub_epi16(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)src)),
                                            _mm_set1_epi16((int16_t)zin));
            _mm_storeu_si128((__m128i *)(void *)dst, _mm_and_si128(v, keep));
            continue;
        }
        for (; i + 16 <= wd; i += 16)
            _mm256_storeu_si256((__m256i *)(void *)(dst + i),
                                _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128(
                                                     (const __m128i *)(const void *)(src + i))),
                                                 _mm256_set1_epi16((int16_t)zin)));
        for (; i < wd; ++i)
            dst[i] = (int16_t)(src[i] - zin);
    }
}

/* the valid columns of each accumulator row together, moving down (dst <= src) */
static inline T_AVX2 void dw_compact(int32_t *acc, int32_t oh, int32_t ow, int32_t pwid, int32_t pw)
{
    int32_t r, i;
    if (pwid == ow)
        return;
    for (r = 1; r < oh; ++r) {
        int32_t *dst = acc + (size_t)r * (size_t)ow;
        const int32_t *src = acc + (size_t)r * (size_t)pwid;
        for (i = 0; i + 8 <= ow; i += 8)
            _mm256_storeu_si256((__m256i *)(void *)(dst + i), _mm256_loadu_si256((const __m256i *)(const void *)(src + i)));
        if (i < ow && ow < 8 && ow + 4 * pw > 7) /* one short row in eight lanes: the spill ends before the next
                                                   row's source (7 < ow + 2 pw (r + 1)) */
            _mm256_storeu_si256((__m256i *)(void *)dst, _mm256_loadu_si256((const __m256i *)(const void *)src));
        else
            for (; i < ow; ++i)
                dst[i] = src[i];
    }
}

/* acc[q] = bias + the channel's taps over the int32 pairs (P[i], P[i+1]), sixteen positions of the padded-width
 * grid per VPDPWSSD (3x3: the six weight pairs in registers) */
static inline T_VNNI void dw_sweep16(int32_t *acc, const int32_t *pair, int32_t nq, int32_t pwid, int32_t kh,
                                     int32_t kw, const int8_t *wc, int32_t bias)
{
    const __m512i b0 = _mm512_set1_epi32(bias);
    int32_t q, ky, kx;
    if (kh == 3 && kw == 3) {
        const __m512i w00 = wpair16(wc, 0, 1), w02 = wpair16(wc, 2, -1), w10 = wpair16(wc, 3, 4);
        const __m512i w12 = wpair16(wc, 5, -1), w20 = wpair16(wc, 6, 7), w22 = wpair16(wc, 8, -1);
        for (q = 0; q < nq; q += 16) {
            const int32_t *r0 = pair + q, *r1 = r0 + pwid, *r2 = r1 + pwid;
            __m512i a = _mm512_dpwssd_epi32(b0, _mm512_loadu_si512((const void *)r0), w00);
            a = _mm512_dpwssd_epi32(a, _mm512_loadu_si512((const void *)(r0 + 2)), w02);
            a = _mm512_dpwssd_epi32(a, _mm512_loadu_si512((const void *)r1), w10);
            a = _mm512_dpwssd_epi32(a, _mm512_loadu_si512((const void *)(r1 + 2)), w12);
            a = _mm512_dpwssd_epi32(a, _mm512_loadu_si512((const void *)r2), w20);
            a = _mm512_dpwssd_epi32(a, _mm512_loadu_si512((const void *)(r2 + 2)), w22);
            _mm512_storeu_si512((void *)(acc + q), a);
        }
        return;
    }
    for (q = 0; q < nq; q += 16) {
        __m512i a = b0;
        for (ky = 0; ky < kh; ++ky)
            for (kx = 0; kx < kw; kx += 2)
                a = _mm512_dpwssd_epi32(a, _mm512_loadu_si512((const void *)(pair + (size_t)q + (size_t)(ky * pwid + kx))),
                                        wpair16(wc, ky * kw + kx, kx + 1 < kw ? ky * kw + kx + 1 : -1));
        _mm512_storeu_si512((void *)(acc + q), a);
    }
}

static T_AVX2 void dw_avx2(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                           const int32_t *mult, const int32_t *shift, const int8_t *residual,
                           const int32_t *res_mult, const int32_t *res_shift, int8_t *y, int16_t *scratch)
{
    const int32_t h = p->h, wd = p->w, kh = p->kh, kw = p->kw, oh = p->oh, ow = p->ow, ph = p->pad_h, pw = p->pad_w;
    const int32_t pwid = wd + 2 * pw, phh = h + 2 * ph, nq = oh * pwid;
    int16_t *plane = scratch + 16 - (((uintptr_t)scratch >> 1) & 15); /* 32-byte aligned */
    int32_t *acc = (int32_t *)(void *)(plane + (((size_t)phh * (size_t)pwid + 64 + 15) & ~(size_t)15));
    int32_t *pair = acc + (((size_t)oh * (size_t)pwid + 32 + 15) & ~(size_t)15);
    const int64_t bound = bound_of(bias, p->o, kh * kw, residual, res_mult, res_shift);
    const size_t oplane = (size_t)oh * (size_t)ow;
    const out8 oc = out8_of(p);
    int32_t b, c, i, ky, kx, q;
    for (i = 0; i < phh * pwid + 64; ++i)
        plane[i] = 0;
    for (b = 0; b < p->n; ++b)
        for (c = 0; c < p->c; ++c) {
            const size_t bc = (size_t)b * (size_t)p->c + (size_t)c;
            const int8_t *xc = x + bc * (size_t)h * (size_t)wd, *wc = w + (size_t)c * (size_t)(kh * kw);
            const __m256i b0 = _mm256_set1_epi32(bias ? bias[c] : 0);
            rq_ch qc, rc;
            dw_fill(p, xc, plane, pwid);
            /* pairs (P[i], P[i + 1]) of the padded plane as int32: one VPMADDWD per two horizontal taps and eight
             * positions of the padded-width grid (reads end before plane + phh pwid + 64, the slack) */
            for (i = 0; i < phh * pwid + 56; i += 8) {
                const __m128i lo16 = _mm_loadu_si128((const __m128i *)(const void *)(plane + i));
                const __m128i nx16 = _mm_loadu_si128((const __m128i *)(const void *)(plane + i + 1));
                _mm_storeu_si128((__m128i *)(void *)(pair + i), _mm_unpacklo_epi16(lo16, nx16));
                _mm_storeu_si128((__m128i *)(void *)(pair + i + 4), _mm_unpackhi_epi16(lo16, nx16));
            }
            if (kh == 3 && kw == 3) { /* the six weight pairs in registers */
                dw3_sweep(acc, nq, b0, wc, pair, pair + pwid, pair + 2 * pwid, 2);
            } else {
                for (q = 0; q < nq; q += 8) {
                    __m256i a = b0;
                    for (ky = 0; ky < kh; ++ky)
                        for (kx = 0; kx < kw; kx += 2)
                            a = _mm256_add_epi32(a, _mm256_madd_epi16(ld8(pair + (size_t)q + (size_t)(ky * pwid + kx)),
                                                                      wpair8(wc, ky * kw + kx,
                                                                             kx + 1 < kw ? ky * kw + kx + 1 : -1)));
                    _mm256_storeu_si256((__m256i *)(void *)(acc + q), a);
                }
            }
            rq_prepare(&qc, mult[c], shift[c], bound);
            rq_prepare(&rc, residual ? res_mult[c] : 0, residual ? res_shift[c] : 0, 255);
            dw_compact(acc, oh, ow, pwid, pw);
            out_n(&oc, &qc, &rc, acc, oh * ow, residual ? residual + bc * oplane : NULL, y + bc * oplane);
        }
}

/* planes of 16 columns or more: the int16 padded plane filled row by row, then its int32 pairs */
static T_VNNI void dw_vnni_rows(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                                const int32_t *mult, const int32_t *shift, const int8_t *residual,
                                const int32_t *res_mult, const int32_t *res_shift, int8_t *y, int16_t *scratch)
{
    const int32_t h = p->h, wd = p->w, kh = p->kh, kw = p->kw, oh = p->oh, ow = p->ow, ph = p->pad_h, pw = p->pad_w;
    const int32_t pwid = wd + 2 * pw, phh = h + 2 * ph, nq = oh * pwid;
    int16_t *plane = scratch + 16 - (((uintptr_t)scratch >> 1) & 15); /* 32-byte aligned */
    int32_t *acc = (int32_t *)(void *)(plane + (((size_t)phh * (size_t)pwid + 64 + 15) & ~(size_t)15));
    int32_t *pair = acc + (((size_t)oh * (size_t)pwid + 32 + 15) & ~(size_t)15);
    const int64_t bound = bound_of(bias, p->o, kh * kw, residual, res_mult, res_shift);
    const size_t oplane = (size_t)oh * (size_t)ow;
    const out8 oc = out8_of(p);
    int32_t b, c, i;
    for (i = 0; i < phh * pwid + 64; ++i)
        plane[i] = 0;
    for (b = 0; b < p->n; ++b)
        for (c = 0; c < p->c; ++c) {
            const size_t bc = (size_t)b * (size_t)p->c + (size_t)c;
            const int8_t *xc = x + bc * (size_t)h * (size_t)wd, *wc = w + (size_t)c * (size_t)(kh * kw);
            rq_ch qc, rc;
            dw_fill(p, xc, plane, pwid);
            /* pairs (P[i], P[i+1]) as int32: one VPDPWSSD per two horizontal taps and sixteen outputs */
            for (i = 0; i < phh * pwid + 48; i += 16) {
                const __m256i lo16 = _mm256_loadu_si256((const __m256i *)(const void *)(plane + i));
                const __m256i nx16 = _mm256_loadu_si256((const __m256i *)(const void *)(plane + i + 1));
                _mm512_storeu_si512((void *)(pair + i),
                                    _mm512_or_si512(_mm512_cvtepu16_epi32(lo16),
                                                    _mm512_slli_epi32(_mm512_cvtepu16_epi32(nx16), 16)));
            }
            dw_sweep16(acc, pair, nq, pwid, kh, kw, wc, bias ? bias[c] : 0);
            rq_prepare(&qc, mult[c], shift[c], bound);
            rq_prepare(&rc, residual ? res_mult[c] : 0, residual ? res_shift[c] : 0, 255);
            dw_compact(acc, oh, ow, pwid, pw);
            for (i = 0; i < oh * ow; i += 16) /* sixteen lanes at a time, masked stores at the end */
                out16z(&oc, &qc, &rc, _mm512_loadu_si512((const void *)(acc + i)), oh * ow - i < 16 ? oh * ow - i : 16,
                       residual ? residual + bc * oplane + i : NULL, y + bc * oplane + (size_t)i);
        }
}

/* The VNNI depthwise over the flat padded plane (pwid = w + 2 pad_w columns): int32 pairs (P[i], P[i+1]) of
 * (x - in_zero) as int16, one VPDPWSSD per two horizontal taps and sixteen positions of the padded-width output
 * grid, whatever the width. Each pair vector is one permutation (VPERMW, zero-masked for the padding) of the
 * int8 input loaded once, by tables built once per layer; the valid columns are gathered from two accumulator
 * vectors by VPERMT2D into sixteen compact outputs (another table) unless a 16-output run spans more than 32
 * positions, when rows are moved down first. */
static T_VNNI void dw_vnni(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                           const int32_t *mult, const int32_t *shift, const int8_t *residual,
                           const int32_t *res_mult, const int32_t *res_shift, int8_t *y, int16_t *scratch)
{
    const int32_t h = p->h, wd = p->w, kh = p->kh, kw = p->kw, oh = p->oh, ow = p->ow, ph = p->pad_h, pw = p->pad_w;
    const int32_t pwid = wd + 2 * pw, phh = h + 2 * ph, nq = oh * pwid, hw = h * wd;
    const int32_t npv = (phh * pwid + 48 + 15) / 16, nout = oh * ow, nov = (nout + 15) / 16;
    int16_t *plane = scratch + 16 - (((uintptr_t)scratch >> 1) & 15); /* 32-byte aligned */
    int32_t *acc = (int32_t *)(void *)(plane + (((size_t)phh * (size_t)pwid + 64 + 15) & ~(size_t)15));
    int32_t *pair = acc + (((size_t)oh * (size_t)pwid + 32 + 15) & ~(size_t)15);
    int32_t *tab = pair + (((size_t)phh * (size_t)pwid + 64 + 15) & ~(size_t)15);
    int16_t *pidx = (int16_t *)(void *)tab;                     /* npv x 32 */
    int32_t *pbase = tab + (size_t)npv * 16, *pzm = pbase + npv; /* npv each */
    int32_t *oidx = pzm + npv, *obase = oidx + (size_t)nov * 16; /* nov x 16, nov */
    const int64_t bound = bound_of(bias, p->o, kh * kw, residual, res_mult, res_shift);
    const size_t oplane = (size_t)oh * (size_t)ow;
    const __m512i zin = _mm512_set1_epi16((int16_t)p->in_zero);
    const out8 oc = out8_of(p);
    int32_t b, c, i, j, operm = 1;
    { /* pair[pos]: the input index of padded position pos, or -1 (no divisions: counters) */
        int32_t r = -ph, cc = -pw;
        for (i = 0; i <= 16 * npv; ++i) {
            pair[i] = r >= 0 && r < h && cc >= 0 && cc < wd ? r * wd + cc : -1;
            if (++cc == wd + pw) {
                cc = -pw;
                ++r;
            }
        }
    }
    for (j = 0; j < npv; ++j) { /* lane 2t: P[16 j + t], lane 2t + 1: P[16 j + t + 1] */
        /* the valid indices increase with the position: the first valid one is the least of them; an
         * invalid int16 lane is -1 until the mask clears it (ci - first <= 16: pwid >= w) */
        const __m512i va = _mm512_loadu_si512((const void *)(pair + 16 * j));
        const __m512i vb = _mm512_loadu_si512((const void *)(pair + 16 * j + 1));
        const __mmask16 ma = _mm512_cmpge_epi32_mask(va, _mm512_setzero_si512());
        const __mmask16 mb = _mm512_cmpge_epi32_mask(vb, _mm512_setzero_si512());
        const int32_t first = (ma | mb) ? _mm512_reduce_min_epi32(_mm512_min_epi32(
                                              _mm512_mask_mov_epi32(_mm512_set1_epi32(INT32_MAX), ma, va),
                                              _mm512_mask_mov_epi32(_mm512_set1_epi32(INT32_MAX), mb, vb)))
                                        : 0;
        const __m512i vf = _mm512_set1_epi32(first), m16 = _mm512_set1_epi32(0xFFFF);
        const __m512i lo = _mm512_mask_sub_epi32(m16, ma, va, vf), hi = _mm512_mask_sub_epi32(m16, mb, vb, vf);
        const __m512i v = _mm512_or_si512(_mm512_and_si512(lo, m16), _mm512_slli_epi32(hi, 16));
        const __mmask32 zm = _mm512_cmpge_epi16_mask(v, _mm512_setzero_si512());
        _mm512_storeu_si512((void *)(pidx + 32 * j), _mm512_maskz_mov_epi16(zm, v));
        pbase[j] = first;
        pzm[j] = (int32_t)(uint32_t)zm;
    }
    { /* output o at padded position r pwid + col */
        int32_t r = 0, col = 0, first = 0;
        for (i = 0; i < 16 * nov; ++i) {
            const int32_t pos = r * pwid + col;
            if ((i & 15) == 0)
                obase[i >> 4] = first = pos;
            if (pos - first > 31)
                operm = 0;
            oidx[i] = (pos - first) & 31;
            if (i + 1 < nout && ++col == ow) {
                col = 0;
                ++r;
            }
        }
    }
    for (i = (nq + 15) & ~15; i < oh * pwid + 32; ++i) /* read by the gathers, never selected */
        acc[i] = 0;
    for (b = 0; b < p->n; ++b)
        for (c = 0; c < p->c; ++c) {
            const size_t bc = (size_t)b * (size_t)p->c + (size_t)c;
            const int8_t *xc = x + bc * (size_t)hw, *wc = w + (size_t)c * (size_t)(kh * kw);
            rq_ch qc, rc;
            for (j = 0; j < npv; ++j) {
                const int32_t left = hw - pbase[j];
                const __mmask32 lm = left >= 32 ? ~(__mmask32)0 : (__mmask32)((1u << left) - 1u);
                const __m512i v = _mm512_sub_epi16(_mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(lm, xc + pbase[j])), zin);
                _mm512_storeu_si512((void *)(pair + 16 * j),
                                    _mm512_maskz_permutexvar_epi16((__mmask32)(uint32_t)pzm[j],
                                                                   _mm512_loadu_si512((const void *)(pidx + 32 * j)), v));
            }
            dw_sweep16(acc, pair, nq, pwid, kh, kw, wc, bias ? bias[c] : 0);
            rq_prepare(&qc, mult[c], shift[c], bound);
            rq_prepare(&rc, residual ? res_mult[c] : 0, residual ? res_shift[c] : 0, 255);
            if (pwid == ow || !operm) {
                if (pwid != ow) /* the valid columns of each row together, moving down (dst <= src) */
                    for (i = 1; i < oh; ++i)
                        memmove(acc + (size_t)i * (size_t)ow, acc + (size_t)i * (size_t)pwid,
                                (size_t)ow * sizeof *acc);
                for (i = 0; i < nout; i += 16) /* sixteen lanes at a time, masked stores at the end */
                    out16z(&oc, &qc, &rc, _mm512_loadu_si512((const void *)(acc + i)), nout - i < 16 ? nout - i : 16,
                           residual ? residual + bc * oplane + i : NULL, y + bc * oplane + (size_t)i);
            } else if (qc.vec && (!residual || rc.vec)) { /* out16z inline, its constants once per channel */
                const __m512i zo = _mm512_set1_epi32(oc.zout), lo = _mm512_set1_epi32(oc.lo);
                const __m512i hi = _mm512_set1_epi32(oc.hi), zr = _mm512_set1_epi32(oc.zres);
                const int8_t *rsc = residual ? residual + bc * oplane : NULL;
                int8_t *yc = y + bc * oplane;
                for (j = 0; j < nov; ++j) {
                    const int32_t *s0 = acc + obase[j], n = nout - 16 * j < 16 ? nout - 16 * j : 16;
                    const __mmask16 nm = (__mmask16)((1u << n) - 1u);
                    __m512i a = _mm512_permutex2var_epi32(_mm512_loadu_si512((const void *)s0),
                                                          _mm512_loadu_si512((const void *)(oidx + 16 * j)),
                                                          _mm512_loadu_si512((const void *)(s0 + 16)));
                    if (rsc)
                        a = _mm512_add_epi32(
                            a, rq16(_mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(nm, rsc + 16 * j)), zr),
                                    &rc));
                    a = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(rq16(a, &qc), zo), lo), hi);
                    _mm_mask_storeu_epi8(yc + 16 * j, nm, _mm512_cvtepi32_epi8(a));
                }
            } else {
                for (j = 0; j < nov; ++j) {
                    const int32_t *s0 = acc + obase[j];
                    const __m512i g = _mm512_permutex2var_epi32(_mm512_loadu_si512((const void *)s0),
                                                                _mm512_loadu_si512((const void *)(oidx + 16 * j)),
                                                                _mm512_loadu_si512((const void *)(s0 + 16)));
                    out16z(&oc, &qc, &rc, g, nout - 16 * j < 16 ? nout - 16 * j : 16,
                           residual ? residual + bc * oplane + 16 * j : NULL, y + bc * oplane + (size_t)(16 * j));
                }
            }
        }
}

/* ---------- depthwise, stride_w 2 (AVX2; the VNNI level takes it too) ---------- */

/* A stride-2 row read in pairs needs no pair-building: the int16 padded row (rounded up to an even width w2) read
 * as int32 lanes IS (P[2j], P[2j + 1]), and output column ox reads lanes ox .. ox + (kw - 1) / 2 of it, a
 * stride-1 walk over qw = w2 / 2 lanes. The padded rows go to stride_h phase planes (padded row pr: plane
 * pr % stride_h, row pr / stride_h), so output row oy, kernel row ky reads plane ky % sh, row oy + ky / sh: the
 * whole layer is the stride-1 form's flat sweep of VPMADDWD over oh qw positions, (w[2m], w[2m + 1]) per lane. */
static int dw2_ok(const nnb_i8_conv_params *p)
{
    return p->group == p->c && p->o == p->c && p->stride_w == 2 && p->stride_h >= 1 && p->stride_h <= 4 &&
           p->dil_h == 1 && p->dil_w == 1 && p->kw <= 48; /* reads reach (kw - 1) / 2 + 7 lanes past a plane */
}

typedef struct {
    int32_t w2, qw, rows, ps, nacc; /* int16 row width, int32 lanes per row, rows per phase, phase int32, acc int32 */
} dw2_geo;

static void dw2_geo_of(const nnb_i8_conv_params *p, dw2_geo *g)
{
    const int32_t pwid = p->w + 2 * p->pad_w, phh = p->h + 2 * p->pad_h;
    g->w2 = (pwid + 1) & ~1;
    g->qw = g->w2 / 2;
    g->rows = (phh + p->stride_h - 1) / p->stride_h;
    g->ps = (g->rows * g->qw + 48 + 15) & ~15;
    g->nacc = (p->oh * g->qw + 15 + 16) & ~15;
}

static size_t dw2_scratch(const nnb_i8_conv_params *p)
{
    dw2_geo g;
    dw2_geo_of(p, &g);
    /* alignment (32 bytes), the phase planes, the int32 accumulators (two int16 elements per int32) */
    return 16 + 2 * ((size_t)p->stride_h * (size_t)g.ps + (size_t)g.nacc);
}

/* the channel's input rows into the zeroed phase planes as int16 (x - in_zero); a row's last vector may spill
 * zeros past its end: into its right border, the next row of its plane (left border, or values written later)
 * or the plane's slack, never into a row already written */
static inline T_AVX2 void dw2_fill(const nnb_i8_conv_params *p, const dw2_geo *g, const int8_t *xc, size_t avail,
                                   int16_t *planes)
{
    const int32_t h = p->h, wd = p->w, sh = p->stride_h, zin = p->in_zero;
    const __m256i z16 = _mm256_set1_epi16((int16_t)zin);
    const __m256i lane = _mm256_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    int32_t r, i, phase = p->pad_h % sh, prow = p->pad_h / sh; /* padded row r + pad_h: plane phase, row prow */
    for (r = 0; r < h; ++r) {
        int16_t *dst = planes + (size_t)phase * (size_t)(2 * g->ps) + (size_t)prow * (size_t)g->w2 + p->pad_w;
        const int8_t *src = xc + (size_t)r * (size_t)wd;
        if (++phase == sh) {
            phase = 0;
            ++prow;
        }
        for (i = 0; i < wd; i += 16) {
            if ((size_t)(r * wd + i) + 16 <= avail) { /* sixteen bytes inside the input (avail: from xc on) */
                const __m256i v = _mm256_sub_epi16(
                    _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(src + i))), z16);
                const __m256i keep = _mm256_cmpgt_epi16(_mm256_set1_epi16((int16_t)(wd - i)), lane);
                _mm256_storeu_si256((__m256i *)(void *)(dst + i), _mm256_and_si256(v, keep));
            } else {
                for (; i < wd; ++i)
                    dst[i] = (int16_t)(src[i] - zin);
            }
        }
    }
}

static T_AVX2 void dw2_avx2(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                            const int32_t *mult, const int32_t *shift, const int8_t *residual,
                            const int32_t *res_mult, const int32_t *res_shift, int8_t *y, int16_t *scratch)
{
    const int32_t kh = p->kh, kw = p->kw, oh = p->oh, ow = p->ow, sh = p->stride_h, hw = p->h * p->w;
    const int32_t nkp = (kw + 1) / 2;
    dw2_geo g;
    int16_t *planes = scratch + 16 - (((uintptr_t)scratch >> 1) & 15); /* 32-byte aligned */
    int32_t *acc;
    const int64_t bound = bound_of(bias, p->o, kh * kw, residual, res_mult, res_shift);
    const size_t oplane = (size_t)oh * (size_t)ow;
    out8 oc;
    int32_t b, c, r, ky, m, q, nq;
    dw2_geo_of(p, &g);
    nq = oh * g.qw;
    acc = (int32_t *)(void *)(planes + 2 * (size_t)sh * (size_t)g.ps);
    oc.zout = p->out_zero;
    oc.lo = p->act_min;
    oc.hi = p->act_max;
    oc.zres = p->res_zero;
    memset(planes, 0, (size_t)sh * (size_t)g.ps * sizeof(int32_t));
    for (b = 0; b < p->n; ++b)
        for (c = 0; c < p->c; ++c) {
            const size_t bc = (size_t)b * (size_t)p->c + (size_t)c;
            const int8_t *wc = w + (size_t)c * (size_t)(kh * kw);
            const __m256i b0 = _mm256_set1_epi32(bias ? bias[c] : 0);
            const int32_t *pl = (const int32_t *)(const void *)planes;
            rq_ch qc, rc;
            dw2_fill(p, &g, x + bc * (size_t)hw, ((size_t)p->n * (size_t)p->c - bc) * (size_t)hw, planes);
            if (kh == 3 && kw == 3 && sh == 2) { /* kernel rows 0 and 2 in the even plane, row 1 in the odd one */
                dw3_sweep(acc, nq, b0, wc, pl, pl + g.ps, pl + g.qw, 1);
            } else {
                for (q = 0; q < nq; q += 8) {
                    __m256i a = b0;
                    for (ky = 0; ky < kh; ++ky) {
                        const int32_t *row = pl + (size_t)(ky % sh) * (size_t)g.ps + (size_t)(ky / sh) * (size_t)g.qw;
                        for (m = 0; m < nkp; ++m)
                            a = _mm256_add_epi32(a, _mm256_madd_epi16(ld8(row + q + m),
                                                                      wpair8(wc, ky * kw + 2 * m,
                                                                             2 * m + 1 < kw ? ky * kw + 2 * m + 1 : -1)));
                    }
                    _mm256_storeu_si256((__m256i *)(void *)(acc + q), a);
                }
            }
            rq_prepare(&qc, mult[c], shift[c], bound);
            rq_prepare(&rc, residual ? res_mult[c] : 0, residual ? res_shift[c] : 0, 255);
            if (g.qw != ow && ((ow + 7) & ~7) <= g.qw) /* the valid columns of each row together, moving down in
                                                          eight-lane steps: a row's last store ends before the next
                                                          row's source (r ow + ceil8(ow) <= (r + 1) qw) */
                for (r = 1; r < oh; ++r) {
                    int32_t *dst = acc + (size_t)r * (size_t)ow;
                    const int32_t *src = acc + (size_t)r * (size_t)g.qw;
                    for (q = 0; q < ow; q += 8)
                        _mm256_storeu_si256((__m256i *)(void *)(dst + q), ld8(src + q));
                }
            else if (g.qw != ow)
                for (r = 1; r < oh; ++r)
                    memmove(acc + (size_t)r * (size_t)ow, acc + (size_t)r * (size_t)g.qw, (size_t)ow * sizeof *acc);
            out_n(&oc, &qc, &rc, acc, oh * ow, residual ? residual + bc * oplane : NULL, y + bc * oplane);
        }
}

/* ---------- GEMM, AVX-512 VNNI ---------- */


#define NB 16 /* positions per panel */
#define NC 8  /* output channels per register block */

static inline int32_t w4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#define TMAX 128 /* kernel taps (kh * kw) the panel's tables hold */

static int gemm_ok(const nnb_i8_conv_params *p)
{
    return !(p->group == p->c && p->o == p->c) && p->kh * p->kw <= TMAX && p->stride_w <= 2;
}

/* the VNNI GEMM's scratch (int16 elements): alignment 64, two panels of kp * NB bytes, the weights og * kp (when
 * k % 4), the biases 4 og, the prepared requantizations of the group's channels (and of their residual terms) */
static size_t gemm_scratch(const nnb_i8_conv_params *p)
{
    const size_t k = (size_t)(p->c / p->group) * (size_t)p->kh * (size_t)p->kw, kp = (k + 3) & ~(size_t)3;
    const size_t og = (size_t)(p->o / p->group);
    return (64 + 2 * kp * NB + (k % 4 ? og * kp : 0) + 4 * og + 2 * og * sizeof(rq_ch) + 64) / 2 + 1;
}

/* gemm_avx2's: alignment 16, its panel (16 kp2), the group's weight pairs (og rounded up to 8, kp2 int32), the
 * group's 2 og prepared requantizations (og sizeof(rq_ch) int16 elements) */
static size_t gemm2_scratch(const nnb_i8_conv_params *p)
{
    const size_t k = (size_t)(p->c / p->group) * (size_t)p->kh * (size_t)p->kw, kp2 = (k + 1) / 2;
    const size_t og = (size_t)(p->o / p->group);
    return 16 + 16 * kp2 + 2 * ((og + 7) & ~(size_t)7) * kp2 + og * sizeof(rq_ch) + 1;
}

/* ---------- GEMM, AVX2 (int16 pairs, VPMADDWD) ---------- */

/* VPMADDUBSW saturates, so the AVX2 GEMM works on (x - z_in) as int16: a panel of eight output positions holds,
 * for every pair of k, the eight positions' (x[k], x[k+1]) as 32-bit lanes; a weight pair (w[k], w[k+1]) is
 * broadcast to every lane and one VPMADDWD gives sixteen exact MACs (|x - z| <= 255, |w| <= 127). Eight output
 * channels x eight positions per register block. */

#define AP 8 /* positions per AVX2 panel */

/* the panel of positions pos0 .. pos0 + n - 1 (n <= 8; lanes past n repeat zeros) */
static T_AVX2 void panel16_build(const nnb_i8_conv_params *p, const int8_t *xg, int32_t klen, int32_t pos0,
                                 int32_t n, int flat, int16_t *panel)
{
    const int32_t kh = p->kh, kw = p->kw, h = p->h, wd = p->w, zin = p->in_zero, kp2 = (klen + 1) / 2;
    const size_t hw = (size_t)h * (size_t)wd;
    int32_t j, k;
    if (flat && n == AP) { /* 1x1 stride 1: eight consecutive bytes per channel, two channels interleaved */
        const __m128i z = _mm_set1_epi16((int16_t)zin);
        const int8_t *xp = xg + pos0;
        for (k = 0; k + 1 < klen; k += 2, xp += 2 * hw, panel += 16) {
            const __m128i a = _mm_sub_epi16(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)xp)), z);
            const __m128i b =
                _mm_sub_epi16(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)(xp + hw))), z);
            _mm_storeu_si128((__m128i *)(void *)panel, _mm_unpacklo_epi16(a, b));
            _mm_storeu_si128((__m128i *)(void *)(panel + 8), _mm_unpackhi_epi16(a, b));
        }
        if (k < klen) {
            const __m128i a = _mm_sub_epi16(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)xp)), z);
            _mm_storeu_si128((__m128i *)(void *)panel, _mm_unpacklo_epi16(a, _mm_setzero_si128()));
            _mm_storeu_si128((__m128i *)(void *)(panel + 8), _mm_unpackhi_epi16(a, _mm_setzero_si128()));
        }
        return;
    }
    for (j = 0; j < AP; ++j) {
        int16_t *o = panel + 2 * j;
        if (j >= n) {
            for (k = 0; k < kp2; ++k)
                o[16 * k] = o[16 * k + 1] = 0;
            continue;
        }
        {
            const int32_t pos = pos0 + j, y0 = (pos / p->ow) * p->stride_h - p->pad_h;
            const int32_t x0 = (pos % p->ow) * p->stride_w - p->pad_w;
            const int xin = x0 >= 0 && x0 + (kw - 1) * p->dil_w < wd;
            int32_t ci, ky, kx;
            k = 0;
            for (ci = 0; ci < klen / (kh * kw); ++ci)
                for (ky = 0; ky < kh; ++ky) {
                    const int32_t iy = y0 + ky * p->dil_h;
                    const int8_t *r = xg + (size_t)ci * hw + (size_t)(iy >= 0 && iy < h ? iy : 0) * (size_t)wd;
                    if (iy >= 0 && iy < h && xin) { /* a kernel row wholly inside the input: no checks */
                        const int8_t *rx = r + x0;
                        for (kx = 0; kx < kw; ++kx, ++k)
                            o[16 * (k >> 1) + (k & 1)] = (int16_t)(rx[kx * p->dil_w] - zin);
                    } else {
                        for (kx = 0; kx < kw; ++kx, ++k) {
                            const int32_t ix = x0 + kx * p->dil_w;
                            o[16 * (k >> 1) + (k & 1)] =
                                (int16_t)(iy >= 0 && iy < h && ix >= 0 && ix < wd ? r[ix] - zin : 0);
                        }
                    }
                }
            if (k & 1)
                o[16 * (k >> 1) + 1] = 0;
        }
    }
}

/* panel16_build for eight positions of one output row (stride_w 1 or 2): each k's eight values as one vector
 * (eight bytes, or the even bytes of sixteen, widened) where the tap's columns lie inside the row, lane by lane
 * at the borders; pairs of k interleaved as the flat form does. 0 (nothing written) when the eight positions
 * cross a row or the stride is wider. */
static T_AVX2 int panel16_row(const nnb_i8_conv_params *p, const int8_t *xg, int32_t klen, int32_t pos0,
                              int16_t *panel)
{
    const int32_t kh = p->kh, kw = p->kw, h = p->h, wd = p->w, zin = p->in_zero, sw = p->stride_w;
    const int32_t oy = pos0 / p->ow, ox = pos0 % p->ow, y0 = oy * p->stride_h - p->pad_h, x0 = ox * sw - p->pad_w;
    const size_t hw = (size_t)h * (size_t)wd;
    const __m128i z = _mm_set1_epi16((int16_t)zin);
    const __m128i even = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1);
    __m128i prev = _mm_setzero_si128();
    int32_t ci, ky, kx, k = 0;
    if (ox + AP > p->ow || sw > 2)
        return 0;
    for (ci = 0; ci < klen / (kh * kw); ++ci)
        for (ky = 0; ky < kh; ++ky) {
            const int32_t iy = y0 + ky * p->dil_h;
            const int rowok = iy >= 0 && iy < h;
            const int8_t *r = xg + (size_t)ci * hw + (size_t)(rowok ? iy : 0) * (size_t)wd;
            for (kx = 0; kx < kw; ++kx, ++k) {
                const int32_t ix = x0 + kx * p->dil_w;
                __m128i v;
                if (!rowok) {
                    v = _mm_setzero_si128();
                } else if (sw == 1 && ix >= 0 && ix + 8 <= wd) {
                    v = _mm_sub_epi16(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)(r + ix))), z);
                } else if (sw == 2 && ix >= 0 && ix + 16 <= wd) {
                    v = _mm_sub_epi16(_mm_cvtepi8_epi16(_mm_shuffle_epi8(
                                          _mm_loadu_si128((const __m128i *)(const void *)(r + ix)), even)),
                                      z);
                } else {
                    int16_t t[8];
                    int32_t j;
                    for (j = 0; j < 8; ++j) {
                        const int32_t c = ix + j * sw;
                        t[j] = (int16_t)(c >= 0 && c < wd ? r[c] - zin : 0);
                    }
                    v = _mm_loadu_si128((const __m128i *)(const void *)t);
                }
                if (k & 1) {
                    _mm_storeu_si128((__m128i *)(void *)(panel + 16 * (k >> 1)), _mm_unpacklo_epi16(prev, v));
                    _mm_storeu_si128((__m128i *)(void *)(panel + 16 * (k >> 1) + 8), _mm_unpackhi_epi16(prev, v));
                } else {
                    prev = v;
                }
            }
        }
    if (k & 1) {
        _mm_storeu_si128((__m128i *)(void *)(panel + 16 * (k >> 1)), _mm_unpacklo_epi16(prev, _mm_setzero_si128()));
        _mm_storeu_si128((__m128i *)(void *)(panel + 16 * (k >> 1) + 8), _mm_unpackhi_epi16(prev, _mm_setzero_si128()));
    }
    return 1;
}

typedef struct {
    const nnb_i8_conv_params *p;
    const int8_t *w, *residual;
    const int32_t *bias, *mult, *shift, *res_mult, *res_shift;
    int8_t *y;
    int32_t klen, kp2;
    int64_t bound;
    out8 oc;
    rq_ch *q, *rq;  /* the group's channels' requantizations (and their residual terms'), from channel gbase */
    int32_t gbase;
} gemm2;

/* the requantizations of channels c0 .. c0 + nc - 1 */
static void gemm2_rq(gemm2 *s, int32_t c0, int32_t nc)
{
    int32_t c;
    for (c = c0; c < c0 + nc; ++c) {
        rq_prepare(s->q + (c - s->gbase), s->mult[c], s->shift[c], s->bound);
        rq_prepare(s->rq + (c - s->gbase), s->residual ? s->res_mult[c] : 0, s->residual ? s->res_shift[c] : 0, 255);
    }
}

/* channels c0 .. c0 + nc - 1 (nc <= 8): their weight pairs into wv (pair k of channel c at c kp2 + k; zero past
 * nc), sixteen weights per VPMOVSXBW */
static T_AVX2 void gemm2_weights(gemm2 *s, int32_t c0, int32_t nc, uint32_t *wv)
{
    const int32_t klen = s->klen, kp2 = s->kp2;
    int32_t c, k;
    for (c = 0; c < 8; ++c) {
        const int8_t *wr = s->w + (size_t)(c0 + c) * (size_t)klen;
        uint32_t *o = wv + (size_t)c * (size_t)kp2;
        if (c >= nc) {
            for (k = 0; k < kp2; ++k)
                o[k] = 0;
            continue;
        }
        for (k = 0; 2 * k + 16 <= klen; k += 8)
            _mm256_storeu_si256((__m256i *)(void *)(o + k),
                                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wr + 2 * k))));
        for (; 2 * k + 1 < klen; ++k)
            o[k] = (uint32_t)(uint16_t)(int16_t)wr[2 * k] | (uint32_t)(uint16_t)(int16_t)wr[2 * k + 1] << 16;
        if (klen & 1)
            o[k] = (uint32_t)(uint16_t)(int16_t)wr[2 * k];
    }
}

/* the eight channels' outputs at positions pa .. pa + n - 1 of image b from the panel */
static T_AVX2 void gemm2_block(const gemm2 *s, int32_t b, int32_t c0, int32_t nc, int32_t pa, int32_t n,
                               const int16_t *pp, const uint32_t *wv)
{
    const nnb_i8_conv_params *p = s->p;
    const int32_t kp2 = s->kp2, *bias = s->bias;
    const int32_t *w0 = (const int32_t *)(const void *)wv, *w1 = w0 + kp2, *w2 = w1 + kp2, *w3 = w2 + kp2;
    const int32_t *w4 = w3 + kp2, *w5 = w4 + kp2, *w6 = w5 + kp2, *w7 = w6 + kp2;
    const size_t plane = (size_t)p->oh * (size_t)p->ow;
    __m256i a0, a1, a2, a3, a4, a5, a6, a7;
    int32_t k, c;
    int32_t t[8][8];
    a0 = _mm256_set1_epi32(bias ? bias[c0] : 0);
    a1 = _mm256_set1_epi32(nc > 1 && bias ? bias[c0 + 1] : 0);
    a2 = _mm256_set1_epi32(nc > 2 && bias ? bias[c0 + 2] : 0);
    a3 = _mm256_set1_epi32(nc > 3 && bias ? bias[c0 + 3] : 0);
    a4 = _mm256_set1_epi32(nc > 4 && bias ? bias[c0 + 4] : 0);
    a5 = _mm256_set1_epi32(nc > 5 && bias ? bias[c0 + 5] : 0);
    a6 = _mm256_set1_epi32(nc > 6 && bias ? bias[c0 + 6] : 0);
    a7 = _mm256_set1_epi32(nc > 7 && bias ? bias[c0 + 7] : 0);
    for (k = 0; k < kp2; ++k, pp += 16) {
        const __m256i v = _mm256_load_si256((const __m256i *)(const void *)pp);
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(v, _mm256_set1_epi32(w0[k])));
        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(v, _mm256_set1_epi32(w1[k])));
        a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(v, _mm256_set1_epi32(w2[k])));
        a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(v, _mm256_set1_epi32(w3[k])));
        a4 = _mm256_add_epi32(a4, _mm256_madd_epi16(v, _mm256_set1_epi32(w4[k])));
        a5 = _mm256_add_epi32(a5, _mm256_madd_epi16(v, _mm256_set1_epi32(w5[k])));
        a6 = _mm256_add_epi32(a6, _mm256_madd_epi16(v, _mm256_set1_epi32(w6[k])));
        a7 = _mm256_add_epi32(a7, _mm256_madd_epi16(v, _mm256_set1_epi32(w7[k])));
    }
    _mm256_storeu_si256((__m256i *)(void *)t[0], a0);
    _mm256_storeu_si256((__m256i *)(void *)t[1], a1);
    _mm256_storeu_si256((__m256i *)(void *)t[2], a2);
    _mm256_storeu_si256((__m256i *)(void *)t[3], a3);
    _mm256_storeu_si256((__m256i *)(void *)t[4], a4);
    _mm256_storeu_si256((__m256i *)(void *)t[5], a5);
    _mm256_storeu_si256((__m256i *)(void *)t[6], a6);
    _mm256_storeu_si256((__m256i *)(void *)t[7], a7);
    for (c = 0; c < nc; ++c) {
        const size_t at = ((size_t)b * (size_t)p->o + (size_t)(c0 + c)) * plane + (size_t)pa;
        out_n(&s->oc, s->q + (c0 - s->gbase + c), s->rq + (c0 - s->gbase + c), t[c], n,
              s->residual ? s->residual + at : NULL, s->y + at);
    }
}

static T_AVX2 void gemm_avx2(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                             const int32_t *mult, const int32_t *shift, const int8_t *residual,
                             const int32_t *res_mult, const int32_t *res_shift, int8_t *y, int16_t *scratch)
{
    const int32_t cg = p->c / p->group, og = p->o / p->group, klen = cg * p->kh * p->kw, kp2 = (klen + 1) / 2;
    const int32_t npos = p->oh * p->ow;
    const int flat = p->kh == 1 && p->kw == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_h == 0 &&
                     p->pad_w == 0;
    /* scratch (within gemm_scratch): the panel (16 kp2 int16, 32-byte aligned), then the weight pairs (kp2 int32
     * per channel, the group's og rounded up to 8) */
    int16_t *panel = scratch + 16 - (((uintptr_t)scratch >> 1) & 15);
    uint32_t *wv = (uint32_t *)(void *)(panel + 16 * (size_t)kp2);
    rq_ch *rqs = (rq_ch *)(void *)(wv + (size_t)((og + 7) & ~7) * (size_t)kp2);
    gemm2 s;
    int32_t b, g, pa, c0;
    s.p = p;
    s.w = w;
    s.residual = residual;
    s.bias = bias;
    s.mult = mult;
    s.shift = shift;
    s.res_mult = res_mult;
    s.res_shift = res_shift;
    s.y = y;
    s.klen = klen;
    s.kp2 = kp2;
    s.bound = bound_of(bias, p->o, klen, residual, res_mult, res_shift);
    s.oc.zout = p->out_zero;
    s.oc.lo = p->act_min;
    s.oc.hi = p->act_max;
    s.oc.zres = p->res_zero;
    s.q = rqs;
    s.rq = rqs + og;
    for (b = 0; b < p->n; ++b)
        for (g = 0; g < p->group; ++g) {
            const int8_t *xg = x + ((size_t)b * (size_t)p->c + (size_t)g * (size_t)cg) * (size_t)p->h * (size_t)p->w;
            /* the group's weights widened once, the panel built once per position block (a vector per k along
             * an output row where it can be) and used by every channel block */
            for (c0 = g * og; c0 < (g + 1) * og; c0 += 8)
                gemm2_weights(&s, c0, (g + 1) * og - c0 < 8 ? (g + 1) * og - c0 : 8,
                              wv + (size_t)(c0 - g * og) * (size_t)kp2);
            s.gbase = g * og;
            gemm2_rq(&s, g * og, og);
            for (pa = 0; pa < npos; pa += AP) {
                const int32_t n = npos - pa < AP ? npos - pa : AP;
                if (flat || n < AP || !panel16_row(p, xg, klen, pa, panel))
                    panel16_build(p, xg, klen, pa, n, flat, panel);
                for (c0 = g * og; c0 < (g + 1) * og; c0 += 8) {
                    const int32_t nc = (g + 1) * og - c0 < 8 ? (g + 1) * og - c0 : 8;
                    gemm2_block(&s, b, c0, nc, pa, n, panel, wv + (size_t)(c0 - g * og) * (size_t)kp2);
                }
            }
        }
}

/* ---------- GEMM, AVX2, direct: int16 pairs of a padded plane, no im2col ---------- */

/* The layer's input (one image, one group) as a padded plane of int32 lanes, each an int16 pair of (x - z_in):
 * two input channels at the same place (pairs of channels), or, for a one-channel group, two kernel columns
 * of one row (x[c], x[c + dil_w]). A row of the plane is stride_w phases of `lp` lanes (phase f, lane j: padded
 * column j * stride_w + f), so the eight output positions ox .. ox + 7 of a tap are eight consecutive lanes and
 * one VPMADDWD against the broadcast weight pair gives sixteen exact MACs (|x - z| <= 255, |w| <= 128). Each
 * pair of k is an entry: its lane offset from the output position's first lane and its weight pair, widened once
 * per block of output channels. Register blocks: six channels x sixteen positions, or eight x eight for rows
 * of at most eight. */

#define DX_NC 8               /* output channels per block (at most) */
#define DX_PLANE (160u << 10) /* bytes of plane this form takes; larger layers keep gemm_avx2 */

typedef struct {
    int32_t hz;          /* pairs along kernel columns (one input channel per group) */
    int32_t units, np;   /* channel pairs (or channels) and entries (pairs of k) */
    int32_t s, lp, hp;   /* stride_w, lanes per phase, padded rows */
    int32_t h1, w1;      /* the input as the form sees it (a 1x1 stride-1 layer: one row of h * w) */
    int32_t oh1, ow1;
    size_t rowst, unitst; /* lanes per plane row (s lp), per unit (hp rowst) */
} dx_plan;

static int dx_plan_of(const nnb_i8_conv_params *p, dx_plan *d)
{
    const int32_t cg = p->c / p->group, flat = p->kh == 1 && p->kw == 1 && p->stride_h == 1 && p->stride_w == 1 &&
                                               p->pad_h == 0 && p->pad_w == 0;
    int64_t lanes;
    if (p->group == p->c && p->o == p->c) /* depthwise: dw_avx2 */
        return 0;
    if (p->stride_w > 4 || p->kh * p->kw > TMAX)
        return 0;
    d->hz = cg == 1 && p->kw > 1;
    d->units = d->hz ? 1 : (cg + 1) / 2;
    d->np = d->hz ? p->kh * ((p->kw + 1) / 2) : d->units * p->kh * p->kw;
    d->s = p->stride_w;
    d->h1 = flat ? 1 : p->h;
    d->w1 = flat ? p->h * p->w : p->w;
    d->oh1 = flat ? 1 : p->oh;
    d->ow1 = flat ? p->oh * p->ow : p->ow;
    d->hp = d->h1 + 2 * p->pad_h;
    /* lanes read: output columns up to ow rounded to 16, plus the widest tap's offset */
    d->lp = (d->ow1 > 8 ? (d->ow1 + 15) & ~15 : 8) + (int32_t)(((int64_t)(p->kw - 1) * p->dil_w) / d->s) + 1;
    d->rowst = (size_t)d->s * (size_t)d->lp;
    d->unitst = (size_t)d->hp * d->rowst;
    lanes = (int64_t)d->units * (int64_t)d->unitst;
    return lanes * 4 <= (int64_t)DX_PLANE;
}

/* int16 elements of scratch: alignment, the plane, the entry offsets, one block's weight pairs */
static size_t dx_scratch(const dx_plan *d)
{
    return 32 + 2 * ((size_t)d->units * d->unitst + 8) + 2 * (size_t)d->np + 2 * (size_t)DX_NC * (size_t)d->np + 32;
}

static inline T_AVX2 __m128i dx_row8(const int8_t *s, __m128i z)
{
    return _mm_sub_epi16(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)s)), z);
}

/* does an output row read padded row r (r = oy stride_h + ky dil_h for some oy < oh1, ky < kh)? */
static int dx_row_used(const nnb_i8_conv_params *p, const dx_plan *d, int32_t r)
{
    int32_t ky;
    if (p->stride_h == 1)
        return 1;
    for (ky = 0; ky < p->kh; ++ky) {
        const int32_t t = r - ky * p->dil_h;
        if (t >= 0 && t % p->stride_h == 0 && t / p->stride_h < d->oh1)
            return 1;
    }
    return 0;
}

/* the plane of image/group xg (cg channels of h1 x w1) */
static T_AVX2 void dx_build(const nnb_i8_conv_params *p, const dx_plan *d, const int8_t *xg, int32_t *plane)
{
    const int32_t cg = p->c / p->group, s = d->s, lp = d->lp, pw = p->pad_w, ph = p->pad_h, w1 = d->w1;
    const int32_t zin = p->in_zero;
    const size_t hw = (size_t)d->h1 * (size_t)w1;
    const __m128i z = _mm_set1_epi16((int16_t)zin);
    int32_t u, r, j, f;
    for (u = 0; u < d->units; ++u) {
        const int8_t *xa = xg + (size_t)(d->hz ? u : 2 * u) * hw;
        const int8_t *xb = d->hz ? xa : (2 * u + 1 < cg ? xa + hw : NULL);
        const int32_t sec = d->hz ? p->dil_w : 0; /* column offset of the pair's second value */
        for (r = 0; r < d->hp; ++r) {
            int32_t *row = plane + (size_t)u * d->unitst + (size_t)r * d->rowst;
            const int32_t iy = r - ph;
            const int8_t *ra = xa + (size_t)(iy >= 0 && iy < d->h1 ? iy : 0) * (size_t)w1;
            const int8_t *rb = xb ? xb + (size_t)(iy >= 0 && iy < d->h1 ? iy : 0) * (size_t)w1 : NULL;
            if (iy < 0 || iy >= d->h1) {
                memset(row, 0, d->rowst * sizeof *row);
                continue;
            }
            if (!dx_row_used(p, d, r))
                continue; /* no output row reads it (stride_h > 1) */
            for (f = 0; f < s; ++f) {
                int32_t *o = row + (size_t)f * (size_t)lp;
                j = 0;
                if (s == 1 && !d->hz) { /* pairs of channels, stride 1: eight columns per step */
                    for (; j < lp && j < pw; ++j)
                        o[j] = 0;
                    for (; j + 8 <= lp && j - pw + 8 <= w1; j += 8) {
                        const __m128i a = dx_row8(ra + (j - pw), z);
                        const __m128i b = rb ? dx_row8(rb + (j - pw), z) : _mm_setzero_si128();
                        _mm_storeu_si128((__m128i *)(void *)(o + j), _mm_unpacklo_epi16(a, b));
                        _mm_storeu_si128((__m128i *)(void *)(o + j + 4), _mm_unpackhi_epi16(a, b));
                    }
                } else if (s == 2 && !d->hz) { /* stride 2: the even bytes of sixteen, eight columns per step */
                    const __m128i even = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1);
                    for (; j < lp && 2 * j + f - pw < 0; ++j)
                        o[j] = 0;
                    for (; j + 8 <= lp && 2 * j + f - pw + 16 <= w1; j += 8) {
                        const int32_t c = 2 * j + f - pw;
                        const __m128i a = _mm_sub_epi16(_mm_cvtepi8_epi16(_mm_shuffle_epi8(
                                                            _mm_loadu_si128((const __m128i *)(const void *)(ra + c)), even)),
                                                        z);
                        const __m128i b =
                            rb ? _mm_sub_epi16(_mm_cvtepi8_epi16(_mm_shuffle_epi8(
                                                   _mm_loadu_si128((const __m128i *)(const void *)(rb + c)), even)),
                                               z)
                               : _mm_setzero_si128();
                        _mm_storeu_si128((__m128i *)(void *)(o + j), _mm_unpacklo_epi16(a, b));
                        _mm_storeu_si128((__m128i *)(void *)(o + j + 4), _mm_unpackhi_epi16(a, b));
                    }
                }
                for (; j < lp; ++j) {
                    const int32_t c = j * s + f - pw, c2 = c + sec;
                    const int32_t va = c >= 0 && c < w1 ? ra[c] - zin : 0;
                    const int32_t vb = d->hz ? (c2 >= 0 && c2 < w1 ? ra[c2] - zin : 0)
                                             : (rb && c >= 0 && c < w1 ? rb[c] - zin : 0);
                    o[j] = (int32_t)((uint32_t)(uint16_t)(int16_t)va | (uint32_t)(uint16_t)(int16_t)vb << 16);
                }
            }
        }
    }
}

/* entry offsets (lanes from an output position's first lane) in the order the weights are widened */
static void dx_offsets(const nnb_i8_conv_params *p, const dx_plan *d, int32_t *off)
{
    int32_t u, ky, kx, e = 0;
    const int32_t step = d->hz ? 2 : 1;
    for (u = 0; u < d->units; ++u)
        for (ky = 0; ky < p->kh; ++ky)
            for (kx = 0; kx < p->kw; kx += step) {
                const int32_t col = kx * p->dil_w;
                off[e++] = (int32_t)((size_t)u * d->unitst + (size_t)(ky * p->dil_h) * d->rowst +
                                     (size_t)(col % d->s) * (size_t)d->lp + (size_t)(col / d->s));
            }
}

static inline uint32_t dx_pair(int32_t a, int32_t b)
{
    return (uint32_t)(uint16_t)(int16_t)a | (uint32_t)(uint16_t)(int16_t)b << 16;
}

/* the weight pairs of channels c0 .. c0 + nc - 1 (group-relative rows wg), DX_NC rows of np, zero past nc */
static T_AVX2 void dx_weights(const nnb_i8_conv_params *p, const dx_plan *d, const int8_t *wg, int32_t c0,
                              int32_t nc, uint32_t *wv)
{
    const int32_t cg = p->c / p->group, taps = p->kh * p->kw, klen = cg * taps, np = d->np;
    int32_t c, u, t, e;
    for (c = 0; c < DX_NC; ++c) {
        const int8_t *wc = wg + (size_t)(c0 + c) * (size_t)klen;
        uint32_t *o = wv + (size_t)c * (size_t)np;
        if (c >= nc) {
            memset(o, 0, (size_t)np * sizeof *o);
            continue;
        }
        if (d->hz) {
            int32_t ky, kx;
            e = 0;
            for (ky = 0; ky < p->kh; ++ky)
                for (kx = 0; kx < p->kw; kx += 2)
                    o[e++] = dx_pair(wc[ky * p->kw + kx], kx + 1 < p->kw ? wc[ky * p->kw + kx + 1] : 0);
            continue;
        }
        if (taps == 1) { /* pairs of channels: adjacent bytes, sixteen per VPMOVSXBW */
            for (u = 0; 2 * u + 16 <= cg; u += 8)
                _mm256_storeu_si256((__m256i *)(void *)(o + u),
                                    _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wc + 2 * u))));
            for (; u < d->units; ++u)
                o[u] = dx_pair(wc[2 * u], 2 * u + 1 < cg ? wc[2 * u + 1] : 0);
            continue;
        }
        for (u = 0; u < d->units; ++u) { /* (w[2u][t], w[2u + 1][t]) for every tap t */
            const int8_t *a = wc + (size_t)(2 * u) * (size_t)taps;
            const int8_t *b = 2 * u + 1 < cg ? a + taps : NULL;
            uint32_t *ou = o + (size_t)u * (size_t)taps;
            t = 0;
            if (b)
                for (; t + 8 <= taps; t += 8) {
                    const __m128i va = _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)(a + t)));
                    const __m128i vb = _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)(b + t)));
                    _mm_storeu_si128((__m128i *)(void *)(ou + t), _mm_unpacklo_epi16(va, vb));
                    _mm_storeu_si128((__m128i *)(void *)(ou + t + 4), _mm_unpackhi_epi16(va, vb));
                }
            for (; t < taps; ++t)
                ou[t] = dx_pair(a[t], b ? b[t] : 0);
        }
    }
}

#define DX_MAC(acc, v, wgt) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(v, wgt))

/* six channels x sixteen positions from lanes src + off[e] */
static inline T_AVX2 void dx_6x16(const int32_t *src, const int32_t *off, int32_t np, const uint32_t *wv,
                                  const int32_t *b0, int32_t t[DX_NC][16])
{
    const int32_t *w0 = (const int32_t *)(const void *)wv, *w1 = w0 + np, *w2 = w1 + np, *w3 = w2 + np;
    const int32_t *w4 = w3 + np, *w5 = w4 + np;
    __m256i a0 = _mm256_set1_epi32(b0[0]), a1 = _mm256_set1_epi32(b0[1]), a2 = _mm256_set1_epi32(b0[2]);
    __m256i a3 = _mm256_set1_epi32(b0[3]), a4 = _mm256_set1_epi32(b0[4]), a5 = _mm256_set1_epi32(b0[5]);
    __m256i c0 = a0, c1 = a1, c2 = a2, c3 = a3, c4 = a4, c5 = a5;
    int32_t e;
    for (e = 0; e < np; ++e) {
        const int32_t *sp = src + off[e];
        const __m256i v0 = _mm256_loadu_si256((const __m256i *)(const void *)sp);
        const __m256i v1 = _mm256_loadu_si256((const __m256i *)(const void *)(sp + 8));
#define DX_MAC2(lo, hi, wk)                                                                                      \
    do {                                                                                                         \
        const __m256i wt = _mm256_set1_epi32(wk[e]);                                                             \
        DX_MAC(lo, v0, wt);                                                                                      \
        DX_MAC(hi, v1, wt);                                                                                      \
    } while (0)
        DX_MAC2(a0, c0, w0);
        DX_MAC2(a1, c1, w1);
        DX_MAC2(a2, c2, w2);
        DX_MAC2(a3, c3, w3);
        DX_MAC2(a4, c4, w4);
        DX_MAC2(a5, c5, w5);
#undef DX_MAC2
    }
#define DX_ST(i, lo, hi)                                                                                         \
    _mm256_storeu_si256((__m256i *)(void *)t[i], lo);                                                          \
    _mm256_storeu_si256((__m256i *)(void *)(t[i] + 8), hi)
    DX_ST(0, a0, c0);
    DX_ST(1, a1, c1);
    DX_ST(2, a2, c2);
    DX_ST(3, a3, c3);
    DX_ST(4, a4, c4);
    DX_ST(5, a5, c5);
    DX_ST(6, _mm256_setzero_si256(), _mm256_setzero_si256()); /* rows never output; written for the compiler */
    DX_ST(7, _mm256_setzero_si256(), _mm256_setzero_si256());
#undef DX_ST
}

/* eight channels x eight positions */
static inline T_AVX2 void dx_8x8(const int32_t *src, const int32_t *off, int32_t np, const uint32_t *wv,
                                 const int32_t *b0, int32_t t[DX_NC][16])
{
    const int32_t *w0 = (const int32_t *)(const void *)wv, *w1 = w0 + np, *w2 = w1 + np, *w3 = w2 + np;
    const int32_t *w4 = w3 + np, *w5 = w4 + np, *w6 = w5 + np, *w7 = w6 + np;
    __m256i a0 = _mm256_set1_epi32(b0[0]), a1 = _mm256_set1_epi32(b0[1]), a2 = _mm256_set1_epi32(b0[2]);
    __m256i a3 = _mm256_set1_epi32(b0[3]), a4 = _mm256_set1_epi32(b0[4]), a5 = _mm256_set1_epi32(b0[5]);
    __m256i a6 = _mm256_set1_epi32(b0[6]), a7 = _mm256_set1_epi32(b0[7]);
    int32_t e;
    for (e = 0; e < np; ++e) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(src + off[e]));
        DX_MAC(a0, v, _mm256_set1_epi32(w0[e]));
        DX_MAC(a1, v, _mm256_set1_epi32(w1[e]));
        DX_MAC(a2, v, _mm256_set1_epi32(w2[e]));
        DX_MAC(a3, v, _mm256_set1_epi32(w3[e]));
        DX_MAC(a4, v, _mm256_set1_epi32(w4[e]));
        DX_MAC(a5, v, _mm256_set1_epi32(w5[e]));
        DX_MAC(a6, v, _mm256_set1_epi32(w6[e]));
        DX_MAC(a7, v, _mm256_set1_epi32(w7[e]));
    }
    _mm256_storeu_si256((__m256i *)(void *)t[0], a0);
    _mm256_storeu_si256((__m256i *)(void *)t[1], a1);
    _mm256_storeu_si256((__m256i *)(void *)t[2], a2);
    _mm256_storeu_si256((__m256i *)(void *)t[3], a3);
    _mm256_storeu_si256((__m256i *)(void *)t[4], a4);
    _mm256_storeu_si256((__m256i *)(void *)t[5], a5);
    _mm256_storeu_si256((__m256i *)(void *)t[6], a6);
    _mm256_storeu_si256((__m256i *)(void *)t[7], a7);
    for (e = 0; e < DX_NC; ++e) /* the upper halves are never output; written for the compiler */
        _mm256_storeu_si256((__m256i *)(void *)(t[e] + 8), _mm256_setzero_si256());
}
#undef DX_MAC

/* the outputs of two eight-lane accumulators (positions 0..15, n of them) of one channel: the residual term,
 * requantization, zero point and clamp in registers, sixteen bytes in one store (out_n where a form is not vector) */
static inline T_AVX2 void out16_avx2(const out8 *o, const rq_ch *q, const rq_ch *rq, __m256i a, __m256i b, int32_t n,
                                     const int8_t *res, int8_t *y)
{
    if ((res && !rq->vec) || !q->vec) {
        int32_t t[16];
        _mm256_storeu_si256((__m256i *)(void *)t, a);
        _mm256_storeu_si256((__m256i *)(void *)(t + 8), b);
        out_n(o, q, rq, t, n, res, y);
        return;
    }
    if (res) {
        const __m256i zr = _mm256_set1_epi32(o->zres);
        int8_t r[16] = {0};
        const int8_t *rp = res;
        if (n < 16) {
            memcpy(r, res, (size_t)n);
            rp = r;
        }
        a = _mm256_add_epi32(a, rq8(_mm256_sub_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)rp)), zr), rq));
        if (n > 8)
            b = _mm256_add_epi32(
                b, rq8(_mm256_sub_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(rp + 8))), zr),
                       rq));
    }
    if (n <= 8) { /* eight lanes (the eight x eight form) */
        const __m256i z = _mm256_set1_epi32(o->zout), lo = _mm256_set1_epi32(o->lo), hi = _mm256_set1_epi32(o->hi);
        a = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(rq8(a, q), z), lo), hi);
        if (n == 8) {
            store8(y, a);
        } else {
            int8_t t8[8];
            store8(t8, a);
            memcpy(y, t8, (size_t)n);
        }
        return;
    }
    {
        const __m256i z = _mm256_set1_epi32(o->zout), lo = _mm256_set1_epi32(o->lo), hi = _mm256_set1_epi32(o->hi);
        __m256i pk;
        a = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(rq8(a, q), z), lo), hi);
        b = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(rq8(b, q), z), lo), hi);
        pk = _mm256_packs_epi32(a, b); /* a0-3 b0-3 | a4-7 b4-7 */
        pk = _mm256_packs_epi16(pk, pk);
        pk = _mm256_permutevar8x32_epi32(pk, _mm256_setr_epi32(0, 4, 1, 5, 0, 4, 1, 5));
        if (n == 16) {
            _mm_storeu_si128((__m128i *)(void *)y, _mm256_castsi256_si128(pk));
        } else {
            int8_t t8[16];
            _mm_storeu_si128((__m128i *)(void *)t8, _mm256_castsi256_si128(pk));
            memcpy(y, t8, (size_t)n);
        }
    }
}

static T_AVX2 void gemm_direct(const nnb_i8_conv_params *p, const dx_plan *d, const int8_t *x, const int8_t *w,
                               const int32_t *bias, const int32_t *mult, const int32_t *shift,
                               const int8_t *residual, const int32_t *res_mult, const int32_t *res_shift, int8_t *y,
                               int16_t *scratch)
{
    const int32_t cg = p->c / p->group, og = p->o / p->group, klen = cg * p->kh * p->kw, np = d->np;
    /* six channels x sixteen positions, or eight x eight: the one with more of its lanes and channels used (the
     * same MACs per instruction; six x sixteen loads less, so it wins within 5 %) */
    const int64_t u6 = (int64_t)(8 * ((og + 7) / 8)) * (8 * ((d->ow1 + 7) / 8));
    const int64_t u8 = (int64_t)(6 * ((og + 5) / 6)) * (16 * ((d->ow1 + 15) / 16));
    const int wide = d->ow1 > 8 && u6 * 21 >= u8 * 20;
    const int32_t nc_blk = wide ? 6 : 8, npos = wide ? 16 : 8;
    const size_t plane = (size_t)p->oh * (size_t)p->ow, rows_at = (size_t)p->stride_h * d->rowst;
    int32_t *pl = (int32_t *)(void *)(scratch + 16 - (((uintptr_t)scratch >> 1) & 15)); /* 32-byte aligned */
    int32_t *off = pl + (size_t)d->units * d->unitst + 8;
    uint32_t *wv = (uint32_t *)(void *)(off + np);
    const int64_t bound = bound_of(bias, p->o, klen, residual, res_mult, res_shift);
    rq_ch q[DX_NC], rq[DX_NC];
    out8 oc;
    int32_t b, g, c0, c, oy, ox;
    oc.zout = p->out_zero;
    oc.lo = p->act_min;
    oc.hi = p->act_max;
    oc.zres = p->res_zero;
    dx_offsets(p, d, off);
    for (b = 0; b < p->n; ++b)
        for (g = 0; g < p->group; ++g) {
            const int8_t *xg = x + ((size_t)b * (size_t)p->c + (size_t)g * (size_t)cg) * (size_t)p->h * (size_t)p->w;
            const int8_t *wg = w + (size_t)g * (size_t)og * (size_t)klen;
            dx_build(p, d, xg, pl);
            for (c0 = 0; c0 < og; c0 += nc_blk) {
                const int32_t nc = og - c0 < nc_blk ? og - c0 : nc_blk;
                int32_t b0[DX_NC];
                dx_weights(p, d, wg, c0, nc, wv);
                for (c = 0; c < DX_NC; ++c) {
                    const int32_t ch = g * og + c0 + (c < nc ? c : 0);
                    b0[c] = bias ? bias[ch] : 0;
                    rq_prepare(q + c, mult[ch], shift[ch], bound);
                    rq_prepare(rq + c, residual ? res_mult[ch] : 0, residual ? res_shift[ch] : 0, 255);
                }
                for (oy = 0; oy < d->oh1; ++oy)
                    for (ox = 0; ox < d->ow1; ox += npos) {
                        const int32_t n = d->ow1 - ox < npos ? d->ow1 - ox : npos;
                        int32_t t[DX_NC][16];
                        const int32_t *src = pl + (size_t)oy * rows_at + (size_t)ox;
                        if (wide)
                            dx_6x16(src, off, np, wv, b0, t);
                        else
                            dx_8x8(src, off, np, wv, b0, t);
                        for (c = 0; c < nc; ++c) {
                            const size_t at = ((size_t)b * (size_t)p->o + (size_t)(g * og + c0 + c)) * plane +
                                              (size_t)oy * (size_t)d->ow1 + (size_t)ox;
                            out16_avx2(&oc, q + c, rq + c, ld8(t[c]), ld8(t[c] + 8), n,
                                       residual ? residual + at : NULL, y + at);
                        }
                    }
            }
        }
}

#define SEGMAX 512 /* taps x row segments of a multi-row panel */

/* sixteen values of one k over the row segments: merging masked loads (masked-out bytes are never read) */
static inline T_VNNI __m128i multi_load(const int8_t *base, const intptr_t *off, const uint32_t *msk, int32_t nseg,
                                        int32_t sw, __m128i zfill, __m256i zfill2)
{
    int32_t sg;
    if (sw == 1) {
        __m128i v = zfill;
        for (sg = 0; sg < nseg; ++sg)
            if (msk[sg])
                v = _mm_mask_loadu_epi8(v, (__mmask16)msk[sg], (const void *)((uintptr_t)base + (uintptr_t)off[sg]));
        return v;
    } else {
        __m256i v = zfill2;
        for (sg = 0; sg < nseg; ++sg)
            if (msk[sg])
                v = _mm256_mask_loadu_epi8(v, (__mmask32)msk[sg], (const void *)((uintptr_t)base + (uintptr_t)off[sg]));
        return _mm256_cvtepi16_epi8(v);
    }
}

/* output rows narrower than a panel: how many row segments sixteen flat positions may cross */
static int32_t multi_segs(const nnb_i8_conv_params *p)
{
    return (NB + p->ow - 2) / p->ow + 1;
}

static int multi_ok(const nnb_i8_conv_params *p)
{
    return p->ow < NB && p->kh * p->kw * multi_segs(p) <= SEGMAX;
}

/* the panel of output row oy, columns ox0 .. ox0 + n - 1 (n <= 16; or flat positions ox0.. of a 1x1 stride-1
 * layer when flat, or flat positions ox0.. over several rows narrower than the panel when multi: one merging
 * masked load per row segment): bytes x + 128, four k per lane, padding in_zero + 128, k >= klen 0. Each kernel
 * tap's offset and lane mask are worked out once per panel. */
/* four values k of sixteen positions (v0..v3) as the panel's sixteen quads (x + 128, four k per 32-bit lane) */
static inline T_VNNI void quad_store(uint8_t *at, __m128i v0, __m128i v1, __m128i v2, __m128i v3)
{
    const __m128i a = _mm_unpacklo_epi8(v0, v1), b = _mm_unpackhi_epi8(v0, v1);
    const __m128i c = _mm_unpacklo_epi8(v2, v3), d = _mm_unpackhi_epi8(v2, v3);
    _mm_store_si128((__m128i *)(void *)at, _mm_unpacklo_epi16(a, c));
    _mm_store_si128((__m128i *)(void *)(at + 16), _mm_unpackhi_epi16(a, c));
    _mm_store_si128((__m128i *)(void *)(at + 32), _mm_unpacklo_epi16(b, d));
    _mm_store_si128((__m128i *)(void *)(at + 48), _mm_unpackhi_epi16(b, d));
}

static T_VNNI void panel_build(const nnb_i8_conv_params *p, const int8_t *xg, int32_t klen, int32_t oy, int32_t ox0,
                               int32_t n, int flat, int multi, uint8_t *panel)
{
    intptr_t soff[SEGMAX];
    uint32_t smsk[SEGMAX];
    int32_t nseg = 0;
    const int32_t kh = p->kh, kw = p->kw, h = p->h, wd = p->w, kp = (klen + 3) & ~3, sw = p->stride_w;
    const int32_t taps = kh * kw;
    const size_t hw = (size_t)h * (size_t)wd;
    const __m128i zfill = _mm_set1_epi8((char)p->in_zero), flip = _mm_set1_epi8((char)0x80);
    const __m256i zfill2 = _mm256_set1_epi8((char)p->in_zero);
    intptr_t off[TMAX];
    uint32_t msk[TMAX]; /* stride 1: lanes; stride 2: even bytes of 32; 0: all padding */
    const int8_t *base = xg;
    int32_t k4, ky, kx, tap = 0;
    if (flat) {
        off[0] = (intptr_t)ox0;
        msk[0] = (1u << n) - 1u;
    } else if (multi) { /* segment s of tap t at t nseg + s; msk[t]: any lane */
        int32_t f = ox0, lane = 0;
        while (lane < n) {
            const int32_t ry = f / p->ow, rx = f % p->ow, len = p->ow - rx < n - lane ? p->ow - rx : n - lane;
            for (ky = 0; ky < kh; ++ky) {
                const int32_t iy = ry * p->stride_h - p->pad_h + ky * p->dil_h;
                for (kx = 0; kx < kw; ++kx) {
                    const int32_t ix0 = rx * sw - p->pad_w + kx * p->dil_w, t = ky * kw + kx;
                    const int32_t lo = ix0 < 0 ? (sw == 1 ? -ix0 : (1 - ix0) >> 1) : 0;
                    const int32_t hi0 = sw == 1 ? wd - ix0 : (wd - ix0 + 1) >> 1, hi = hi0 < len ? hi0 : len;
                    uint32_t m = 0;
                    if (iy >= 0 && iy < h && hi > lo)
                        m = sw == 1 ? (((1u << hi) - 1u) & ~((1u << lo) - 1u)) << lane
                                    : (uint32_t)(((((uint64_t)1 << (2 * hi)) - 1u) & ~(((uint64_t)1 << (2 * lo)) - 1u)) &
                                                 0x55555555u)
                                          << (2 * lane);
                    soff[t * multi + nseg] = (intptr_t)iy * wd + ix0 - (intptr_t)lane * sw;
                    smsk[t * multi + nseg] = m;
                }
            }
            lane += len;
            f += len;
            ++nseg;
        }
        for (tap = 0; tap < taps; ++tap) {
            int32_t sg;
            msk[tap] = 0;
            for (sg = 0; sg < nseg; ++sg)
                msk[tap] |= smsk[tap * multi + sg];
            off[tap] = 0;
        }
        tap = 0;
    } else {
        for (ky = 0; ky < kh; ++ky) {
            const int32_t iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
            for (kx = 0; kx < kw; ++kx) {
                const int32_t ix0 = ox0 * sw - p->pad_w + kx * p->dil_w;
                const int32_t lo = ix0 < 0 ? (sw == 1 ? -ix0 : (1 - ix0) >> 1) : 0;
                const int32_t hi0 = sw == 1 ? wd - ix0 : (wd - ix0 + 1) >> 1, hi = hi0 < n ? hi0 : n;
                uint32_t m = 0;
                if (iy >= 0 && iy < h && hi > lo)
                    m = sw == 1 ? ((1u << hi) - 1u) & ~((1u << lo) - 1u)
                                : (uint32_t)((((uint64_t)1 << (2 * hi)) - 1u) & ~(((uint64_t)1 << (2 * lo)) - 1u)) &
                                      0x55555555u;
                off[ky * kw + kx] = (intptr_t)iy * wd + ix0;
                msk[ky * kw + kx] = m;
            }
        }
    }
    k4 = 0;
    if (!flat && !multi && sw == 1) /* whole quads without the general path's branches (a zero mask loads zfill
                                       and reads nothing) */
        for (; k4 + 4 <= klen; k4 += 4) {
            __m128i v[4];
            int32_t j;
            for (j = 0; j < 4; ++j) {
                v[j] = _mm_xor_si128(_mm_mask_loadu_epi8(zfill, (__mmask16)msk[tap],
                                                         (const void *)((uintptr_t)base + (uintptr_t)off[tap])),
                                     flip);
                if (++tap == taps) {
                    tap = 0;
                    base += hw;
                }
            }
            quad_store(panel + (size_t)k4 * NB, v[0], v[1], v[2], v[3]);
        }
    for (; k4 < kp; k4 += 4) {
        __m128i v0, v1, v2, v3;
        /* value k's sixteen bytes: masked loads never touch a masked-out byte; the address is formed as an
         * integer because it may lie before the row */
#define I8_LOADK(v, k)                                                                                           \
    do {                                                                                                         \
        if ((k) >= klen) {                                                                                       \
            v = flip; /* 0 after the flip below: no contribution whatever the (zero) weight */                   \
        } else {                                                                                                 \
            const void *at = (const void *)((uintptr_t)base + (uintptr_t)off[tap]);                              \
            if (!msk[tap])                                                                                       \
                v = zfill;                                                                                       \
            else if (multi)                                                                                      \
                v = multi_load(base, soff + tap * multi, smsk + tap * multi, nseg, sw, zfill, zfill2);           \
            else if (flat || sw == 1)                                                                            \
                v = _mm_mask_loadu_epi8(zfill, (__mmask16)msk[tap], at);                                         \
            else                                                                                                 \
                v = _mm256_cvtepi16_epi8(_mm256_mask_loadu_epi8(zfill2, (__mmask32)msk[tap], at));               \
            if (flat || ++tap == taps) {                                                                         \
                tap = 0;                                                                                         \
                base += hw;                                                                                      \
            }                                                                                                    \
        }                                                                                                        \
        v = _mm_xor_si128(v, flip);                                                                              \
    } while (0)
        I8_LOADK(v0, k4);
        I8_LOADK(v1, k4 + 1);
        I8_LOADK(v2, k4 + 2);
        I8_LOADK(v3, k4 + 3);
#undef I8_LOADK
        quad_store(panel + (size_t)k4 * NB, v0, v1, v2, v3);
    }
}

static T_VNNI void gemm_vnni(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                             const int32_t *mult, const int32_t *shift, const int8_t *residual,
                             const int32_t *res_mult, const int32_t *res_shift, int8_t *y, int16_t *scratch)
{
    const int32_t cg = p->c / p->group, og = p->o / p->group, klen = cg * p->kh * p->kw, kp = (klen + 3) & ~3;
    const int32_t kq = kp / 4, oh = p->oh, ow = p->ow;
    const int flat = p->kh == 1 && p->kw == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_h == 0 &&
                     p->pad_w == 0;
    const size_t plane = (size_t)oh * (size_t)ow;
    uint8_t *panel = (uint8_t *)(void *)scratch;
    uint8_t *wpack;
    int32_t *bias2;
    rq_ch *rqs;
    const int64_t bound = bound_of(bias, p->o, klen, residual, res_mult, res_shift);
    out8 oc;
    int32_t b, g, c, oy, ox0, i;
    panel += (64 - ((uintptr_t)panel & 63)) & 63;
    wpack = panel + 2 * (size_t)kp * NB;
    bias2 = (int32_t *)(void *)(wpack + (klen % 4 ? (size_t)og * (size_t)kp : 0));
    rqs = (rq_ch *)(void *)(bias2 + og); /* [og] for the outputs, then [og] for the residual terms */
    oc.zout = p->out_zero;
    oc.lo = p->act_min;
    oc.hi = p->act_max;
    oc.zres = p->res_zero;
    for (g = 0; g < p->group; ++g) {
        const int8_t *wg = w + (size_t)g * (size_t)og * (size_t)klen, *wrows = wg;
        size_t wstride = (size_t)klen;
        if (klen % 4) { /* rows padded to a multiple of four with zero weights */
            for (c = 0; c < og; ++c)
                for (i = 0; i < kp; ++i)
                    wpack[(size_t)c * (size_t)kp + (size_t)i] = (uint8_t)(i < klen ? wg[(size_t)c * (size_t)klen + (size_t)i] : 0);
            wrows = (const int8_t *)wpack;
            wstride = (size_t)kp;
        }
        for (c = 0; c < og; ++c) { /* bias - (in_zero + 128) * sum w, in wrapping arithmetic */
            const int8_t *wc = wg + (size_t)c * (size_t)klen;
            __m512i sw = _mm512_setzero_si512();
            uint32_t s;
            for (i = 0; i < klen; i += 64) {
                const int32_t len = klen - i < 64 ? klen - i : 64;
                const __mmask64 m = len == 64 ? ~(__mmask64)0 : (((__mmask64)1 << len) - 1u);
                sw = _mm512_dpbusd_epi32(sw, _mm512_set1_epi8(1), _mm512_maskz_loadu_epi8(m, wc + i));
            }
            s = (uint32_t)_mm512_reduce_add_epi32(sw);
            bias2[c] = (int32_t)((uint32_t)(bias ? bias[g * og + c] : 0) - (uint32_t)(p->in_zero + 128) * s);
            rq_prepare(rqs + c, mult[g * og + c], shift[g * og + c], bound);
            rq_prepare(rqs + og + c, residual ? res_mult[g * og + c] : 0, residual ? res_shift[g * og + c] : 0, 255);
        }
        for (b = 0; b < p->n; ++b) {
            const int8_t *xg = x + ((size_t)b * (size_t)p->c + (size_t)g * (size_t)cg) * (size_t)p->h * (size_t)p->w;
            const int32_t multi = !flat && multi_ok(p) ? multi_segs(p) : 0; /* stride of the segment tables */
            const int32_t rows = flat || multi ? 1 : oh, width = flat || multi ? oh * ow : ow;
            for (oy = 0; oy < rows; ++oy)
                for (ox0 = 0; ox0 < width; ox0 += 2 * NB) { /* two panels (32 positions) when the row has them */
                    const int32_t n = width - ox0 < 2 * NB ? width - ox0 : 2 * NB, two = n > NB;
                    const size_t pos = (size_t)oy * (size_t)ow + (size_t)ox0;
                    panel_build(p, xg, klen, oy, ox0, two ? NB : n, flat, multi, panel);
                    if (two)
                        panel_build(p, xg, klen, oy, ox0 + NB, n - NB, flat, multi, panel + (size_t)kp * NB);
                    for (c = 0; c < og; c += NC) {
                        const int32_t nc = og - c < NC ? og - c : NC;
                        __m512i acc[2 * NC], a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7;
                        const int8_t *wr[NC];
                        int32_t j, q;
                        for (j = 0; j < NC; ++j)
                            wr[j] = wrows + (size_t)(c + (j < nc ? j : 0)) * wstride;
                        a0 = _mm512_set1_epi32(bias2[c]);
                        a1 = a2 = a3 = a4 = a5 = a6 = a7 = b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = a0;
#define I8_W(j) _mm512_set1_epi32(w4(wr[j] + (size_t)q * 4))
                        if (two) {
                            const uint8_t *panel2 = panel + (size_t)kp * NB;
                            for (q = 0; q < kq; ++q) { /* 8 channels x 32 positions: 16 accumulators */
                                const __m512i pv = _mm512_load_si512((const void *)(panel + (size_t)q * 64));
                                const __m512i pw2 = _mm512_load_si512((const void *)(panel2 + (size_t)q * 64));
                                __m512i wv = I8_W(0);
                                a0 = _mm512_dpbusd_epi32(a0, pv, wv);
                                b0 = _mm512_dpbusd_epi32(b0, pw2, wv);
                                wv = I8_W(1);
                                a1 = _mm512_dpbusd_epi32(a1, pv, wv);
                                b1 = _mm512_dpbusd_epi32(b1, pw2, wv);
                                wv = I8_W(2);
                                a2 = _mm512_dpbusd_epi32(a2, pv, wv);
                                b2 = _mm512_dpbusd_epi32(b2, pw2, wv);
                                wv = I8_W(3);
                                a3 = _mm512_dpbusd_epi32(a3, pv, wv);
                                b3 = _mm512_dpbusd_epi32(b3, pw2, wv);
                                wv = I8_W(4);
                                a4 = _mm512_dpbusd_epi32(a4, pv, wv);
                                b4 = _mm512_dpbusd_epi32(b4, pw2, wv);
                                wv = I8_W(5);
                                a5 = _mm512_dpbusd_epi32(a5, pv, wv);
                                b5 = _mm512_dpbusd_epi32(b5, pw2, wv);
                                wv = I8_W(6);
                                a6 = _mm512_dpbusd_epi32(a6, pv, wv);
                                b6 = _mm512_dpbusd_epi32(b6, pw2, wv);
                                wv = I8_W(7);
                                a7 = _mm512_dpbusd_epi32(a7, pv, wv);
                                b7 = _mm512_dpbusd_epi32(b7, pw2, wv);
                            }
                        } else {
                            for (q = 0; q < kq; ++q) { /* eight channels in registers: 64 MACs per VPDPBUSD */
                                const __m512i pv = _mm512_load_si512((const void *)(panel + (size_t)q * 64));
                                a0 = _mm512_dpbusd_epi32(a0, pv, I8_W(0));
                                a1 = _mm512_dpbusd_epi32(a1, pv, I8_W(1));
                                a2 = _mm512_dpbusd_epi32(a2, pv, I8_W(2));
                                a3 = _mm512_dpbusd_epi32(a3, pv, I8_W(3));
                                a4 = _mm512_dpbusd_epi32(a4, pv, I8_W(4));
                                a5 = _mm512_dpbusd_epi32(a5, pv, I8_W(5));
                                a6 = _mm512_dpbusd_epi32(a6, pv, I8_W(6));
                                a7 = _mm512_dpbusd_epi32(a7, pv, I8_W(7));
                            }
                        }
#undef I8_W
                        acc[0] = a0;
                        acc[1] = a1;
                        acc[2] = a2;
                        acc[3] = a3;
                        acc[4] = a4;
                        acc[5] = a5;
                        acc[6] = a6;
                        acc[7] = a7;
                        acc[8] = b0;
                        acc[9] = b1;
                        acc[10] = b2;
                        acc[11] = b3;
                        acc[12] = b4;
                        acc[13] = b5;
                        acc[14] = b6;
                        acc[15] = b7;
                        for (j = 0; j < nc; ++j) {
                            const int32_t ch = g * og + c + j;
                            const size_t at = ((size_t)b * (size_t)p->o + (size_t)ch) * plane + pos;
                            /* the bias of each channel: every accumulator started from channel c's */
                            const __m512i db = _mm512_set1_epi32((int32_t)((uint32_t)bias2[c + j] - (uint32_t)bias2[c]));
                            const rq_ch *qc = rqs + c + j, *rc = rqs + og + c + j;
                            out16z(&oc, qc, rc, _mm512_add_epi32(acc[j], db), two ? NB : n,
                                   residual ? residual + at : NULL, y + at);
                            if (two)
                                out16z(&oc, qc, rc, _mm512_add_epi32(acc[NC + j], db), n - NB,
                                       residual ? residual + at + NB : NULL, y + at + NB);
                        }
                    }
                }
        }
    }
}

/* ---------- row quads (one-channel first convolutions, wide kernels), AVX-512 VNNI + VBMI ---------- */

/* An im2col panel is a sliding window over input rows, so it is formed in registers: for each input channel and
 * kernel row, the input bytes a panel of sixteen positions reads (one output row's sixteen columns, or up to four
 * output rows narrower than the panel, each in a slot of 16, 32 or 64 bytes; merging masked loads, in_zero outside
 * the input) are one register, and one VPERMB per four kernel columns (bytes past kw zeroed) gives every position's
 * four taps as the unsigned bytes VPDPBUSD takes (x + 128, the bias folded as gemm_vnni folds it). Up to sixteen
 * channels accumulate in registers and the weights are read in place: no panel, no transpose, and the scratch is
 * one copy of the last channel's weights (its last quad may reach past the array). Taken for one input channel
 * and for kernels of >= 5 columns (kw 3: a quad of 3 taps wastes a quarter of the MACs the packed GEMM uses). */

#define RQ_CH 256 /* output channels (their folded biases and requantizations live on the stack) */

static int g_vbmi = -1;

static int rq_vbmi(void)
{
    if (g_vbmi < 0) {
        __builtin_cpu_init();
        g_vbmi = __builtin_cpu_supports("avx512vbmi") ? 1 : 0;
    }
    return g_vbmi;
}

/* a panel's output rows (rows > 1: whole rows narrower than 16, each in a slot of `slot` bytes) or, rows == 1,
 * sixteen columns of one row; 0 when a row's window does not fit 64 bytes */
static int rq_layout(const nnb_i8_conv_params *p, int32_t *rows, int32_t *slot)
{
    const int32_t len = p->ow < NB ? p->ow : NB;
    const int64_t span = (int64_t)(len - 1) * p->stride_w + (int64_t)(p->kw - 1) * p->dil_w + 1;
    if (span > 64)
        return 0;
    *slot = span <= 16 ? 16 : span <= 32 ? 32 : 64;
    *rows = p->ow < NB ? NB / p->ow : 1;
    if (*rows > 64 / *slot)
        *rows = 64 / *slot;
    return 1;
}

static int rq_ok(const nnb_i8_conv_params *p)
{
    int32_t rows, slot;
    return p->group == 1 && (p->c == 1 || p->kw >= 5) && p->o <= RQ_CH && p->kw <= 16 && p->kh <= 64 &&
           (int64_t)p->c * p->kh * p->kw <= 65536 && rq_layout(p, &rows, &slot);
}

/* int16 elements: the last channel's weights and four bytes of zeros */
static size_t rq_scratch(const nnb_i8_conv_params *p)
{
    return ((size_t)p->c * (size_t)p->kh * (size_t)p->kw + 4) / 2 + 1;
}

/* per call (the pooled and banded glue calls a layer once per band of rows, so this stays short): the folded
 * biases bias - (in_zero + 128) sum w (wrapping arithmetic; VPDPBUSD sums), the requantizations (the residual's
 * only with a residual), and per quad of kernel columns VPERMB's byte indices (lane L, row s of the panel, column
 * i: byte s slot + i sw + k dw) and the mask of the bytes k < kw */
static T_VNNI void rq_setup(const nnb_i8_conv_params *p, const int8_t *w, const int32_t *bias, const int32_t *mult,
                            const int32_t *shift, const int8_t *residual, const int32_t *res_mult,
                            const int32_t *res_shift, int32_t rows, int32_t slot, int32_t *b2, rq_ch *rqs,
                            __m512i *idx, __mmask64 *km)
{
    const int32_t og = p->o, kw = p->kw, nq = (kw + 3) / 4, len = rows > 1 ? p->ow : NB;
    const size_t klen = (size_t)p->c * (size_t)p->kh * (size_t)kw;
    const int64_t bound = bound_of(bias, og, (int32_t)klen, residual, res_mult, res_shift);
    int32_t c, q, s, col, b;
    for (c = 0; c < og; ++c) {
        const int8_t *wc = w + (size_t)c * klen;
        __m512i sw = _mm512_setzero_si512();
        size_t i;
        for (i = 0; i < klen; i += 64) {
            const size_t l = klen - i < 64 ? klen - i : 64;
            const __mmask64 m = l == 64 ? ~(__mmask64)0 : (((__mmask64)1 << l) - 1u);
            sw = _mm512_dpbusd_epi32(sw, _mm512_set1_epi8(1), _mm512_maskz_loadu_epi8(m, wc + i));
        }
        b2[c] = (int32_t)((uint32_t)(bias ? bias[c] : 0) -
                          (uint32_t)(p->in_zero + 128) * (uint32_t)_mm512_reduce_add_epi32(sw));
        rq_prepare(rqs + c, mult[c], shift[c], bound);
        if (residual)
            rq_prepare(rqs + og + c, res_mult[c], res_shift[c], 255);
    }
    for (q = 0; q < nq; ++q) {
        uint8_t ix[64] = {0};
        uint64_t m = 0;
        for (s = 0; s < rows && s * len < NB; ++s)
            for (col = 0; col < len && s * len + col < NB; ++col)
                for (b = 0; b < 4 && 4 * q + b < kw; ++b) {
                    const int32_t lane = s * len + col;
                    ix[lane * 4 + b] = (uint8_t)(s * slot + col * p->stride_w + (4 * q + b) * p->dil_w);
                    m |= (uint64_t)1 << (lane * 4 + b);
                }
        idx[q] = _mm512_loadu_si512((const void *)ix);
        km[q] = (__mmask64)m;
    }
}

typedef nnb_i8_rq_panel rq_panel; /* conv_x86_pool.h */

/* the first input column a panel reads (col0) and the mask of its bytes inside the row (m0) */
static inline __attribute__((always_inline)) uint64_t rq_cols(const nnb_i8_conv_params *p, const rq_panel *pn,
                                                              int64_t *col0)
{
    const int64_t c0 = (int64_t)pn->ox0 * p->stride_w - p->pad_w;
    const int64_t lo = c0 < 0 ? -c0 : 0, hi = p->w - c0 < pn->span ? p->w - c0 : pn->span;
    *col0 = c0;
    return hi > lo ? (hi >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << hi) - 1u)) & ~(((uint64_t)1 << lo) - 1u) : 0;
}

/* the bytes kernel row ky of input channel ci gives the panel's rows from output row oy0 (one slot a row; in_zero
 * outside the input), as x + 128 */
static inline __attribute__((always_inline)) T_VBMI __m512i rq_src(const nnb_i8_conv_params *p, const rq_panel *pn,
                                                                   int32_t oy0, int32_t ci, int32_t ky, int64_t col0,
                                                                   uint64_t m0)
{
    const size_t hw = (size_t)p->h * (size_t)p->w;
    __m512i src = _mm512_set1_epi8((char)p->in_zero);
    int32_t s;
    for (s = 0; s < pn->nrow; ++s) {
        const int32_t iy = (oy0 + s) * p->stride_h - p->pad_h + ky * p->dil_h;
        if (iy >= 0 && iy < p->h && m0)
            /* the address may lie before the row: formed as an integer, masked bytes never read */
            src = _mm512_mask_loadu_epi8(src, (__mmask64)(m0 << (s * pn->slot)),
                                         (const void *)((uintptr_t)pn->x + (uintptr_t)((size_t)ci * hw) +
                                                        (uintptr_t)((int64_t)iy * p->w + col0 - s * pn->slot)));
    }
    return _mm512_xor_si512(src, _mm512_set1_epi8((char)0x80));
}

/* acc[j] (j < nch) over every input channel, kernel row and quad; channel j's weights at wr[j] */
static inline __attribute__((always_inline)) T_VBMI void rq_dot(const nnb_i8_conv_params *p, const rq_panel *pn,
                                                                 const int8_t *const *wr, const int32_t *b2,
                                                                 __m512i *acc, const int nch)
{
    const int32_t kh = p->kh, kw = p->kw, nq = (kw + 3) / 4;
    int64_t col0;
    const uint64_t m0 = rq_cols(p, pn, &col0);
    int32_t ci, ky, q;
    int j;
    for (j = 0; j < nch; ++j)
        acc[j] = _mm512_set1_epi32(b2[j]);
    for (ci = 0; ci < p->c; ++ci)
        for (ky = 0; ky < kh; ++ky) {
            const size_t wo = ((size_t)ci * (size_t)kh + (size_t)ky) * (size_t)kw;
            const __m512i src = rq_src(p, pn, pn->oy0, ci, ky, col0, m0);
            for (q = 0; q < nq; ++q) {
                const __m512i qv = _mm512_maskz_permutexvar_epi8(pn->km[q], pn->idx[q], src);
                for (j = 0; j < nch; ++j)
                    acc[j] = _mm512_dpbusd_epi32(acc[j], qv, _mm512_set1_epi32(w4(wr[j] + wo + (size_t)q * 4)));
            }
        }
}

static T_VBMI void rq_conv(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                           const int32_t *mult, const int32_t *shift, const int8_t *residual, const int32_t *res_mult,
                           const int32_t *res_shift, int8_t *y, int16_t *scratch)
{
    const int32_t kh = p->kh, kw = p->kw, og = p->o, ow = p->ow, sw = p->stride_w;
    const size_t klen = (size_t)p->c * (size_t)kh * (size_t)kw, plane = (size_t)p->oh * (size_t)ow;
    int8_t *last = (int8_t *)(void *)scratch;
    int32_t b2[RQ_CH];
    rq_ch rqs[2 * RQ_CH];
    rq_panel pn;
    int32_t rows = 1, slot = 64, c, nb;
    out8 oc;
    (void)rq_layout(p, &rows, &slot);
    memcpy(last, w + (size_t)(og - 1) * klen, klen);
    memset(last + klen, 0, 4);
    oc.zout = p->out_zero;
    oc.lo = p->act_min;
    oc.hi = p->act_max;
    oc.zres = p->res_zero;
    rq_setup(p, w, bias, mult, shift, residual, res_mult, res_shift, rows, slot, b2, rqs, pn.idx, pn.km);
    pn.slot = slot;
    for (nb = 0; nb < p->n; ++nb) {
        int8_t *yb = y + (size_t)nb * (size_t)og * plane;
        const int8_t *rb = residual ? residual + (size_t)nb * (size_t)og * plane : NULL;
        pn.x = x + (size_t)nb * klen / (size_t)(kh * kw) * (size_t)p->h * (size_t)p->w;
        for (pn.oy0 = 0; pn.oy0 < p->oh; pn.oy0 += rows)
            for (pn.ox0 = 0; pn.ox0 < ow; pn.ox0 += NB) {
                const int32_t len = rows > 1 ? ow : (ow - pn.ox0 < NB ? ow - pn.ox0 : NB);
                const size_t pos = (size_t)pn.oy0 * (size_t)ow + (size_t)pn.ox0;
                int32_t n;
                pn.nrow = p->oh - pn.oy0 < rows ? p->oh - pn.oy0 : rows;
                pn.span = (len - 1) * sw + (kw - 1) * p->dil_w + 1;
                n = pn.nrow * len;
                for (c = 0; c < og;) {
                    __m512i acc[16];
                    const int8_t *wr[16];
                    const int32_t left = og - c;
                    const int nch = left >= 16 ? 16 : left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
                    int j;
                    for (j = 0; j < nch; ++j)
                        wr[j] = c + j == og - 1 ? last : w + (size_t)(c + j) * klen;
                    if (nch == 16)
                        rq_dot(p, &pn, wr, b2 + c, acc, 16);
                    else if (nch == 8)
                        rq_dot(p, &pn, wr, b2 + c, acc, 8);
                    else if (nch == 4)
                        rq_dot(p, &pn, wr, b2 + c, acc, 4);
                    else if (nch == 2)
                        rq_dot(p, &pn, wr, b2 + c, acc, 2);
                    else
                        rq_dot(p, &pn, wr, b2 + c, acc, 1);
                    for (j = 0; j < nch; ++j) {
                        const size_t at = (size_t)(c + j) * plane + pos;
                        out16z(&oc, rqs + c + j, rqs + og + c + j, acc[j], n, rb ? rb + at : NULL, yb + at);
                    }
                    c += nch;
                }
            }
    }
}

/* one input channel: the panel's kh ceil(kw / 4) quad vectors formed once into scratch and read by every channel
 * block, the weights packed as zero-padded quads (dscnn's first layer, 64 channels: 9.1 us against 11.3 us in
 * registers) */
/* the last channels whose last quad may reach past the weight array (one unless kh kw < 4) */
static int32_t c1_tail(const nnb_i8_conv_params *p)
{
    const int32_t klen = p->kh * p->kw, t = (4 + klen - 1) / klen;
    return t < p->o ? t : p->o;
}

/* int16 elements: alignment, kh * nq quad vectors of 64 bytes, a copy of the last channels' weights (c1_tail;
 * fewer than klen + 4 bytes) and four zero bytes */
static size_t c1_scratch(const nnb_i8_conv_params *p)
{
    const size_t nq = (size_t)(p->kw + 3) / 4, v = (size_t)p->kh * nq;
    return (64 + v * 64 + (size_t)c1_tail(p) * (size_t)p->kh * (size_t)p->kw + 4) / 2 + 1;
}

/* acc[j] (j < nch) over the panel's nv quad vectors, channel j's weights at wr[j] (quad v at wo[v]; the bytes past
 * kw meet zeros in the panel) */
static inline __attribute__((always_inline)) T_VNNI void c1_dot(const uint8_t *panel, int32_t nv, const int32_t *wo,
                                                                 const int8_t *const *wr, const int32_t *b2,
                                                                 __m512i *acc, const int nch)
{
    int32_t v;
    int j;
    for (j = 0; j < nch; ++j)
        acc[j] = _mm512_set1_epi32(b2[j]);
    for (v = 0; v < nv; ++v) {
        const __m512i pv = _mm512_load_si512((const void *)(panel + (size_t)v * 64));
        for (j = 0; j < nch; ++j)
            acc[j] = _mm512_dpbusd_epi32(acc[j], pv, _mm512_set1_epi32(w4(wr[j] + wo[v])));
    }
}

static T_VBMI void c1_conv(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                           const int32_t *mult, const int32_t *shift, const int8_t *residual, const int32_t *res_mult,
                           const int32_t *res_shift, int8_t *y, int16_t *scratch)
{
    const int32_t kh = p->kh, kw = p->kw, nq = (kw + 3) / 4, nv = kh * nq, og = p->o, ow = p->ow, sw = p->stride_w;
    const size_t plane = (size_t)p->oh * (size_t)ow, hw = (size_t)p->h * (size_t)p->w;
    uint8_t *panel = (uint8_t *)(void *)scratch;
    const size_t klen = (size_t)kh * (size_t)kw;
    const int32_t tail = c1_tail(p);
    int8_t *last;
    int32_t b2[RQ_CH], wo[64 * 4];
    rq_ch rqs[2 * RQ_CH];
    __m512i idx[4];
    __mmask64 km[4];
    int32_t rows = 1, slot = 64, c, q, ky, nb, oy0, ox0;
    out8 oc;
    (void)rq_layout(p, &rows, &slot);
    panel += (64 - ((uintptr_t)panel & 63)) & 63;
    last = (int8_t *)(panel + (size_t)nv * 64);
    memcpy(last, w + (size_t)(og - tail) * klen, (size_t)tail * klen);
    memset(last + (size_t)tail * klen, 0, 4);
    for (ky = 0; ky < kh; ++ky)
        for (q = 0; q < nq; ++q)
            wo[ky * nq + q] = ky * kw + 4 * q;
    oc.zout = p->out_zero;
    oc.lo = p->act_min;
    oc.hi = p->act_max;
    oc.zres = p->res_zero;
    rq_setup(p, w, bias, mult, shift, residual, res_mult, res_shift, rows, slot, b2, rqs, idx, km);
    for (nb = 0; nb < p->n; ++nb) {
        const int8_t *xb = x + (size_t)nb * hw;
        int8_t *yb = y + (size_t)nb * (size_t)og * plane;
        const int8_t *rb = residual ? residual + (size_t)nb * (size_t)og * plane : NULL;
        for (oy0 = 0; oy0 < p->oh; oy0 += rows)
            for (ox0 = 0; ox0 < ow; ox0 += NB) {
                const int32_t nrow = p->oh - oy0 < rows ? p->oh - oy0 : rows;
                const int32_t len = rows > 1 ? ow : (ow - ox0 < NB ? ow - ox0 : NB), n = nrow * len;
                const int64_t span = (int64_t)(len - 1) * sw + (int64_t)(kw - 1) * p->dil_w + 1;
                const int64_t col0 = (int64_t)ox0 * sw - p->pad_w;
                const int64_t lo = col0 < 0 ? -col0 : 0, hi = p->w - col0 < span ? p->w - col0 : span;
                const uint64_t m0 =
                    hi > lo ? (hi >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << hi) - 1u)) & ~(((uint64_t)1 << lo) - 1u) : 0;
                const size_t pos = (size_t)oy0 * (size_t)ow + (size_t)ox0;
                for (ky = 0; ky < kh; ++ky) {
                    __m512i src = _mm512_set1_epi8((char)p->in_zero);
                    int32_t s;
                    for (s = 0; s < nrow; ++s) {
                        const int32_t iy = (oy0 + s) * p->stride_h - p->pad_h + ky * p->dil_h;
                        if (iy >= 0 && iy < p->h && m0)
                            /* the address may lie before the row: formed as an integer, masked bytes never read */
                            src = _mm512_mask_loadu_epi8(
                                src, (__mmask64)(m0 << (s * slot)),
                                (const void *)((uintptr_t)xb + (uintptr_t)((int64_t)iy * p->w + col0 - s * slot)));
                    }
                    src = _mm512_xor_si512(src, _mm512_set1_epi8((char)0x80));
                    for (q = 0; q < nq; ++q)
                        _mm512_store_si512((void *)(panel + (size_t)(ky * nq + q) * 64),
                                           _mm512_maskz_permutexvar_epi8(km[q], idx[q], src));
                }
                for (c = 0; c < og;) {
                    __m512i acc[16];
                    const int32_t left = og - c;
                    const int nch = left >= 16 ? 16 : left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
                    const int8_t *wr[16];
                    int j;
                    for (j = 0; j < nch; ++j)
                        wr[j] = c + j >= og - tail ? last + (size_t)(c + j - (og - tail)) * klen
                                                   : w + (size_t)(c + j) * klen;
                    if (nch == 16)
                        c1_dot(panel, nv, wo, wr, b2 + c, acc, 16);
                    else if (nch == 8)
                        c1_dot(panel, nv, wo, wr, b2 + c, acc, 8);
                    else if (nch == 4)
                        c1_dot(panel, nv, wo, wr, b2 + c, acc, 4);
                    else if (nch == 2)
                        c1_dot(panel, nv, wo, wr, b2 + c, acc, 2);
                    else
                        c1_dot(panel, nv, wo, wr, b2 + c, acc, 1);
                    for (j = 0; j < nch; ++j) {
                        const size_t at = (size_t)(c + j) * plane + pos;
                        out16z(&oc, rqs + c + j, rqs + og + c + j, acc[j], n, rb ? rb + at : NULL, yb + at);
                    }
                    c += nch;
                }
            }
    }
}

/* ---------- the row-quads form's pieces for the pooled form (conv_x86_pool.c) ----------
 * The pooled form (convolution + max pool, Q8QConv + pool on VNNI + VBMI) asks here for one layer's constants
 * (nnb_i8_x86_rq_prep: rq_setup's, the last channel's weights in scratch) and, per block of sixteen positions and up
 * to sixteen channels, for the accumulators of a window's rows already folded to their extreme (nnb_i8_x86_rq_acc;
 * sixteen channels by rq_dot_pv16), then requantizes only the pooled extremes (nnb_i8_x86_rq_out). lenet's two
 * layers: x86 scratch 6,271 -> 511 B of the runtime's arena, 31.7 -> 26.7 us through the runtime (loaded machine). */

typedef char nnb_i8_rq_words[sizeof(rq_ch) == NNB_I8_XP_RQW * sizeof(int32_t) ? 1 : -1];

int nnb_i8_x86_rq_ok(const nnb_i8_conv_params *p, int32_t *rows, int32_t *slot)
{
    return nnb_i8_x86_level() >= 2 && rq_vbmi() && rq_ok(p) && RQ_CH == NNB_I8_XP_CH && rq_layout(p, rows, slot);
}

void nnb_i8_x86_rq_prep(const nnb_i8_conv_params *p, const int8_t *w, const int32_t *bias, const int32_t *mult,
                        const int32_t *shift, int8_t *last, nnb_i8_rqx *s)
{
    const size_t klen = (size_t)p->c * (size_t)p->kh * (size_t)p->kw;
    rq_ch rqs[RQ_CH];
    int32_t c;
    s->rows = 1;
    s->slot = 64;
    (void)rq_layout(p, &s->rows, &s->slot);
    memcpy(last, w + (size_t)(p->o - 1) * klen, klen);
    memset(last + klen, 0, 4);
    s->w = w;
    s->last = last;
    s->zout = p->out_zero;
    s->lo = p->act_min;
    s->hi = p->act_max;
    rq_setup(p, w, bias, mult, shift, NULL, NULL, NULL, s->rows, s->slot, s->b2, rqs, s->pn.idx, s->pn.km);
    for (c = 0; c < p->o; ++c) {
        memcpy(s->rq[c], &rqs[c], sizeof(rq_ch));
        s->neg[c] = mult[c] < 0 ? -1 : 0;
    }
    s->pn.slot = s->slot;
}

/* rq_dot for sixteen channels with one input channel's quads formed first (at most 16: kh ceil(kw / 4) <= 16), then
 * read by every channel (c1_dot's loop): the loop the compiler keeps tight (the pooled form's 5x5 layers 20 %
 * faster than rq_dot's) */
#define RQ_PV 16
static int rq_pv_ok(const nnb_i8_conv_params *p) { return p->kh * ((p->kw + 3) / 4) <= RQ_PV; }

/* out[j] = the lane-wise largest over the panels from pn to output row r1 of channel j's accumulators ^ ng[j] */
static __attribute__((noinline)) T_VBMI void rq_dot_pv16(const nnb_i8_conv_params *p, const rq_panel *pn, int32_t r1,
                                                          const int8_t *const *wr, const int32_t *b2,
                                                          const __m512i *ng, __m512i *out)
{
    const int32_t kh = p->kh, kw = p->kw, nq = (kw + 3) / 4, nv = kh * nq;
    const size_t klen1 = (size_t)kh * (size_t)kw;
    int64_t col0;
    const uint64_t m0 = rq_cols(p, pn, &col0);
    __m512i pv[RQ_PV], acc[16], m[16];
    int32_t wo[RQ_PV], ky, q, ci, v, oy0;
    int j;
    for (ky = 0; ky < kh; ++ky)
        for (q = 0; q < nq; ++q)
            wo[ky * nq + q] = ky * kw + 4 * q;
    for (j = 0; j < 16; ++j)
        m[j] = _mm512_set1_epi32(INT32_MIN);
    for (oy0 = pn->oy0; oy0 < r1; oy0 += pn->nrow) {
        for (j = 0; j < 16; ++j)
            acc[j] = _mm512_set1_epi32(b2[j]);
        for (ci = 0; ci < p->c; ++ci) {
            const size_t wc = (size_t)ci * klen1;
            for (ky = 0; ky < kh; ++ky) {
                const __m512i src = rq_src(p, pn, oy0, ci, ky, col0, m0);
                for (q = 0; q < nq; ++q)
                    _mm512_store_si512((void *)(pv + ky * nq + q),
                                       _mm512_maskz_permutexvar_epi8(pn->km[q], pn->idx[q], src));
            }
            for (v = 0; v < nv; ++v) {
                const __m512i qv = _mm512_load_si512((const void *)(pv + v));
                for (j = 0; j < 16; ++j)
                    acc[j] = _mm512_dpbusd_epi32(acc[j], qv, _mm512_set1_epi32(w4(wr[j] + wc + (size_t)wo[v])));
            }
        }
        for (j = 0; j < 16; ++j)
            m[j] = _mm512_max_epi32(m[j], _mm512_xor_si512(acc[j], ng[j]));
    }
    for (j = 0; j < 16; ++j)
        out[j] = m[j];
}

T_VBMI void nnb_i8_x86_rq_acc(const nnb_i8_conv_params *p, const nnb_i8_rqx *s, const nnb_i8_rq_panel *pn, int32_t r1,
                              int32_t c0, int nch, __m512i *acc)
{
    const size_t klen = (size_t)p->c * (size_t)p->kh * (size_t)p->kw;
    nnb_i8_rq_panel pl = *pn;
    const int8_t *wr[16];
    __m512i a[16], m[16], ng[16];
    int j;
    for (j = 0; j < nch; ++j) {
        wr[j] = c0 + j == p->o - 1 ? s->last : s->w + (size_t)(c0 + j) * klen;
        ng[j] = _mm512_set1_epi32(s->neg[c0 + j]);
        m[j] = _mm512_set1_epi32(INT32_MIN);
    }
    if (nch == 16 && rq_pv_ok(p)) {
        rq_dot_pv16(p, &pl, r1, wr, s->b2 + c0, ng, acc);
        return;
    }
    for (; pl.oy0 < r1; pl.oy0 += pl.nrow) { /* rows == 1: one row a panel; rows > 1: one panel */
        if (nch == 16)
            rq_dot(p, &pl, wr, s->b2 + c0, a, 16);
        else if (nch == 8)
            rq_dot(p, &pl, wr, s->b2 + c0, a, 8);
        else if (nch == 4)
            rq_dot(p, &pl, wr, s->b2 + c0, a, 4);
        else if (nch == 2)
            rq_dot(p, &pl, wr, s->b2 + c0, a, 2);
        else
            rq_dot(p, &pl, wr, s->b2 + c0, a, 1);
        for (j = 0; j < nch; ++j)
            m[j] = _mm512_max_epi32(m[j], _mm512_xor_si512(a[j], ng[j]));
    }
    for (j = 0; j < nch; ++j)
        acc[j] = m[j];
}

T_VNNI void nnb_i8_x86_rq_out(const nnb_i8_rqx *s, int32_t c0, int nch, const __m512i *a, int32_t n, int8_t *y,
                              size_t ystride)
{
    rq_ch q;
    out8 o;
    int j;
    o.zout = s->zout;
    o.lo = s->lo;
    o.hi = s->hi;
    o.zres = 0;
    for (j = 0; j < nch; ++j) {
        memcpy(&q, s->rq[c0 + j], sizeof q);
        out16z(&o, &q, &q, a[j], n, NULL, y + (size_t)j * ystride);
    }
}

/* ---------- Affine, AVX-512 VNNI: 64 values of a row per VPDPBUSD, the weight sums by a second one ---------- */

static T_VNNI void affine_vnni(int32_t n, int32_t k, int32_t o, const int8_t *x, int32_t in_zero, const int8_t *w,
                               const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t out_zero,
                               int32_t act_min, int32_t act_max, int8_t *y)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80), ones = _mm512_set1_epi8(1);
    int32_t b, j, i;
    for (b = 0; b < n; ++b) {
        const int8_t *xr = x + (size_t)b * (size_t)k;
        for (j = 0; j < o; ++j) {
            const int8_t *wr = w + (size_t)j * (size_t)k;
            __m512i acc = _mm512_setzero_si512(), sw = _mm512_setzero_si512();
            uint32_t s;
            i8_rq q;
            for (i = 0; i < k; i += 64) {
                const int32_t len = k - i < 64 ? k - i : 64;
                const __mmask64 m = len == 64 ? ~(__mmask64)0 : (((__mmask64)1 << len) - 1u);
                const __m512i xv = _mm512_maskz_mov_epi8(m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, xr + i), flip));
                const __m512i wv = _mm512_maskz_loadu_epi8(m, wr + i);
                acc = _mm512_dpbusd_epi32(acc, xv, wv);
                sw = _mm512_dpbusd_epi32(sw, ones, wv);
            }
            /* sum (x + 128) w + bias - (in_zero + 128) sum w, wrapping as the accumulator would */
            s = (uint32_t)_mm512_reduce_add_epi32(acc) + (uint32_t)(bias ? bias[j] : 0) -
                (uint32_t)(in_zero + 128) * (uint32_t)_mm512_reduce_add_epi32(sw);
            i8_rq_init(&q, mult[j], shift[j]);
            y[(size_t)b * (size_t)o + (size_t)j] =
                (int8_t)i8_clamp_add(out_zero, i8_rq_apply(&q, (int32_t)s), act_min, act_max);
        }
    }
}

/* ---------- Affine, AVX2: (x - in_zero) and w as int16, sixteen MACs per VPMADDWD, four outputs at a time ---------- */

static inline T_AVX2 int32_t hsum8(__m256i v)
{
    __m128i a = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    a = _mm_add_epi32(a, _mm_shuffle_epi32(a, 0x4E));
    a = _mm_add_epi32(a, _mm_shuffle_epi32(a, 0xB1));
    return _mm_cvtsi128_si32(a);
}

static inline T_AVX2 __m256i w16(const int8_t *w) { return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)w)); }

static T_AVX2 void affine_avx2(int32_t n, int32_t k, int32_t o, const int8_t *x, int32_t in_zero, const int8_t *w,
                               const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t out_zero,
                               int32_t act_min, int32_t act_max, int8_t *y)
{
    const __m256i z = _mm256_set1_epi16((int16_t)in_zero);
    const int32_t k16 = k & ~15;
    int32_t b, j, i;
    for (b = 0; b < n; ++b) {
        const int8_t *xr = x + (size_t)b * (size_t)k;
        for (j = 0; j < o; j += 4) {
            const int32_t nj = o - j < 4 ? o - j : 4;
            const int8_t *w0 = w + (size_t)j * (size_t)k, *w1 = nj > 1 ? w0 + k : w0, *w2 = nj > 2 ? w0 + 2 * (size_t)k : w0;
            const int8_t *w3 = nj > 3 ? w0 + 3 * (size_t)k : w0;
            __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
            int32_t acc[4], t;
            for (i = 0; i < k16; i += 16) {
                const __m256i xv = _mm256_sub_epi16(w16(xr + i), z);
                a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(xv, w16(w0 + i)));
                a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(xv, w16(w1 + i)));
                a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(xv, w16(w2 + i)));
                a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(xv, w16(w3 + i)));
            }
            acc[0] = hsum8(a0);
            acc[1] = hsum8(a1);
            acc[2] = hsum8(a2);
            acc[3] = hsum8(a3);
            for (t = 0; t < nj; ++t) {
                const int8_t *wr = w0 + (size_t)t * (size_t)k;
                i8_rq q;
                for (i = k16; i < k; ++i) /* wrapping, as the vector lanes (no signed overflow) */
                    acc[t] = (int32_t)((uint32_t)acc[t] + (uint32_t)(((int32_t)xr[i] - in_zero) * (int32_t)wr[i]));
                /* the accumulator as the simulation's int32 sum: wrapping addition of the bias */
                acc[t] = (int32_t)((uint32_t)acc[t] + (uint32_t)(bias ? bias[j + t] : 0));
                i8_rq_init(&q, mult[j + t], shift[j + t]);
                y[(size_t)b * (size_t)o + (size_t)(j + t)] =
                    (int8_t)i8_clamp_add(out_zero, i8_rq_apply(&q, acc[t]), act_min, act_max);
            }
        }
    }
}

int nnb_i8_x86_affine(int32_t n, int32_t k, int32_t o, const int8_t *x, int32_t in_zero, const int8_t *w,
                      const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t out_zero,
                      int32_t act_min, int32_t act_max, int8_t *y)
{
    const int level = nnb_i8_x86_level();
    if (level >= 2)
        affine_vnni(n, k, o, x, in_zero, w, bias, mult, shift, out_zero, act_min, act_max, y);
    else if (level == 1)
        affine_avx2(n, k, o, x, in_zero, w, bias, mult, shift, out_zero, act_min, act_max, y);
    else
        return 0;
    return 1;
}

/* ---------- Q8Quantize, eight values at a time (AVX2) ---------- */

/* the estimate of nnb_i8_quantize1 in float, t[e - 1] and t[e] gathered; a lane whose estimate is off is redone
 * by nnb_i8_quantize1 (inv > 0: t[254] - t[0] finite, so no in-range lane overflows) */
static T_AVX2 void quantize_avx2(size_t n, const float *x, const float *t, int8_t *y, float inv)
{
    const __m256 t0 = _mm256_set1_ps(t[0]), t254 = _mm256_set1_ps(t[254]), vinv = _mm256_set1_ps(inv);
    const __m256i one = _mm256_set1_epi32(1), top = _mm256_set1_epi32(254), c128 = _mm256_set1_epi32(128);
    size_t i;
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        __m256i e = _mm256_cvttps_epi32(_mm256_mul_ps(_mm256_sub_ps(v, t0), vinv));
        __m256 below, above, ok;
        int bad;
        e = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(e, one), one), top); /* any lane: 1..254 */
        below = _mm256_cmp_ps(v, t0, _CMP_NGE_UQ); /* v < t[0] or NaN: -128 */
        above = _mm256_cmp_ps(v, t254, _CMP_GE_OQ);
        ok = _mm256_and_ps(_mm256_cmp_ps(v, _mm256_i32gather_ps(t - 1, e, 4), _CMP_GE_OQ),
                           _mm256_cmp_ps(v, _mm256_i32gather_ps(t, e, 4), _CMP_LT_OQ));
        e = _mm256_andnot_si256(_mm256_castps_si256(below), e);
        e = _mm256_blendv_epi8(e, _mm256_set1_epi32(255), _mm256_castps_si256(above));
        store8(y + i, _mm256_sub_epi32(e, c128));
        bad = ~_mm256_movemask_ps(_mm256_or_ps(_mm256_or_ps(below, above), ok)) & 0xFF;
        while (bad) {
            const int j = __builtin_ctz((unsigned)bad);
            y[i + (size_t)j] = nnb_i8_quantize1(x[i + (size_t)j], t, inv);
            bad &= bad - 1;
        }
    }
    for (; i < n; ++i)
        y[i] = nnb_i8_quantize1(x[i], t, inv);
}

/* the same sixteen at a time (AVX-512): mask registers for the cases, the tail by masked loads and stores */
static T_VNNI void quantize_avx512(size_t n, const float *x, const float *t, int8_t *y, float inv)
{
    const __m512 t0 = _mm512_set1_ps(t[0]), t254 = _mm512_set1_ps(t[254]), vinv = _mm512_set1_ps(inv);
    const __m512i one = _mm512_set1_epi32(1), top = _mm512_set1_epi32(254), c128 = _mm512_set1_epi32(128);
    size_t i;
    for (i = 0; i < n; i += 16) {
        const __mmask16 lanes = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        const __m512 v = _mm512_maskz_loadu_ps(lanes, x + i);
        __m512i e = _mm512_cvttps_epi32(_mm512_mul_ps(_mm512_sub_ps(v, t0), vinv));
        __mmask16 below, above, ok;
        unsigned bad;
        e = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(e, one), one), top); /* any lane: 1..254 */
        below = _mm512_cmp_ps_mask(v, t0, _CMP_NGE_UQ); /* v < t[0] or NaN: -128 */
        above = _mm512_cmp_ps_mask(v, t254, _CMP_GE_OQ);
        ok = _mm512_cmp_ps_mask(v, _mm512_i32gather_ps(e, t - 1, 4), _CMP_GE_OQ) &
             _mm512_cmp_ps_mask(v, _mm512_i32gather_ps(e, t, 4), _CMP_LT_OQ);
        e = _mm512_maskz_mov_epi32((__mmask16)~below, e);
        e = _mm512_mask_mov_epi32(e, above, _mm512_set1_epi32(255));
        _mm_mask_storeu_epi8(y + i, lanes, _mm512_cvtepi32_epi8(_mm512_sub_epi32(e, c128)));
        bad = (unsigned)(~(below | above | ok) & lanes) & 0xFFFFu;
        while (bad) {
            const int j = __builtin_ctz(bad);
            y[i + (size_t)j] = nnb_i8_quantize1(x[i + (size_t)j], t, inv);
            bad &= bad - 1;
        }
    }
}

int nnb_i8_x86_quantize(size_t n, const float *x, const float *t, int8_t *y)
{
    const float inv = nnb_i8_qinv(t);
    const int level = nnb_i8_x86_level();
    if (level < 1 || inv == 0.0f)
        return 0;
    if (level >= 2)
        quantize_avx512(n, x, t, y, inv);
    else
        quantize_avx2(n, x, t, y, inv);
    return 1;
}

/* int16 elements of scratch the form nnb_i8_x86_conv2d takes at `level` needs (the same order of choice) */
static size_t scratch_at(const nnb_i8_conv_params *p, int level, int vbmi)
{
    dx_plan dx;
    if (level >= 2 && vbmi && rq_ok(p))
        return p->c == 1 ? c1_scratch(p) : rq_scratch(p);
    if (level >= 2 && vbmi && nnb_i8_x86_dwq_ok(p))
        return 0;
    if (level >= 2 && gemm_ok(p))
        return gemm_scratch(p);
    if (level >= 1 && dw_ok(p))
        return dw_scratch(p);
    if (level >= 1 && dw2_ok(p))
        return dw2_scratch(p);
    if (level >= 1 && dx_plan_of(p, &dx))
        return dx_scratch(&dx);
    if (level >= 1 && gemm_ok(p))
        return gemm2_scratch(p);
    return 0;
}

size_t nnb_i8_x86_conv_scratch(const nnb_i8_conv_params *p)
{
    const size_t a = scratch_at(p, 1, 0), b = scratch_at(p, 2, 0), c = scratch_at(p, 2, 1);
    return a > b ? (a > c ? a : c) : (b > c ? b : c);
}

size_t nnb_i8_x86_conv_scratch_now(const nnb_i8_conv_params *p)
{
    const int level = nnb_i8_x86_level();
    return scratch_at(p, level, level >= 2 && rq_vbmi());
}

int nnb_i8_x86_conv2d(const nnb_i8_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                      const int32_t *mult, const int32_t *shift, const int8_t *residual, const int32_t *res_mult,
                      const int32_t *res_shift, int8_t *y, int16_t *scratch)
{
    const int level = nnb_i8_x86_level();
    dx_plan dx;
    if (level >= 2 && rq_ok(p) && rq_vbmi()) {
        if (p->c == 1)
            c1_conv(p, x, w, bias, mult, shift, residual, res_mult, res_shift, y, scratch);
        else
            rq_conv(p, x, w, bias, mult, shift, residual, res_mult, res_shift, y, scratch);
        return 1;
    }
    if (level >= 2 && gemm_ok(p)) {
        gemm_vnni(p, x, w, bias, mult, shift, residual, res_mult, res_shift, y, scratch);
        return 1;
    }
    if (level >= 2 && nnb_i8_x86_dwq_ok(p) && rq_vbmi()) {
        nnb_i8_x86_dwq(p, x, w, bias, mult, shift, residual, res_mult, res_shift, y);
        return 1;
    }
    if (level >= 2 && dw_ok(p)) {
        if (p->w < 16)
            dw_vnni(p, x, w, bias, mult, shift, residual, res_mult, res_shift, y, scratch);
        else
            dw_vnni_rows(p, x, w, bias, mult, shift, residual, res_mult, res_shift, y, scratch);
        return 1;
    }
    if (level >= 1 && dw_ok(p)) {
        dw_avx2(p, x, w, bias, mult, shift, residual, res_mult, res_shift, y, scratch);
        return 1;
    }
    if (level >= 1 && dw2_ok(p)) {
        dw2_avx2(p, x, w, bias, mult, shift, residual, res_mult, res_shift, y, scratch);
        return 1;
    }
    if (level >= 1 && dx_plan_of(p, &dx)) {
        gemm_direct(p, &dx, x, w, bias, mult, shift, residual, res_mult, res_shift, y, scratch);
        return 1;
    }
    if (level >= 1 && gemm_ok(p)) {
        gemm_avx2(p, x, w, bias, mult, shift, residual, res_mult, res_shift, y, scratch);
        return 1;
    }
    return 0;
}

#else
typedef int nnb_i8_no_x86; /* ISO C wants something in a translation unit */
#endif
