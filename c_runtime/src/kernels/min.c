/* Min (id 130): minimum over axes (with_index/only_index unsupported). */
#include "reduce_util.h"
#include <math.h>
NNBRT_REDUCE_KERNEL(nnbrt_k_min, "Min", "iIBBB", INFINITY, if (x < *acc) *acc = x, (void)acc)
