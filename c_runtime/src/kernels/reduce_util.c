/* Shared reduction helpers. */
#include "reduce_util.h"

static int reduced_mask(const nnbrt_args *a, int nd, int *mask)
{
    int i;
    for (i = 0; i < nd; ++i) mask[i] = 0;
    for (i = 0; i < a->a[0].count; ++i) {
        int ax = nnbrt_axis(a->a[0].list[i], nd);
        if (ax < 0 || mask[ax]) return 0;
        mask[ax] = 1;
    }
    return 1;
}

nnbrt_status nnbrt_reduce_check(const nnbrt_args *a, const nnbrt_tensor *in,
                                const nnbrt_tensor *out, nnbrt_cost *work)
{
    int mask[NNBRT_MAX_NDIM], d, k = 0, keep = a->a[1].i;
    if (!reduced_mask(a, in->ndim, mask)) return NNBRT_E_BAD_ARGUMENT;
    if (a->n > 2 && (a->a[2].i || a->a[3].i)) return NNBRT_E_UNSUPPORTED_ARGUMENT; /* with/only_index */
    if (keep) {
        if (out->ndim != in->ndim) return NNBRT_E_SHAPE_MISMATCH;
        for (d = 0; d < in->ndim; ++d)
            if (out->dims[d] != (mask[d] ? 1 : in->dims[d])) return NNBRT_E_SHAPE_MISMATCH;
    } else {
        for (d = 0; d < in->ndim; ++d) {
            if (mask[d]) continue;
            if (k >= out->ndim || out->dims[k] != in->dims[d]) return NNBRT_E_SHAPE_MISMATCH;
            ++k;
        }
        if (k != out->ndim) return NNBRT_E_SHAPE_MISMATCH;
    }
    work->work = in->size * 2 + out->size;
    return NNBRT_OK;
}

void nnbrt_reduce_strides(const nnbrt_args *a, const nnbrt_tensor *in, size_t *ost)
{
    int mask[NNBRT_MAX_NDIM], d;
    size_t acc = 1;
    reduced_mask(a, in->ndim, mask);
    for (d = in->ndim - 1; d >= 0; --d) {
        ost[d] = mask[d] ? 0 : acc;
        if (!mask[d]) acc *= (size_t)in->dims[d];
    }
}
