/* MatrixDiag (id 84): x[..., N] -> y[..., N, N] with x on the diagonal. */
#include "../internal.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    int d;
    (void)a; (void)nin; (void)nout;
    if (in[0].ndim < 1 || out[0].ndim != in[0].ndim + 1) return NNBRT_E_SHAPE_MISMATCH;
    for (d = 0; d < in[0].ndim; ++d)
        if (out[0].dims[d] != in[0].dims[d]) return NNBRT_E_SHAPE_MISMATCH;
    if (out[0].dims[in[0].ndim] != in[0].dims[in[0].ndim - 1]) return NNBRT_E_SHAPE_MISMATCH;
    work->work = out[0].size;
    return NNBRT_OK;
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    const size_t n = (size_t)in[0].dims[in[0].ndim - 1], outer = in[0].size / n;
    size_t o, i, j;
    (void)a; (void)nin; (void)nout;
    for (o = 0; o < outer; ++o)
        for (i = 0; i < n; ++i)
            for (j = 0; j < n; ++j)
                out[0].data[(o * n + i) * n + j] = i == j ? in[0].data[o * n + i] : 0.0f;
}

const nnbrt_kernel nnbrt_k_matrix_diag = {"MatrixDiag", "", 1, 1, 1, 1, check, run};
