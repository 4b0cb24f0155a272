/* Integer rescaling: gemmlowp's SaturatingRoundingDoublingHighMul and RoundingDivideByPOT. */
#include "nnb_int8.h"

#include "i8_dot.h"

int32_t nnb_i8_srdhm(int32_t a, int32_t b)
{
    int64_t ab, nudge;
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* C division truncates toward zero */
}

int32_t nnb_i8_rdbp(int32_t x, int32_t exponent)
{
    int32_t mask, rem, thr;
    if (exponent <= 0)
        return x;
    if (exponent > 31)
        exponent = 31;
    mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    rem = x & mask;
    thr = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (rem > thr ? 1 : 0); /* arithmetic shift: gcc, clang, arm-none-eabi-gcc */
}

int32_t nnb_i8_requantize(int32_t x, int32_t mult, int32_t shift)
{
    int32_t left = shift > 0 ? shift : 0;
    int32_t right = shift > 0 ? 0 : -shift;
    int64_t v = (int64_t)x * ((int64_t)1 << (left > 31 ? 31 : left));
    if (v > INT32_MAX)
        v = INT32_MAX;
    if (v < INT32_MIN)
        v = INT32_MIN;
    return nnb_i8_rdbp(nnb_i8_srdhm((int32_t)v, mult), right);
}

int nnb_i8_dsp_path(void) { return NNB_I8_DSP; }

int nnb_i8_requantize_vec(size_t n, const int32_t *acc, int32_t mult, int32_t shift, int32_t zero, int32_t lo,
                          int32_t hi, int8_t *y)
{
    size_t i;
    if ((n && (!acc || !y)) || lo < -128 || hi > 127 || lo > hi)
        return NNB_I8_EINVAL;
    for (i = 0; i < n; ++i) {
        int32_t v = zero + nnb_i8_requantize(acc[i], mult, shift);
        y[i] = (int8_t)(v < lo ? lo : v > hi ? hi : v);
    }
    return NNB_I8_OK;
}
