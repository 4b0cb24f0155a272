/* Unpooling (id 287): repeats each element kernel[i] times along the last
   len(kernel) axes (nearest-neighbour upsampling). */
#include "../internal.h"
#include <string.h>

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    int nk = a->a[0].count, s, i;
    (void)nin; (void)nout;
    if (a->a[1].i) return NNBRT_E_UNSUPPORTED_ARGUMENT;
    if (nk < 1 || nk > in[0].ndim) return NNBRT_E_BAD_ARGUMENT;
    if (out[0].ndim != in[0].ndim) return NNBRT_E_SHAPE_MISMATCH;
    s = in[0].ndim - nk;
    for (i = 0; i < in[0].ndim; ++i) {
        int64_t k = i < s ? 1 : a->a[0].list[i - s];
        if (k < 1) return NNBRT_E_BAD_ARGUMENT;
        if ((int64_t)in[0].dims[i] * k != out[0].dims[i]) return NNBRT_E_SHAPE_MISMATCH;
    }
    work->work = out[0].size * (size_t)(in[0].ndim + 1);
    return NNBRT_OK;
}

/* Axis d of the output block at y from the input block at x: the last axis
   repeats each element k times, every other axis builds one output slice
   per input slice and copies it k - 1 times (memcpy of whole rows). */
static void expand(const nnbrt_tensor *in, const nnbrt_tensor *out, const int32_t *kern, int s, int d,
                   const float *x, float *y)
{
    const int nd = in->ndim;
    const size_t k = d < s ? 1 : (size_t)kern[d - s], n = (size_t)in->dims[d];
    size_t i, r, xs = 1, ys = 1;
    int e;
    if (d == nd - 1) {
        if (k == 1) {
            memcpy(y, x, n * sizeof(float));
        } else if (k == 2) {
            for (i = 0; i < n; ++i) y[2 * i] = y[2 * i + 1] = x[i];
        } else {
            for (i = 0; i < n; ++i)
                for (r = 0; r < k; ++r) y[i * k + r] = x[i];
        }
        return;
    }
    for (e = d + 1; e < nd; ++e) {
        xs *= (size_t)in->dims[e];
        ys *= (size_t)out->dims[e];
    }
    for (i = 0; i < n; ++i) {
        float *yi = y + i * k * ys;
        expand(in, out, kern, s, d + 1, x + i * xs, yi);
        for (r = 1; r < k; ++r) memcpy(yi + r * ys, yi, ys * sizeof(float));
    }
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    (void)nin; (void)nout;
    if (in[0].ndim == 0 || out[0].size == 0) return;
    expand(&in[0], &out[0], a->a[0].list, in[0].ndim - a->a[0].count, 0, in[0].data, out[0].data);
}

const nnbrt_kernel nnbrt_k_unpooling = {"Unpooling", "iIB", 1, 1, 1, 1, check, run};
