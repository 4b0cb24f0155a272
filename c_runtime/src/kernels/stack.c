/* Stack (id 76): stacks equally shaped inputs along a new axis. */
#include "../internal.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    int ax = nnbrt_axis(a->a[0].i, out[0].ndim), i, d;
    (void)nout;
    if (ax < 0) return NNBRT_E_BAD_ARGUMENT;
    if (out[0].ndim != in[0].ndim + 1 || out[0].dims[ax] != nin) return NNBRT_E_SHAPE_MISMATCH;
    for (i = 0; i < nin; ++i)
        if (!nnbrt_same_shape(&in[i], &in[0])) return NNBRT_E_SHAPE_MISMATCH;
    for (d = 0; d < in[0].ndim; ++d)
        if (out[0].dims[d < ax ? d : d + 1] != in[0].dims[d]) return NNBRT_E_SHAPE_MISMATCH;
    work->work = out[0].size;
    return NNBRT_OK;
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    const int ax = nnbrt_axis(a->a[0].i, out[0].ndim);
    const size_t outer = nnbrt_prod(&in[0], 0, ax), inner = nnbrt_prod(&in[0], ax, in[0].ndim);
    size_t o;
    int k;
    (void)nout;
    for (o = 0; o < outer; ++o)
        for (k = 0; k < nin; ++k)
            memmove(out[0].data + (o * (size_t)nin + (size_t)k) * inner, in[k].data + o * inner,
                    inner * sizeof(float));
}

const nnbrt_kernel nnbrt_k_stack = {"Stack", "i", 1, NNBRT_MAX_FN_IO, 1, 1, check, run};
