/* Cos (function id 174): elementwise, y = cosf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_cos, "Cos", "", cosf(x))
