/* MinimumScalar (function id 46): elementwise, y = x < a->a[0].f ? x : a->a[0].f. */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_minimum_scalar, "MinimumScalar", "f", x < a->a[0].f ? x : a->a[0].f)
