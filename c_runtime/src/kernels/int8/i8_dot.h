/* The int8 kernels' inner product: sum col[i] * w[i] over int16 columns and int8 weights.
 * Two forms, bit-exact with each other: a portable loop, and dual 16-bit MACs
 * (__smlad) on cores with the DSP extension (or emulated with NNB_I8_EMULATE_DSP). */
#ifndef NNB_I8_DOT_H
#define NNB_I8_DOT_H

#include <stdint.h>
#include <string.h>

#include "nnb_int8.h"

#if defined(__ARM_FEATURE_DSP) && !defined(NNB_I8_NO_DSP)
#include <arm_acle.h>
#define NNB_I8_DSP 1
#define I8_SMLAD(a, b, acc) __smlad((a), (b), (acc))
#define I8_SXTB16(v) ((uint32_t)__sxtb16(v))
#define I8_ROR8(v) (((v) >> 8) | ((v) << 24))
/* bytes 1 and 3 sign-extended: SXTB16 with its rotate (ACLE has no form of it; CMSIS uses the same asm) */
static inline uint32_t i8_sxtb16_ror8(uint32_t v)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}
#define I8_SXTB16_ROR8(v) i8_sxtb16_ror8(v)
#define I8_SMLABB(a, b, acc) __smlabb((a), (b), (acc))
#define I8_SXTAB16(a, v) ((uint32_t)__sxtab16((a), (v)))
/* a + bytes 1 and 3 of v sign-extended, per 16-bit half */
static inline uint32_t i8_sxtab16_ror8(uint32_t a, uint32_t v)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
    return r;
}
#define I8_SXTAB16_ROR8(a, v) i8_sxtab16_ror8((a), (v))
#define I8_SMLATB(a, b, acc) __smlatb((a), (b), (acc))
#define I8_SMLABT(a, b, acc) __smlabt((a), (b), (acc))
#define I8_SMLATT(a, b, acc) __smlatt((a), (b), (acc))
/* PKHBT a, b, LSL #16: (bottom of a, bottom of b); PKHTB a, b, ASR #16: (top of b, top of a) */
static inline uint32_t i8_pkhbt16(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline uint32_t i8_pkhtb16(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
#define I8_PKHBT16(a, b) i8_pkhbt16((a), (b))
#define I8_PKHTB16(a, b) i8_pkhtb16((a), (b))
#elif defined(NNB_I8_EMULATE_DSP)
#define NNB_I8_DSP 1
static inline int32_t i8_lo16(uint32_t v) { int32_t x = (int32_t)(v & 0xFFFFu); return x >= 32768 ? x - 65536 : x; }
static inline int32_t i8_hi16(uint32_t v) { return i8_lo16(v >> 16); }
/* SMLAD: acc + lo(a)*lo(b) + hi(a)*hi(b), wrapping as the instruction does */
static inline int32_t i8_smlad_emul(uint32_t a, uint32_t b, int32_t acc)
{
    uint32_t s = (uint32_t)acc + (uint32_t)(i8_lo16(a) * i8_lo16(b)) + (uint32_t)(i8_hi16(a) * i8_hi16(b));
    return s > (uint32_t)INT32_MAX ? -(int32_t)(~s) - 1 : (int32_t)s;
}
/* SXTB16: bytes 0 and 2 sign-extended into the two halves */
static inline uint32_t i8_sxtb16_emul(uint32_t v)
{
    uint32_t lo = (v & 0x80u) ? (v & 0xFFu) | 0xFF00u : v & 0xFFu;
    uint32_t hi = (v & 0x800000u) ? ((v >> 16) & 0xFFu) | 0xFF00u : (v >> 16) & 0xFFu;
    return lo | hi << 16;
}
#define I8_SMLAD(a, b, acc) i8_smlad_emul((a), (b), (acc))
#define I8_SXTB16(v) i8_sxtb16_emul(v)
#define I8_ROR8(v) (((v) >> 8) | ((v) << 24))
#define I8_SXTB16_ROR8(v) i8_sxtb16_emul(I8_ROR8(v))
/* SXTAB16: a + SXTB16(v), each 16-bit half on its own (no carry between halves) */
static inline uint32_t i8_sxtab16_emul(uint32_t a, uint32_t v)
{
    const uint32_t e = i8_sxtb16_emul(v);
    return ((a + e) & 0xFFFFu) | (((a >> 16) + (e >> 16)) & 0xFFFFu) << 16;
}
#define I8_SXTAB16(a, v) i8_sxtab16_emul((a), (v))
#define I8_SXTAB16_ROR8(a, v) i8_sxtab16_emul((a), I8_ROR8(v))
/* SMLAxy: acc + one 16-bit half of a times one of b (B bottom, T top); no overflow in the kernels' use */
#define I8_SMLABB(a, b, acc) ((acc) + i8_lo16(a) * i8_lo16(b))
#define I8_SMLATB(a, b, acc) ((acc) + i8_hi16(a) * i8_lo16(b))
#define I8_SMLABT(a, b, acc) ((acc) + i8_lo16(a) * i8_hi16(b))
#define I8_SMLATT(a, b, acc) ((acc) + i8_hi16(a) * i8_hi16(b))
#define I8_PKHBT16(a, b) (((a) & 0xFFFFu) | (b) << 16)
#define I8_PKHTB16(a, b) (((a) & 0xFFFF0000u) | (b) >> 16)
#else
#define NNB_I8_DSP 0
#endif

#if NNB_I8_DSP
/* the four int8 at p (any alignment) as the sign-extended pairs (p0, p2) and (p1, p3) */
static inline void i8_split4(const int8_t *p, uint32_t *e02, uint32_t *e13)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    *e02 = I8_SXTB16(v);
    *e13 = I8_SXTB16_ROR8(v);
}
/* acc + the dot product of the four int8 at x with four weights split by i8_split4 */
static inline int32_t i8_dot4(const int8_t *x, uint32_t w02, uint32_t w13, int32_t acc)
{
    uint32_t x02, x13;
    i8_split4(x, &x02, &x13);
    return I8_SMLAD(x13, w13, I8_SMLAD(x02, w02, acc));
}
#endif

/* gemmlowp's SaturatingRoundingDoublingHighMul; the division by 2^31 truncating toward zero is done
 * with shifts of non-negative values (no 64-bit division call on 32-bit cores) */
static inline int32_t i8_srdhm(int32_t a, int32_t b)
{
    int64_t v;
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    v = (int64_t)a * (int64_t)b;
    v += v >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return v >= 0 ? (int32_t)(v >> 31) : -(int32_t)((-v) >> 31);
}

/* gemmlowp's RoundingDivideByPOT: x / 2^e rounded half away from zero, 0 <= e <= 31 */
static inline int32_t i8_rdbp(int32_t x, int32_t e)
{
    int32_t mask, rem, thr;
    if (e <= 0)
        return x;
    if (e > 31)
        e = 31;
    mask = (int32_t)(((uint32_t)1 << e) - 1u);
    rem = x & mask;
    thr = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > thr ? 1 : 0); /* arithmetic shift: gcc, clang, arm-none-eabi-gcc */
}

/* x * mult * 2^(shift - 31), the left shift saturating to int32 */
static inline int32_t i8_requant(int32_t x, int32_t mult, int32_t shift)
{
    if (shift > 0) {
        int64_t v = (int64_t)x * ((int64_t)1 << (shift > 31 ? 31 : shift));
        x = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
        return i8_srdhm(x, mult);
    }
    return i8_rdbp(i8_srdhm(x, mult), -shift);
}

/* A requantization prepared once per channel: i8_rq_apply(q, x) == i8_requant(x, mult, shift) for every x.
 * For |x| < 2^30, 0 < -shift <= 30 or shift == 0, and mult != INT32_MIN:
 *  - SaturatingRoundingDoublingHighMul(x, mult) is (x*mult + 2^30) >> 31 (for x*mult >= 0 the truncating
 *    division of x*mult + 2^30; for x*mult < 0, truncating (x*mult + 1 - 2^30) / 2^31 toward zero is flooring
 *    (x*mult + 1 - 2^30 + 2^31 - 1) / 2^31, the same value), which is (2x * mult + 2^31) >> 32: one SMMULR
 *    on a core with the DSP extension; |h| <= 2^30;
 *  - RoundingDivideByPOT(h, e) for e >= 1 is (h + 2^(e-1) - (h < 0)) >> e (half away from zero), no overflow
 *    since 2^(e-1) <= 2^29.
 * Anything else (a left shift, a huge accumulator) takes the plain i8_requant. */
typedef struct {
    int32_t mult, shift, right, nudge, negm;
    uint32_t lim; /* the fast form needs x + 2^30 < lim (unsigned): 2^31, or 0 for a channel it never takes */
} i8_rq;

static inline void i8_rq_init(i8_rq *q, int32_t mult, int32_t shift)
{
    const int fast = mult != INT32_MIN && shift <= 0 && shift >= -30;
    q->mult = mult;
    q->shift = shift;
    q->right = fast ? -shift : 0;
    q->nudge = q->right ? (int32_t)1 << (q->right - 1) : 0;
    q->negm = q->right ? 1 : 0;
    q->lim = fast ? 0x80000000u : 0u;
}

/* (a * b + 2^31) >> 32 */
static inline int32_t i8_mulhr(int32_t a, int32_t b)
{
#if defined(__ARM_FEATURE_DSP) && !defined(NNB_I8_NO_DSP)
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32);
#endif
}

#if defined(__ARM_FEATURE_DSP) && !defined(NNB_I8_NO_DSP)
/* (a * b + c * 2^32 + 2^31) >> 32: SMMLAR */
static inline int32_t i8_mulhr_add(int32_t a, int32_t b, int32_t c)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}
#endif

static inline int32_t i8_rq_apply(const i8_rq *q, int32_t x)
{
    int32_t h;
    if ((uint32_t)x + 0x40000000u >= q->lim)
        return nnb_i8_requantize(x, q->mult, q->shift); /* out of line: keeps the registers for the fast form */
    h = i8_mulhr(x * 2, q->mult);
    return (h + q->nudge - ((h >> 31) & q->negm)) >> q->right;
}

static inline int32_t i8_clamp(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* clamp(zero + v) without int32 overflow, for the general (slow) forms where v may be near INT32_MIN/MAX */
static inline int32_t i8_clamp_add(int32_t zero, int32_t v, int32_t lo, int32_t hi)
{
    const int64_t s = (int64_t)zero + v;
    return s < lo ? lo : s > hi ? hi : (int32_t)s;
}

/* Where column value k of n goes. The dual-MAC path stores each full block of four as (c0, c2, c1, c3):
 * one word then pairs with the weights' (w0, w2) that SXTB16 extracts, the next with (w1, w3). */
static inline int32_t i8_col(int32_t k, int32_t n)
{
#if NNB_I8_DSP
    int32_t j = k & 3;
    return (k < (n & ~3) && (j == 1 || j == 2)) ? (k ^ 3) : k;
#else
    (void)n;
    return k;
#endif
}

/* sum over k of column value k (stored at i8_col(k, n)) times w[k] */
static inline int32_t i8_dot(const int16_t *col, const int8_t *w, int32_t n, int32_t acc)
{
    int32_t i = 0;
#if NNB_I8_DSP
    for (; i + 3 < n; i += 4) { /* four MACs per step */
        uint32_t c02, c13, w4;
        memcpy(&c02, col + i, sizeof c02); /* little-endian: col[i] in the low half */
        memcpy(&c13, col + i + 2, sizeof c13);
        memcpy(&w4, w + i, sizeof w4);
        acc = I8_SMLAD(c02, I8_SXTB16(w4), acc);
        acc = I8_SMLAD(c13, I8_SXTB16_ROR8(w4), acc);
    }
#endif
    for (; i < n; ++i)
        acc += (int32_t)col[i] * (int32_t)w[i];
    return acc;
}

/* two output channels over one column: the column words are loaded once for both */
static inline void i8_dot2(const int16_t *col, const int8_t *w0, const int8_t *w1, int32_t n, int32_t *acc0,
                           int32_t *acc1)
{
    int32_t i = 0, a0 = *acc0, a1 = *acc1;
#if NNB_I8_DSP
    for (; i + 3 < n; i += 4) {
        uint32_t c02, c13, v0, v1;
        memcpy(&c02, col + i, sizeof c02);
        memcpy(&c13, col + i + 2, sizeof c13);
        memcpy(&v0, w0 + i, sizeof v0);
        memcpy(&v1, w1 + i, sizeof v1);
        a0 = I8_SMLAD(c02, I8_SXTB16(v0), a0);
        a0 = I8_SMLAD(c13, I8_SXTB16_ROR8(v0), a0);
        a1 = I8_SMLAD(c02, I8_SXTB16(v1), a1);
        a1 = I8_SMLAD(c13, I8_SXTB16_ROR8(v1), a1);
    }
#endif
    for (; i < n; ++i) {
        a0 += (int32_t)col[i] * (int32_t)w0[i];
        a1 += (int32_t)col[i] * (int32_t)w1[i];
    }
    *acc0 = a0;
    *acc1 = a1;
}

#endif
