/* RSubScalar (function id 40): elementwise, y = a->a[0].f - x. */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_r_sub_scalar, "RSubScalar", "f", a->a[0].f - x)
