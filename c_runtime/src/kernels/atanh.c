/* ATanh (function id 183): elementwise, y = atanhf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_atanh, "ATanh", "", atanhf(x))
