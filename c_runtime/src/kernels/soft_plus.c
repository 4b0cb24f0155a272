/* SoftPlus (function id 335): elementwise, y = (a->a[0].f * x > 0.0f ? a->a[0].f * x + log1pf(expf(-a->a[0].f * x)) : log1pf(expf(a->a[0].f * x))) / a->a[0].f. */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_soft_plus, "SoftPlus", "f", (a->a[0].f * x > 0.0f ? a->a[0].f * x + log1pf(expf(-a->a[0].f * x)) : log1pf(expf(a->a[0].f * x))) / a->a[0].f)
