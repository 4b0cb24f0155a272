/* ACos (function id 179): elementwise, y = acosf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_acos, "ACos", "", acosf(x))
