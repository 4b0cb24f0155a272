/* Sign (function id 43): elementwise, y = x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : a->a[0].f). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_sign, "Sign", "f", x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : a->a[0].f))
