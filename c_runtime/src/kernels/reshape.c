/* Reshape (id 126; legacy id 83): copies the data (element counts must match). */
#include "../internal.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    (void)a; (void)nin; (void)nout;
    if (in[0].size != out[0].size) return NNBRT_E_SHAPE_MISMATCH;
    work->work = out[0].size;
    return NNBRT_OK;
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    (void)a; (void)nin; (void)nout;
    if (out[0].data != in[0].data) memmove(out[0].data, in[0].data, out[0].size * sizeof(float));
}

const nnbrt_kernel nnbrt_k_reshape = {"Reshape", "iIB", 1, 1, 1, 1, check, run};
const nnbrt_kernel nnbrt_k_reshape_v1 = {"Reshape", "iI", 1, 1, 1, 1, check, run};
