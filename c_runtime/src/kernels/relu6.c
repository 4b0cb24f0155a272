/* ReLU6 (function id 256): elementwise, y = x > 6.0f ? 6.0f : (x > 0.0f ? x : 0.0f). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_relu6, "ReLU6", "", x > 6.0f ? 6.0f : (x > 0.0f ? x : 0.0f))
