/* Floor (function id 125): elementwise, y = floorf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_floor, "Floor", "", floorf(x))
