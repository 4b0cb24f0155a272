/* Integer rescaling: gemmlowp's SaturatingRoundingDoublingHighMul and RoundingDivideByPOT. */
#include "nnb_int8.h"

#include "i8_dot.h"
#include "i8_host.h"

int32_t nnb_i8_srdhm(int32_t a, int32_t b) { return i8_srdhm(a, b); }

int32_t nnb_i8_rdbp(int32_t x, int32_t exponent) { return i8_rdbp(x, exponent); }

int32_t nnb_i8_requantize(int32_t x, int32_t mult, int32_t shift) { return i8_requant(x, mult, shift); }

int nnb_i8_dsp_path(void) { return NNB_I8_DSP; }

#if !NNB_I8_X86
int nnb_i8_isa_level(int cap)
{
    (void)cap;
    return 0;
}
#endif

int nnb_i8_requantize_vec(size_t n, const int32_t *acc, int32_t mult, int32_t shift, int32_t zero, int32_t lo,
                          int32_t hi, int8_t *y)
{
    size_t i;
    i8_rq q;
    if ((n && (!acc || !y)) || lo < -128 || hi > 127 || lo > hi || zero < -128 || zero > 127)
        return NNB_I8_EINVAL;
    i8_rq_init(&q, mult, shift); /* the kernels' prepared form, so the tests check it on any value */
    for (i = 0; i < n; ++i)
        y[i] = (int8_t)i8_clamp_add(zero, i8_rq_apply(&q, acc[i]), lo, hi);
    return NNB_I8_OK;
}
