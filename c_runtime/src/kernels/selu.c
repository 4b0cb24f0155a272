/* SELU (function id 18): elementwise, y = x > 0.0f ? a->a[0].f * x : a->a[0].f * a->a[1].f * (expf(x) - 1.0f). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_selu, "SELU", "ff", x > 0.0f ? a->a[0].f * x : a->a[0].f * a->a[1].f * (expf(x) - 1.0f))
