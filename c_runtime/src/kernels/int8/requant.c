/* Integer rescaling: gemmlowp's SaturatingRoundingDoublingHighMul and RoundingDivideByPOT. */
#include "nnb_int8.h"

#include "i8_dot.h"

int32_t nnb_i8_srdhm(int32_t a, int32_t b) { return i8_srdhm(a, b); }

int32_t nnb_i8_rdbp(int32_t x, int32_t exponent) { return i8_rdbp(x, exponent); }

int32_t nnb_i8_requantize(int32_t x, int32_t mult, int32_t shift) { return i8_requant(x, mult, shift); }

int nnb_i8_dsp_path(void) { return NNB_I8_DSP; }

int nnb_i8_requantize_vec(size_t n, const int32_t *acc, int32_t mult, int32_t shift, int32_t zero, int32_t lo,
                          int32_t hi, int8_t *y)
{
    size_t i;
    if ((n && (!acc || !y)) || lo < -128 || hi > 127 || lo > hi)
        return NNB_I8_EINVAL;
    for (i = 0; i < n; ++i) {
        int32_t v = zero + i8_requant(acc[i], mult, shift);
        y[i] = (int8_t)(v < lo ? lo : v > hi ? hi : v);
    }
    return NNB_I8_OK;
}
