/* MaximumScalar (function id 47): elementwise, y = x > a->a[0].f ? x : a->a[0].f. */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_maximum_scalar, "MaximumScalar", "f", x > a->a[0].f ? x : a->a[0].f)
