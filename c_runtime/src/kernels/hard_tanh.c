/* HardTanh (function id 261): elementwise, y = x > 1.0f ? 1.0f : (x < -1.0f ? -1.0f : x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_hard_tanh, "HardTanh", "", x > 1.0f ? 1.0f : (x < -1.0f ? -1.0f : x))
