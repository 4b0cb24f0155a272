/* MulScalar (function id 313): elementwise, y = x * a->a[0].f. */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_mul_scalar, "MulScalar", "fB", x * a->a[0].f)
