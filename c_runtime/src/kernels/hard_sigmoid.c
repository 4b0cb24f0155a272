/* HardSigmoid (function id 259): elementwise, y = x > 2.5f ? 1.0f : (x < -2.5f ? 0.0f : 0.2f * x + 0.5f). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_hard_sigmoid, "HardSigmoid", "ff", x > 2.5f ? 1.0f : (x < -2.5f ? 0.0f : 0.2f * x + 0.5f))
