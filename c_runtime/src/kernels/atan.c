/* ATan (function id 180): elementwise, y = atanf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_atan, "ATan", "", atanf(x))
