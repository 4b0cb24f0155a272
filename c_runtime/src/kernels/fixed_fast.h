/* Fast forms of the fixed-point convolution and Affine (fixed_fast.c): the same integers as
   fixed_mac.c's int64 loops, summed in float or double where a bound proves every partial
   sum exact. Grid values are integer / 2^fp with |integer| <= top, so a product of an input
   and a weight is an integer multiple of u = 2^-(fx + fw); if every output's sum of
   |x_int| * |w_int| stays below 2^24 (float) or 2^51 (double), every partial sum, in any
   order and with or without fused multiply-add, is an exact multiple of u, and the rounded
   result is the exact integer sum. The bound is max |x_int| over the input tensor times the
   largest per-output sum of |w_int|, computed per call (one pass over input and weights). */
#ifndef NNBRT_FIXED_FAST_H
#define NNBRT_FIXED_FAST_H

#include "fixed_mac.h"
#include "conv_util.h"
#include <string.h>

/* finish(acc, fa, fo, 1, top) of fixed_mac.c (divisor 1) with shifts instead of a division:
   acc / 2^fa rounded to 2^-fo, half away from zero, saturated to +-top, as a float. */
static inline float nnbrt_fixed_finish1(int64_t acc, int fa, int fo, int32_t top)
{
    uint64_t m = acc < 0 ? 0u - (uint64_t)acc : (uint64_t)acc;
    if (fo >= fa) {
        if (m > (uint64_t)top + 1u) m = (uint64_t)top + 1u; /* saturates anyway */
        m <<= (unsigned)(fo - fa);
    } else {
        const unsigned k = (unsigned)(fa - fo); /* (2m + 2^k) / 2^(k+1) */
        m = (m + ((uint64_t)1 << (k - 1u))) >> k;
    }
    if (m > (uint64_t)top) m = (uint64_t)top;
    if (m == 0u) return 0.0f;
    return (acc < 0 ? -(float)m : (float)m) / (float)(1u << fo);
}

/* The same rounding in a form that vectorizes, for one (fa, fo) over many accumulators:
   the signed integer result q (the caller stores q * 2^-fo, exact). fo < fa: k = fa - fo,
   half = 2^(k-1); fo >= fa: k = fo - fa, half unused. (|acc| < 2^63, as the int64 loops assume.) */
static inline int32_t nnbrt_fixed_down(int64_t acc, int k, int64_t half, int64_t top)
{
    int64_t m = acc < 0 ? -acc : acc;
    m = (m + half) >> k;
    m = m < top ? m : top;
    return (int32_t)(acc < 0 ? -m : m);
}

static inline int32_t nnbrt_fixed_up(int64_t acc, int k, int64_t top)
{
    int64_t m = acc < 0 ? -acc : acc;
    m = m < top + 1 ? m : top + 1;
    m = (int64_t)((uint64_t)m << k);
    m = m < top ? m : top;
    return (int32_t)(acc < 0 ? -m : m);
}

/* 2^-fp as a float, exactly (0 <= fp <= 126), with no division */
static inline float nnbrt_fixed_inv(int fp)
{
    const uint32_t bits = (uint32_t)(127 - fp) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* The convolution (G groups; depthwise: G = C) and the Affine in float or double when the
   bound allows (float only on 32-bit Arm, which links no double routine). Return 1 when
   computed, 0 when the caller is to run the int64 loops. On x86-64 the loops are compiled
   for AVX-512F and AVX2+FMA too and chosen per CPU (NNB_FIXED_ISA=base|avx2 caps it; =loops
   turns the fast forms off, for benchmarks and tests of the int64 loops). */
int nnbrt_fixed_conv_fast(const nnbrt_geom *g, size_t G, int nin, const nnbrt_tensor *in, const int *fin,
                          const nnbrt_tensor *out, int fout, int32_t top);
int nnbrt_fixed_affine_fast(size_t outer, size_t inner, size_t M, int nin, const nnbrt_tensor *in,
                            const int *fin, const nnbrt_tensor *out, int fout, int32_t top);

/* nnbrt_fixed_round (fixed_mac.h) of n values in place, vectorized: the same floats. For the
   loader's rounding of a float kernel's outputs (one call per variable, not per value). */
void nnbrt_fixed_round_n(float *d, size_t n, int fp, int32_t top);

/* -1 off, 0 portable, 1 AVX2+FMA, 2 AVX-512F: the level the fast forms run at (0 off x86-64
   or without run-time dispatch) */
int nnbrt_fixed_isa_level(void);

#endif
