/* int8 Affine (fully connected): weights output-major [o][k], as NNB stores Affine weights. */
#include "nnb_int8.h"

#include "i8_dot.h"
#include "i8_host.h"

int nnb_i8_affine(int32_t n, int32_t k, int32_t o, const int8_t *x, int32_t in_zero, const int8_t *w,
                  const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t out_zero,
                  int32_t act_min, int32_t act_max, int8_t *y)
{
    /* a 64-value column on the stack: the input row (x - zero) as int16, chunk by chunk */
    int16_t col[64];
    int32_t b, j, c0;
    if (n <= 0 || k <= 0 || o <= 0 || !x || !w || !mult || !shift || !y)
        return NNB_I8_EINVAL;
    if (act_min < -128 || act_max > 127 || act_min > act_max || in_zero < -128 || in_zero > 127)
        return NNB_I8_EINVAL;
#if NNB_I8_X86
    if (nnb_i8_x86_affine(n, k, o, x, in_zero, w, bias, mult, shift, out_zero, act_min, act_max, y))
        return NNB_I8_OK;
#endif
    for (b = 0; b < n; ++b) {
        const int8_t *xr = x + (size_t)b * (size_t)k;
        for (j = 0; j < o; ++j) {
            int32_t acc = bias ? bias[j] : 0, v;
            const int8_t *wr = w + (size_t)j * (size_t)k;
            for (c0 = 0; c0 < k; c0 += 64) {
                int32_t len = k - c0 < 64 ? k - c0 : 64, i;
                for (i = 0; i < len; ++i)
                    col[i8_col(i, len)] = (int16_t)(xr[c0 + i] - in_zero);
                acc = i8_dot(col, wr + c0, len, acc);
            }
            v = out_zero + i8_requant(acc, mult[j], shift[j]);
            y[(size_t)b * (size_t)o + (size_t)j] = (int8_t)(v < act_min ? act_min : v > act_max ? act_max : v);
        }
    }
    return NNB_I8_OK;
}
