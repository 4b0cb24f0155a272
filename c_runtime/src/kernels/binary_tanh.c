/* BinaryTanh (function id 106): elementwise, y = x > 0.0f ? 1.0f : -1.0f. */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_binary_tanh, "BinaryTanh", "", x > 0.0f ? 1.0f : -1.0f)
