/* Prod (id 28): product over axes, keep_dims optional. */
#include "reduce_util.h"
NNBRT_REDUCE_KERNEL(nnbrt_k_prod, "Prod", "iIB", 1.0f, *acc *= x, (void)acc)
