/* Pad (id 123): pad_width = [before, after] pairs for the trailing axes;
   mode 0 constant (constant_value), 1 reflect, 2 repeat (edge). */
#include "../internal.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    const int np = a->a[0].count / 2, mode = a->a[1].i;
    int d, s;
    (void)nin; (void)nout;
    if (a->a[0].count % 2 || np > in[0].ndim) return NNBRT_E_BAD_ARGUMENT;
    if (mode < 0 || mode > 2) return NNBRT_E_UNSUPPORTED_ARGUMENT;
    if (out[0].ndim != in[0].ndim) return NNBRT_E_SHAPE_MISMATCH;
    s = in[0].ndim - np;
    for (d = 0; d < in[0].ndim; ++d) {
        int64_t b = d < s ? 0 : a->a[0].list[2 * (d - s)];
        int64_t e = d < s ? 0 : a->a[0].list[2 * (d - s) + 1];
        if (b < 0 || e < 0) return NNBRT_E_BAD_ARGUMENT;
        if (mode == 1 && (b >= in[0].dims[d] || e >= in[0].dims[d])) return NNBRT_E_UNSUPPORTED_ARGUMENT;
        if (b + e + in[0].dims[d] != out[0].dims[d]) return NNBRT_E_SHAPE_MISMATCH;
    }
    work->work = out[0].size * (size_t)(in[0].ndim + 1);
    return NNBRT_OK;
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    const int nd = in[0].ndim, s = nd - a->a[0].count / 2, mode = a->a[1].i;
    const float cv = a->a[2].f;
    size_t idx[NNBRT_MAX_NDIM] = {0}, o;
    int d;
    (void)nin; (void)nout;
    for (o = 0; o < out[0].size; ++o) {
        size_t off = 0;
        int inside = 1;
        for (d = 0; d < nd; ++d) {
            long n = in[0].dims[d], b = d < s ? 0 : a->a[0].list[2 * (d - s)];
            long i = (long)idx[d] - b;
            if (i < 0 || i >= n) {
                if (mode == 0) { inside = 0; break; }
                if (mode == 1) i = i < 0 ? -i : 2 * (n - 1) - i;
                else i = i < 0 ? 0 : n - 1;
            }
            off = off * (size_t)n + (size_t)i;
        }
        out[0].data[o] = inside ? in[0].data[off] : cv;
        for (d = nd - 1; d >= 0; --d) {
            if (++idx[d] < (size_t)out[0].dims[d]) break;
            idx[d] = 0;
        }
    }
}

const nnbrt_kernel nnbrt_k_pad = {"Pad", "iIif", 1, 1, 1, 1, check, run};
