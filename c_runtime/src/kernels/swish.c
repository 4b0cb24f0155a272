/* Swish (function id 12): elementwise, y = x / (1.0f + expf(-x)). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_swish, "Swish", "", x / (1.0f + expf(-x)))
