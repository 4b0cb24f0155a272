/* Ceil (function id 124): elementwise, y = ceilf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_ceil, "Ceil", "", ceilf(x))
