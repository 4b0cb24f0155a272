/* BinarySigmoid (function id 105): elementwise, y = x > 0.0f ? 1.0f : 0.0f. */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_binary_sigmoid, "BinarySigmoid", "", x > 0.0f ? 1.0f : 0.0f)
