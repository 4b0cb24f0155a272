/* CReLU (id 19): concatenation of relu(x) and relu(-x) along `axis`. */
#include "../internal.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    int ax = nnbrt_axis(a->a[0].i, in[0].ndim), d;
    (void)nin; (void)nout;
    if (ax < 0) return NNBRT_E_BAD_ARGUMENT;
    if (out[0].ndim != in[0].ndim) return NNBRT_E_SHAPE_MISMATCH;
    for (d = 0; d < in[0].ndim; ++d)
        if ((int64_t)out[0].dims[d] != (int64_t)in[0].dims[d] * (d == ax ? 2 : 1))
            return NNBRT_E_SHAPE_MISMATCH;
    work->work = out[0].size;
    return NNBRT_OK;
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    const int ax = nnbrt_axis(a->a[0].i, in[0].ndim);
    const size_t outer = nnbrt_prod(&in[0], 0, ax), block = nnbrt_prod(&in[0], ax, in[0].ndim);
    size_t o, k;
    (void)nin; (void)nout;
    for (o = 0; o < outer; ++o) {
        const float *x = in[0].data + o * block;
        float *y = out[0].data + o * 2 * block;
        for (k = 0; k < block; ++k) {
            y[k] = x[k] > 0.0f ? x[k] : 0.0f;
            y[block + k] = x[k] < 0.0f ? -x[k] : 0.0f;
        }
    }
}

const nnbrt_kernel nnbrt_k_crelu = {"CReLU", "i", 1, 1, 1, 1, check, run};
