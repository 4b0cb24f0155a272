/* RDivScalar (function id 41): elementwise, y = a->a[0].f / x. */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_r_div_scalar, "RDivScalar", "f", a->a[0].f / x)
