/* GlobalAveragePooling (id 7): N x C x ... -> N x C x 1 x 1 (mean of each map). */
#include "../internal.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    int i;
    (void)a; (void)nin; (void)nout;
    if (in[0].ndim < 2 || out[0].ndim < 2) return NNBRT_E_SHAPE_MISMATCH;
    if (out[0].dims[0] != in[0].dims[0] || out[0].dims[1] != in[0].dims[1])
        return NNBRT_E_SHAPE_MISMATCH;
    for (i = 2; i < out[0].ndim; ++i)
        if (out[0].dims[i] != 1) return NNBRT_E_SHAPE_MISMATCH;
    work->work = in[0].size;
    return NNBRT_OK;
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    size_t maps = out[0].size, m, k, n = in[0].size / out[0].size;
    (void)a; (void)nin; (void)nout;
    for (m = 0; m < maps; ++m) {
        const float *x = in[0].data + m * n;
        float s = 0.0f;
        for (k = 0; k < n; ++k) s += x[k];
        out[0].data[m] = s / (float)n;
    }
}

const nnbrt_kernel nnbrt_k_global_average_pooling = {"GlobalAveragePooling", "", 1, 1, 1, 1, check, run};
