/* Softmax (id 16): exp(x - max) / sum over `axis`; LogSoftmax (id 269):
   x - max - log(sum(exp(x - max))) over `axis`, as nnb/ops/activation.py.
   Both may run in place: each element is read before it is written. */
#include "cores.h"
#include <math.h>

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    (void)nin; (void)nout;
    if (nnbrt_axis(a->a[0].i, in[0].ndim) < 0) return NNBRT_E_BAD_ARGUMENT;
    if (!nnbrt_same_shape(&in[0], &out[0])) return NNBRT_E_SHAPE_MISMATCH;
    work->work = in[0].size * 3;
    return NNBRT_OK;
}

/* One loop for both forms; inlined into each caller with log_form constant, so code that calls only
   Softmax never references logf. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline void axis_loop(const float *xs, float *ys, size_t outer, size_t n, size_t inner, int log_form)
{
    size_t o, i, k;
    for (o = 0; o < outer; ++o)
        for (i = 0; i < inner; ++i) {
            const float *x = xs + o * n * inner + i;
            float *y = ys + o * n * inner + i;
            float m = x[0], s = 0.0f;
            for (k = 1; k < n; ++k)
                if (x[k * inner] > m) m = x[k * inner];
            if (log_form) {
                float ls;
                for (k = 0; k < n; ++k) s += expf(x[k * inner] - m);
                ls = logf(s);
                for (k = 0; k < n; ++k) y[k * inner] = x[k * inner] - m - ls;
            } else {
                for (k = 0; k < n; ++k) {
                    y[k * inner] = expf(x[k * inner] - m);
                    s += y[k * inner];
                }
                for (k = 0; k < n; ++k) y[k * inner] /= s;
            }
        }
}

void nnbrt_softmax_f32(const float *x, float *y, size_t outer, size_t n, size_t inner)
{
    axis_loop(x, y, outer, n, inner, 0);
}

static void log_softmax_f32(const float *x, float *y, size_t outer, size_t n, size_t inner)
{
    axis_loop(x, y, outer, n, inner, 1);
}

static void over_axis(const nnbrt_args *a, const nnbrt_tensor *in, const nnbrt_tensor *out, int log_form)
{
    const int ax = nnbrt_axis(a->a[0].i, in[0].ndim);
    const size_t outer = nnbrt_prod(&in[0], 0, ax), n = (size_t)in[0].dims[ax];
    const size_t inner = nnbrt_prod(&in[0], ax + 1, in[0].ndim);
    if (log_form) log_softmax_f32(in[0].data, out[0].data, outer, n, inner);
    else nnbrt_softmax_f32(in[0].data, out[0].data, outer, n, inner);
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    (void)nin; (void)nout;
    over_axis(a, in, out, 0);
}

static void run_log(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                    const nnbrt_tensor *out)
{
    (void)nin; (void)nout;
    over_axis(a, in, out, 1);
}

const nnbrt_kernel nnbrt_k_softmax = {"Softmax", "i", 1, 1, 1, 1, check, run};
const nnbrt_kernel nnbrt_k_log_softmax = {"LogSoftmax", "i", 1, 1, 1, 1, check, run_log};
