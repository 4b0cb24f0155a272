/* RPowScalar (function id 42): elementwise, y = powf(a->a[0].f, x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_r_pow_scalar, "RPowScalar", "f", powf(a->a[0].f, x))
