/* LUT-Q weights with int8 activations, accumulated per dictionary entry (lutq.h, docs/int8.md).
 *
 * Per sample, the input is copied into scratch with its padding filled with the zero point (so a padded tap
 * adds x - in_zero = 0); per output channel the codes are decoded once into the taps' input offsets, sorted
 * by code (a counting sort); per output position each entry's taps are summed (raw int8 loads and adds, no
 * multiply) and the K sums meet the dictionary: acc = bias - in_zero * sum_k dict[k] * count_k
 * + sum_k dict[k] * X_k, which is bias + sum_k dict[k] * S_k (S_k = X_k - count_k * in_zero) exactly, every
 * partial sum within int32 by the bounds nnb_i8_lutq_ok checks. Entries equal to 0 (LUT-Q's pruned entry)
 * skip their taps. A power-of-two dictionary shifts instead of multiplying. */
#include "lutq.h"

#include <string.h>

#include "i8_host.h"
#include "i8_dot.h"

static size_t align4(size_t n) { return (n + 3u) & ~(size_t)3u; }

static int geom_ok(const nnb_i8_conv_params *p)
{
    int64_t ekh, ekw;
    if (!p || p->n <= 0 || p->c <= 0 || p->h <= 0 || p->w <= 0 || p->o <= 0 || p->kh <= 0 || p->kw <= 0)
        return 0;
    if (p->group <= 0 || p->c % p->group || p->o % p->group || p->stride_h <= 0 || p->stride_w <= 0)
        return 0;
    if (p->dil_h <= 0 || p->dil_w <= 0 || p->pad_h < 0 || p->pad_w < 0 || p->pad_h > (1 << 20) ||
        p->pad_w > (1 << 20) || p->dil_h > (1 << 20) || p->dil_w > (1 << 20))
        return 0;
    if (p->act_min < -128 || p->act_max > 127 || p->act_min > p->act_max)
        return 0;
    if (p->in_zero < -128 || p->in_zero > 127 || p->out_zero < -128 || p->out_zero > 127 || p->res_zero < -128 ||
        p->res_zero > 127)
        return 0;
    if ((int64_t)p->c * (p->h + 2 * (int64_t)p->pad_h) * (p->w + 2 * (int64_t)p->pad_w) > INT32_MAX ||
        (int64_t)(p->c / p->group) * p->kh * p->kw > (1 << 22) || (int64_t)p->o * p->kh * p->kw > INT32_MAX ||
        (int64_t)p->n * p->o * p->oh * p->ow > INT32_MAX)
        return 0;
    ekh = (int64_t)p->dil_h * (p->kh - 1) + 1;
    ekw = (int64_t)p->dil_w * (p->kw - 1) + 1;
    if (p->h + 2 * (int64_t)p->pad_h < ekh || p->w + 2 * (int64_t)p->pad_w < ekw)
        return 0;
    return p->oh == (p->h + 2 * (int64_t)p->pad_h - ekh) / p->stride_h + 1 &&
           p->ow == (p->w + 2 * (int64_t)p->pad_w - ekw) / p->stride_w + 1;
}

/* the geometry, and the table's codes and dictionary with 2 <= K <= NNB_LUTQ_MAX_K, 1 <= bits <= NNB_LUTQ_MAX_BITS */
static int lut_ok(const nnb_i8_conv_params *p, const nnb_i8_lut *w)
{
    return geom_ok(p) && w && w->codes && w->dict && w->k >= 2 && w->k <= NNB_LUTQ_MAX_K && w->bits >= 1 &&
           w->bits <= NNB_LUTQ_MAX_BITS;
}

/* codes first .. first + n - 1 into dst, one byte each: one pass through the words (a code may straddle two) */
static void decode_codes(const uint32_t *words, size_t first, size_t n, uint32_t bits, uint8_t *dst)
{
    const size_t bit = first * bits;
    const uint32_t *p = words + (bit >> 5), mask = (1u << bits) - 1u;
    const uint32_t s = (uint32_t)(bit & 31u);
    uint64_t buf;
    uint32_t have = 32u - s;
    size_t i;
    if (!n) return;
    if (32u % bits == 0u) { /* 1, 2, 4, 8 bits: no code straddles two words */
        const uint32_t per = 32u / bits;
        uint32_t v = *p++ >> s, left = (32u - s) / bits;
        for (i = 0; i < n; ++i) {
            if (!left) {
                v = *p++;
                left = per;
            }
            dst[i] = (uint8_t)(v & mask);
            v >>= bits;
            --left;
        }
        return;
    }
    buf = (uint64_t)(*p++ >> s);
    for (i = 0; i < n; ++i) {
        if (have < bits) { /* the code goes on in the next word, which holds codes of this run */
            buf |= (uint64_t)*p++ << have;
            have += 32u;
        }
        dst[i] = (uint8_t)((uint32_t)buf & mask);
        buf >>= bits;
        have -= bits;
    }
}

/* 0 for 0, else s + 1 with |d| = 2^s; -1 if |d| is not a power of two (or above 2^30) */
static int32_t pow2_exp(int32_t d)
{
    uint32_t m = d < 0 ? 0u - (uint32_t)d : (uint32_t)d;
    int32_t s = 0;
    if (!m) return 0;
    if (m & (m - 1u) || m > (1u << 30)) return -1;
    while (m > 1u) {
        m >>= 1;
        ++s;
    }
    return s + 1;
}

int nnb_i8_lutq_ok(const nnb_i8_conv_params *p, const nnb_i8_lut *w, const int32_t *bias, const int32_t *res_shift)
{
    size_t taps, total, i;
    int32_t o, k;
    if (!lut_ok(p, w) || w->k > (1 << w->bits) || (w->pow2 != 0 && w->pow2 != 1))
        return 0;
    taps = (size_t)(p->c / p->group) * (size_t)p->kh * (size_t)p->kw;
    total = (size_t)p->o * taps;
    if (w->words < (total * (size_t)w->bits + 31u) / 32u) return 0;
    for (i = 0; w->k < (1 << w->bits) && i < total; i += 64) { /* (K = 2^bits: every code is valid) */
        uint8_t run[64];
        const size_t n = total - i < 64u ? total - i : 64u;
        size_t j;
        decode_codes(w->codes, i, n, (uint32_t)w->bits, run);
        for (j = 0; j < n; ++j)
            if (run[j] >= (uint32_t)w->k) return 0;
    }
    for (o = 0; o < p->o; ++o) {
        for (k = 0; k < w->k; ++k) {
            const int32_t d = w->dict[(size_t)o * (size_t)w->k + (size_t)k];
            const int64_t m = d < 0 ? -(int64_t)d : d;
            if (m * 256 * (int64_t)taps > ((int64_t)1 << 30)) return 0;
            if (w->pow2 && pow2_exp(d) < 0) return 0;
        }
        if (bias && (bias[o] < -((1 << 29) - 1) || bias[o] > (1 << 29) - 1)) return 0;
        if (res_shift && (res_shift[o] > 20 || res_shift[o] < -31)) return 0;
    }
    return 1;
}

size_t nnb_i8_lutq_scratch(const nnb_i8_conv_params *p, int32_t k)
{
    const size_t hp = (size_t)p->h + 2u * (size_t)p->pad_h, wp = (size_t)p->w + 2u * (size_t)p->pad_w;
    const size_t taps = (size_t)(p->c / p->group) * (size_t)p->kh * (size_t)p->kw;
    return align4((size_t)p->c * hp * wp) + align4(taps) + 4u * (taps + 3u * (size_t)k + 1u);
}

/* One channel's taps: offsets into the padded sample sorted by code (start[k] .. start[k + 1]); cur: K ints */
static int sort_taps(const nnb_i8_conv_params *p, const nnb_i8_lut *w, const uint8_t *code, size_t taps, int32_t wp,
                     int32_t plane, int32_t *off, int32_t *start, int32_t *cur)
{
    const int32_t cg = p->c / p->group, K = w->k;
    size_t t;
    int32_t k, ci, ky, kx;
    for (k = 0; k <= K; ++k) start[k] = 0;
    for (t = 0; t < taps; ++t) {
        if (code[t] >= (uint32_t)K) return 0;
        ++start[code[t] + 1];
    }
    for (k = 0; k < K; ++k) {
        start[k + 1] += start[k];
        cur[k] = start[k];
    }
    t = 0;
    for (ci = 0; ci < cg; ++ci)
        for (ky = 0; ky < p->kh; ++ky)
            for (kx = 0; kx < p->kw; ++kx, ++t)
                off[cur[code[t]]++] = ci * plane + ky * p->dil_h * wp + kx * p->dil_w;
    return 1;
}

/* sum of xb[off[j]] for j in [a, b) */
static int32_t tap_sum(const int8_t *xb, const int32_t *off, int32_t a, int32_t b)
{
    const int32_t *q = off + a, *end4 = off + a + ((b - a) & ~3), *end = off + b;
    int32_t s = 0;
    while (q < end4) {
        s += (int32_t)xb[q[0]] + (int32_t)xb[q[1]] + (int32_t)xb[q[2]] + (int32_t)xb[q[3]];
        q += 4;
    }
    while (q < end) s += xb[*q++];
    return s;
}

/* the sums of two output positions (xb and xb + d) over the same taps: each offset loaded once */
static void tap_sum2(const int8_t *xb, int32_t d, const int32_t *off, int32_t a, int32_t b, int32_t *s0, int32_t *s1)
{
    const int32_t *q = off + a, *end2 = off + a + ((b - a) & ~1), *end = off + b;
    const int8_t *xc = xb + d;
    int32_t u = 0, v = 0;
    while (q < end2) {
        const int32_t o0 = q[0], o1 = q[1];
        u += (int32_t)xb[o0] + (int32_t)xb[o1];
        v += (int32_t)xc[o0] + (int32_t)xc[o1];
        q += 2;
    }
    if (q < end) {
        u += xb[*q];
        v += xc[*q];
    }
    *s0 = u;
    *s1 = v;
}

#if NNB_I8_DSP
static int32_t lo16(uint32_t v) { const int32_t x = (int32_t)(v & 0xFFFFu); return x >= 32768 ? x - 65536 : x; }

/* Four positions of a stride-1 row at once: per tap one (unaligned) word of the four input bytes, split into
 * bytes (0, 2) and (1, 3) by SXTAB16 and added as 16-bit halves; at most 255 taps per chunk, so no half can
 * overflow (|sum| <= 255 * 128). a[j] += dict * S (raw sums: the zero point is in acc0). */
static void four_outputs(const int8_t *xb, const int32_t *off, const int32_t *start, const int32_t *dk, int32_t K,
                         int32_t pow2, int32_t *a)
{
    int32_t k;
    for (k = 0; k < K; ++k) {
        const int32_t d = dk[k], b = start[k + 1];
        int32_t i = start[k], s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        if (!d) continue;
        while (i < b) {
            const int32_t end = b - i > 255 ? i + 255 : b;
            uint32_t e = 0, o = 0;
            for (; i < end; ++i) {
                uint32_t v;
                memcpy(&v, xb + off[i], 4);
                e = I8_SXTAB16(e, v);
                o = I8_SXTAB16_ROR8(o, v);
            }
            s0 += lo16(e);
            s1 += lo16(o);
            s2 += lo16(e >> 16);
            s3 += lo16(o >> 16);
        }
        if (!pow2) {
            a[0] += d * s0;
            a[1] += d * s1;
            a[2] += d * s2;
            a[3] += d * s3;
        } else {
            const uint32_t sh = (uint32_t)(d > 0 ? d - 1 : -d - 1);
            const int32_t t0 = (int32_t)((uint32_t)s0 << sh), t1 = (int32_t)((uint32_t)s1 << sh);
            const int32_t t2 = (int32_t)((uint32_t)s2 << sh), t3 = (int32_t)((uint32_t)s3 << sh);
            if (d > 0) {
                a[0] += t0, a[1] += t1, a[2] += t2, a[3] += t3;
            } else {
                a[0] -= t0, a[1] -= t1, a[2] -= t2, a[3] -= t3;
            }
        }
    }
}
#endif

/* One output position (an Affine, a 1x1 output): the raw sums X_k of each entry's taps, bucketed directly */
static void bucket_sums(const nnb_i8_conv_params *p, const int8_t *xb, const uint8_t *code, int32_t wp, int32_t plane,
                        int32_t *sums, int32_t k)
{
    const int32_t cg = p->c / p->group;
    int32_t ci, ky, kx, j;
    size_t t = 0;
    for (j = 0; j < k; ++j) sums[j] = 0;
    if (p->kh == 1 && p->kw == 1) {
        for (ci = 0; ci < cg; ++ci) sums[code[ci]] += xb[(size_t)ci * (size_t)plane];
        return;
    }
    for (ci = 0; ci < cg; ++ci)
        for (ky = 0; ky < p->kh; ++ky)
            for (kx = 0; kx < p->kw; ++kx, ++t)
                sums[code[t]] += xb[(size_t)ci * (size_t)plane + (size_t)(ky * p->dil_h) * (size_t)wp +
                                    (size_t)(kx * p->dil_w)];
}

/* A 1x1 kernel at one output position (an Affine): sums[k] = sum of (x - zin) over the taps whose code is k,
 * decoded straight from the words (a word at a time when the codes do not straddle words); 0 on a bad code */
static int bucket_words(const nnb_i8_lut *w, size_t first, size_t taps, const int8_t *xb, int32_t plane,
                        int32_t zin, int32_t *sums, uint8_t *code)
{
    const uint32_t bits = (uint32_t)w->bits, mask = (1u << bits) - 1u, K = (uint32_t)w->k;
    size_t t = 0;
    uint32_t k;
    for (k = 0; k < K; ++k) sums[k] = 0;
    if (32u % bits == 0 && (first * bits) % 32u == 0 && plane == 1) {
        const uint32_t *wd = w->codes + first * bits / 32u, per = 32u / bits;
        while (t < taps) {
            uint32_t v = *wd++, j, n = taps - t < per ? (uint32_t)(taps - t) : per;
            for (j = 0; j < n; ++j, ++t) {
                const uint32_t c = v & mask;
                if (c >= K) return 0;
                sums[c] += (int32_t)xb[t] - zin;
                v >>= bits;
            }
        }
        return 1;
    }
    decode_codes(w->codes, first, taps, bits, code);
    for (t = 0; t < taps; ++t) {
        if (code[t] >= K) return 0;
        sums[code[t]] += (int32_t)xb[t * (size_t)plane] - zin;
    }
    return 1;
}

int nnb_i8_lutq_conv2d(const nnb_i8_conv_params *p, const nnb_i8_lut *w, const int8_t *x, const int32_t *bias,
                       const int32_t *mult, const int32_t *shift, const int8_t *residual, const int32_t *res_mult,
                       const int32_t *res_shift, int8_t *y, void *scratch, size_t scratch_bytes)
{
    int32_t hp, wp, plane, cg, og, n, o, k, oy, ox;
    size_t taps, xbytes;
    int8_t *xp;
    uint8_t *code;
    int32_t *off, *start, *dk, *sums;
    if (!lut_ok(p, w) || !x || !mult || !shift || !y || !scratch)
        return NNB_I8_EINVAL;
    if (residual && (!res_mult || !res_shift))
        return NNB_I8_EINVAL;
    if (scratch_bytes < nnb_i8_lutq_scratch(p, w->k) || ((uintptr_t)scratch & 3u))
        return NNB_I8_EINVAL;
    hp = p->h + 2 * p->pad_h;
    wp = p->w + 2 * p->pad_w;
    plane = hp * wp;
    cg = p->c / p->group;
    og = p->o / p->group;
    taps = (size_t)cg * (size_t)p->kh * (size_t)p->kw;
    if (w->o_first < 0 || w->words < (((size_t)w->o_first + (size_t)p->o) * taps * (size_t)w->bits + 31u) / 32u)
        return NNB_I8_EINVAL;
    xbytes = align4((size_t)p->c * (size_t)plane);
    xp = (int8_t *)scratch;
    code = (uint8_t *)scratch + xbytes;
    off = (int32_t *)(void *)(code + align4(taps));
    start = off + taps;
    dk = start + w->k + 1;
    sums = dk + w->k;
    for (n = 0; n < p->n; ++n) {
        const int8_t *xn = x + (size_t)n * (size_t)p->c * (size_t)p->h * (size_t)p->w;
        int32_t c, r;
        memset(xp, (int)(int8_t)p->in_zero, (size_t)p->c * (size_t)plane);
        for (c = 0; c < p->c; ++c)
            for (r = 0; r < p->h; ++r)
                memcpy(xp + (size_t)c * (size_t)plane + (size_t)(r + p->pad_h) * (size_t)wp + (size_t)p->pad_w,
                       xn + ((size_t)c * (size_t)p->h + (size_t)r) * (size_t)p->w, (size_t)p->w);
        for (o = 0; o < p->o; ++o) {
            const size_t oc = (size_t)w->o_first + (size_t)o; /* the channel in the codes and dictionary */
            const int32_t *D = w->dict + oc * (size_t)w->k;
            const int8_t *xg = xp + (size_t)(o / og) * (size_t)cg * (size_t)plane;
            const size_t ybase = ((size_t)n * (size_t)p->o + (size_t)o) * (size_t)p->oh * (size_t)p->ow;
            int64_t zc = 0;
            int32_t acc0;
            i8_rq q, rq;
            const int one = p->oh == 1 && p->ow == 1; /* one position: bucket the taps, no sort */
            if (one && p->kh == 1 && p->kw == 1) { /* an Affine: sums of (x - zin) by code, then K products */
                int32_t acc = bias ? bias[o] : 0;
                if (!bucket_words(w, oc * taps, taps, xg, plane, p->in_zero, sums, code))
                    return NNB_I8_EINVAL;
                for (k = 0; k < w->k; ++k) {
                    const int32_t e = w->pow2 ? pow2_exp(D[k]) : 0;
                    if (!D[k]) continue;
                    if (!w->pow2)
                        acc += D[k] * sums[k];
                    else if (D[k] > 0)
                        acc += (int32_t)((uint32_t)sums[k] << (e - 1));
                    else
                        acc -= (int32_t)((uint32_t)sums[k] << (e - 1));
                }
                i8_rq_init(&q, mult[o], shift[o]);
                if (residual) {
                    i8_rq_init(&rq, res_mult[o], res_shift[o]);
                    acc += i8_rq_apply(&rq, (int32_t)residual[ybase] - p->res_zero);
                }
                y[ybase] = (int8_t)i8_clamp_add(p->out_zero, i8_rq_apply(&q, acc), p->act_min, p->act_max);
                continue;
            }
            decode_codes(w->codes, oc * taps, taps, (uint32_t)w->bits, code);
            if (one) {
                size_t t;
                for (k = 0; k <= w->k; ++k) start[k] = 0;
                for (t = 0; t < taps; ++t) {
                    if (code[t] >= (uint32_t)w->k) return NNB_I8_EINVAL;
                    ++start[code[t] + 1];
                }
                for (k = 0; k < w->k; ++k) start[k + 1] += start[k];
            } else if (!sort_taps(p, w, code, taps, wp, plane, off, start, dk)) {
                return NNB_I8_EINVAL;
            }
            for (k = 0; k < w->k; ++k) { /* the entries' weights: multipliers, or (pow2) signed shift codes */
                zc += (int64_t)D[k] * (start[k + 1] - start[k]);
                dk[k] = w->pow2 ? (D[k] < 0 ? -pow2_exp(D[k]) : pow2_exp(D[k])) : D[k]; /* 0: taps skipped */
            }
            acc0 = (bias ? bias[o] : 0) - (int32_t)(zc * p->in_zero);
            i8_rq_init(&q, mult[o], shift[o]);
            i8_rq_init(&rq, residual ? res_mult[o] : 0, residual ? res_shift[o] : 0);
            for (oy = 0; oy < p->oh; ++oy) {
                const int8_t *xr = xg + (size_t)oy * (size_t)p->stride_h * (size_t)wp;
                ox = 0;
#if NNB_I8_DSP
                if (!one && p->stride_w == 1)
                    for (; ox + 3 < p->ow; ox += 4) {
                        const size_t at = ybase + (size_t)oy * (size_t)p->ow + (size_t)ox;
                        int32_t a4[4], j;
                        a4[0] = a4[1] = a4[2] = a4[3] = acc0;
                        four_outputs(xr + ox, off, start, dk, w->k, w->pow2, a4);
                        for (j = 0; j < 4; ++j) {
                            if (residual) a4[j] += i8_rq_apply(&rq, (int32_t)residual[at + (size_t)j] - p->res_zero);
                            y[at + (size_t)j] =
                                (int8_t)i8_clamp_add(p->out_zero, i8_rq_apply(&q, a4[j]), p->act_min, p->act_max);
                        }
                    }
#endif
                if (!one)
                    for (; ox + 1 < p->ow; ox += 2) { /* two positions of the row at a time */
                        const int8_t *xb = xr + (size_t)ox * (size_t)p->stride_w;
                        const size_t at = ybase + (size_t)oy * (size_t)p->ow + (size_t)ox;
                        int32_t a0 = acc0, a1 = acc0;
                        for (k = 0; k < w->k; ++k) {
                            const int32_t d = dk[k];
                            int32_t s0, s1;
                            if (!d) continue;
                            tap_sum2(xb, p->stride_w, off, start[k], start[k + 1], &s0, &s1);
                            if (!w->pow2) {
                                a0 += d * s0;
                                a1 += d * s1;
                            } else if (d > 0) {
                                a0 += (int32_t)((uint32_t)s0 << (d - 1));
                                a1 += (int32_t)((uint32_t)s1 << (d - 1));
                            } else {
                                a0 -= (int32_t)((uint32_t)s0 << (-d - 1));
                                a1 -= (int32_t)((uint32_t)s1 << (-d - 1));
                            }
                        }
                        if (residual) {
                            a0 += i8_rq_apply(&rq, (int32_t)residual[at] - p->res_zero);
                            a1 += i8_rq_apply(&rq, (int32_t)residual[at + 1] - p->res_zero);
                        }
                        y[at] = (int8_t)i8_clamp_add(p->out_zero, i8_rq_apply(&q, a0), p->act_min, p->act_max);
                        y[at + 1] = (int8_t)i8_clamp_add(p->out_zero, i8_rq_apply(&q, a1), p->act_min, p->act_max);
                    }
                for (; ox < p->ow; ++ox) {
                    const int8_t *xb = xr + (size_t)ox * (size_t)p->stride_w;
                    const size_t at = ybase + (size_t)oy * (size_t)p->ow + (size_t)ox;
                    int32_t acc = acc0;
                    if (one) bucket_sums(p, xb, code, wp, plane, sums, w->k);
                    for (k = 0; k < w->k; ++k) {
                        const int32_t d = dk[k];
                        int32_t s;
                        if (!d) continue;
                        s = one ? sums[k] : tap_sum(xb, off, start[k], start[k + 1]);
                        if (!w->pow2)
                            acc += d * s;
                        else if (d > 0)
                            acc += (int32_t)((uint32_t)s << (d - 1));
                        else
                            acc -= (int32_t)((uint32_t)s << (-d - 1));
                    }
                    if (residual) acc += i8_rq_apply(&rq, (int32_t)residual[at] - p->res_zero);
                    y[at] = (int8_t)i8_clamp_add(p->out_zero, i8_rq_apply(&q, acc), p->act_min, p->act_max);
                }
            }
        }
    }
    return NNB_I8_OK;
}
