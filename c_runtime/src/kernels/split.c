/* Split (id 75): splits along `axis` into dims[axis] outputs with the axis removed. */
#include "../internal.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    int ax = nnbrt_axis(a->a[0].i, in[0].ndim), i, d;
    (void)nin;
    if (ax < 0) return NNBRT_E_BAD_ARGUMENT;
    if (nout != in[0].dims[ax]) return NNBRT_E_BAD_IO_COUNT;
    for (i = 0; i < nout; ++i) {
        if (out[i].ndim != in[0].ndim - 1) return NNBRT_E_SHAPE_MISMATCH;
        for (d = 0; d < out[i].ndim; ++d)
            if (out[i].dims[d] != in[0].dims[d < ax ? d : d + 1]) return NNBRT_E_SHAPE_MISMATCH;
    }
    work->work = in[0].size;
    return NNBRT_OK;
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    const int ax = nnbrt_axis(a->a[0].i, in[0].ndim);
    const size_t outer = nnbrt_prod(&in[0], 0, ax), inner = nnbrt_prod(&in[0], ax + 1, in[0].ndim);
    size_t o;
    int k;
    (void)nin;
    for (o = 0; o < outer; ++o)
        for (k = 0; k < nout; ++k)
            memmove(out[k].data + o * inner, in[0].data + (o * (size_t)nout + (size_t)k) * inner,
                    inner * sizeof(float));
}

const nnbrt_kernel nnbrt_k_split = {"Split", "i", 1, 1, 1, NNBRT_MAX_FN_IO, check, run};
