/* Broadcast (id 79): expands axes of size 1 to the output shape (same ndim). */
#include "../internal.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    int d;
    (void)a; (void)nin; (void)nout;
    if (out[0].ndim != in[0].ndim) return NNBRT_E_SHAPE_MISMATCH;
    for (d = 0; d < in[0].ndim; ++d)
        if (in[0].dims[d] != 1 && in[0].dims[d] != out[0].dims[d]) return NNBRT_E_SHAPE_MISMATCH;
    work->work = out[0].size;
    return NNBRT_OK;
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    nnbrt_bcast bc;
    size_t idx[NNBRT_MAX_NDIM] = {0}, oa = 0, ob = 0, oy = 0;
    (void)a; (void)nin; (void)nout;
    nnbrt_bcast_init(&bc, &in[0], &in[0], &out[0]);
    do {
        const size_t n = bc.dims[bc.ndim - 1], s = bc.sa[bc.ndim - 1];
        size_t k;
        for (k = 0; k < n; ++k) out[0].data[oy + k] = in[0].data[oa + k * s];
        oy += n;
    } while (nnbrt_bcast_next(&bc, idx, &oa, &ob));
}

const nnbrt_kernel nnbrt_k_broadcast = {"Broadcast", "iI", 1, 1, 1, 1, check, run};
