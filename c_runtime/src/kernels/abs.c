/* Abs (function id 68): elementwise, y = fabsf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_abs, "Abs", "", fabsf(x))
