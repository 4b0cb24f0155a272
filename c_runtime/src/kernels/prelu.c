/* PReLU (id 21): y = x > 0 ? x : slope * x, slope shared (1 element) or per
   channel of axis base_axis. */
#include "../internal.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    int b = a->a[0].i;
    (void)nin; (void)nout;
    if (!nnbrt_same_shape(&in[0], &out[0])) return NNBRT_E_SHAPE_MISMATCH;
    if (in[1].size != 1) {
        if (b < 0 || b >= in[0].ndim) return NNBRT_E_BAD_ARGUMENT;
        if (in[1].size != (size_t)in[0].dims[b]) return NNBRT_E_SHAPE_MISMATCH;
    }
    work->work = in[0].size;
    return NNBRT_OK;
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    size_t k, n = in[0].size;
    (void)nin; (void)nout;
    if (in[1].size == 1) {
        const float s = in[1].data[0];
        for (k = 0; k < n; ++k) {
            const float x = in[0].data[k];
            out[0].data[k] = x > 0.0f ? x : s * x;
        }
    } else {
        const int b = a->a[0].i;
        const size_t C = (size_t)in[0].dims[b], inner = nnbrt_prod(&in[0], b + 1, in[0].ndim);
        for (k = 0; k < n; ++k) {
            const float x = in[0].data[k];
            out[0].data[k] = x > 0.0f ? x : in[1].data[(k / inner) % C] * x;
        }
    }
}

const nnbrt_kernel nnbrt_k_prelu = {"PReLU", "i", 2, 2, 1, 1, check, run};
