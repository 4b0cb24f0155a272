/* int8 Add2 (TFLite's scheme), Mul2 and the rescale of a Concatenate input. */
#include "nnb_int8.h"

#include "i8_dot.h"

#define ADD_LEFT_SHIFT 20

static int32_t clamp(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : v > hi ? hi : v; }

static int zero_ok(int32_t z) { return z >= -128 && z <= 127; }

int nnb_i8_add(size_t n, const int8_t *a, int32_t a_zero, const int8_t *b, int32_t b_zero, const int32_t mult[3],
               const int32_t shift[3], int32_t out_zero, int32_t act_min, int32_t act_max, int8_t *y)
{
    size_t i;
    if ((n && (!a || !b || !y)) || !mult || !shift || !zero_ok(a_zero) || !zero_ok(b_zero) || !zero_ok(out_zero) ||
        act_min < -128 || act_max > 127 || act_min > act_max)
        return NNB_I8_EINVAL;
    for (i = 0; i < n; ++i) {
        int32_t sa = i8_requant(((int32_t)a[i] - a_zero) * (1 << ADD_LEFT_SHIFT), mult[0], shift[0]);
        int32_t sb = i8_requant(((int32_t)b[i] - b_zero) * (1 << ADD_LEFT_SHIFT), mult[1], shift[1]);
        y[i] = (int8_t)clamp(out_zero + i8_requant(sa + sb, mult[2], shift[2]), act_min, act_max);
    }
    return NNB_I8_OK;
}

int nnb_i8_mul(size_t n, const int8_t *a, int32_t a_zero, const int8_t *b, int32_t b_zero, int32_t mult,
               int32_t shift, int32_t out_zero, int32_t act_min, int32_t act_max, int8_t *y)
{
    size_t i;
    if ((n && (!a || !b || !y)) || !zero_ok(a_zero) || !zero_ok(b_zero) || !zero_ok(out_zero) || act_min < -128 ||
        act_max > 127 || act_min > act_max)
        return NNB_I8_EINVAL;
    for (i = 0; i < n; ++i) {
        int32_t acc = ((int32_t)a[i] - a_zero) * ((int32_t)b[i] - b_zero);
        y[i] = (int8_t)clamp(out_zero + i8_requant(acc, mult, shift), act_min, act_max);
    }
    return NNB_I8_OK;
}

int nnb_i8_rescale(size_t n, const int8_t *x, int32_t in_zero, int32_t mult, int32_t shift, int32_t out_zero,
                   int8_t *y)
{
    size_t i;
    if ((n && (!x || !y)) || !zero_ok(in_zero) || !zero_ok(out_zero))
        return NNB_I8_EINVAL;
    for (i = 0; i < n; ++i)
        y[i] = (int8_t)clamp(out_zero + i8_requant((int32_t)x[i] - in_zero, mult, shift), -128, 127);
    return NNB_I8_OK;
}
