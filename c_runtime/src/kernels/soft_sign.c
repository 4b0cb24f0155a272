/* SoftSign (function id 253): elementwise, y = x / (1.0f + fabsf(x)). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_soft_sign, "SoftSign", "", x / (1.0f + fabsf(x)))
