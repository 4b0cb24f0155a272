/* Sin (function id 173): elementwise, y = sinf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_sin, "Sin", "", sinf(x))
