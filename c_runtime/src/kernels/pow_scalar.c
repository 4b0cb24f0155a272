/* PowScalar (function id 314): elementwise, y = powf(x, a->a[0].f). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_pow_scalar, "PowScalar", "fB", powf(x, a->a[0].f))
