/* Concatenate (id 74): joins inputs along `axis`. */
#include "../internal.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    int ax = nnbrt_axis(a->a[0].i, out[0].ndim), i, d;
    int64_t sum = 0;
    (void)nout;
    if (ax < 0) return NNBRT_E_BAD_ARGUMENT;
    for (i = 0; i < nin; ++i) {
        if (in[i].ndim != out[0].ndim) return NNBRT_E_SHAPE_MISMATCH;
        for (d = 0; d < out[0].ndim; ++d)
            if (d != ax && in[i].dims[d] != out[0].dims[d]) return NNBRT_E_SHAPE_MISMATCH;
        sum += in[i].dims[ax];
    }
    if (sum != out[0].dims[ax]) return NNBRT_E_SHAPE_MISMATCH;
    work->work = out[0].size;
    return NNBRT_OK;
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    const int ax = nnbrt_axis(a->a[0].i, out[0].ndim);
    const size_t outer = nnbrt_prod(&out[0], 0, ax), inner = nnbrt_prod(&out[0], ax + 1, out[0].ndim);
    float *y = out[0].data;
    size_t o;
    int i;
    (void)nout;
    for (o = 0; o < outer; ++o)
        for (i = 0; i < nin; ++i) {
            const size_t n = (size_t)in[i].dims[ax] * inner;
            memmove(y, in[i].data + o * n, n * sizeof(float));
            y += n;
        }
}

const nnbrt_kernel nnbrt_k_concatenate = {"Concatenate", "i", 1, NNBRT_MAX_FN_IO, 1, 1, check, run};
