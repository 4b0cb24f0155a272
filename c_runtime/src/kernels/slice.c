/* Slice (id 77): start/stop/step per leading axis (remaining axes whole);
   negative steps allowed. The output shape must equal the slice size and
   every touched index lies inside the input. */
#include "../internal.h"

static nnbrt_status check(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                          const nnbrt_tensor *out, nnbrt_cost *work)
{
    const int n = a->a[0].count;
    int d;
    (void)nin; (void)nout;
    if (a->a[1].count != n || a->a[2].count != n || n > in[0].ndim) return NNBRT_E_BAD_ARGUMENT;
    if (out[0].ndim != in[0].ndim) return NNBRT_E_SHAPE_MISMATCH;
    for (d = 0; d < in[0].ndim; ++d) {
        int64_t dim = in[0].dims[d], cnt, last;
        if (d >= n) {
            if (out[0].dims[d] != dim) return NNBRT_E_SHAPE_MISMATCH;
            continue;
        } else {
            int64_t s = a->a[0].list[d], e = a->a[1].list[d], t = a->a[2].list[d];
            if (t == 0) return NNBRT_E_BAD_ARGUMENT;
            cnt = t > 0 ? (e - s + t - 1) / t : (s - e + (-t) - 1) / (-t);
            if (cnt != out[0].dims[d]) return NNBRT_E_SHAPE_MISMATCH;
            last = s + (cnt - 1) * t;
            if (s < 0 || s >= dim || last < 0 || last >= dim) return NNBRT_E_BAD_ARGUMENT;
        }
    }
    work->work = out[0].size * 2;
    return NNBRT_OK;
}

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    const int nd = in[0].ndim, n = a->a[0].count;
    long is[NNBRT_MAX_NDIM], st[NNBRT_MAX_NDIM], acc = 1, off = 0;
    size_t idx[NNBRT_MAX_NDIM] = {0}, o;
    int d;
    (void)nin; (void)nout;
    if (nd == 0) { out[0].data[0] = in[0].data[0]; return; }
    for (d = nd - 1; d >= 0; --d) { is[d] = acc; acc *= in[0].dims[d]; }
    for (d = 0; d < nd; ++d) {
        st[d] = is[d] * (d < n ? a->a[2].list[d] : 1);
        off += (d < n ? a->a[0].list[d] : 0) * is[d];
    }
    for (o = 0; o < out[0].size; ++o) {
        out[0].data[o] = in[0].data[off];
        for (d = nd - 1; d >= 0; --d) {
            off += st[d];
            if (++idx[d] < (size_t)out[0].dims[d]) break;
            off -= st[d] * (long)idx[d];
            idx[d] = 0;
        }
    }
}

const nnbrt_kernel nnbrt_k_slice = {"Slice", "iIiIiI", 1, 1, 1, 1, check, run};
