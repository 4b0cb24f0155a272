/* Sum (id 24): sum over axes, keep_dims optional. */
#include "reduce_util.h"
NNBRT_REDUCE_KERNEL(nnbrt_k_sum, "Sum", "iIB", 0.0f, *acc += x, (void)acc)
