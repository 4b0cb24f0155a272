/* Unpooling (id 287): repeats each element kernel[i] times along the last
   len(kernel) axes (nearest-neighbour upsampling). */
#include "../internal.h"

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

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    const int nd = out[0].ndim, s = nd - a->a[0].count;
    size_t idx[NNBRT_MAX_NDIM] = {0}, o, i;
    int d;
    (void)nin; (void)nout;
    for (o = 0; o < out[0].size; ++o) {
        size_t off = 0;
        for (d = 0; d < nd; ++d) {
            size_t k = d < s ? 1 : (size_t)a->a[0].list[d - s];
            off = off * (size_t)in[0].dims[d] + idx[d] / k;
        }
        out[0].data[o] = in[0].data[off];
        for (d = nd - 1; d >= 0; --d) {
            if (++idx[d] < (size_t)out[0].dims[d]) break;
            idx[d] = 0;
        }
    }
    (void)i;
}

const nnbrt_kernel nnbrt_k_unpooling = {"Unpooling", "iIB", 1, 1, 1, 1, check, run};
