/* Mean (id 25): mean over axes, keep_dims optional. */
#include "reduce_util.h"
NNBRT_REDUCE_KERNEL(nnbrt_k_mean, "Mean", "iIB", 0.0f, *acc += x, *acc /= (float)count)
