/* Shared helpers for kernels: shape checks and broadcasting. */
#include "../internal.h"

int nnbrt_same_shape(const nnbrt_tensor *a, const nnbrt_tensor *b)
{
    int i;
    if (a->ndim != b->ndim) return 0;
    for (i = 0; i < a->ndim; ++i)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

size_t nnbrt_prod(const nnbrt_tensor *t, int from, int to)
{
    size_t p = 1;
    int i;
    for (i = from; i < to; ++i) p *= (size_t)t->dims[i];
    return p;
}

int nnbrt_axis(int32_t axis, int ndim)
{
    if (axis < 0) axis += ndim;
    if (axis < 0 || axis >= ndim) return -1;
    return (int)axis;
}

nnbrt_status nnbrt_check_unary(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                               const nnbrt_tensor *out, nnbrt_cost *work)
{
    (void)a; (void)nin; (void)nout;
    if (!nnbrt_same_shape(&in[0], &out[0])) return NNBRT_E_SHAPE_MISMATCH;
    work->work = out[0].size;
    return NNBRT_OK;
}

static int32_t dim_aligned(const nnbrt_tensor *t, int ndim, int d)
{
    int k = d - (ndim - t->ndim);
    return k < 0 ? 1 : t->dims[k];
}

nnbrt_status nnbrt_check_binary(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                                const nnbrt_tensor *out, nnbrt_cost *work)
{
    int nd = in[0].ndim > in[1].ndim ? in[0].ndim : in[1].ndim, d;
    (void)a; (void)nin; (void)nout;
    if (out[0].ndim != nd) return NNBRT_E_SHAPE_MISMATCH;
    for (d = 0; d < nd; ++d) {
        int32_t da = dim_aligned(&in[0], nd, d), db = dim_aligned(&in[1], nd, d);
        int32_t m = da > db ? da : db;
        if (out[0].dims[d] != m) return NNBRT_E_SHAPE_MISMATCH;
        if ((da != m && da != 1) || (db != m && db != 1)) return NNBRT_E_SHAPE_MISMATCH;
    }
    work->work = out[0].size;
    return NNBRT_OK;
}

static void strides_aligned(const nnbrt_tensor *t, int ndim, size_t *s)
{
    size_t acc = 1;
    int d;
    for (d = ndim - 1; d >= 0; --d) {
        int32_t n = dim_aligned(t, ndim, d);
        s[d] = n == 1 ? 0 : acc;
        acc *= (size_t)n;
    }
}

void nnbrt_bcast_init(nnbrt_bcast *bc, const nnbrt_tensor *a, const nnbrt_tensor *b,
                      const nnbrt_tensor *out)
{
    int d;
    if (out->ndim == 0) {
        bc->ndim = 1;
        bc->dims[0] = 1;
        bc->sa[0] = bc->sb[0] = 0;
        return;
    }
    bc->ndim = out->ndim;
    for (d = 0; d < out->ndim; ++d) bc->dims[d] = (size_t)out->dims[d];
    strides_aligned(a, out->ndim, bc->sa);
    strides_aligned(b, out->ndim, bc->sb);
}

int nnbrt_bcast_next(const nnbrt_bcast *bc, size_t *idx, size_t *oa, size_t *ob)
{
    int d;
    for (d = bc->ndim - 2; d >= 0; --d) {
        if (++idx[d] < bc->dims[d]) break;
        idx[d] = 0;
    }
    if (d < 0) return 0;
    *oa = *ob = 0;
    for (d = 0; d < bc->ndim - 1; ++d) {
        *oa += idx[d] * bc->sa[d];
        *ob += idx[d] * bc->sb[d];
    }
    return 1;
}
