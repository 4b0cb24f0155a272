/* The int8 kernels' inner product: sum col[i] * w[i] over int16 columns and int8 weights.
 * Two forms, bit-exact with each other: a portable loop, and dual 16-bit MACs
 * (__smlad) on cores with the DSP extension (or emulated with NNB_I8_EMULATE_DSP). */
#ifndef NNB_I8_DOT_H
#define NNB_I8_DOT_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && !defined(NNB_I8_NO_DSP)
#include <arm_acle.h>
#define NNB_I8_DSP 1
#define I8_SMLAD(a, b, acc) __smlad((a), (b), (acc))
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
#define I8_SMLAD(a, b, acc) i8_smlad_emul((a), (b), (acc))
#else
#define NNB_I8_DSP 0
#endif

static inline int32_t i8_dot(const int16_t *col, const int8_t *w, int32_t n, int32_t acc)
{
    int32_t i = 0;
#if NNB_I8_DSP
    for (; i + 1 < n; i += 2) {
        uint32_t c, wp;
        memcpy(&c, col + i, sizeof c); /* little-endian: col[i] in the low half */
        wp = ((uint32_t)(uint16_t)(int16_t)w[i]) | ((uint32_t)(uint16_t)(int16_t)w[i + 1] << 16);
        acc = I8_SMLAD(c, wp, acc);
    }
#endif
    for (; i < n; ++i)
        acc += (int32_t)col[i] * (int32_t)w[i];
    return acc;
}

#endif
