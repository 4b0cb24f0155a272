/* SumPooling (id 268): sum over the valid cells of each nnabla window. */
#include "pool_check.h"

static void run(const nnbrt_args *a, int nin, const nnbrt_tensor *in, int nout,
                const nnbrt_tensor *out)
{
    (void)nin; (void)nout;
    nnbrt_pool_run(a, &in[0], &out[0], 0); /* conv_util.c */
}

const nnbrt_kernel nnbrt_k_sum_pooling = {"SumPooling", "iIiIBiIB", 1, 1, 1, 1, nnbrt_pool_record_check, run};
