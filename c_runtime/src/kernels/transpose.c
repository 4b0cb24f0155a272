/* Transpose (id 78): out.dims[d] = in.dims[axes[d]]. */
#include "../internal.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    int seen[NNBRT_MAX_NDIM] = {0}, d;
    (void)nin; (void)nout;
    if (a->a[0].count != in[0].ndim || out[0].ndim != in[0].ndim) return NNBRT_E_BAD_ARGUMENT;
    for (d = 0; d < in[0].ndim; ++d) {
        int32_t s = a->a[0].list[d];
        if (s < 0 || s >= in[0].ndim || seen[s]) return NNBRT_E_BAD_ARGUMENT;
        seen[s] = 1;
        if (out[0].dims[d] != in[0].dims[s]) return NNBRT_E_SHAPE_MISMATCH;
    }
    work->work = out[0].size * 2;
    return NNBRT_OK;
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    const int nd = in[0].ndim;
    size_t is[NNBRT_MAX_NDIM], st[NNBRT_MAX_NDIM], idx[NNBRT_MAX_NDIM] = {0}, acc = 1, o, off = 0;
    int d;
    (void)nin; (void)nout;
    if (nd == 0) { out[0].data[0] = in[0].data[0]; return; }
    for (d = nd - 1; d >= 0; --d) { is[d] = acc; acc *= (size_t)in[0].dims[d]; }
    for (d = 0; d < nd; ++d) st[d] = is[a->a[0].list[d]];
    for (o = 0; o < out[0].size; ++o) {
        out[0].data[o] = in[0].data[off];
        for (d = nd - 1; d >= 0; --d) {
            off += st[d];
            if (++idx[d] < (size_t)out[0].dims[d]) break;
            off -= st[d] * idx[d];
            idx[d] = 0;
        }
    }
}

const nnbrt_kernel nnbrt_k_transpose = {"Transpose", "iI", 1, 1, 1, 1, check, run};
