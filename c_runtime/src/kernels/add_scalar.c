/* AddScalar (function id 312): elementwise, y = x + a->a[0].f. */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_add_scalar, "AddScalar", "fB", x + a->a[0].f)
