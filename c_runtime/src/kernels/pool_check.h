/* The shape check of MaxPooling, AveragePooling and SumPooling records:
   one input, one output, nnbrt_pool_check (conv_util.c) on the pair.
   Header-only (static inline) so each pooling file stays linkable alone
   (nnb emit-c copies only the kernel files a model uses). */
#ifndef NNBRT_POOL_CHECK_H
#define NNBRT_POOL_CHECK_H

#include "conv_util.h"

static inline nnbrt_status nnbrt_pool_record_check(const nnbrt_args *a, int nin, const nnbrt_tensor *in,
                                                   int nout, const nnbrt_tensor *out, nnbrt_cost *work)
{
    (void)nin; (void)nout;
    return nnbrt_pool_check(a, &in[0], &out[0], work);
}

#endif
