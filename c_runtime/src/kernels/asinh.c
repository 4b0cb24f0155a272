/* ASinh (function id 181): elementwise, y = asinhf(x). */
#include "../internal.h"
#include <math.h>

NNBRT_UNARY_KERNEL(nnbrt_k_asinh, "ASinh", "", asinhf(x))
