/* BatchNormalization (id 326; legacy id 22): inference form
   y = (x - mean) / sqrt(var + eps) * gamma + beta over the single axis.
   Inputs: x, [beta unless no_bias], [gamma unless no_scale], mean, var.
   batch_stat=true uses the statistics of x itself (biased variance). */
#include "../internal.h"
#include <math.h>

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    int no_scale = a->n > 4 ? a->a[4].i : 0, no_bias = a->n > 5 ? a->a[5].i : 0, ax, i;
    (void)nout;
    if (a->a[0].count != 1) return NNBRT_E_UNSUPPORTED_ARGUMENT;
    ax = nnbrt_axis(a->a[0].list[0], in[0].ndim);
    if (ax < 0) return NNBRT_E_BAD_ARGUMENT;
    if (nin != 3 + !no_bias + !no_scale) return NNBRT_E_BAD_IO_COUNT;
    if (!nnbrt_same_shape(&in[0], &out[0])) return NNBRT_E_SHAPE_MISMATCH;
    for (i = 1; i < nin; ++i)
        if (in[i].size != (size_t)in[0].dims[ax]) return NNBRT_E_SHAPE_MISMATCH;
    work->work = in[0].size * 2;
    return NNBRT_OK;
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    int no_scale = a->n > 4 ? a->a[4].i : 0, no_bias = a->n > 5 ? a->a[5].i : 0, k = 1;
    int ax = nnbrt_axis(a->a[0].list[0], in[0].ndim);
    const float eps = a->a[2].f;
    const float *beta = no_bias ? NULL : in[k++].data;
    const float *gamma = no_scale ? NULL : in[k++].data;
    const float *mean = in[k++].data, *var = in[k].data;
    const size_t outer = nnbrt_prod(&in[0], 0, ax), C = (size_t)in[0].dims[ax];
    const size_t inner = nnbrt_prod(&in[0], ax + 1, in[0].ndim);
    size_t o, c, i;
    (void)nin; (void)nout;
    for (c = 0; c < C; ++c) {
        float m, v, sc, sh;
        if (a->a[3].i) { /* batch_stat: two passes in single precision (mean, then squared deviations) */
            const float inv = 1.0f / (float)(outer * inner);
            float s = 0.0f, s2 = 0.0f;
            for (o = 0; o < outer; ++o)
                for (i = 0; i < inner; ++i) s += in[0].data[(o * C + c) * inner + i];
            m = s * inv;
            for (o = 0; o < outer; ++o)
                for (i = 0; i < inner; ++i) {
                    const float d = in[0].data[(o * C + c) * inner + i] - m;
                    s2 += d * d;
                }
            v = s2 * inv;
        } else {
            m = mean[c];
            v = var[c];
        }
        sc = (gamma ? gamma[c] : 1.0f) / sqrtf(v + eps);
        sh = beta ? beta[c] : 0.0f;
        for (o = 0; o < outer; ++o) {
            const float *x = in[0].data + (o * C + c) * inner;
            float *y = out[0].data + (o * C + c) * inner;
            for (i = 0; i < inner; ++i) y[i] = (x[i] - m) * sc + sh;
        }
    }
}

const nnbrt_kernel nnbrt_k_batch_normalization = {"BatchNormalization", "iIffBBB", 3, 5, 1, 1, check, run};
const nnbrt_kernel nnbrt_k_batch_normalization_v1 = {"BatchNormalization", "iIffB", 5, 5, 1, 1, check, run};
