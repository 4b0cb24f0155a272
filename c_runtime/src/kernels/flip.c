/* Flip (id 81): reverses the listed axes. */
#include "../internal.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    int i;
    (void)nin; (void)nout;
    if (!nnbrt_same_shape(&in[0], &out[0])) return NNBRT_E_SHAPE_MISMATCH;
    for (i = 0; i < a->a[0].count; ++i)
        if (nnbrt_axis(a->a[0].list[i], in[0].ndim) < 0) return NNBRT_E_BAD_ARGUMENT;
    work->work = out[0].size * (size_t)(in[0].ndim + 1);
    return NNBRT_OK;
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    const int nd = in[0].ndim;
    int flip[NNBRT_MAX_NDIM] = {0}, d, i;
    size_t idx[NNBRT_MAX_NDIM] = {0}, o;
    (void)nin; (void)nout;
    for (i = 0; i < a->a[0].count; ++i) flip[nnbrt_axis(a->a[0].list[i], nd)] ^= 1;
    for (o = 0; o < out[0].size; ++o) {
        size_t off = 0;
        for (d = 0; d < nd; ++d) {
            size_t n = (size_t)in[0].dims[d];
            off = off * n + (flip[d] ? n - 1 - idx[d] : idx[d]);
        }
        out[0].data[o] = in[0].data[off];
        for (d = nd - 1; d >= 0; --d) {
            if (++idx[d] < (size_t)out[0].dims[d]) break;
            idx[d] = 0;
        }
    }
}

const nnbrt_kernel nnbrt_k_flip = {"Flip", "iI", 1, 1, 1, 1, check, run};
