/* Sinh (function id 176): elementwise, y = sinhf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_sinh, "Sinh", "", sinhf(x))
