/* ReLU (function id 14): elementwise, y = x > 0.0f ? x : 0.0f. */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_relu, "ReLU", "B", x > 0.0f ? x : 0.0f)
